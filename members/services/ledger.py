"""The points ledger: the one place where balances change.

Every change of a member's points is a call to :func:`ledger_post` while the caller holds the account's row
lock (:func:`account_lock`) inside ``transaction.atomic()``. ``ledger_post`` appends one entry, moves the lots
and updates the cached balances in the same transaction, so ``balance == sum(entries) == sum(lots)`` holds at
every commit. The only other writers are the set-based batch jobs in :mod:`members.services.batch` (expiry and
release of pending points), which take the same row locks, in primary-key order, before they touch a lot, and the
bulk writer of staff imports, :mod:`members.services.imports`, which creates new members' opening-balance entries
and lots in bulk (rows nobody else can hold yet) and goes through ``ledger_post`` for everyone else.

Lock order, for every writer: points accounts first, in ascending primary key (``member_id``), then any other
row (purchase, referral, campaign, reward, voucher). A transaction that writes to several accounts takes them
together through :func:`accounts_lock`; one that writes to one account uses :func:`account_lock`. Once a
transaction holds an account's lock it never asks for an account with a lower id (re-taking a lock it already
holds is harmless), so no two writers can wait for each other in a cycle.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import F, QuerySet, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations import metrics

from ..compiled import CompiledQuery
from ..exceptions import (
    AccountClosed,
    AdjustmentNotAllowed,
    DuplicateRequest,
    InsufficientPoints,
    TransferNotAllowed,
)
from ..models import LEDGER_EARNING_KINDS, LedgerEntry, Member, PointsAccount, PointsLot, ProgramSettings
from ..months import expiry_period_add
from ..selectors import program_settings_get
from .sql import insert_values, mark_saved, quote

Kind = LedgerEntry.Kind

#: Kinds whose credits count as points earned over the member's lifetime.
EARNING_KINDS = LEDGER_EARNING_KINDS  # points for surveys, reviews, recycling… (actions) among them
#: Kinds whose debits count as points spent by the member (paying with points at a till is spending them).
SPENDING_KINDS = {Kind.REDEEM, Kind.DONATION, Kind.PAYMENT}

_UNSET = object()
_writes = threading.local()


def ledger_writes() -> int:
    """How many ledger entries this thread has written: a caller compares two readings to learn whether a hook it
    ran posted anything, and re-reads balances only then."""
    return getattr(_writes, "count", 0)


def lot_expiry_for(*, program: ProgramSettings, earned_at: datetime) -> datetime | None:
    """When points earned at ``earned_at`` expire under the program's policy (None: no date of their own)."""
    if program.expiry_policy == ProgramSettings.ExpiryPolicy.FIXED:
        return expiry_period_add(program=program, moment=earned_at)
    return None


def points_born_expired(
    *, program: ProgramSettings, earned_at: datetime, last_activity_at: datetime | None, now: datetime
) -> bool:
    """Whether points earned at ``earned_at`` (a purchase sent late or back-filled) would already be past expiry
    at ``now``: under FIXED their own date has passed; under ACTIVITY the member's last activity, counting this
    purchase, is more than the expiry period (months or days) ago. Such points must never be spendable, not even
    until the next expiry run."""
    if program.expiry_policy == ProgramSettings.ExpiryPolicy.FIXED:
        expires_at = lot_expiry_for(program=program, earned_at=earned_at)
        return expires_at is not None and expires_at <= now
    if program.expiry_policy == ProgramSettings.ExpiryPolicy.ACTIVITY:
        last = max(earned_at, last_activity_at) if last_activity_at else earned_at
        return last <= expiry_period_add(program=program, moment=now, times=-1)
    return False


def account_lock(*, member_id: int) -> PointsAccount:
    """Take the row lock on a member's points account and return it.

    Must run inside ``transaction.atomic()``; the lock is held until that transaction ends, so concurrent
    writers for the same member serialise here. A transaction that writes to several accounts locks them all
    at once with :func:`accounts_lock` instead (see the lock order in the module docstring).
    """
    if not connection.in_atomic_block:
        raise RuntimeError("account_lock() must be called inside transaction.atomic().")
    account = _account_for_update.first(member_id)
    if account is None:
        raise PointsAccount.DoesNotExist(f"No points account for member {member_id}.")
    account._row_locked = True
    return account


#: The account lock every balance change starts with, compiled once per connection (members.compiled).
_account_for_update = CompiledQuery(
    lambda member_id: PointsAccount.objects.select_for_update().filter(pk=member_id), int
)


