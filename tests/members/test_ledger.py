"""The ledger: refunds and clawback, lot order, transfers, adjustments, reversals, append-only, verify_ledger."""

from datetime import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from members.exceptions import (
    AccountClosed,
    AdjustmentNotAllowed,
    DuplicateRequest,
    InsufficientPoints,
    InvalidPurchase,
    RefundExceedsPurchase,
    TransferNotAllowed,
)
from members.models import LedgerEntry, PointsAccount, PointsLot, ProgramSettings, QualifyingActivity
from members.services import member_close, points_adjust, points_reverse, points_transfer
from members.services.ledger import account_lock, ledger_post
from members.services.purchases import PurchaseLineInput, RefundLineInput, purchase_refund
from tests.factories import MemberFactory, SuperUserFactory
from tests.members.conftest import account_of, assert_consistent, buy, days, program_set

pytestmark = pytest.mark.django_db
Kind = LedgerEntry.Kind


def three_lines(member, **kwargs):
    return buy(
        member,
        lines=[
            PurchaseLineInput(sku="A", quantity=2, unit_price=Decimal("10")),
            PurchaseLineInput(sku="B", quantity=1, unit_price=Decimal("15")),
            PurchaseLineInput(sku="C", quantity=3, unit_price=Decimal("5")),
        ],
        **kwargs,
    )


# --- refunds -----------------------------------------------------------------------------------------------------


def test_full_refund_claws_back_everything(program, member):
    result = three_lines(member)
    assert result.balance == 50
    refund = purchase_refund(purchase=result.purchase, refund_id="R-1")
    assert (refund.points_clawed_back, refund.amount) == (50, Decimal("50"))
    account = assert_consistent(member)
    assert account.balance == 0 and account.owed == 0
    assert QualifyingActivity.objects.get(member=member).points == 0
    with pytest.raises(RefundExceedsPurchase):
        purchase_refund(purchase=result.purchase, refund_id="R-2")


def test_partial_refund_by_line_and_by_sku(program, member):
    result = three_lines(member)
    one_of_line_1 = [RefundLineInput(line_number=1, quantity=1)]
    first = purchase_refund(purchase=result.purchase, refund_id="R-1", lines=one_of_line_1)
    assert (first.points_clawed_back, first.amount) == (10, Decimal("10"))
    second = purchase_refund(purchase=result.purchase, refund_id="R-2", lines=[RefundLineInput(sku="C", quantity=3)])
    assert second.points_clawed_back == 15
    assert assert_consistent(member).balance == 25
    with pytest.raises(RefundExceedsPurchase):
        purchase_refund(purchase=result.purchase, refund_id="R-3", lines=[RefundLineInput(line_number=1, quantity=2)])
    with pytest.raises(RefundExceedsPurchase):
        purchase_refund(purchase=result.purchase, refund_id="R-4", lines=[RefundLineInput(line_number=9)])
    assert assert_consistent(member).balance == 25


def test_refunding_a_line_in_parts_returns_exactly_what_it_earned(program, member):
    result = buy(member, lines=[PurchaseLineInput(sku="X", quantity=3, unit_price=Decimal("3.33"))])
    assert result.purchase.points_earned == 9
    one_unit = [RefundLineInput(sku="X")]
    clawed = [
        purchase_refund(purchase=result.purchase, refund_id=f"R-{n}", lines=one_unit).points_clawed_back
        for n in range(3)
    ]
    assert sum(clawed) == 9
    assert assert_consistent(member).balance == 0


def test_refund_is_idempotent(program, member):
    result = three_lines(member)
    once = purchase_refund(purchase=result.purchase, refund_id="R-1", lines=[RefundLineInput(sku="B")])
    again = purchase_refund(purchase=result.purchase, refund_id="R-1", lines=[RefundLineInput(sku="B")])
    assert again.replayed and again.points_clawed_back == once.points_clawed_back == 15
    assert LedgerEntry.objects.filter(kind=Kind.CLAWBACK).count() == 1
    assert assert_consistent(member).balance == 35


