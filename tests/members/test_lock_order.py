"""Lock order of the points accounts: every write that locks several accounts takes them in ascending id.

The PostgreSQL tests force the dangerous interleaving instead of hoping for it: each thread is held right after
its first account-lock statement until every thread has either taken its first lock too or is blocked waiting for
one (seen in ``pg_stat_activity``). Two writers that lock the same two accounts in opposite orders then deadlock
every time; writers that share one order simply queue.
"""

import threading
import time
from datetime import timedelta

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from members.models import LedgerEntry, PointsAccount
from members.services import points_adjust, points_transfer
from members.services.batch import points_release_pending
from members.services.ledger import account_lock, accounts_lock, ledger_post
from members.services.purchases import purchase_refund
from referrals.models import Referral
from referrals.services import referral_approve
from tests.factories import MemberFactory, StaffUserFactory, referral_program_set, referral_purchase, referred_friend

from .conftest import assert_consistent, program_set

ACCOUNTS = PointsAccount._meta.db_table
#: How every multi-account lock statement ends (SQLite has no FOR UPDATE and serialises writers instead).
ORDERED_LOCK = f'ORDER BY "{ACCOUNTS}"."member_id" ASC' + (
    " FOR UPDATE" if connection.features.has_select_for_update else ""
)

# --- the helper (any database) -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_accounts_lock_takes_every_account_in_one_statement_ordered_by_primary_key():
    members = MemberFactory.create_batch(3)
    ids = [member.pk for member in members]
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        locked = accounts_lock(member_ids=[ids[2], ids[0], ids[1], ids[0]])
    statements = [query["sql"] for query in queries.captured_queries if ACCOUNTS in query["sql"]]
    assert len(statements) == 1
    assert statements[0].endswith(ORDERED_LOCK), statements[0]
    assert list(locked) == sorted(ids)
    assert all(locked[pk].pk == pk for pk in ids)


def _account_locks(queries) -> list[str]:
    return [query["sql"] for query in queries.captured_queries if query["sql"].endswith(ORDERED_LOCK)]


@pytest.mark.django_db
def test_the_pending_release_locks_its_chunk_through_the_same_ordered_statement():
    program_set(pending_days=14)
    members = MemberFactory.create_batch(3)
    for member in reversed(members):
        _pending_due(member, 10, f"due:{member.pk}")
    with CaptureQueriesContext(connection) as queries:
        assert points_release_pending() == 30
    locks = _account_locks(queries)
    assert len(locks) == 1 and all(str(member.pk) in locks[0] for member in members), locks


@pytest.mark.django_db
def test_a_referred_friends_purchase_locks_both_accounts_in_its_first_account_lock():
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    with CaptureQueriesContext(connection) as queries:
        referral_purchase(friend, "25.00")
    referral.refresh_from_db()
    assert referral.state == Referral.State.QUALIFIED
    account_queries = [query["sql"] for query in queries.captured_queries if ACCOUNTS in query["sql"]]
    first = account_queries[0]
    assert first.endswith(ORDERED_LOCK), first
    assert f"IN ({referrer.pk}, {friend.pk})" in first, first


@pytest.mark.django_db
def test_refunding_a_qualifying_purchase_locks_both_accounts_in_its_first_account_lock():
    program_set(pending_days=14)
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    bought = referral_purchase(friend, "25.00").purchase
    with CaptureQueriesContext(connection) as queries:
        purchase_refund(purchase=bought, refund_id="R-1")
    referral.refresh_from_db()
    assert referral.state == Referral.State.CLAWED_BACK
    account_queries = [query["sql"] for query in queries.captured_queries if ACCOUNTS in query["sql"]]
    first = account_queries[0]
    assert first.endswith(ORDERED_LOCK), first
    assert f"IN ({referrer.pk}, {friend.pk})" in first, first


@pytest.mark.django_db
def test_accounts_lock_hands_out_accounts_ledger_post_accepts():
    alice, bob = MemberFactory(), MemberFactory()
    with transaction.atomic():
        locked = accounts_lock(member_ids=[bob.pk, alice.pk])
        ledger_post(account=locked[alice.pk], kind=LedgerEntry.Kind.ADJUST, points=5, idempotency_key="a")
        ledger_post(account=locked[bob.pk], kind=LedgerEntry.Kind.ADJUST, points=7, idempotency_key="b")
    assert (assert_consistent(alice).balance, assert_consistent(bob).balance) == (5, 7)


@pytest.mark.django_db
def test_accounts_lock_refuses_a_member_without_an_account():
    member = MemberFactory()
    with transaction.atomic(), pytest.raises(PointsAccount.DoesNotExist):
        accounts_lock(member_ids=[member.pk, member.pk + 1000])


# --- forcing the interleaving (PostgreSQL) -----------------------------------------------------------------------


def _is_account_lock(sql: str) -> bool:
    return ACCOUNTS in sql and "FOR UPDATE" in sql