def accounts_for_update(member_ids: Iterable[int]) -> QuerySet[PointsAccount]:
    """The accounts of ``member_ids`` as a ``SELECT … FOR UPDATE`` ordered by primary key, ascending.

    PostgreSQL locks the rows in the order the query returns them, so everyone locking through this queryset
    takes a set of accounts in one order. The set-based batch jobs read ``values_list`` from it; everything else
    uses :func:`accounts_lock`.
    """
    return PointsAccount.objects.select_for_update().filter(pk__in=sorted(set(member_ids))).order_by("pk")


def accounts_lock(*, member_ids: Iterable[int]) -> dict[int, PointsAccount]:
    """Take the row locks on several members' points accounts, in ascending ``member_id``; return them by id.

    Locking precondition: runs inside ``transaction.atomic()``, as the transaction's first account lock, naming
    every account it will write to. The only account locks the transaction may already hold are these very
    accounts (an outer call took them; they are simply taken again) or accounts with lower ids. The locks are
    held until the transaction ends.

    One statement for all of them (``… WHERE member_id IN (…) ORDER BY member_id FOR UPDATE``). The dict
    iterates in ascending id; every account in it is accepted by :func:`ledger_post`. Raises
    ``PointsAccount.DoesNotExist`` if a member has no account.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("accounts_lock() must be called inside transaction.atomic().")
    wanted = set(member_ids)
    accounts = {account.pk: account for account in accounts_for_update(wanted)}
    if len(accounts) != len(wanted):
        missing = sorted(wanted - accounts.keys())
        raise PointsAccount.DoesNotExist(f"No points account for members {missing}.")
    for account in accounts.values():
        account._row_locked = True
    return accounts


def _consume_lots(*, account_id: int, points: int, pending: bool, prefer_purchase_id: int | None = None) -> None:
    """Take ``points`` from the account's open lots, soonest-expiring first, in one UPDATE.

    A lot whose running total (in consumption order) stays within ``points`` is emptied; the first lot past
    it keeps the rest. Lots without an expiry date are used last. With ``prefer_purchase_id`` (refunds), the
    lots that purchase earned are taken first.
    """
    table = PointsLot._meta.db_table
    entry_table = LedgerEntry._meta.db_table
    preference = "0"
    params: list = [account_id]
    if prefer_purchase_id is not None:
        preference = f"CASE WHEN entry_id IN (SELECT id FROM {entry_table} WHERE purchase_id = %s) THEN 0 ELSE 1 END"  # noqa: S608
        params = [prefer_purchase_id, account_id]
    pending_sql = "TRUE" if pending else "FALSE"
    if connection.vendor == "sqlite":
        pending_sql = "1" if pending else "0"
    sql = f"""
        WITH ordered AS (
            SELECT id, remaining,
                   SUM(remaining) OVER (ORDER BY {preference}, expires_at ASC NULLS LAST, id ASC) AS running
            FROM {table}
            WHERE account_id = %s AND remaining > 0 AND is_pending = {pending_sql}
        )
        UPDATE {table}
        SET remaining = CASE WHEN ordered.running <= %s THEN 0 ELSE ordered.running - %s END
        FROM ordered
        WHERE {table}.id = ordered.id AND ordered.running - ordered.remaining < %s
    """  # noqa: S608 - table names from model metadata, values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, points, points, points])


def ledger_post(
    *,
    account: PointsAccount,
    kind: str,
    idempotency_key: str,
    points: int = 0,
    pending_delta: int = 0,
    description: str = "",
    purchase=None,
    source=None,
    actor=None,
    reversal_of: LedgerEntry | None = None,
    expires_at=_UNSET,
    available_at: datetime | None = None,
    allow_shortfall: bool = False,
    prefer_purchase=None,
    now: datetime | None = None,
    new_key: bool = False,
    partner_id: int | None = None,
) -> LedgerEntry:
    """Append one ledger entry and apply it to the account's lots and cached balances.

    Precondition: ``account`` comes from :func:`account_lock` or :func:`accounts_lock` in the current transaction.

    - ``points > 0`` credits spendable points as a new lot (expiring per the program's policy unless
      ``expires_at`` is given) and then nets any owed shortfall against it.
    - ``pending_delta > 0`` credits pending points as a lot that becomes spendable at ``available_at``.
    - ``points < 0`` / ``pending_delta < 0`` debit, consuming lots soonest-expiring first. A debit larger than
      what is there raises :class:`InsufficientPoints`, unless ``allow_shortfall`` (refund clawbacks), in which
      case the balance goes to zero and the rest is recorded as owed.

    Idempotent: a second call with the same ``idempotency_key`` returns the first entry (``entry.replayed`` is
    True) and changes nothing; the same key for another account or kind raises :class:`DuplicateRequest`.
    ``new_key=True`` skips that lookup when the caller knows the key is fresh (it derives from a row the caller
    has just inserted under the lock); the unique constraint still backs it. ``partner_id`` names the coalition
    partner where the points moved (settlement reads it).
    """
    if not getattr(account, "_row_locked", False):
        raise RuntimeError("ledger_post() needs an account from account_lock() or accounts_lock().")
    if points > 0 and pending_delta != 0:
        raise ValueError("Credit spendable and pending points in separate entries.")
    existing = None if new_key else _earlier_entry(account=account, kind=kind, idempotency_key=idempotency_key)
    if existing is not None:
        return existing

    now = now or timezone.now()
    prefer_purchase_id = getattr(prefer_purchase, "pk", None)
    _debit_pending(account=account, pending_delta=pending_delta, prefer_purchase_id=prefer_purchase_id)
    points, owed_delta = _debit_spendable(
        account=account, points=points, allow_shortfall=allow_shortfall, prefer_purchase_id=prefer_purchase_id
    )
    if points == 0 and pending_delta == 0 and owed_delta == 0:
        raise ValueError("A ledger entry must move some points.")

    entry = LedgerEntry(
        account=account,
        kind=kind,
        points=points,
        pending_delta=pending_delta,
        owed_delta=owed_delta,
        balance_after=account.balance + points,
        idempotency_key=idempotency_key,
        description=description[:255],
        purchase=purchase,
        actor=actor,
        reversal_of=reversal_of,
        partner_id=partner_id,
        created_at=now,
    )
    if source is not None:
        entry.source_type = ContentType.objects.get_for_model(source)
        entry.source_id = source.pk
    lot = _credit_lot(
        account=account,
        points=points,
        pending_delta=pending_delta,
        available_at=available_at,
        expires_at=expires_at,
        now=now,
    )
    deltas = _balance_deltas(kind=kind, points=points, pending_delta=pending_delta, owed_delta=owed_delta)
    _write(account=account, entry=entry, lot=lot, deltas=deltas, now=now)
    metrics.points_moved(kind=kind, points=points)
    for name, delta in deltas.items():
        setattr(account, name, getattr(account, name) + delta)

    if points > 0 and account.owed > 0:
        settle = min(points, account.owed)
        _post_settlement(account=account, amount=settle, idempotency_key=f"{idempotency_key}:settle", now=now)
    entry.replayed = False
    return entry


def _earlier_entry(*, account: PointsAccount, kind: str, idempotency_key: str) -> LedgerEntry | None:
    """The entry an earlier call with this key wrote (marked ``replayed``); the key reused elsewhere is refused."""
    existing = LedgerEntry.objects.filter(idempotency_key=idempotency_key).first()
    if existing is None:
        return None
    if existing.account_id != account.pk or existing.kind != kind:
        raise DuplicateRequest()
    existing.replayed = True
    return existing


def _debit_pending(*, account: PointsAccount, pending_delta: int, prefer_purchase_id: int | None) -> None:
    """Take a pending debit from the pending lots; never more than the account has pending."""
    if pending_delta >= 0:
        return
    if -pending_delta > account.pending:
        raise InsufficientPoints(needed=-pending_delta, available=account.pending)
    _consume_lots(account_id=account.pk, points=-pending_delta, pending=True, prefer_purchase_id=prefer_purchase_id)


def _debit_spendable(
    *, account: PointsAccount, points: int, allow_shortfall: bool, prefer_purchase_id: int | None
) -> tuple[int, int]:
    """Take a spendable debit from the lots: ``(points actually debited, points recorded as owed)``.

    What the balance cannot cover is refused, or with ``allow_shortfall`` (refund clawbacks) recorded as owed, so
    the balance never goes below zero."""
    if points >= 0:
        return points, 0
    debit, owed = -points, 0
    if debit > account.balance:
        if not allow_shortfall:
            raise InsufficientPoints(needed=debit, available=account.balance)
        owed, debit = debit - account.balance, account.balance
    if debit:
        _consume_lots(account_id=account.pk, points=debit, pending=False, prefer_purchase_id=prefer_purchase_id)
    return -debit, owed


def _credit_lot(*, account, points: int, pending_delta: int, available_at, expires_at, now) -> PointsLot | None:
    """The lot a credit creates: spendable now, or pending until ``available_at``; expiring per the program's policy
    unless the caller says when."""
    if points <= 0 and pending_delta <= 0:
        return None
    return PointsLot(
        account=account,
        amount=points or pending_delta,
        remaining=points or pending_delta,
        is_pending=pending_delta > 0,
        available_at=available_at or now,
        expires_at=(
            lot_expiry_for(program=program_settings_get(), earned_at=now) if expires_at is _UNSET else expires_at
        ),
        created_at=now,
    )


def _balance_deltas(*, kind: str, points: int, pending_delta: int, owed_delta: int) -> dict[str, int]:
    """How one entry moves the account's cached balances and lifetime counters."""
    earned = max(points, 0) + max(pending_delta, 0)
    return {
        "balance": points,
        "pending": pending_delta,
        "owed": owed_delta,
        "lifetime_earned": earned if kind in EARNING_KINDS else 0,
        "lifetime_spent": -points if kind in SPENDING_KINDS and points < 0 else 0,
    }


