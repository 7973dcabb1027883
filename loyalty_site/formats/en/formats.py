"""One date and one date-and-time format for English, used by every page, email and staff screen.

Django's own English formats mix "Dec. 1, 2026", "12/01/2026" and "midnight"/"noon"; members then read three
styles side by side, and "until Dec. 31, midnight" leaves open which midnight. Day-month-year with the month's
abbreviation cannot be misread in either the US or the UK, and a 24-hour clock has no "midnight". The short
formats are the same on purpose. Input formats stay Django's (ISO first), so forms and imports are unaffected.
Times are shown in the current time zone, which is the program's (settings.TIME_ZONE).
"""

DATE_FORMAT = "j M Y"
TIME_FORMAT = "H:i"
DATETIME_FORMAT = "j M Y, H:i"
SHORT_DATE_FORMAT = DATE_FORMAT
SHORT_DATETIME_FORMAT = DATETIME_FORMAT
MONTH_DAY_FORMAT = "j M"
YEAR_MONTH_FORMAT = "F Y"