def test_refund_id_is_required(program, member):
    result = three_lines(member)
    with pytest.raises(InvalidPurchase):
        purchase_refund(purchase=result.purchase, refund_id="")


def test_clawback_takes_pending_points_first(member):
    program_set(pending_days=14)
    now = timezone.now()
    buy(member, "40", occurred_at=now - days(30), now=now)  # window over: available
    fresh = buy(member, "20", now=now)  # pending
    account = account_of(member)
    assert (account.balance, account.pending) == (40, 20)
    purchase_refund(purchase=fresh.purchase, refund_id="R-1")
    account = assert_consistent(member)
    assert (account.balance, account.pending) == (40, 0)
    entry = LedgerEntry.objects.get(kind=Kind.CLAWBACK)
    assert (entry.points, entry.pending_delta) == (0, -20)


def test_shortfall_becomes_owed_and_is_netted_on_the_next_earn(program, member):
    result = buy(member, "100")
    points_adjust(member=member, points=-90, reason="redeemed at the till", actor=None)
    purchase_refund(purchase=result.purchase, refund_id="R-1")
    account = assert_consistent(member)
    assert (account.balance, account.owed) == (0, 90)
    buy(member, "30")
    account = assert_consistent(member)
    assert (account.balance, account.owed) == (0, 60)
    buy(member, "70")
    account = assert_consistent(member)
    assert (account.balance, account.owed) == (10, 0)
    assert LedgerEntry.objects.filter(kind=Kind.SETTLEMENT).count() == 2


# --- lots --------------------------------------------------------------------------------------------------------


def test_spending_consumes_soonest_expiring_lots_first(program, member):
    now = timezone.now()
    with transaction.atomic():
        account = account_lock(member_id=member.pk)
        for key, points, expires in (
            ("late", 10, now + days(300)),
            ("never", 10, None),
            ("soon", 10, now + days(10)),
            ("middle", 10, now + days(100)),
        ):
            ledger_post(account=account, kind=Kind.ADJUST, points=points, idempotency_key=key, expires_at=expires)
    points_adjust(member=member, points=-25, reason="spend", actor=None)
    remaining = {lot.entry.idempotency_key: lot.remaining for lot in PointsLot.objects.select_related("entry")}
    assert remaining == {"soon": 0, "middle": 0, "late": 5, "never": 10}
    assert_consistent(member)


def test_ledger_post_needs_the_account_lock(program, member):
    with pytest.raises(RuntimeError):
        ledger_post(account=PointsAccount.objects.get(pk=member.pk), kind=Kind.ADJUST, points=1, idempotency_key="k")


def test_ledger_post_is_idempotent_per_key(program, member):
    with transaction.atomic():
        account = account_lock(member_id=member.pk)
        first = ledger_post(account=account, kind=Kind.ADJUST, points=5, idempotency_key="same")
        again = ledger_post(account=account, kind=Kind.ADJUST, points=5, idempotency_key="same")
        assert again.replayed and again.pk == first.pk
        with pytest.raises(DuplicateRequest):
            ledger_post(account=account, kind=Kind.BONUS, points=5, idempotency_key="same")
    assert assert_consistent(member).balance == 5


def test_spending_more_than_the_balance_is_refused(program, member):
    buy(member, "10")
    with pytest.raises(InsufficientPoints):
        points_adjust(member=member, points=-11, reason="too much", actor=None)
    assert assert_consistent(member).balance == 10


# --- transfers ---------------------------------------------------------------------------------------------------


def test_transfer_moves_points_once(program, member):
    other = MemberFactory()
    buy(member, "100")
    sent, received = points_transfer(sender=member, recipient=other, points=40, idempotency_key="T-1")
    assert (sent.points, received.points) == (-40, 40)
    again = points_transfer(sender=member, recipient=other, points=40, idempotency_key="T-1")
    assert [entry.pk for entry in again] == [sent.pk, received.pk]
    assert assert_consistent(member).balance == 60
    assert assert_consistent(other).balance == 40