def _write(*, account: PointsAccount, entry: LedgerEntry, lot: PointsLot | None, deltas: dict, now) -> None:
    """Insert the entry and its lot and apply ``deltas`` to the account's cached balances.

    On PostgreSQL that is one statement (every earn pays for each round trip); elsewhere three.
    """
    _writes.count = ledger_writes() + 1
    changed = {name: delta for name, delta in deltas.items() if delta}
    if connection.vendor != "postgresql":
        entry.save(force_insert=True)
        if lot is not None:
            lot.entry = entry
            lot.save(force_insert=True)
        PointsAccount.objects.filter(pk=account.pk).update(
            updated_at=now, **{name: F(name) + delta for name, delta in changed.items()}
        )
        return
    # Identifiers come from model metadata, quoted; every value is a parameter.
    entries, lots, accounts = (quote(model._meta.db_table) for model in (LedgerEntry, PointsLot, PointsAccount))
    columns, values, params = insert_values(entry)
    clauses = [f"entry AS (INSERT INTO {entries} ({columns}) VALUES ({values}) RETURNING id)"]  # noqa: S608
    lot_id_sql = "NULL"
    if lot is not None:
        entry_column = PointsLot._meta.get_field("entry").column
        columns, values, lot_params = insert_values(lot, expressions={entry_column: "(SELECT id FROM entry)"})
        clauses.append(f"lot AS (INSERT INTO {lots} ({columns}) VALUES ({values}) RETURNING id)")  # noqa: S608
        params += lot_params
        lot_id_sql = "(SELECT id FROM lot)"
    assignments = [f"{quote(name)} = {quote(name)} + %s" for name in changed] + [f"{quote('updated_at')} = %s"]
    where = f"{quote('member_id')} = %s"
    clauses.append(f"account AS (UPDATE {accounts} SET {', '.join(assignments)} WHERE {where})")  # noqa: S608
    params += [*changed.values(), now, account.pk]
    sql = f"WITH {', '.join(clauses)} SELECT (SELECT id FROM entry), {lot_id_sql}"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        entry_id, lot_id = cursor.fetchone()
    mark_saved(entry, entry_id)
    if lot is not None:
        lot.entry = entry
        mark_saved(lot, lot_id)


