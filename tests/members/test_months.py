"""Calendar-month arithmetic on fixed dates: end-of-month clamping, leap days, year boundaries."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from members.models import PointsLot, ProgramSettings
from members.months import add_months
from members.months import add_months as _add_months
from members.services.ledger import lot_expiry_for
from members.services.tiers import qualification_window_start, review_date_after

from .conftest import buy, program_set


def at(year, month, day):
    return datetime(year, month, day, 14, 30, tzinfo=UTC)


CASES = [
    ((2025, 1, 31), 1, (2025, 2, 28)),
    ((2024, 1, 31), 1, (2024, 2, 29)),  # leap year
    ((2024, 2, 29), 1, (2024, 3, 29)),
    ((2024, 2, 29), 12, (2025, 2, 28)),
    ((2024, 2, 29), 48, (2028, 2, 29)),
    ((2025, 8, 31), -6, (2025, 2, 28)),
    ((2024, 8, 31), -6, (2024, 2, 29)),
    ((2025, 3, 31), -1, (2025, 2, 28)),
    ((2025, 5, 31), 1, (2025, 6, 30)),
    ((2025, 12, 15), 1, (2026, 1, 15)),
    ((2025, 1, 15), -1, (2024, 12, 15)),
    ((2025, 11, 30), 3, (2026, 2, 28)),
    ((2025, 6, 10), 0, (2025, 6, 10)),
    ((2025, 1, 31), 24, (2027, 1, 31)),
]


@pytest.mark.parametrize(("start", "months", "expected"), CASES)
def test_add_months_clamps_to_the_end_of_the_month(start, months, expected):
    moment = add_months(at(*start), months)
    assert moment == at(*expected)
    assert (moment.hour, moment.minute, moment.tzinfo) == (14, 30, UTC)


@pytest.mark.parametrize(("start", "months", "expected"), CASES)
def test_the_selectors_month_helper_agrees_on_dates_and_datetimes(start, months, expected):
    assert _add_months(date(*start), months) == date(*expected)
    assert _add_months(at(*start), months) == at(*expected)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("earned", "months", "expires"),
    [((2025, 1, 31), 1, (2025, 2, 28)), ((2024, 2, 29), 12, (2025, 2, 28)), ((2025, 8, 31), 6, (2026, 2, 28))],
)
def test_fixed_expiry_counts_calendar_months_from_the_earning_date(earned, months, expires):
    program = program_set(expiry_policy=ProgramSettings.ExpiryPolicy.FIXED, expiry_months=months)
    expiry = timezone.localtime(lot_expiry_for(program=program, earned_at=at(*earned)))
    # Counted on the program's calendar: the local wall-clock time is kept across a daylight-saving change.
    assert (expiry.date(), expiry.time()) == (date(*expires), timezone.localtime(at(*earned)).time())


@pytest.mark.django_db
def test_months_count_on_the_local_calendar_not_in_utc():
    program = program_set(expiry_policy=ProgramSettings.ExpiryPolicy.FIXED, expiry_months=1)
    # 00:30 on 1 March in Amsterdam is still 28 February in UTC; a month later is 1 April, not 29 March.
    earned = datetime(2026, 3, 1, 0, 30, tzinfo=ZoneInfo("Europe/Amsterdam"))
    expiry = timezone.localtime(lot_expiry_for(program=program, earned_at=earned), ZoneInfo("Europe/Amsterdam"))
    assert expiry.replace(tzinfo=None) == datetime(2026, 4, 1, 0, 30)  # noqa: DTZ001 - a local wall-clock time


@pytest.mark.django_db
def test_a_purchase_on_31_january_with_one_month_expiry_expires_on_28_february(member):
    program_set(pending_days=0, expiry_policy=ProgramSettings.ExpiryPolicy.FIXED, expiry_months=1)
    result = buy(member, "10", occurred_at=at(2025, 1, 31), now=at(2025, 2, 3))
    lot = PointsLot.objects.get(entry__purchase=result.purchase)
    assert lot.expires_at == at(2025, 2, 28)


@pytest.mark.django_db
def test_no_fixed_expiry_means_no_date_of_its_own():
    program = program_set(expiry_policy=ProgramSettings.ExpiryPolicy.ACTIVITY, expiry_months=1)
    assert lot_expiry_for(program=program, earned_at=at(2025, 1, 31)) is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("today", "start"),
    [((2025, 12, 31), (2025, 1, 1)), ((2025, 1, 1), (2024, 2, 1)), ((2024, 2, 29), (2023, 3, 1))],
)
def test_the_rolling_twelve_month_window_starts_eleven_months_back(today, start):
    program = program_set(tier_period=ProgramSettings.TierPeriod.ROLLING_12_MONTHS)
    assert qualification_window_start(program=program, today=date(*today)) == date(*start)


@pytest.mark.django_db
def test_a_tier_reached_on_29_february_is_reviewed_on_28_february():
    program = program_set(tier_period=ProgramSettings.TierPeriod.ROLLING_12_MONTHS)
    assert review_date_after(program=program, today=date(2024, 2, 29)) == date(2025, 2, 28)
    assert review_date_after(program=program, today=date(2024, 3, 31)) == date(2025, 3, 31)
