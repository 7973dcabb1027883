"""Calendar arithmetic, in one place: expiry dates, tier windows, segment periods and report periods all
count months (and expiry days) the same way.

A month later than 31 January is 28 (or 29) February: the day of the month is clamped, never rolled over.
A day later is the same wall-clock time on the next calendar day in the program's time zone, so across a
daylight-saving change a "day" is 23 or 25 hours, as it is on the calendar the member reads.
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar

from django.utils import timezone

_Day = TypeVar("_Day", date, datetime)


def add_months(day: _Day, months: int) -> _Day:
    """``day`` (a date or a datetime, aware or not) plus whole calendar months (negative to go back)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def add_calendar(moment: datetime, *, months: int = 0, days: int = 0) -> datetime:
    """``moment`` (aware) plus calendar months and days counted on the program's local calendar.

    The local wall-clock time is kept; a time that does not exist on the target day (inside a spring-forward gap)
    resolves to the same instant a clock that skipped the gap shows, and an ambiguous one (autumn) to its first
    occurrence.
    """
    if not timezone.is_aware(moment):
        raise ValueError("add_calendar() needs an aware datetime.")
    zone = timezone.get_current_timezone()
    local = timezone.localtime(moment, zone).replace(tzinfo=None, fold=0)
    shifted = add_months(local, months) + timedelta(days=days)
    # Through UTC, so that a time inside a gap comes back as a real instant even when ``moment`` is in that zone.
    return shifted.replace(tzinfo=zone).astimezone(UTC).astimezone(moment.tzinfo)


def month_start(moment: datetime | date) -> date:
    """The first day of the month ``moment`` falls in, in the program's time zone for an aware datetime."""
    if isinstance(moment, datetime):
        moment = timezone.localtime(moment).date() if timezone.is_aware(moment) else moment.date()
    return moment.replace(day=1)


def last_twelve_months_start(today: date) -> date:
    """The first day of the month eleven months before ``today``'s: twelve calendar months including this one."""
    return add_months(today.replace(day=1), -11)


def expiry_period_add(*, program, moment: datetime, times: int = 1) -> datetime:
    """``moment`` plus ``times`` the program's expiry period (``expiry_days`` or ``expiry_months`` of
    ``ProgramSettings``, on the program's local calendar); ``times=-1`` gives the cut-off before which activity
    is too old to keep points alive."""
    if program.expires_by_days:
        return add_calendar(moment, days=times * program.expiry_days)
    return add_calendar(moment, months=times * program.expiry_months)
