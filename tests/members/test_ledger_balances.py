"""The ledger's running figures: every entry's balance_after, lifetime earned and spent, pending debits."""

import pytest
from django.db import transaction
from django.utils import timezone

from members.exceptions import InsufficientPoints
from members.models import LedgerEntry, PointsAccount
from members.services import batch, points_adjust, points_reverse, points_transfer
from members.services.ledger import account_lock, ledger_post
from members.services.purchases import purchase_refund
from tests.factories import MemberFactory

from .conftest import assert_consistent, buy, days, program_set

pytestmark = pytest.mark.django_db
Kind = LedgerEntry.Kind


def history(member):
    """(kind, points, pending_delta, owed_delta, balance_after) of every entry, oldest first."""
    return list(
        LedgerEntry.objects.filter(account_id=member.pk)
        .order_by("id")
        .values_list("kind", "points", "pending_delta", "owed_delta", "balance_after")
    )


def totals(member):
    account = PointsAccount.objects.get(pk=member.pk)
    return account.balance, account.lifetime_earned, account.lifetime_spent


# --- pending debits ----------------------------------------------------------------------------------------------


def pending_debit(member, points, key):
    with transaction.atomic():
        account = account_lock(member_id=member.pk)
        return ledger_post(account=account, kind=Kind.CLAWBACK, pending_delta=-points, idempotency_key=key)


def test_a_pending_debit_larger_than_the_pending_balance_is_refused(member):
    program_set(pending_days=14)
    buy(member, "20")
    with pytest.raises(InsufficientPoints) as error:
        pending_debit(member, 21, "too-much")
    assert (error.value.params["needed"], error.value.params["available"]) == (21, 20)
    account = assert_consistent(member)
    assert (account.balance, account.pending) == (0, 20)
    assert not LedgerEntry.objects.filter(idempotency_key="too-much").exists()


def test_a_pending_debit_of_exactly_the_pending_balance_goes_through(member):
    program_set(pending_days=14)
    buy(member, "20")
    entry = pending_debit(member, 20, "all-of-it")
    assert (entry.points, entry.pending_delta, entry.balance_after) == (0, -20, 0)
    account = assert_consistent(member)
    assert (account.balance, account.pending) == (0, 0)


def test_a_pending_debit_is_refused_even_when_the_spendable_balance_could_cover_it(member):
    program_set(pending_days=14)
    now = timezone.now()
    buy(member, "50", occurred_at=now - days(30), now=now)  # spendable
    buy(member, "5", now=now)  # pending
    with pytest.raises(InsufficientPoints):
        pending_debit(member, 6, "k")
    account = assert_consistent(member)
    assert (account.balance, account.pending) == (50, 5)


# --- balance_after and lifetime figures --------------------------------------------------------------------------


def test_adjustments_set_balance_after_and_do_not_count_as_earned_or_spent(program, member):
    points_adjust(member=member, points=25, reason="goodwill", actor=None, idempotency_key="a1")
    points_adjust(member=member, points=-10, reason="correction", actor=None, idempotency_key="a2")
    points_adjust(member=member, points=7, reason="goodwill", actor=None, idempotency_key="a3")
    assert history(member) == [
        (Kind.ADJUST, 25, 0, 0, 25),
        (Kind.ADJUST, -10, 0, 0, 15),
        (Kind.ADJUST, 7, 0, 0, 22),
    ]
    assert totals(member) == (22, 0, 0)
    assert_consistent(member)


def test_earning_counts_towards_lifetime_earned_and_redeeming_towards_lifetime_spent(program, member):
    buy(member, "40")
    with transaction.atomic():
        account = account_lock(member_id=member.pk)
        ledger_post(account=account, kind=Kind.REDEEM, points=-15, idempotency_key="redeem-1")
    points_adjust(member=member, points=-5, reason="correction", actor=None, idempotency_key="a1")
    assert history(member) == [(Kind.EARN, 40, 0, 0, 40), (Kind.REDEEM, -15, 0, 0, 25), (Kind.ADJUST, -5, 0, 0, 20)]
    assert totals(member) == (20, 40, 15)


def test_pending_earnings_count_as_earned_when_credited_and_not_again_when_released(member):
    program_set(pending_days=14)
    now = timezone.now()
    buy(member, "30", occurred_at=now - days(20), now=now - days(20))
    assert totals(member) == (0, 30, 0)
    assert batch.points_release_pending(now=now) == 30
    assert history(member) == [(Kind.EARN, 0, 30, 0, 0), (Kind.RELEASE, 30, -30, 0, 30)]
    assert totals(member) == (30, 30, 0)


def test_transfers_set_balance_after_on_both_sides_and_count_as_neither_earned_nor_spent(program, member):
    other = MemberFactory()
    buy(member, "100")
    buy(other, "8")
    sent, received = points_transfer(sender=member, recipient=other, points=40, idempotency_key="T-1")
    assert (sent.kind, sent.points, sent.balance_after) == (Kind.TRANSFER_OUT, -40, 60)
    assert (received.kind, received.points, received.balance_after) == (Kind.TRANSFER_IN, 40, 48)
    points_transfer(sender=other, recipient=member, points=48, idempotency_key="T-2")
    assert history(member) == [
        (Kind.EARN, 100, 0, 0, 100),
        (Kind.TRANSFER_OUT, -40, 0, 0, 60),
        (Kind.TRANSFER_IN, 48, 0, 0, 108),
    ]
    assert history(other) == [
        (Kind.EARN, 8, 0, 0, 8),
        (Kind.TRANSFER_IN, 40, 0, 0, 48),
        (Kind.TRANSFER_OUT, -48, 0, 0, 0),
    ]
    assert totals(member) == (108, 100, 0)
    assert totals(other) == (0, 8, 0)
    assert_consistent(member)
    assert_consistent(other)


def test_a_shortfall_and_its_settlement_record_balance_after_and_owed(program, member):
    first = buy(member, "50")
    points_adjust(member=member, points=-45, reason="spent at the till", actor=None, idempotency_key="a1")
    purchase_refund(purchase=first.purchase, refund_id="R-1")  # 50 back, 5 there: 45 owed
    buy(member, "30")  # nets 30 of the 45
    buy(member, "20")  # nets the last 15, keeps 5
    assert history(member) == [
        (Kind.EARN, 50, 0, 0, 50),
        (Kind.ADJUST, -45, 0, 0, 5),
        (Kind.CLAWBACK, -5, 0, 45, 0),
        (Kind.EARN, 30, 0, 0, 30),
        (Kind.SETTLEMENT, -30, 0, -30, 0),
        (Kind.EARN, 20, 0, 0, 20),
        (Kind.SETTLEMENT, -15, 0, -15, 5),
    ]
    account = assert_consistent(member)
    assert (account.balance, account.owed, account.lifetime_earned, account.lifetime_spent) == (5, 0, 100, 0)


def test_a_reversal_sets_balance_after_and_leaves_lifetime_earned(program, member):
    buy(member, "12")
    entry = points_adjust(member=member, points=30, reason="typo", actor=None, idempotency_key="a1")
    reversal = points_reverse(entry=entry, reason="wrong member")
    assert (reversal.points, reversal.balance_after) == (-30, 12)
    assert totals(member) == (12, 12, 0)