def _post_settlement(*, account: PointsAccount, amount: int, idempotency_key: str, now: datetime) -> None:
    """Net newly credited points against the owed shortfall of an earlier clawback."""
    _consume_lots(account_id=account.pk, points=amount, pending=False)
    LedgerEntry(
        account=account,
        kind=Kind.SETTLEMENT,
        points=-amount,
        owed_delta=-amount,
        balance_after=account.balance - amount,
        idempotency_key=idempotency_key,
        description=_("Points owed from an earlier refund"),
        created_at=now,
    ).save(force_insert=True)
    PointsAccount.objects.filter(pk=account.pk).update(
        balance=F("balance") - amount, owed=F("owed") - amount, updated_at=now
    )
    account.balance -= amount
    account.owed -= amount


def _ensure_open(member: Member) -> None:
    if member.status != Member.Status.ACTIVE:
        raise AccountClosed()


@transaction.atomic
def points_adjust(
    *, member: Member, points: int, reason: str, actor, idempotency_key: str | None = None
) -> LedgerEntry:
    """Staff correction of a balance, with a mandatory reason. A debit never takes the balance below zero."""
    reason = (reason or "").strip()
    if not reason:
        raise AdjustmentNotAllowed(_("A reason is required for every adjustment."), field="reason")
    if points == 0:
        raise AdjustmentNotAllowed(_("An adjustment must add or remove at least one point."), field="points")
    account = account_lock(member_id=member.pk)
    key = idempotency_key or f"adjust:{member.pk}:{timezone.now().timestamp()}:{points}"
    return ledger_post(
        account=account, kind=Kind.ADJUST, points=points, idempotency_key=key, description=reason, actor=actor
    )


