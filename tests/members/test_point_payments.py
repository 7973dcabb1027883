"""Paying with points (burn): the debit, what the purchase it paid for earns, voiding it, refunding that purchase."""

from decimal import Decimal

import pytest
from django.utils import timezone

from members.exceptions import (
    DuplicateRequest,
    ExternalIdTaken,
    InsufficientPoints,
    InvalidPointPayment,
    InvalidPurchase,
)
from members.models import LedgerEntry, PointPayment, PointsLot, ProgramSettings, QualifyingActivity
from members.months import add_months
from members.services.point_payments import point_payment_cancel, point_payment_make
from members.services.purchases import PurchaseLineInput, purchase_record, purchase_refund
from tests.factories import points_give
from tests.members.conftest import account_of, assert_consistent, program_set

pytestmark = pytest.mark.django_db
Kind = LedgerEntry.Kind


@pytest.fixture
def program(db):
    # 1 point per euro, points worth 0.05 each, spendable at once.
    return program_set(
        pending_days=0,
        expiry_policy=ProgramSettings.ExpiryPolicy.FIXED,
        expiry_months=12,
        point_value=Decimal("0.0500"),
    )


def record(member, external_id="P-1", *, lines=None, point_payments=(), total=None):
    return purchase_record(
        member=member,
        external_id=external_id,
        lines=lines or [PurchaseLineInput(sku="SHOE", quantity=1, unit_price=Decimal("100.00"), category="shoes")],
        channel="in_store",
        occurred_at=timezone.now(),
        currency="EUR",
        source="till",
        point_payments=point_payments,
        total=total,
    )


def test_a_point_payment_debits_the_points_and_answers_their_value(program, member):
    points_give(member, 1000)
    payment = point_payment_make(member=member, points=401, external_id="PAY-1", source="till")
    assert payment.amount == Decimal("20.05")  # 401 × 0.05
    assert payment.replayed is False
    account = assert_consistent(member)
    assert account.balance == 599
    assert account.lifetime_spent == 401
    entry = LedgerEntry.objects.get(kind=Kind.PAYMENT)
    assert (entry.points, entry.source) == (-401, payment)


def test_a_retried_payment_debits_once_and_another_payload_is_refused(program, member):
    points_give(member, 1000)
    first = point_payment_make(member=member, points=300, external_id="PAY-1", source="till")
    again = point_payment_make(member=member, points=300, external_id="PAY-1", source="till")
    assert again.pk == first.pk and again.replayed is True
    assert account_of(member).balance == 700
    with pytest.raises(DuplicateRequest):
        point_payment_make(member=member, points=200, external_id="PAY-1", source="till")
    assert account_of(member).balance == 700


def test_the_same_payment_id_for_another_member_is_refused(program, member):
    from tests.factories import MemberFactory

    other = MemberFactory()
    points_give(member, 500)
    points_give(other, 500)
    point_payment_make(member=member, points=100, external_id="PAY-1", source="till")
    with pytest.raises(ExternalIdTaken):
        point_payment_make(member=other, points=100, external_id="PAY-1", source="till")
    assert account_of(other).balance == 500


def test_paying_more_points_than_the_balance_is_refused_and_changes_nothing(program, member):
    points_give(member, 100)
    with pytest.raises(InsufficientPoints):
        point_payment_make(member=member, points=101, external_id="PAY-1", source="till")
    assert not PointPayment.objects.exists()
    assert assert_consistent(member).balance == 100


@pytest.mark.parametrize("points", [0, -5, True])
def test_a_payment_needs_a_positive_whole_number_of_points(program, member, points):
    points_give(member, 100)
    with pytest.raises(InvalidPointPayment) as raised:
        point_payment_make(member=member, points=points, external_id="PAY-1")
    assert raised.value.field == "points"


def test_a_program_whose_points_have_no_value_refuses_payments(program, member):
    program_set(point_value=Decimal("0"))
    points_give(member, 100)
    with pytest.raises(InvalidPointPayment):
        point_payment_make(member=member, points=10, external_id="PAY-1")