class LockGate:
    """Holds each of ``parties`` threads right after its first account-lock statement, until every one has
    passed its own first lock or is blocked on a lock in the database (then all go on)."""

    def __init__(self, parties: int):
        self.parties = parties
        self.passed = 0
        self.first_lock_taken = threading.Event()
        self.open = threading.Event()
        self._count = threading.Lock()

    def wrapper(self):
        """An ``execute_wrapper`` for one thread's connection."""
        seen = []

        def wrap(execute, sql, params, many, context):
            result = execute(sql, params, many, context)
            if not seen and _is_account_lock(sql):
                seen.append(sql)
                with self._count:
                    self.passed += 1
                self.first_lock_taken.set()
                self.open.wait(timeout=10)
            return result

        return wrap

    def watch(self, timeout: float = 10) -> None:
        """Run in the test's own thread (own connection): open the gate once the threads are where they should be."""
        deadline = time.monotonic() + timeout
        while not self.open.is_set() and time.monotonic() < deadline:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT COUNT(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
                )
                waiting = cursor.fetchone()[0]
            if self.passed + waiting >= self.parties:
                self.open.set()
            time.sleep(0.02)
        self.open.set()


def _run(gate: LockGate, works: list, *, start_after_first_lock: tuple[int, ...] = ()) -> tuple[dict, dict]:
    """Run each ``works[i]()`` in its own thread and connection behind ``gate``; returns (results, errors).

    Threads listed in ``start_after_first_lock`` begin only once another thread holds its first account lock.
    """
    barrier = threading.Barrier(len(works))
    results, errors = {}, {}

    def target(index):
        try:
            barrier.wait(timeout=30)
            if index in start_after_first_lock:
                gate.first_lock_taken.wait(timeout=10)
            with connection.execute_wrapper(gate.wrapper()):
                results[index] = works[index]()
        except Exception as error:  # asserted on by the caller
            errors[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(index,)) for index in range(len(works))]
    for thread in threads:
        thread.start()
    gate.watch()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results, errors


def _assert_no_deadlock(errors: dict) -> None:
    deadlocks = {index: error for index, error in errors.items() if isinstance(error, OperationalError)}
    assert not deadlocks, f"deadlock: {deadlocks}"
    assert not errors, errors


def _pending_due(member, points: int, key: str) -> None:
    """A pending lot whose return window has already ended, for the release job to pick up."""
    with transaction.atomic():
        ledger_post(
            account=account_lock(member_id=member.pk),
            kind=LedgerEntry.Kind.EARN,
            pending_delta=points,
            available_at=timezone.now() - timedelta(days=1),
            idempotency_key=key,
        )


def _referral_setup(path: str):
    """Referrer and friend (the friend has the higher id, as a later sign-up always does), each with due pending
    points, and the payout (or clawback) for ``path`` ready to run; returns (referrer, friend, referral, payout)."""
    program_set(pending_days=14)
    referrer = MemberFactory()
    if path == "approval":
        referral_program_set(velocity_max_per_hour=0)  # every sign-up on the code is held for review
    friend, referral = referred_friend(referrer)
    assert referrer.pk < friend.pk
    if path == "approval":
        assert referral.state == Referral.State.HELD
        referral_purchase(friend, "25.00", external_id="HELD-1")  # remembered, not paid
        staff = StaffUserFactory()

        def payout():
            return referral_approve(referral=referral, actor=staff)

    elif path == "refund":
        bought = referral_purchase(friend, "25.00", external_id="PAID-1").purchase  # qualifies and pays

        def payout():
            return purchase_refund(purchase=bought, refund_id="R-1")

    else:

        def payout():
            return referral_purchase(friend, "25.00", external_id="QUAL-1")

    _pending_due(referrer, 40, "due:referrer")
    _pending_due(friend, 60, "due:friend")
    return referrer, friend, referral, payout


@pytest.mark.parametrize("path", ["purchase", "approval", "refund"])
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_referral_payout_and_the_pending_release_on_the_same_two_accounts_do_not_deadlock(path):
    referrer, friend, referral, payout = _referral_setup(path)
    gate = LockGate(parties=2)
    # The payout takes its first account lock, then the release job starts on the same two accounts.
    results, errors = _run(gate, [payout, points_release_pending], start_after_first_lock=(1,))
    _assert_no_deadlock(errors)
    assert results[1] == 100  # both due pending lots released
    referral.refresh_from_db()
    if path == "refund":
        assert referral.state == Referral.State.CLAWED_BACK
        assert PointsAccount.objects.get(pk=referrer.pk).balance == 40
    else:
        assert referral.state == Referral.State.QUALIFIED
        assert PointsAccount.objects.get(pk=referrer.pk).balance == 40 + 500
        assert PointsAccount.objects.get(pk=friend.pk).balance == 60 + 250
    assert_consistent(referrer)
    assert_consistent(friend)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_opposite_transfers_forced_to_interleave_do_not_deadlock():
    program_set(pending_days=0, transfer_max_points=10**6, transfer_max_per_month=10**9)
    alice, bob = MemberFactory(), MemberFactory()
    points_adjust(member=alice, points=1000, reason="opening balance", actor=None)
    points_adjust(member=bob, points=1000, reason="opening balance", actor=None)
    rounds = 5
    for round_ in range(rounds):
        gate = LockGate(parties=2)
        results, errors = _run(
            gate,
            [
                lambda round_=round_: points_transfer(
                    sender=alice, recipient=bob, points=10, idempotency_key=f"AB-{round_}"
                ),
                lambda round_=round_: points_transfer(
                    sender=bob, recipient=alice, points=3, idempotency_key=f"BA-{round_}"
                ),
            ],
        )
        _assert_no_deadlock(errors)
        assert len(results) == 2
    assert assert_consistent(alice).balance == 1000 - rounds * (10 - 3)
    assert assert_consistent(bob).balance == 1000 + rounds * (10 - 3)
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.TRANSFER_OUT).count() == 2 * rounds