@transaction.atomic
def points_transfer(
    *,
    sender: Member,
    recipient: Member,
    points: int,
    idempotency_key: str,
    actor=None,
    note: str = "",
    now: datetime | None = None,
) -> tuple[LedgerEntry, LedgerEntry]:
    """Move spendable points from one member to another (family pooling), within the program's limits.

    Both accounts are locked together by :func:`accounts_lock` (ascending member id), so two opposite transfers,
    or a transfer and a batch job on the same accounts, cannot deadlock.
    """
    if sender.pk == recipient.pk:
        raise TransferNotAllowed(_("You cannot transfer points to yourself."), field="recipient")
    if points <= 0:
        raise TransferNotAllowed(_("Transfer at least one point."), field="points")
    _ensure_open(sender)
    _ensure_open(recipient)
    program = program_settings_get()
    if points > program.transfer_max_points:
        raise TransferNotAllowed(
            _("You can transfer at most %(limit)s points at a time.") % {"limit": program.transfer_max_points},
            field="points",
        )
    locked = accounts_lock(member_ids=[sender.pk, recipient.pk])
    out_key, in_key = f"{idempotency_key}:out", f"{idempotency_key}:in"
    if LedgerEntry.objects.filter(idempotency_key=out_key).exists():
        return (
            LedgerEntry.objects.get(idempotency_key=out_key),
            LedgerEntry.objects.get(idempotency_key=in_key),
        )
    now = now or timezone.now()
    # The monthly limit resets when the month begins where the program is, not in UTC.
    month_start = timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    sent_this_month = -(
        LedgerEntry.objects.filter(account_id=sender.pk, kind=Kind.TRANSFER_OUT, created_at__gte=month_start).aggregate(
            total=Sum("points")
        )["total"]
        or 0
    )
    if sent_this_month + points > program.transfer_max_per_month:
        raise TransferNotAllowed(
            _("This transfer would exceed the monthly limit of %(limit)s points.")
            % {"limit": program.transfer_max_per_month},
            field="points",
        )
    description = note or _("Transfer")
    sent = ledger_post(
        account=locked[sender.pk],
        kind=Kind.TRANSFER_OUT,
        points=-points,
        idempotency_key=out_key,
        description=f"{description} → {recipient.member_number}",
        actor=actor,
        source=recipient,
        now=now,
    )
    received = ledger_post(
        account=locked[recipient.pk],
        kind=Kind.TRANSFER_IN,
        points=points,
        idempotency_key=in_key,
        description=f"{description} ← {sender.member_number}",
        actor=actor,
        source=sender,
        now=now,
    )
    return sent, received


@transaction.atomic
def points_reverse(*, entry: LedgerEntry, reason: str, actor=None) -> LedgerEntry:
    """Correct a mistaken entry with its exact opposite. An entry can be reversed once.

    Reversing a credit that has already been spent records the shortfall as owed rather than going negative.
    """
    if not (reason or "").strip():
        raise AdjustmentNotAllowed(_("A reason is required to reverse an entry."), field="reason")
    account = account_lock(member_id=entry.account_id)
    if entry.kind == Kind.REVERSAL:
        raise AdjustmentNotAllowed(_("A reversal cannot itself be reversed; post an adjustment instead."))
    existing = LedgerEntry.objects.filter(reversal_of=entry).first()
    if existing is not None:
        existing.replayed = True
        return existing
    return ledger_post(
        account=account,
        kind=Kind.REVERSAL,
        points=-entry.points,
        pending_delta=-entry.pending_delta if entry.pending_delta > 0 else 0,
        idempotency_key=f"reversal:{entry.pk}",
        description=reason.strip(),
        actor=actor,
        reversal_of=entry,
        purchase=entry.purchase,
        allow_shortfall=True,
    )
