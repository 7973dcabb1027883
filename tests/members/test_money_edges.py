"""One-point edges of the ledger: single points credited, pending, owed and settled, and the guards of ledger_post.

Each test here was written against a mutant that survived `make mutate` (bench/README.md).
"""

from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from members.exceptions import RefundExceedsPurchase
from members.models import LedgerEntry, PointsLot
from members.services import points_adjust, points_reverse, purchases
from members.services.ledger import account_lock, ledger_post
from members.services.purchases import (
    MemberHistory,
    PurchaseLineInput,
    RefundLineInput,
    purchase_preview,
    purchase_refund,
)
from tests.factories import campaign_factory

from .conftest import account_of, assert_consistent, buy, days, program_set

pytestmark = pytest.mark.django_db
Kind = LedgerEntry.Kind


def post(member, **kwargs):
    with transaction.atomic():
        return ledger_post(account=account_lock(member_id=member.pk), **kwargs)


@pytest.mark.parametrize(("points", "pending"), [(5, 5), (1, 1), (1, -1)])
def test_crediting_spendable_and_pending_points_in_one_entry_is_refused(program, member, points, pending):
    with pytest.raises(ValueError, match="separate entries"):
        post(member, kind=Kind.ADJUST, points=points, pending_delta=pending, idempotency_key="both")
    assert not LedgerEntry.objects.exists() and not PointsLot.objects.exists()


def test_an_entry_that_moves_nothing_is_refused(program, member):
    with pytest.raises(ValueError, match="must move some points"):
        post(member, kind=Kind.ADJUST, idempotency_key="nothing")
    assert not LedgerEntry.objects.exists()


def test_a_single_spendable_point_is_a_lot_of_one(program, member):
    entry = post(member, kind=Kind.ADJUST, points=1, idempotency_key="one")
    assert (entry.points, entry.balance_after) == (1, 1)
    lot = PointsLot.objects.get(entry=entry)
    assert (lot.amount, lot.remaining, lot.is_pending) == (1, 1, False)
    assert assert_consistent(member).balance == 1


def test_a_single_pending_point_is_a_pending_lot_of_one(member):
    program_set(pending_days=14)
    result = buy(member, "1.00")
    entry = result.entries[0]
    assert (entry.points, entry.pending_delta, entry.balance_after) == (0, 1, 0)
    lot = PointsLot.objects.get(entry=entry)
    assert (lot.amount, lot.remaining, lot.is_pending) == (1, 1, True)
    account = assert_consistent(member)
    assert (account.balance, account.pending, account.lifetime_earned) == (0, 1, 1)


def test_a_refund_of_a_single_spent_point_leaves_one_owed_then_one_point_settles_it(program, member):
    first = buy(member, "1.00")
    points_adjust(member=member, points=-1, reason="spent", actor=None, idempotency_key="spend")
    refund = purchase_refund(purchase=first.purchase, refund_id="R-1")
    assert refund.replayed is False
    entry = refund.entries[0]
    assert (entry.points, entry.pending_delta, entry.owed_delta, entry.balance_after) == (0, 0, 1, 0)
    account = assert_consistent(member)
    assert (account.balance, account.owed) == (0, 1)
    buy(member, "1.00")
    account = assert_consistent(member)
    assert (account.balance, account.owed) == (0, 0)
    settlement = LedgerEntry.objects.get(kind=Kind.SETTLEMENT)
    assert (settlement.points, settlement.owed_delta, settlement.balance_after) == (-1, -1, 0)


def test_a_single_point_credit_settles_one_point_of_a_larger_debt(program, member):
    first = buy(member, "5.00")
    points_adjust(member=member, points=-5, reason="spent", actor=None, idempotency_key="spend")
    purchase_refund(purchase=first.purchase, refund_id="R-1")
    assert account_of(member).owed == 5
    points_adjust(member=member, points=1, reason="goodwill", actor=None, idempotency_key="one")
    account = assert_consistent(member)
    assert (account.balance, account.owed) == (0, 4)


