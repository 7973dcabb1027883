"""Calendar-month arithmetic, in one place: expiry dates, tier windows, segment periods and report periods all
count months the same way.

A month later than 31 January is 28 (or 29) February: the day of the month is clamped, never rolled over.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime
from typing import TypeVar

from django.utils import timezone

_Day = TypeVar("_Day", date, datetime)


def add_months(day: _Day, months: int) -> _Day:
    """``day`` (a date or a datetime, aware or not) plus whole calendar months (negative to go back)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, calendar.monthrange(year, month)[1]))


def month_start(moment: datetime | date) -> date:
    """The first day of the month ``moment`` falls in, in the program's time zone for an aware datetime."""
    if isinstance(moment, datetime):
        moment = timezone.localtime(moment).date() if timezone.is_aware(moment) else moment.date()
    return moment.replace(day=1)


def last_twelve_months_start(today: date) -> date:
    """The first day of the month eleven months before ``today``'s: twelve calendar months including this one."""
    return add_months(today.replace(day=1), -11)