@pytest.mark.parametrize("points", [0, -5])
def test_transfer_must_be_positive(program, member, points):
    with pytest.raises(TransferNotAllowed):
        points_transfer(sender=member, recipient=MemberFactory(), points=points, idempotency_key="T")


def test_transfer_limits(program, member):
    program_set(transfer_max_points=50, transfer_max_per_month=80)
    other = MemberFactory()
    buy(member, "500")
    with pytest.raises(TransferNotAllowed) as error:
        points_transfer(sender=member, recipient=other, points=51, idempotency_key="T-1")
    assert error.value.field == "points"
    points_transfer(sender=member, recipient=other, points=50, idempotency_key="T-2")
    with pytest.raises(TransferNotAllowed):
        points_transfer(sender=member, recipient=other, points=31, idempotency_key="T-3")
    points_transfer(sender=member, recipient=other, points=30, idempotency_key="T-4")
    with pytest.raises(TransferNotAllowed):
        points_transfer(sender=member, recipient=member, points=1, idempotency_key="T-5")
    assert assert_consistent(member).balance == 420
    assert assert_consistent(other).balance == 80


def test_transfer_needs_the_points_and_open_accounts(program, member):
    other = MemberFactory()
    buy(member, "10")
    with pytest.raises(InsufficientPoints):
        points_transfer(sender=member, recipient=other, points=11, idempotency_key="T-1")
    assert not LedgerEntry.objects.filter(kind=Kind.TRANSFER_IN).exists()
    closed = member_close(member=MemberFactory())
    with pytest.raises(AccountClosed):
        points_transfer(sender=member, recipient=closed, points=1, idempotency_key="T-2")
    assert assert_consistent(member).balance == 10


# --- adjustments and reversals -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["", "   "])
def test_adjustment_needs_a_reason(program, member, reason):
    with pytest.raises(AdjustmentNotAllowed) as error:
        points_adjust(member=member, points=10, reason=reason, actor=None)
    assert error.value.field == "reason"
    assert not LedgerEntry.objects.exists()


def test_adjustment_records_who_and_why(program, member):
    staff = SuperUserFactory()
    entry = points_adjust(member=member, points=25, reason="Goodwill: late delivery", actor=staff)
    assert (entry.kind, entry.actor, entry.description) == (Kind.ADJUST, staff, "Goodwill: late delivery")
    with pytest.raises(AdjustmentNotAllowed):
        points_adjust(member=member, points=0, reason="nothing", actor=staff)
    assert assert_consistent(member).balance == 25


def test_reversal_happens_once(program, member):
    entry = points_adjust(member=member, points=25, reason="typo", actor=None)
    with pytest.raises(AdjustmentNotAllowed):
        points_reverse(entry=entry, reason="")
    reversal = points_reverse(entry=entry, reason="wrong member")
    assert (reversal.points, reversal.reversal_of_id) == (-25, entry.pk)
    again = points_reverse(entry=entry, reason="wrong member")
    assert again.replayed and again.pk == reversal.pk
    with pytest.raises(AdjustmentNotAllowed):
        points_reverse(entry=reversal, reason="undo the undo")
    assert assert_consistent(member).balance == 0


def test_reversing_a_spent_credit_records_owed(program, member):
    entry = points_adjust(member=member, points=25, reason="bonus", actor=None)
    points_adjust(member=member, points=-20, reason="spent", actor=None)
    points_reverse(entry=entry, reason="bonus given by mistake")
    account = assert_consistent(member)
    assert (account.balance, account.owed) == (0, 20)


# --- append-only -------------------------------------------------------------------------------------------------


def test_ledger_entries_cannot_be_changed_or_deleted(program, member):
    entry = points_adjust(member=member, points=5, reason="x", actor=None)
    entry.points = 500
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    assert LedgerEntry.objects.get(pk=entry.pk).points == 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_database_refuses_raw_updates_of_the_ledger():
    ProgramSettings.objects.filter(pk=1).update(pending_days=0)
    member = MemberFactory()
    entry = points_adjust(member=member, points=5, reason="x", actor=None)
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE members_ledgerentry SET points = 500 WHERE id = %s", [entry.pk])
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM members_ledgerentry WHERE id = %s", [entry.pk])
    assert LedgerEntry.objects.get(pk=entry.pk).points == 5