def test_what_is_owed_is_settled_once_across_a_purchases_base_and_bonus_entries(program, member):
    first = buy(member, "10.00")
    points_adjust(member=member, points=-10, reason="spent", actor=None, idempotency_key="spend")
    purchase_refund(purchase=first.purchase, refund_id="R-1")
    assert account_of(member).owed == 10
    campaign_factory(multiplier=Decimal("2"))
    result = buy(member, "20.00")  # 20 base points and a 20-point bonus, posted one after the other
    assert (result.purchase.points_earned, result.purchase.points_bonus) == (20, 20)
    account = assert_consistent(member)
    assert (account.balance, account.owed) == (30, 0)
    settlements = LedgerEntry.objects.filter(kind=Kind.SETTLEMENT)
    assert list(settlements.values_list("points", "owed_delta")) == [(-10, -10)]


def test_reversing_a_spendable_credit_touches_no_pending_points(program, member):
    entry = points_adjust(member=member, points=25, reason="typo", actor=None, idempotency_key="a1")
    reversal = points_reverse(entry=entry, reason="wrong member")
    assert (reversal.points, reversal.pending_delta, reversal.owed_delta, reversal.balance_after) == (-25, 0, 0, 0)
    account = assert_consistent(member)
    assert (account.balance, account.pending) == (0, 0)
    assert not PointsLot.objects.filter(is_pending=True).exists()


@pytest.mark.parametrize("points", [1, 30])
def test_reversing_a_pending_credit_takes_back_the_pending_points(member, points):
    program_set(pending_days=14)
    result = buy(member, f"{points}.00", now=timezone.now())
    reversal = points_reverse(entry=result.entries[0], reason="till error")
    assert (reversal.points, reversal.pending_delta, reversal.balance_after) == (0, -points, 0)
    account = assert_consistent(member)
    assert (account.balance, account.pending) == (0, 0)


def test_a_one_point_line_refunded_in_two_steps_claws_back_0_then_1(program, member):
    result = buy(member, lines=[PurchaseLineInput(sku="X", quantity=2, unit_price=Decimal("0.50"))])
    assert result.purchase.points_earned == 1
    first = purchase_refund(purchase=result.purchase, refund_id="R-1", lines=[RefundLineInput(sku="X")])
    second = purchase_refund(purchase=result.purchase, refund_id="R-2", lines=[RefundLineInput(sku="X")])
    assert (first.points_clawed_back, second.points_clawed_back) == (0, 1)
    assert first.entries == []  # nothing to claw back: no entry
    assert assert_consistent(member).balance == 0


def test_an_anonymous_preview_earns_the_base_rate_without_a_tier(program):
    lines = [PurchaseLineInput(sku="X", quantity=2, unit_price=Decimal("7.50"))]
    result = purchase_preview(member=None, lines=lines, channel="online")
    assert (result.base_points, result.line_points, result.eligible_amount) == (15, {1: 15}, Decimal("15.00"))
    assert [step.kind for step in result.steps] == ["spend"]


def test_the_purchase_history_campaign_rules_see(program, member):
    assert dict(MemberHistory(member)) == {"purchase_channels": set(), "has_purchased": False}
    buy(member, "3.00")
    buy(member, "4.00")
    history = MemberHistory(member)
    assert dict(history) == {"purchase_channels": {"in_store"}, "has_purchased": True}
    assert len(history) == 2


def test_a_campaign_budget_cut_shows_as_a_negative_step_so_the_steps_add_up(program, member):
    campaign_factory(multiplier=Decimal("2"), budget_points=15)
    summaries = []
    for _ in range(3):
        result = buy(member, "10")
        steps = [(step.kind, step.points, step.detail) for step in result.earning.steps if step.kind != "spend"]
        summaries.append((result.purchase.points_bonus, steps))
        assert sum(step.points for step in result.earning.steps) == result.points_earned
    assert summaries == [
        (10, [("bonus", Decimal("10"), "× 2")]),
        (5, [("bonus", Decimal("10"), "× 2"), ("bonus_limit", Decimal("-5"), "budget exhausted")]),
        (0, [("bonus", Decimal("10"), "× 2"), ("bonus_limit", Decimal("-10"), "budget exhausted")]),
    ]
    assert assert_consistent(member).balance == 45


