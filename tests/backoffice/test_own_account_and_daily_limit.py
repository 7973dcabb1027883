"""Nobody adjusts, approves or reverses points on their own member account, and the Support limit is per person
per day: ten +500 adjustments in a row no longer all post."""

from datetime import timedelta

import pytest
from django.utils import timezone

from backoffice.models import AdjustmentRequest, StaffSettings
from backoffice.services.staff import adjusted_today, adjustment_approve, staff_points_adjust
from members.exceptions import OwnAccountNotAllowed
from members.models import LedgerEntry, PointsAccount
from members.services import points_adjust
from members.services.staff import points_reverse_by_staff
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
ADJUST = LedgerEntry.Kind.ADJUST


def _limits(per_adjustment=500, per_day=1000):
    StaffSettings.objects.update_or_create(
        pk=1, defaults={"support_adjustment_limit": per_adjustment, "support_daily_limit": per_day}
    )


def test_an_adjustment_of_ones_own_account_becomes_a_request(support):
    own = MemberFactory(user=support)
    outcome = staff_points_adjust(member=own, points=500, reason="Mine", actor=support, idempotency_key="own")
    assert outcome.needs_approval
    assert PointsAccount.objects.get(pk=own.pk).balance == 0
    assert not LedgerEntry.objects.filter(kind=ADJUST).exists()
    request = AdjustmentRequest.objects.get(member=own)
    assert (request.points, request.requested_by) == (500, support)


def test_nobody_approves_an_adjustment_of_their_own_account(support, manager, second_manager):
    own = MemberFactory(user=manager)
    outcome = staff_points_adjust(member=own, points=100, reason="For me", actor=support, idempotency_key="x")
    assert not outcome.needs_approval  # Support adjusting someone else within the limits posts at once
    # Over the limit, so it waits; the member it credits is the one manager who could otherwise approve it.
    request = staff_points_adjust(
        member=own, points=5000, reason="Status match", actor=support, idempotency_key="y"
    ).request
    with pytest.raises(OwnAccountNotAllowed):
        adjustment_approve(request=request, actor=manager)
    approved = adjustment_approve(request=request, actor=second_manager)
    assert approved.status == AdjustmentRequest.Status.APPROVED
    assert PointsAccount.objects.get(pk=own.pk).balance == 5100


def test_ten_adjustments_of_500_stop_posting_at_the_daily_limit(support, member):
    _limits(per_adjustment=500, per_day=1000)
    outcomes = [
        staff_points_adjust(member=member, points=500, reason="Goodwill", actor=support, idempotency_key=f"d{n}")
        for n in range(10)
    ]
    assert [outcome.needs_approval for outcome in outcomes] == [False, False] + [True] * 8
    assert PointsAccount.objects.get(pk=member.pk).balance == 1000
    assert AdjustmentRequest.objects.filter(requested_by=support).count() == 8
    assert adjusted_today(actor=support) == 1000


def test_debits_count_toward_the_daily_limit_and_a_retry_is_still_a_replay(support, member):
    _limits(per_adjustment=500, per_day=600)
    points_adjust(member=member, points=900, reason="Opening", idempotency_key="seed", actor=None)
    first = staff_points_adjust(member=member, points=-400, reason="Fix", actor=support, idempotency_key="a")
    again = staff_points_adjust(member=member, points=-400, reason="Fix", actor=support, idempotency_key="a")
    assert not first.needs_approval and not again.needs_approval and again.entry.replayed
    over = staff_points_adjust(member=member, points=300, reason="More", actor=support, idempotency_key="b")
    assert over.needs_approval  # 400 + 300 > 600
    assert PointsAccount.objects.get(pk=member.pk).balance == 500


def test_the_daily_count_starts_again_at_local_midnight(support, member):
    _limits(per_adjustment=500, per_day=500)
    staff_points_adjust(member=member, points=500, reason="Today", actor=support, idempotency_key="today")
    assert adjusted_today(actor=support) == 500
    tomorrow = timezone.localtime().replace(hour=0, minute=0, second=1) + timedelta(days=1)
    assert adjusted_today(actor=support, now=tomorrow) == 0  # the ledger is append-only: move the clock instead
    yesterday_evening = timezone.localtime().replace(hour=0, minute=0, second=0) - timedelta(seconds=1)
    assert adjusted_today(actor=support, now=yesterday_evening) == 0


def test_nobody_reverses_an_entry_of_their_own_account(support, manager):
    own = MemberFactory(user=manager)
    entry = points_adjust(member=own, points=50, reason="Gift", idempotency_key="gift", actor=None)
    with pytest.raises(OwnAccountNotAllowed):
        points_reverse_by_staff(entry=entry, reason="undo", actor=manager)
    reversal = points_reverse_by_staff(entry=entry, reason="undo", actor=support)
    assert reversal.points == -50
