"""Refunds to the point and the cent: remainders, which lots pay, pending versus spendable, totals, tier activity."""

from decimal import Decimal

import pytest
from django.utils import timezone

from members.exceptions import RefundExceedsPurchase
from members.models import LedgerEntry, PointsLot, ProgramSettings, Purchase, QualifyingActivity
from members.services import batch, points_adjust
from members.services.purchases import PurchaseLineInput, RefundLineInput, purchase_record, purchase_refund
from tests.factories import campaign_factory

from .conftest import account_of, assert_consistent, buy, days, program_set

pytestmark = pytest.mark.django_db
Kind = LedgerEntry.Kind


def lot_of(purchase) -> PointsLot:
    return PointsLot.objects.get(entry__purchase=purchase, entry__kind=Kind.EARN)


def test_a_line_of_10_points_over_3_units_claws_back_3_3_then_4(program, member):
    program_set(rounding=ProgramSettings.Rounding.DOWN)
    result = buy(member, lines=[PurchaseLineInput(sku="X", quantity=3, unit_price=Decimal("3.34"))])
    assert result.purchase.points_earned == 10  # 10.02 rounded down
    clawed = [
        purchase_refund(purchase=result.purchase, refund_id=f"R-{n}", lines=[RefundLineInput(sku="X")])
        for n in range(3)
    ]
    # Floor of points × units refunded so far / units, minus what was already taken: 3, 6−3, 10−6.
    assert [refund.points_clawed_back for refund in clawed] == [3, 3, 4]
    assert [refund.amount for refund in clawed] == [Decimal("3.34")] * 3
    assert [refund.entries[0].points for refund in clawed] == [-3, -3, -4]
    assert [refund.entries[0].balance_after for refund in clawed] == [7, 4, 0]
    purchase = Purchase.objects.get(pk=result.purchase.pk)
    assert (purchase.points_clawed_back, purchase.refunded_total) == (10, Decimal("10.02"))
    assert purchase.lines.get().refunded_quantity == 3
    assert assert_consistent(member).balance == 0


def test_two_units_at_once_then_the_last_one_claws_back_6_then_4(program, member):
    result = buy(member, lines=[PurchaseLineInput(sku="X", quantity=3, unit_price=Decimal("3.34"))])
    two = purchase_refund(purchase=result.purchase, refund_id="R-1", lines=[RefundLineInput(line_number=1, quantity=2)])
    last = purchase_refund(purchase=result.purchase, refund_id="R-2", lines=[RefundLineInput(line_number=1)])
    assert (two.points_clawed_back, last.points_clawed_back) == (6, 4)
    assert (two.amount, last.amount) == (Decimal("6.68"), Decimal("3.34"))


def test_one_refund_naming_the_same_line_twice_refunds_both_quantities(program, member):
    """A till that sends a line once per scanned item: the quantities add up (and still cannot exceed the line)."""
    result = buy(member, lines=[PurchaseLineInput(sku="X", quantity=3, unit_price=Decimal("3.34"))])
    twice = [RefundLineInput(line_number=1, quantity=1), RefundLineInput(sku="X", quantity=1)]
    refund = purchase_refund(purchase=result.purchase, refund_id="R-1", lines=twice)
    assert (refund.amount, refund.points_clawed_back) == (Decimal("6.68"), 6)
    assert Purchase.objects.get(pk=result.purchase.pk).lines.get().refunded_quantity == 2
    with pytest.raises(RefundExceedsPurchase):
        purchase_refund(purchase=result.purchase, refund_id="R-2", lines=[RefundLineInput(line_number=1)] * 2)
    assert assert_consistent(member).balance == 4


def test_a_full_refund_after_a_partial_one_refunds_only_what_is_left(program, member):
    result = buy(member, lines=[PurchaseLineInput(sku="X", quantity=3, unit_price=Decimal("3.34"))])
    purchase_refund(purchase=result.purchase, refund_id="R-1", lines=[RefundLineInput(line_number=1)])
    rest = purchase_refund(purchase=result.purchase, refund_id="R-2")  # no lines: everything still refundable
    assert (rest.amount, rest.points_clawed_back) == (Decimal("6.68"), 7)
    assert Purchase.objects.get(pk=result.purchase.pk).lines.get().refunded_quantity == 3
    assert assert_consistent(member).balance == 0


def test_a_refund_takes_its_own_purchases_lot_before_an_older_lot_that_expires_sooner(program, member):
    now = timezone.now()
    older = buy(member, "30", occurred_at=now - days(100), now=now)  # expires 100 days before the newer lot
    newer = buy(member, "20", now=now)
    assert lot_of(older.purchase).expires_at < lot_of(newer.purchase).expires_at
    refund = purchase_refund(purchase=newer.purchase, refund_id="R-1", lines=[RefundLineInput(sku="SKU")])
    assert refund.points_clawed_back == 20
    assert lot_of(older.purchase).remaining == 30
    assert lot_of(newer.purchase).remaining == 0
    assert assert_consistent(member).balance == 30


def test_a_partial_refund_empties_its_own_lot_first_and_only_then_touches_others(program, member):
    now = timezone.now()
    older = buy(member, "30", occurred_at=now - days(100), now=now)
    newer = buy(member, "20", now=now)
    # Spending takes the soonest-expiring lot first: the older one.
    points_adjust(member=member, points=-15, reason="spent", actor=None)
    assert (lot_of(older.purchase).remaining, lot_of(newer.purchase).remaining) == (15, 20)
    purchase_refund(purchase=newer.purchase, refund_id="R-1")
    assert (lot_of(older.purchase).remaining, lot_of(newer.purchase).remaining) == (15, 0)
    assert assert_consistent(member).balance == 15