def test_a_replayed_purchase_returns_its_entries_in_posting_order(program, member):
    campaign_factory(multiplier=Decimal("2"))
    first = buy(member, "10", external_id="TILL-1")
    again = buy(member, "10", external_id="TILL-1")
    assert again.replayed
    assert [(entry.kind, entry.points) for entry in again.entries] == [(Kind.EARN, 10), (Kind.BONUS, 10)]
    assert [entry.pk for entry in again.entries] == [entry.pk for entry in first.entries]
    assert (again.balance, again.points_earned) == (20, 20)


def test_a_refunds_result_carries_the_purchase_as_it_is_after_the_refund(program, member):
    result = buy(member, lines=[PurchaseLineInput(sku="X", quantity=4, unit_price=Decimal("2.50"))])
    refund = purchase_refund(purchase=result.purchase, refund_id="R-1", lines=[RefundLineInput(sku="X", quantity=3)])
    assert (refund.amount, refund.points_clawed_back) == (Decimal("7.50"), 7)
    assert (refund.purchase.refunded_total, refund.purchase.points_clawed_back) == (Decimal("7.50"), 7)


def test_without_a_return_window_a_purchase_stamped_minutes_ahead_is_spendable_at_once(member):
    program_set(pending_days=0)
    now = timezone.now()
    result = buy(member, "12", occurred_at=now + timezone.timedelta(minutes=3), now=now)  # a till clock running fast
    assert (result.balance, result.pending, result.points_pending) == (12, 0, 0)
    assert assert_consistent(member).balance == 12


def test_a_one_day_return_window_keeps_the_points_pending_for_a_day(member):
    program_set(pending_days=1)
    now = timezone.now()
    result = buy(member, "12", now=now)
    assert (result.balance, result.pending) == (0, 12)
    lot = PointsLot.objects.get(entry__purchase=result.purchase)
    assert lot.is_pending and lot.available_at == result.purchase.occurred_at + timezone.timedelta(days=1)


def test_a_purchase_sent_the_moment_its_return_window_closes_is_spendable(member):
    program_set(pending_days=14)
    now = timezone.now()
    closed = buy(member, "12", occurred_at=now - days(14), now=now)
    assert (closed.balance, closed.pending) == (12, 0)
    open_one_second_more = buy(member, "5", occurred_at=now - days(14) + timezone.timedelta(seconds=1), now=now)
    assert (open_one_second_more.balance, open_one_second_more.pending) == (12, 5)


def test_an_award_a_reserver_drops_shows_as_a_limit_step_of_all_its_points(program, member, monkeypatch):
    """``hooks.award_reservers`` may drop an award altogether (the campaigns app cuts it to 0 instead)."""
    campaign_factory(multiplier=Decimal("2"))
    monkeypatch.setattr(purchases.hooks, "award_reservers", [lambda *, awards, basket, now: []])
    result = buy(member, "10")
    assert (result.purchase.points_earned, result.purchase.points_bonus) == (10, 0)
    limit = result.earning.steps[-1]
    assert (limit.kind, limit.points, limit.detail) == ("bonus_limit", Decimal("-10"), "limit reached")
    assert [entry.kind for entry in result.entries] == [Kind.EARN]


def test_refunding_more_units_than_are_left_says_how_many_are_left(program, member):
    result = buy(member, lines=[PurchaseLineInput(sku="X", quantity=3, unit_price=Decimal("2.00"))])
    purchase_refund(purchase=result.purchase, refund_id="R-1", lines=[RefundLineInput(sku="X", quantity=2)])
    with pytest.raises(RefundExceedsPurchase) as error:
        purchase_refund(purchase=result.purchase, refund_id="R-2", lines=[RefundLineInput(line_number=1, quantity=2)])
    assert (error.value.message, error.value.field) == ("Line 1: only 1 left to refund.", "lines")
    assert assert_consistent(member).balance == 2
