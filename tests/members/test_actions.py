"""Earning actions: limits per period in the program's time zone, availability, idempotency and approval."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from members import action_rules
from members.exceptions import (
    ActionLimitReached,
    ActionNotAvailable,
    ActionReviewNotAllowed,
    ExternalIdTaken,
    OwnAccountNotAllowed,
)
from members.models import ActionOccurrence, LedgerEntry, PointsAccount, Tier
from members.selectors import ways_to_earn
from members.services.actions import action_occurrence_approve, action_occurrence_reject, action_record
from tests.factories import MemberFactory, StaffUserFactory, earning_action_factory

pytestmark = pytest.mark.django_db
AMS = ZoneInfo("Europe/Amsterdam")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=AMS)


def record(member, external_id, *, code="review", occurred_at=None, quantity=1, source="till", now=None):
    moment = occurred_at or timezone.now()
    return action_record(
        member=member,
        action_code=code,
        external_id=external_id,
        source=source,
        quantity=quantity,
        occurred_at=moment,
        now=now or moment,
    )


@pytest.fixture(autouse=True)
def _amsterdam(settings):
    settings.TIME_ZONE = "Europe/Amsterdam"


def test_credits_points_through_the_ledger_with_the_occurrence_as_source(emitted_events):
    member = MemberFactory()
    earning_action_factory(code="review", points=50)

    result = record(member, "R-1")

    assert (result.status, result.points, result.balance, result.replayed) == ("credited", 50, 50, False)
    entry = LedgerEntry.objects.get(account_id=member.pk, kind=LedgerEntry.Kind.ACTION)
    assert entry.points == 50 and entry.pending_delta == 0
    assert entry.source == result.occurrence
    account = PointsAccount.objects.get(pk=member.pk)
    assert (account.balance, account.lifetime_earned) == (50, 50)
    recorded = [payload for event, payload in emitted_events if event == "action.recorded"]
    assert recorded == [
        {
            **recorded[0],
            "member_number": member.member_number,
            "action": "review",
            "status": "credited",
            "points": 50,
            "balance": 50,
        }
    ]


def test_per_unit_points_multiply_by_the_quantity():
    member = MemberFactory()
    earning_action_factory(code="recycle", name="Recycling", points=10, unit_name="item recycled")

    result = record(member, "RC-1", code="recycle", quantity=3)

    assert result.points == 30
    assert LedgerEntry.objects.get(kind=LedgerEntry.Kind.ACTION).description == "Recycling: 3 × item recycled"


def test_the_same_external_id_again_changes_nothing(emitted_events):
    member = MemberFactory()
    earning_action_factory(points=50)
    first = record(member, "R-1")

    again = record(member, "R-1")

    assert again.replayed and again.occurrence.pk == first.occurrence.pk
    assert again.balance == 50
    assert ActionOccurrence.objects.count() == 1
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ACTION).count() == 1
    assert sum(1 for event, _payload in emitted_events if event == "action.recorded") == 1


def test_the_same_external_id_for_another_member_is_refused():
    earning_action_factory()
    record(MemberFactory(), "R-1")

    with pytest.raises(ExternalIdTaken):
        record(MemberFactory(), "R-1")


def test_another_integration_may_reuse_an_id():
    member = MemberFactory()
    earning_action_factory(points=5)
    record(member, "R-1", source="till")

    result = record(member, "R-1", source="app")

    assert not result.replayed and result.balance == 10


def test_daily_limit_follows_the_local_day_not_utc():
    member = MemberFactory()
    earning_action_factory(limit_per_day=1)
    # 23:59 and 00:01 local are different days, though both are 9 March in UTC.
    record(member, "A", occurred_at=at(2026, 3, 9, 23, 59))

    assert not record(member, "B", occurred_at=at(2026, 3, 10, 0, 1)).replayed
    with pytest.raises(ActionLimitReached) as refused:
        record(member, "C", occurred_at=at(2026, 3, 10, 23, 59))
    assert refused.value.code == "action_limit_reached"
    assert refused.value.period == "day"
    assert ActionOccurrence.objects.count() == 2


def test_weekly_limit_runs_monday_to_sunday_local():
    member = MemberFactory()
    earning_action_factory(limit_per_week=2)
    record(member, "A", occurred_at=at(2026, 3, 15, 23, 0))  # Sunday evening local
    record(member, "B", occurred_at=at(2026, 3, 9, 0, 0))  # Monday 00:00 local: the same week

    with pytest.raises(ActionLimitReached):
        record(member, "C", occurred_at=at(2026, 3, 12, 12, 0))
    # Monday 16 March 00:00 local (Sunday 23:00 UTC) starts the next week.
    assert record(member, "D", occurred_at=at(2026, 3, 16, 0, 0)).status == "credited"


def test_monthly_limit_and_the_month_edge_in_local_time():
    member = MemberFactory()
    earning_action_factory(limit_per_month=1)
    # 31 January 23:30 local is 22:30 UTC, still January in both; 1 February 00:30 local is 31 January UTC.
    record(member, "A", occurred_at=at(2026, 1, 31, 23, 30))

    result = record(member, "B", occurred_at=at(2026, 2, 1, 0, 30))

    assert result.status == "credited"
    assert result.limit_remaining == 0
    with pytest.raises(ActionLimitReached):
        record(member, "C", occurred_at=at(2026, 2, 28, 23, 59))


def test_yearly_and_total_limits():
    member = MemberFactory()
    earning_action_factory(limit_per_year=2, limit_total=3)
    record(member, "A", occurred_at=at(2025, 12, 31, 23, 59))
    record(member, "B", occurred_at=at(2026, 1, 1, 0, 0))
    record(member, "C", occurred_at=at(2026, 6, 1, 12, 0))

    with pytest.raises(ActionLimitReached) as refused:
        record(member, "D", occurred_at=at(2027, 1, 1, 12, 0), now=at(2027, 1, 1, 12, 0))
    assert refused.value.period == "total"


def test_a_quantity_over_what_is_left_is_refused_whole():
    member = MemberFactory()
    earning_action_factory(code="recycle", points=10, unit_name="item", limit_per_month=5)
    record(member, "A", code="recycle", quantity=3, occurred_at=at(2026, 4, 2, 10))

    with pytest.raises(ActionLimitReached) as refused:
        record(member, "B", code="recycle", quantity=3, occurred_at=at(2026, 4, 3, 10))
    assert "2 left" in refused.value.message
    assert record(member, "C", code="recycle", quantity=2, occurred_at=at(2026, 4, 3, 10)).limit_remaining == 0


def test_period_bounds_across_the_daylight_saving_change():
    start, end = action_rules.period_bounds("day", at(2026, 3, 29, 12, 0))  # clocks go forward at 02:00

    assert (start, end) == (at(2026, 3, 29), at(2026, 3, 30))
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=23)
    week_start, week_end = action_rules.period_bounds("week", at(2026, 10, 25, 12, 0))  # clocks go back
    assert week_start == at(2026, 10, 19) and week_end == at(2026, 10, 26)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"is_active": False}, "cannot be earned"),
        ({"active_until": at(2026, 1, 1)}, "cannot be earned"),
        ({"active_from": at(2027, 1, 1)}, "cannot be earned"),
    ],
)
def test_unavailable_actions_are_refused(fields, message):
    member = MemberFactory()
    earning_action_factory(**fields)

    with pytest.raises(ActionNotAvailable) as refused:
        record(member, "A", occurred_at=at(2026, 6, 1, 12))
    assert refused.value.code == "action_not_available" and message in refused.value.message
    assert not ActionOccurrence.objects.exists()


def test_unknown_code_and_fixed_points_with_a_quantity_are_refused():
    member = MemberFactory()
    earning_action_factory()
    with pytest.raises(ActionNotAvailable):
        record(member, "A", code="nope")
    with pytest.raises(ActionNotAvailable):
        record(member, "B", quantity=2)


def test_minimum_tier():
    gold = Tier.objects.create(name="Goldish", rank=7, threshold=5000)
    member = MemberFactory()
    earning_action_factory(code="event", min_tier=gold)

    with pytest.raises(ActionNotAvailable) as refused:
        record(member, "E-1", code="event")
    assert "Goldish" in refused.value.message


def test_approval_queue_credits_once_on_approval(emitted_events):
    member = MemberFactory()
    earning_action_factory(code="event", points=150, requires_approval=True, limit_per_month=1)
    reviewer = StaffUserFactory()

    pending = record(member, "E-1", code="event")

    assert (pending.status, pending.balance, pending.limit_remaining) == ("pending_review", 0, 0)
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ACTION).exists()
    with pytest.raises(ActionLimitReached):  # waiting occurrences count against the limit
        record(member, "E-2", code="event")

    approved = action_occurrence_approve(occurrence=pending.occurrence, actor=reviewer, reason="Seen at the event")

    assert approved.status == "credited" and approved.reviewed_by == reviewer
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.ACTION)
    assert (entry.points, entry.actor, entry.source) == (150, reviewer, approved)
    with pytest.raises(ActionReviewNotAllowed):
        action_occurrence_approve(occurrence=pending.occurrence, actor=reviewer)
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ACTION).count() == 1
    reviewed = [payload for event, payload in emitted_events if event == "action.reviewed"]
    assert [(p["status"], p["points"], p["balance"]) for p in reviewed] == [("credited", 150, 150)]


def test_rejection_needs_a_reason_posts_nothing_and_frees_the_limit():
    member = MemberFactory()
    earning_action_factory(code="event", requires_approval=True, limit_per_month=1)
    reviewer = StaffUserFactory()
    pending = record(member, "E-1", code="event")

    with pytest.raises(ActionReviewNotAllowed):
        action_occurrence_reject(occurrence=pending.occurrence, actor=reviewer, reason="  ")
    rejected = action_occurrence_reject(occurrence=pending.occurrence, actor=reviewer, reason="Not on the list")

    assert rejected.status == "rejected" and rejected.review_reason == "Not on the list"
    assert PointsAccount.objects.get(pk=member.pk).balance == 0
    assert record(member, "E-2", code="event").status == "pending_review"


def test_nobody_approves_their_own_occurrence():
    staff_member = MemberFactory(user=StaffUserFactory())
    earning_action_factory(requires_approval=True)
    pending = record(staff_member, "R-1")

    with pytest.raises(OwnAccountNotAllowed):
        action_occurrence_approve(occurrence=pending.occurrence, actor=staff_member.user)
    assert ActionOccurrence.objects.get().status == "pending_review"


def test_ways_to_earn_shows_what_is_left_this_period(django_assert_max_num_queries):
    member = MemberFactory()
    earning_action_factory(code="review", limit_per_day=2, limit_total=10)
    earning_action_factory(code="recycle", name="Recycling", points=10, unit_name="item", limit_per_month=20)
    earning_action_factory(code="old", name="Old", is_active=False)
    record(member, "A")
    record(member, "B", code="recycle", quantity=5)

    with django_assert_max_num_queries(2):
        ways = {way.action.code: way for way in ways_to_earn(member)}

    assert set(ways) == {"review", "recycle"}
    assert [(left.period, left.remaining) for left in ways["review"].limits] == [("day", 1), ("total", 9)]
    assert ways["recycle"].remaining == 15