def test_refunding_a_released_purchase_takes_spendable_points_and_leaves_another_purchases_pending_alone(member):
    program_set(pending_days=14, expiry_policy=ProgramSettings.ExpiryPolicy.FIXED, expiry_months=12)
    now = timezone.now()
    released = buy(member, "40", occurred_at=now - days(20), now=now - days(20))
    assert batch.points_release_pending(now=now) == 40
    waiting = buy(member, "25", now=now)
    account = account_of(member)
    assert (account.balance, account.pending) == (40, 25)

    refund = purchase_refund(purchase=released.purchase, refund_id="R-1", now=now)
    assert refund.points_clawed_back == 40
    entry = refund.entries[0]
    assert (entry.points, entry.pending_delta, entry.owed_delta, entry.balance_after) == (-40, 0, 0, 0)
    account = assert_consistent(member)
    assert (account.balance, account.pending, account.owed) == (0, 25, 0)
    pending_lot = PointsLot.objects.get(entry__purchase=waiting.purchase)
    assert (pending_lot.is_pending, pending_lot.remaining) == (True, 25)


def test_refunding_a_pending_purchase_takes_its_pending_points_and_leaves_the_balance(member):
    program_set(pending_days=14)
    now = timezone.now()
    spendable = buy(member, "40", occurred_at=now - days(30), now=now)  # window already over: spendable
    fresh = buy(member, "25", now=now)
    refund = purchase_refund(purchase=fresh.purchase, refund_id="R-1", lines=[RefundLineInput(sku="SKU")], now=now)
    entry = refund.entries[0]
    assert (entry.points, entry.pending_delta, entry.balance_after) == (0, -25, 40)
    account = assert_consistent(member)
    assert (account.balance, account.pending) == (40, 0)
    assert lot_of(spendable.purchase).remaining == 40


def test_a_total_below_the_line_sum_is_a_discount_the_lines_share_in_refunds(program, member):
    result = purchase_record(
        member=member,
        external_id="DISCOUNTED",
        lines=[
            PurchaseLineInput(sku="A", quantity=1, unit_price=Decimal("30.00")),
            PurchaseLineInput(sku="B", quantity=2, unit_price=Decimal("10.00")),
        ],
        channel="in_store",
        occurred_at=timezone.now(),
        currency="EUR",
        total=Decimal("45.00"),  # a 5.00 basket discount
    )
    assert result.purchase.total == Decimal("45.00")
    # The unnamed 5.00 discount is shared pro rata (issue 15): line A was charged 27.00, the two B 18.00.
    assert [line.discount for line in result.lines] == [Decimal("3.00"), Decimal("2.00")]
    first = purchase_refund(purchase=result.purchase, refund_id="R-1", lines=[RefundLineInput(sku="A")])
    assert first.amount == Decimal("27.00")
    rest = purchase_refund(purchase=result.purchase, refund_id="R-2")
    assert rest.amount == Decimal("18.00")
    purchase = Purchase.objects.get(pk=result.purchase.pk)
    assert purchase.refunded_total == Decimal("45.00")
    month = QualifyingActivity.objects.get(member=member)
    assert month.spend == Decimal("0.00")


def test_a_full_refund_of_a_discounted_purchase_in_one_go_gives_back_the_total(program, member):
    result = purchase_record(
        member=member,
        external_id="DISCOUNTED",
        lines=[PurchaseLineInput(sku="A", quantity=2, unit_price=Decimal("25.00"))],
        channel="in_store",
        occurred_at=timezone.now(),
        currency="EUR",
        total=Decimal("45.00"),
    )
    refund = purchase_refund(purchase=result.purchase, refund_id="R-1")
    assert refund.amount == Decimal("45.00")
    assert Purchase.objects.get(pk=result.purchase.pk).refunded_total == Decimal("45.00")


def test_refunding_a_purchase_with_a_campaign_bonus_lowers_qualifying_points_by_the_base_points_only(program, member):
    campaign = campaign_factory(multiplier=Decimal("3"))
    result = buy(member, "10")
    assert (result.purchase.points_earned, result.purchase.points_bonus) == (10, 20)
    assert [entry.source_id for entry in result.bonus_entries] == [campaign.pk]
    month = QualifyingActivity.objects.get(member=member)
    assert (month.points, month.spend, month.purchases) == (10, Decimal("10.00"), 1)

    refund = purchase_refund(purchase=result.purchase, refund_id="R-1")
    assert refund.points_clawed_back == 30  # base and bonus both come back from the balance
    assert assert_consistent(member).balance == 0
    month.refresh_from_db()
    assert (month.points, month.spend, month.purchases) == (0, Decimal("0.00"), 1)


def test_a_partial_refund_of_a_bonus_line_lowers_qualifying_points_by_its_share_of_the_base(program, member):
    """Half of a 10-base + 20-bonus line back: 5 base points leave the tier count, not all 10."""
    campaign_factory(multiplier=Decimal("3"))
    result = purchase_record(
        member=member,
        external_id="HALF",
        lines=[PurchaseLineInput(sku="A", quantity=2, unit_price=Decimal("5.00"))],
        channel="in_store",
        occurred_at=timezone.now(),
        currency="EUR",
    )
    assert (result.purchase.points_earned, result.purchase.points_bonus) == (10, 20)
    month = QualifyingActivity.objects.get(member=member)
    purchase_refund(purchase=result.purchase, lines=[RefundLineInput(line_number=1, quantity=1)], refund_id="R-1")
    month.refresh_from_db()
    assert month.points == 5
    purchase_refund(purchase=result.purchase, lines=[RefundLineInput(line_number=1, quantity=1)], refund_id="R-2")
    month.refresh_from_db()
    assert month.points == 0  # the two shares add up to the base points exactly