def test_a_purchase_naming_its_payment_earns_only_on_the_money_paid(program, member):
    points_give(member, 1000)
    point_payment_make(member=member, points=400, external_id="PAY-1", source="till")  # € 20.00
    result = record(member, point_payments=["PAY-1"])
    purchase = result.purchase
    assert (purchase.points_paid, purchase.points_paid_amount, purchase.money_paid) == (400, Decimal("20.00"), 80)
    assert purchase.points_earned == 80  # on € 80, not € 100
    assert PointPayment.objects.get().purchase == purchase
    # Tier spend counts the money only.
    assert QualifyingActivity.objects.get(member=member).spend == Decimal("80.00")
    assert assert_consistent(member).balance == 1000 - 400 + 80


def test_a_payment_naming_its_purchase_is_found_when_the_purchase_arrives(program, member):
    points_give(member, 1000)
    point_payment_make(member=member, points=200, external_id="PAY-1", source="till", purchase_external_id="P-1")
    assert account_of(member).point_payments_awaiting == 1
    result = record(member, "P-1")
    assert result.purchase.points_paid_amount == Decimal("10.00")
    assert result.purchase.points_earned == 90
    assert account_of(member).point_payments_awaiting == 0
    assert PointPayment.objects.get().purchase == result.purchase


def test_an_everyday_purchase_does_not_look_for_point_payments(program, member):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    record(member, "warm")
    with CaptureQueriesContext(connection) as captured:
        record(member, "P-2")
    assert not [q for q in captured.captured_queries if "pointpayment" in q["sql"]]


def test_the_points_payment_is_shared_over_every_line_by_amount(program, member):
    points_give(member, 1000)
    point_payment_make(member=member, points=600, external_id="PAY-1", source="till")  # € 30.00
    lines = [
        PurchaseLineInput(sku="A", quantity=1, unit_price=Decimal("60.00")),
        PurchaseLineInput(sku="B", quantity=1, unit_price=Decimal("30.00")),
    ]
    result = record(member, lines=lines, point_payments=["PAY-1"])
    # € 90 basket, € 30 in points: lines pay € 40 and € 20 in money.
    assert result.earning.line_points_paid == {1: Decimal("20.00"), 2: Decimal("10.00")}
    assert result.purchase.points_earned == 60
    assert [line.points for line in result.lines] == [40, 20]


def test_point_payments_worth_more_than_the_total_are_refused(program, member):
    points_give(member, 5000)
    point_payment_make(member=member, points=2100, external_id="PAY-1", source="till")  # € 105.00
    with pytest.raises(InvalidPurchase) as raised:
        record(member, point_payments=["PAY-1"])
    assert raised.value.field == "point_payments"
    assert PointPayment.objects.get().purchase is None


@pytest.mark.parametrize("problem", ["unknown", "cancelled", "used", "other_member"])
def test_a_purchase_cannot_name_a_payment_it_may_not_use(program, member, problem):
    from tests.factories import MemberFactory

    points_give(member, 1000)
    payer = member
    if problem == "other_member":
        payer = MemberFactory()
        points_give(payer, 1000)
    if problem != "unknown":
        payment = point_payment_make(member=payer, points=100, external_id="PAY-1", source="till")
    if problem == "cancelled":
        point_payment_cancel(payment=payment)
    if problem == "used":
        record(member, "P-0", point_payments=["PAY-1"])
    with pytest.raises(InvalidPointPayment) as raised:
        record(member, "P-1", point_payments=["PAY-1"])
    assert raised.value.field == "point_payments"


def test_a_payment_for_a_purchase_already_recorded_is_refused(program, member):
    points_give(member, 1000)
    record(member, "P-1")
    with pytest.raises(InvalidPointPayment) as raised:
        point_payment_make(member=member, points=100, external_id="PAY-1", source="till", purchase_external_id="P-1")
    assert raised.value.field == "purchase_external_id"
    assert account_of(member).balance == 1100