@pytest.mark.postgres
def test_an_earn_updates_the_member_and_account_rows_in_place(program, member):
    """Room on every page (fillfactor 90) and no index on what an earn changes: the updates stay heap-only."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reloptions FROM pg_class WHERE relname IN ('members_member', 'members_pointsaccount')"
        )
        assert dict(cursor.fetchall()) == {
            "members_member": ["fillfactor=90"],
            "members_pointsaccount": ["fillfactor=90"],
        }
        cursor.execute(
            "SELECT a.attname FROM pg_index i"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)"
            " WHERE i.indrelid IN ('members_member'::regclass, 'members_pointsaccount'::regclass)"
        )
        indexed = {row[0] for row in cursor.fetchall()}
    assert not indexed & {"last_purchase_at", "balance", "pending", "lifetime_earned", "updated_at"}


# --- verify_ledger -----------------------------------------------------------------------------------------------


def test_verify_ledger_passes_on_a_consistent_ledger(program, member, capsys):
    buy(member, "30")
    buy(MemberFactory(), "12")
    call_command("verify_ledger")
    assert "no mismatches" in capsys.readouterr().out


def test_verify_ledger_reports_every_mismatch_and_fails(program, member, capsys):
    buy(member, "30")
    healthy = MemberFactory()
    buy(healthy, "12")
    with connection.cursor() as cursor:
        cursor.execute("UPDATE members_pointsaccount SET balance = 99, owed = 3 WHERE member_id = %s", [member.pk])
    with pytest.raises(CommandError, match="mismatch"):
        call_command("verify_ledger")
    out = capsys.readouterr().out
    assert f"{member.member_number}: balance cached 99 != 30 from entries" in out
    assert f"{member.member_number}: balance cached 99 != 30 from lots" in out
    assert f"{member.member_number}: owed cached 3 != 0 from entries" in out
    assert healthy.member_number not in out


def test_the_monthly_transfer_limit_resets_at_the_programs_midnight_not_utcs(program, member):
    """Amsterdam is UTC+1 in winter: midnight on 1 December there is 23:00 on 30 November in UTC."""
    program_set(transfer_max_points=50, transfer_max_per_month=80)
    other = MemberFactory()
    buy(member, "500")
    tz = timezone.get_current_timezone()
    last_of_november = datetime(2026, 11, 30, 23, 50, tzinfo=tz)
    first_of_december = datetime(2026, 12, 1, 0, 0, tzinfo=tz)  # the very first instant of the month counts
    points_transfer(sender=member, recipient=other, points=50, idempotency_key="nov", now=last_of_november)
    # November's 50 do not count in December: 50 more fit under December's 80.
    points_transfer(sender=member, recipient=other, points=50, idempotency_key="dec-1", now=first_of_december)
    # But what was sent at the stroke of midnight does: 50 + 31 would pass 80.
    with pytest.raises(TransferNotAllowed):
        points_transfer(
            sender=member, recipient=other, points=31, idempotency_key="dec-2", now=first_of_december + days(1)
        )
    assert assert_consistent(other).balance == 100


def test_a_first_transfer_of_the_month_above_the_monthly_limit_is_refused(program, member):
    """Nothing sent yet this month counts as 0, so one transfer of limit + 1 is refused and the limit itself is not."""
    program_set(transfer_max_points=100, transfer_max_per_month=80)
    other = MemberFactory()
    buy(member, "500")
    with pytest.raises(TransferNotAllowed):
        points_transfer(sender=member, recipient=other, points=81, idempotency_key="T-81")
    points_transfer(sender=member, recipient=other, points=80, idempotency_key="T-80")
    assert assert_consistent(other).balance == 80
