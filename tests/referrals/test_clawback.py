from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members.models import LedgerEntry, Member, PointsAccount
from members.services import points_adjust
from members.services.purchases import PurchaseLineInput, RefundLineInput, purchase_record, purchase_refund
from referrals.models import Referral, ReferralEvent
from referrals.services import referral_claw_back
from tests.factories import MemberFactory, StaffUserFactory, referral_purchase, referred_friend

pytestmark = pytest.mark.django_db
State = Referral.State


def _account(member):
    return PointsAccount.objects.get(pk=member.pk)


def _qualified(occurred_at=None):
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    if occurred_at is not None:
        Member.objects.filter(pk=friend.pk).update(enrolled_at=occurred_at - timedelta(days=1))
    result = referral_purchase(friend, "25.00", occurred_at=occurred_at)
    referral.refresh_from_db()
    assert referral.state == State.QUALIFIED
    return referrer, friend, referral, result.purchase


def test_refund_within_the_return_window_claws_back_both_bonuses():
    referrer, friend, referral, purchase = _qualified()
    purchase_refund(purchase=purchase, refund_id="R1")
    referral.refresh_from_db()
    assert referral.state == State.CLAWED_BACK
    assert referral.reason == f"Qualifying purchase {purchase.external_id} refunded within the return window."
    assert _account(referrer).balance == 0
    assert _account(friend).balance == 0
    clawbacks = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CLAWBACK, source_id=referral.pk).order_by("id")
    assert {entry.idempotency_key: entry.points for entry in clawbacks} == {
        f"referral:{referral.pk}:referrer:clawback": -500,
        f"referral:{referral.pk}:friend:clawback": -250,
    }
    assert all(entry.reversal_of.idempotency_key.startswith(f"referral:{referral.pk}:") for entry in clawbacks)
    assert referral.events.filter(outcome=ReferralEvent.Outcome.CLAWED_BACK).count() == 1


def test_bonus_already_spent_is_recorded_as_owed():
    referrer, _, referral, purchase = _qualified()
    points_adjust(member=referrer, points=-300, reason="Spent on a reward", actor=StaffUserFactory())
    purchase_refund(purchase=purchase, refund_id="R1")
    account = _account(referrer)
    assert (account.balance, account.owed) == (0, 300)
    entry = LedgerEntry.objects.get(idempotency_key=f"referral:{referral.pk}:referrer:clawback")
    assert (entry.points, entry.owed_delta) == (-200, 300)


def test_refund_after_the_return_window_keeps_the_bonuses():
    referrer, _, referral, purchase = _qualified(occurred_at=timezone.now() - timedelta(days=20))
    purchase_refund(purchase=purchase, refund_id="R1")
    referral.refresh_from_db()
    assert referral.state == State.QUALIFIED
    assert _account(referrer).balance == 500
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CLAWBACK, source_id=referral.pk).exists()
    kept = referral.events.get(outcome=ReferralEvent.Outcome.KEPT)
    assert "after the return window" in kept.reason


def test_partial_refund_claws_back_only_once_the_purchase_no_longer_qualifies():
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    purchase = purchase_record(
        member=friend,
        external_id="TWO-LINES",
        lines=[
            PurchaseLineInput(sku="A", quantity=1, unit_price=Decimal("8.00")),
            PurchaseLineInput(sku="B", quantity=1, unit_price=Decimal("7.00")),
        ],
        channel="in_store",
        occurred_at=timezone.now(),
        currency="EUR",
    ).purchase
    referral.refresh_from_db()
    assert referral.state == State.QUALIFIED
    purchase_refund(purchase=purchase, lines=[RefundLineInput(sku="B")], refund_id="R1")  # 8.00 left, below 10
    referral.refresh_from_db()
    assert referral.state == State.CLAWED_BACK


def test_partial_refund_that_still_qualifies_keeps_the_bonuses():
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    purchase = purchase_record(
        member=friend,
        external_id="BIG",
        lines=[
            PurchaseLineInput(sku="A", quantity=1, unit_price=Decimal("30.00")),
            PurchaseLineInput(sku="B", quantity=1, unit_price=Decimal("5.00")),
        ],
        channel="in_store",
        occurred_at=timezone.now(),
        currency="EUR",
    ).purchase
    purchase_refund(purchase=purchase, lines=[RefundLineInput(sku="B")], refund_id="R1")
    referral.refresh_from_db()
    assert referral.state == State.QUALIFIED
    assert _account(referrer).balance == 500


def test_clawback_is_idempotent():
    referrer, _, referral, purchase = _qualified()
    purchase_refund(purchase=purchase, refund_id="R1")
    purchase_refund(purchase=purchase, refund_id="R1")  # the till retries
    referral_claw_back(referral=referral, reason="again")
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CLAWBACK, source_id=referral.pk).count() == 2
    assert _account(referrer).balance == 0