def test_a_replayed_purchase_keeps_its_payment(program, member):
    points_give(member, 1000)
    point_payment_make(member=member, points=200, external_id="PAY-1", source="till")
    first = record(member, "P-1", point_payments=["PAY-1"])
    again = record(member, "P-1", point_payments=["PAY-1"])
    assert again.replayed is True
    assert again.purchase.pk == first.purchase.pk
    assert account_of(member).balance == 1000 - 200 + 90


def test_cancelling_a_payment_gives_the_points_back_as_a_new_lot_once(program, member):
    points_give(member, 1000)
    payment = point_payment_make(
        member=member, points=300, external_id="PAY-1", source="till", purchase_external_id="P-9"
    )
    cancelled = point_payment_cancel(payment=payment)
    assert cancelled.status == PointPayment.Status.CANCELLED and cancelled.replayed is False
    assert point_payment_cancel(payment=payment).replayed is True
    account = assert_consistent(member)
    assert account.balance == 1000
    assert account.point_payments_awaiting == 0
    returned = LedgerEntry.objects.get(kind=Kind.PAYMENT_RETURN)
    lot = PointsLot.objects.get(entry=returned)
    assert lot.amount == 300
    # Documented: the returned points expire under the program's policy counted from the day they come back.
    assert abs((lot.expires_at - add_months(returned.created_at, 12)).total_seconds()) < 1


def test_a_payment_whose_purchase_is_recorded_cannot_be_cancelled(program, member):
    points_give(member, 1000)
    payment = point_payment_make(member=member, points=300, external_id="PAY-1", source="till")
    record(member, point_payments=["PAY-1"])
    with pytest.raises(InvalidPointPayment):
        point_payment_cancel(payment=payment)
    assert PointPayment.objects.get().status == PointPayment.Status.COMPLETED


def test_refunding_a_purchase_paid_partly_with_points_returns_them_before_the_clawback(program, member):
    points_give(member, 400)
    point_payment_make(member=member, points=400, external_id="PAY-1", source="till")  # € 20.00 of € 100
    purchase = record(member, point_payments=["PAY-1"]).purchase  # earns 80
    assert account_of(member).balance == 80

    refund = purchase_refund(purchase=purchase, refund_id="R-1")

    assert (refund.points_returned, refund.points_returned_amount, refund.points_clawed_back) == (
        400,
        Decimal("20.00"),
        80,
    )
    account = assert_consistent(member)
    # The 400 paid come back, the 80 earned go: nothing owed, although the 80 earned could have been spent.
    assert (account.balance, account.owed) == (400, 0)
    kinds = list(LedgerEntry.objects.filter(purchase=purchase).order_by("id").values_list("kind", flat=True))
    assert kinds == [Kind.EARN, Kind.PAYMENT_RETURN, Kind.CLAWBACK]
    purchase.refresh_from_db()
    assert purchase.points_returned == 400
    assert QualifyingActivity.objects.get(member=member).spend == Decimal("0.00")
    # A retry of the refund gives nothing back twice.
    assert purchase_refund(purchase=purchase, refund_id="R-1").replayed is True
    assert account_of(member).balance == 400


def test_partial_refunds_give_back_the_points_paid_in_shares_that_add_up(program, member):
    points_give(member, 1000)
    point_payment_make(member=member, points=333, external_id="PAY-1", source="till")  # € 16.65
    lines = [PurchaseLineInput(sku="A", quantity=3, unit_price=Decimal("10.00"))]
    purchase = record(member, lines=lines, point_payments=["PAY-1"]).purchase
    from members.services.purchases import RefundLineInput

    returned = [
        purchase_refund(purchase=purchase, refund_id=f"R-{n}", lines=[RefundLineInput(line_number=1)]).points_returned
        for n in range(3)
    ]
    assert returned == [111, 111, 111]
    assert sum(returned) == 333
    assert_consistent(member)


def test_a_closed_membership_cannot_pay_with_points(program, member):
    from members.models import Member

    points_give(member, 100)
    Member.objects.filter(pk=member.pk).update(status=Member.Status.CLOSED)
    member.refresh_from_db()
    from members.exceptions import AccountClosed

    with pytest.raises(AccountClosed):
        point_payment_make(member=member, points=10, external_id="PAY-1")
