"""Expiry counted in days, fixed and by inactivity, on the program's calendar across daylight-saving changes.

The program's time zone is Europe/Amsterdam: summer time starts on 29 March 2026 (02:00 → 03:00) and ends on
25 October 2026 (03:00 → 02:00), so a calendar day there is 23 or 25 hours long.
"""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.utils import timezone

from members.models import LedgerEntry, PointsLot, ProgramSettings
from members.months import add_calendar
from members.selectors import member_summary
from members.services import batch
from tests.members.conftest import account_of, assert_consistent, buy, program_set

pytestmark = pytest.mark.django_db
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
SECOND = timedelta(seconds=1)


def local(*args):
    """An Amsterdam wall-clock time as a UTC instant (arithmetic on it then counts real hours)."""
    return datetime(*args, tzinfo=AMSTERDAM).astimezone(UTC)


def by_days(policy, days, **more):
    return program_set(pending_days=0, expiry_policy=policy, expiry_unit="days", expiry_days=days, **more)


def test_fixed_days_keep_the_local_time_across_the_spring_change(member):
    by_days(ProgramSettings.ExpiryPolicy.FIXED, 3)
    earned = local(2026, 3, 27, 12, 0)  # 11:00 UTC, winter time
    result = buy(member, "10", occurred_at=earned, now=earned)
    lot = PointsLot.objects.get(entry__purchase=result.purchase)
    # Three calendar days later at noon, summer time: 10:00 UTC, only 71 hours after earning.
    assert lot.expires_at == local(2026, 3, 30, 12, 0) == datetime(2026, 3, 30, 10, 0, tzinfo=UTC)
    assert lot.expires_at - earned == timedelta(hours=71)

    assert batch.points_expire_due(now=lot.expires_at - SECOND) == 0
    assert account_of(member).balance == 10
    assert batch.points_expire_due(now=lot.expires_at) == 10
    assert account_of(member).balance == 0
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.EXPIRE).get().points == -10
    assert_consistent(member)


def test_fixed_days_across_the_autumn_change_are_25_hours_longer(member):
    by_days(ProgramSettings.ExpiryPolicy.FIXED, 1)
    earned = local(2026, 10, 24, 23, 30)
    lot = PointsLot.objects.get(entry__purchase=buy(member, "4", occurred_at=earned, now=earned).purchase)
    assert timezone.localtime(lot.expires_at, AMSTERDAM).replace(tzinfo=None) == datetime(2026, 10, 25, 23, 30)  # noqa: DTZ001
    assert lot.expires_at - earned == timedelta(hours=25)


def test_a_day_later_inside_the_spring_gap_is_the_time_a_clock_that_skipped_it_shows():
    # 02:30 on 29 March does not exist in Amsterdam: the clocks jump from 02:00 to 03:00.
    moment = add_calendar(local(2026, 3, 28, 2, 30), days=1)
    assert moment == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert timezone.localtime(moment, AMSTERDAM).strftime("%H:%M") == "03:30"


def test_activity_days_count_on_the_local_calendar_across_the_autumn_change(member):
    by_days(ProgramSettings.ExpiryPolicy.ACTIVITY, 5)
    bought = local(2026, 10, 22, 12, 0)  # 10:00 UTC, summer time
    result = buy(member, "20", occurred_at=bought, now=bought)
    assert PointsLot.objects.get(entry__purchase=result.purchase).expires_at is None
    due = local(2026, 10, 27, 12, 0)  # noon in winter time: 11:00 UTC, 121 hours after the purchase
    assert due - bought == timedelta(hours=121)

    member.refresh_from_db()
    summary = member_summary(member, now=due - timedelta(days=2))
    assert summary.all_expire_on == date(2026, 10, 27) and summary.expiring_points == 20
    # 120 hours after the purchase the member's calendar still shows 11:00 on the fifth day: nothing expires yet.
    assert batch.points_expire_due(now=bought + timedelta(hours=120)) == 0
    assert batch.points_expire_due(now=due - SECOND) == 0
    assert batch.points_expire_due(now=due) == 20
    assert_consistent(member)


def test_a_purchase_within_the_days_keeps_activity_points_alive(member):
    by_days(ProgramSettings.ExpiryPolicy.ACTIVITY, 30)
    start = local(2026, 3, 1, 9, 0)
    buy(member, "10", occurred_at=start, now=start)
    again = start + timedelta(days=29)
    buy(member, "5", occurred_at=again, now=again)
    assert batch.points_expire_due(now=start + timedelta(days=45)) == 0
    assert batch.points_expire_due(now=add_calendar(again, days=30)) == 15


def test_reminders_use_the_days_too(member, django_capture_on_commit_callbacks):
    by_days(ProgramSettings.ExpiryPolicy.FIXED, 10, expiry_reminder_days=3)
    now = timezone.now()
    buy(member, "8", occurred_at=now - timedelta(days=8), now=now - timedelta(days=8))  # expires in 2 days
    buy(member, "6", occurred_at=now - timedelta(days=2), now=now - timedelta(days=2))  # in 8 days
    with django_capture_on_commit_callbacks(execute=True):
        assert batch.expiry_reminders_send(now=now) == 1
    assert "8 points on" in mail.outbox[0].body and "6 points" not in mail.outbox[0].body


def test_switching_back_to_months_uses_the_months(member):
    program_set(pending_days=0, expiry_policy="fixed", expiry_unit="months", expiry_months=2, expiry_days=3)
    earned = local(2026, 1, 10, 8, 0)
    lot = PointsLot.objects.get(entry__purchase=buy(member, "3", occurred_at=earned, now=earned).purchase)
    assert lot.expires_at == local(2026, 3, 10, 8, 0)
