"""Real concurrency on PostgreSQL: threads with their own connections hitting the same account at once."""

import threading
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from members.exceptions import InsufficientPoints
from members.models import LedgerEntry, Purchase
from members.services import points_adjust, points_transfer
from members.services.ledger import account_lock, ledger_post
from members.services.purchases import PurchaseLineInput, purchase_record
from tests.factories import MemberFactory
from tests.members.conftest import assert_consistent, program_set

# serialized_rollback restores the migrations' rows (tiers, program settings, content types) for the next tests.
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def run_at_once(count, work):
    """Run ``work(i)`` in ``count`` threads released together; returns results and exceptions by index."""
    barrier = threading.Barrier(count)
    results, errors = {}, {}

    def target(index):
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except Exception as error:  # collected and asserted on by the test
            errors[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(index,)) for index in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    return results, errors


def test_concurrent_spends_never_overdraw():
    program_set(pending_days=0)
    member = MemberFactory()
    price = 30
    points_adjust(member=member, points=7 * price, reason="opening balance", actor=None)

    def spend(index):
        with transaction.atomic():
            account = account_lock(member_id=member.pk)
            return ledger_post(
                account=account, kind=LedgerEntry.Kind.REDEEM, points=-price, idempotency_key=f"spend-{index}"
            )

    results, errors = run_at_once(20, spend)
    assert len(results) == 7
    assert len(errors) == 13 and all(isinstance(error, InsufficientPoints) for error in errors.values())
    account = assert_consistent(member)
    assert account.balance == 0
    balances = sorted(entry.balance_after for entry in results.values())
    assert balances == [price * n for n in range(7)]


def test_the_same_purchase_sent_ten_times_at_once_credits_once():
    program_set(pending_days=0)
    member = MemberFactory()
    now = timezone.now()

    def record(index):
        return purchase_record(
            member=member,
            external_id="TILL-42",
            lines=[PurchaseLineInput(sku="BEANS", quantity=2, unit_price=Decimal("12.50"))],
            channel="in_store",
            occurred_at=now,
            currency="EUR",
        )

    results, errors = run_at_once(10, record)
    assert not errors
    assert sum(not result.replayed for result in results.values()) == 1
    assert {result.purchase.pk for result in results.values()} == {Purchase.objects.get().pk}
    assert LedgerEntry.objects.count() == 1
    assert assert_consistent(member).balance == 25


def test_opposite_transfers_at_the_same_time_do_not_deadlock():
    program_set(pending_days=0, transfer_max_points=10**6, transfer_max_per_month=10**9)
    alice, bob = MemberFactory(), MemberFactory()
    points_adjust(member=alice, points=1000, reason="opening balance", actor=None)
    points_adjust(member=bob, points=1000, reason="opening balance", actor=None)

    def transfer(index):
        sender, recipient = (alice, bob) if index % 2 else (bob, alice)
        return points_transfer(sender=sender, recipient=recipient, points=10 + index, idempotency_key=f"T-{index}")

    results, errors = run_at_once(10, transfer)
    assert not errors
    assert len(results) == 10
    total = assert_consistent(alice).balance + assert_consistent(bob).balance
    assert total == 2000
    # Odd indexes went from alice to bob: 11 + 13 + ... + 19; even from bob to alice: 10 + 12 + ... + 18.
    assert assert_consistent(bob).balance == 1000 + sum(range(11, 20, 2)) - sum(range(10, 19, 2))
