"""Which months count toward a tier, and when a tier reached today is reviewed: the one definition the tier
services, the nightly review, the member's tier progress and the campaign segments share."""

from __future__ import annotations

from datetime import date

from .models import ProgramSettings
from .months import last_twelve_months_start


def qualification_window_start(*, program: ProgramSettings, today: date) -> date:
    """First month that counts towards tier qualification on ``today``."""
    if program.tier_period == ProgramSettings.TierPeriod.CALENDAR_YEAR:
        return date(today.year, 1, 1)
    return last_twelve_months_start(today)


def review_date_after(*, program: ProgramSettings, today: date) -> date:
    """When a tier reached on ``today`` is next reviewed (a tier is always kept at least until then)."""
    if program.tier_period == ProgramSettings.TierPeriod.CALENDAR_YEAR:
        return date(today.year + 2, 1, 1)
    try:
        return today.replace(year=today.year + 1)
    except ValueError:  # 29 February
        return today.replace(year=today.year + 1, day=28)
