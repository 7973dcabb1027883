# ruff: noqa: S608 - raw SQL here takes table names from model metadata; every value is a parameter.
"""Set-based batch jobs of the ledger: expiry, release of pending points, expiry reminders, tier reviews.

Each job walks the affected accounts in keyset order (``member_id > last``) in chunks. A chunk is one
transaction: it first takes the row locks of all its accounts in one statement, in ascending primary key, through
:func:`members.services.ledger.accounts_for_update` (the locks :func:`members.services.ledger.ledger_post` needs,
so a chunk and a purchase for the same member serialise, and in the order every multi-account writer uses, so a
chunk cannot deadlock with a transfer or a referral payout), then moves lots, appends ledger entries and updates
cached balances with a handful of ``UPDATE … FROM`` / ``INSERT … SELECT`` statements, never a Python loop per lot.
The statements after the lock touch only the chunk's accounts, which it already holds.

Every chunk is idempotent: a lot that has expired has ``remaining = 0`` and a released lot is no longer
pending, so neither qualifies again, and each entry carries a per-lot idempotency key
(``expire:lot:<id>``, ``release:lot:<id>``). A crash rolls back the chunk in progress; running the job again
carries on where it stopped, without expiring or releasing anything twice.

The SQL is written for both PostgreSQL and SQLite (3.33+: ``UPDATE … FROM``, window functions,
``NULLS LAST``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core import mail
from django.core.cache import cache
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from integrations.metrics import POINTS

from .. import hooks
from ..models import LedgerEntry, Member, PointsAccount, PointsLot, ProgramSettings, QualifyingActivity, Tier
from ..models import TierHistory as TierHistoryModel
from ..months import expiry_period_add
from ..selectors import program_settings_get, tiers_list
from .ledger import _post_settlement, account_lock, accounts_for_update
from .tier_news import tier_news_queue
from .tiers import qualification_window_start

Kind = LedgerEntry.Kind

LOTS = PointsLot._meta.db_table
ENTRIES = LedgerEntry._meta.db_table
ACCOUNTS = PointsAccount._meta.db_table
MEMBERS = Member._meta.db_table
QUALIFYING = QualifyingActivity._meta.db_table
TIER_HISTORY = TierHistoryModel._meta.db_table


# --- helpers -----------------------------------------------------------------------------------------------------


def _ts(value: datetime):
    """A datetime as the backend stores it, so raw comparisons match what the ORM wrote."""
    return connection.ops.adapt_datetimefield_value(value)


def _day(value: date):
    return connection.ops.adapt_datefield_value(value)


def _in(column: str, ids: list[int]) -> tuple[str, list]:
    """``column IN ids`` as SQL plus parameters (one array parameter on PostgreSQL)."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s)", [list(ids)]
    return f"{column} IN ({', '.join(['%s'] * len(ids))})", list(ids)


def _fetch(sql: str, params: list) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _execute(sql: str, params: list) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _lock_accounts(ids: list[int]) -> list[tuple[int, int]]:
    """Row-lock the chunk's accounts in ascending primary key (the ledger's lock order); returns
    ``(member_id, owed)`` per account. Locking precondition: the chunk's first lock (its transaction holds none)."""
    return list(accounts_for_update(ids).values_list("member_id", "owed"))


# --- expiry ------------------------------------------------------------------------------------------------------


def _expiry_due_sql(program: ProgramSettings, now: datetime, alias: str) -> tuple[str, list] | None:
    """The condition a lot (table alias ``alias``) meets when it is due to expire, or None (policy NONE).

    FIXED: its own date has passed. ACTIVITY: its member's last activity (last purchase, or enrolment if they
    never bought anything) is older than the expiry period (months or days); a lot that was given its own date
    (e.g. a bonus valid for a month) also expires on that date.
    """
    policy = program.expiry_policy
    base = f"{alias}.remaining > 0 AND {alias}.is_pending = %s AND {alias}.expires_at <= %s"
    if policy == ProgramSettings.ExpiryPolicy.FIXED:
        return base, [False, _ts(now)]
    if policy == ProgramSettings.ExpiryPolicy.ACTIVITY:
        cutoff = expiry_period_add(program=program, moment=now, times=-1)
        sql = (
            f"{alias}.remaining > 0 AND {alias}.is_pending = %s AND ({alias}.expires_at <= %s OR EXISTS ("
            f"SELECT 1 FROM {MEMBERS} m WHERE m.id = {alias}.account_id"
            " AND COALESCE(m.last_purchase_at, m.enrolled_at) <= %s))"
        )
        return sql, [False, _ts(now), _ts(cutoff)]
    return None


def points_expire_due(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Expire every lot whose expiry is due under the program's policy; returns the points expired.

    Per chunk of at most ``batch_size`` accounts (one transaction): lock the accounts, zero the due lots'
    ``remaining`` (moving it to ``expired``), append one EXPIRE entry per lot (``balance_after`` from a running
    sum over the account) and lower the cached balances, then emit one ``points.expired`` event for the chunk.
    Safe to run again at any time: expired lots are no longer open, so nothing expires twice.
    """
    program = program_settings_get()
    now = now or timezone.now()
    due = _expiry_due_sql(program, now, "l")
    if due is None:
        return 0
    due_sql, due_params = due
    lot_type = ContentType.objects.get_for_model(PointsLot).pk
    description = _("Points expired")
    total, last = 0, 0
    while True:
        ids = [
            row[0]
            for row in _fetch(
                f"SELECT l.account_id FROM {LOTS} l WHERE {due_sql} AND l.account_id > %s"
                " GROUP BY l.account_id ORDER BY l.account_id LIMIT %s",
                [*due_params, last, batch_size],
            )
        ]
        if not ids:
            return total
        last = ids[-1]
        total += _expire_chunk(ids, program, now, lot_type, description)


def _expire_entries_sql(lots: str, where: str = "") -> str:
    """``INSERT … SELECT`` of one EXPIRE entry per expired lot read from ``lots`` (aliased ``l``), its
    ``balance_after`` a running sum over the account. Parameters: kind, description, lot content type, created_at,
    then those of ``where``."""
    return f"""
        INSERT INTO {ENTRIES} (account_id, kind, points, pending_delta, owed_delta, balance_after,
                               idempotency_key, description, source_type_id, source_id, created_at)
        SELECT l.account_id, %s, -l.expired, 0, 0,
               a.balance - SUM(l.expired) OVER (
                   PARTITION BY l.account_id ORDER BY l.expires_at ASC NULLS LAST, l.id
                   ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
               'expire:lot:' || l.id, %s, %s, l.id, %s
        FROM {lots} JOIN {ACCOUNTS} a ON a.member_id = l.account_id
        {where}
        ORDER BY l.account_id, l.expires_at ASC NULLS LAST, l.id
    """


def _expire_chunk(ids, program, now, lot_type, description) -> int:
    # Every run stamps its own lots with a fresh timestamp, which the later statements select them by.
    run_at = timezone.now()
    with transaction.atomic():
        _lock_accounts(ids)
        if connection.vendor == "postgresql":
            return _expire_locked_chunk_in_one_statement(ids, program, now, run_at, lot_type, description)
        in_sql, in_params = _in("account_id", ids)
        lot_in_sql, lot_in_params = _in("l.account_id", ids)
        # UPDATE cannot alias its target on SQLite: the due condition names the table itself.
        table_due_sql, due_params = _expiry_due_sql(program, now, LOTS)
        changed = _execute(
            f"UPDATE {LOTS} SET expired = expired + remaining, remaining = 0, expired_at = %s"
            f" WHERE {in_sql} AND {table_due_sql}",
            [_ts(run_at), *in_params, *due_params],
        )
        if not changed:
            return 0
        _execute(
            _expire_entries_sql(f"{LOTS} l", f"WHERE {lot_in_sql} AND l.expired_at = %s"),
            [Kind.EXPIRE, description, lot_type, _ts(run_at), *lot_in_params, _ts(run_at)],
        )
        _execute(
            f"""
            UPDATE {ACCOUNTS} SET balance = {ACCOUNTS}.balance - expired.points, updated_at = %s
            FROM (SELECT account_id, SUM(expired) AS points FROM {LOTS}
                  WHERE {in_sql} AND expired_at = %s GROUP BY account_id) AS expired
            WHERE {ACCOUNTS}.member_id = expired.account_id
            """,
            [_ts(run_at), *in_params, _ts(run_at)],
        )
        if not hooks.listening("points.expired"):
            # Nobody listens: the total is all the caller needs.
            return int(
                _fetch(
                    f"SELECT SUM(expired) FROM {LOTS} WHERE {in_sql} AND expired_at = %s", [*in_params, _ts(run_at)]
                )[0][0]
            )
        rows = _fetch(
            f"""
            SELECT m.member_number, SUM(l.expired) FROM {LOTS} l JOIN {MEMBERS} m ON m.id = l.account_id
            WHERE {lot_in_sql} AND l.expired_at = %s GROUP BY m.member_number ORDER BY m.member_number
            """,
            [*lot_in_params, _ts(run_at)],
        )
        return _announce_expiry(rows, run_at)


def _announce_expiry(rows: list[tuple], run_at: datetime) -> int:
    """Emit one ``points.expired`` event for a chunk from its ``(member_number, points)`` rows; returns the total."""
    points = sum(int(expired) for _number, expired in rows)
    if points:
        hooks.emit(
            "points.expired",
            {
                "expired_at": run_at.isoformat(),
                "points": points,
                "members": [{"member_number": number, "points": int(expired)} for number, expired in rows],
            },
        )
    return points


def _expire_locked_chunk_in_one_statement(ids, program, now, run_at, lot_type, description) -> int:
    """PostgreSQL: the same steps as the portable path, as data-modifying WITH clauses in one statement.

    The lots are read once (the UPDATE's RETURNING feeds the entries and the balances) instead of three times,
    and a million expiring lots cost a few hundred round trips instead of a thousand. The entries' running
    ``balance_after`` reads the balances as they were before this statement, which is what it needs.
    """
    due_sql, due_params = _expiry_due_sql(program, now, LOTS)
    listening = hooks.listening("points.expired")
    if listening:
        result = (
            f"SELECT m.member_number, t.points FROM totals t JOIN {MEMBERS} m ON m.id = t.account_id"
            " ORDER BY m.member_number"
        )
    else:
        result = "SELECT NULL, COALESCE(SUM(points), 0) FROM totals"
    rows = _fetch(
        f"""
        WITH expired AS (
            UPDATE {LOTS} SET expired = expired + remaining, remaining = 0, expired_at = %s
            WHERE account_id = ANY(%s) AND {due_sql}
            RETURNING id, account_id, expires_at, expired
        ), entries AS (
            {_expire_entries_sql("expired l")}
        ), totals AS (
            SELECT account_id, SUM(expired) AS points FROM expired GROUP BY account_id
        ), balances AS (
            UPDATE {ACCOUNTS} SET balance = {ACCOUNTS}.balance - totals.points, updated_at = %s
            FROM totals WHERE {ACCOUNTS}.member_id = totals.account_id
        )
        {result}
        """,
        [_ts(run_at), list(ids), *due_params, Kind.EXPIRE, description, lot_type, _ts(run_at), _ts(run_at)],
    )
    if not listening:
        return int(rows[0][1])
    return _announce_expiry(rows, run_at)


# --- release of pending points -----------------------------------------------------------------------------------


def points_release_pending(*, now: datetime | None = None, batch_size: int = 5000) -> int:
    """Make pending lots whose return window has ended spendable; returns the points released.

    Per chunk of accounts (one transaction): lock them, append one RELEASE entry per lot (``points`` +remaining,
    ``pending_delta`` -remaining), move the totals from ``pending`` to ``balance`` and mark the lots available.
    A member who owes points from an earlier clawback has the newly spendable points netted against the debt
    (a SETTLEMENT entry, as :func:`ledger_post` does on every credit). Those accounts are few, and settling
    consumes lots in expiry order, so they go through the ledger's own settlement code one by one.
    """
    now = now or timezone.now()
    lot_type = ContentType.objects.get_for_model(PointsLot).pk
    description = _("Pending points released")
    total, last = 0, 0
    while True:
        ids = [
            row[0]
            for row in _fetch(
                f"SELECT account_id FROM {LOTS} WHERE is_pending = %s AND available_at <= %s"
                " AND account_id > %s GROUP BY account_id ORDER BY account_id LIMIT %s",
                [True, _ts(now), last, batch_size],
            )
        ]
        if not ids:
            return total
        last = ids[-1]
        total += _release_chunk(ids, now, lot_type, description)


def _release_chunk(ids, now, lot_type, description) -> int:
    run_at = timezone.now()
    with transaction.atomic():
        owed = {member_id: owed for member_id, owed in _lock_accounts(ids) if owed > 0}
        in_sql, in_params = _in("account_id", ids)
        lot_in_sql, lot_in_params = _in("l.account_id", ids)
        due_params = [True, _ts(now)]
        _execute(
            f"""
            INSERT INTO {ENTRIES} (account_id, kind, points, pending_delta, owed_delta, balance_after,
                                   idempotency_key, description, purchase_id, source_type_id, source_id, created_at)
            SELECT l.account_id, %s, l.remaining, -l.remaining, 0,
                   a.balance + SUM(l.remaining) OVER (
                       PARTITION BY l.account_id ORDER BY l.available_at, l.id
                       ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW),
                   'release:lot:' || l.id, %s, e.purchase_id, %s, l.id, %s
            FROM {LOTS} l
            JOIN {ACCOUNTS} a ON a.member_id = l.account_id
            JOIN {ENTRIES} e ON e.id = l.entry_id
            WHERE {lot_in_sql} AND l.is_pending = %s AND l.available_at <= %s AND l.remaining > 0
            ORDER BY l.account_id, l.available_at, l.id
            """,
            [Kind.RELEASE, description, lot_type, _ts(run_at), *lot_in_params, *due_params],
        )
        released = {
            account_id: (int(points), first_lot)
            for account_id, points, first_lot in _fetch(
                f"SELECT account_id, SUM(remaining), MIN(id) FROM {LOTS}"
                f" WHERE {in_sql} AND is_pending = %s AND available_at <= %s AND remaining > 0 GROUP BY account_id",
                [*in_params, *due_params],
            )
        }
        _execute(
            f"""
            UPDATE {ACCOUNTS}
            SET balance = {ACCOUNTS}.balance + due.points, pending = {ACCOUNTS}.pending - due.points, updated_at = %s
            FROM (SELECT account_id, SUM(remaining) AS points FROM {LOTS}
                  WHERE {in_sql} AND is_pending = %s AND available_at <= %s GROUP BY account_id) AS due
            WHERE {ACCOUNTS}.member_id = due.account_id
            """,
            [_ts(run_at), *in_params, *due_params],
        )
        # Fully clawed-back pending lots (remaining 0) are marked available too, so they leave the pending index.
        _execute(
            f"UPDATE {LOTS} SET is_pending = %s WHERE {in_sql} AND is_pending = %s AND available_at <= %s",
            [False, *in_params, *due_params],
        )
        for member_id in sorted(owed):
            if member_id not in released:
                continue
            points, first_lot = released[member_id]
            # Already locked above: this re-reads the balances the statements since have changed.
            account = account_lock(member_id=member_id)
            settle = min(points, account.owed)
            if settle > 0:
                _post_settlement(
                    account=account, amount=settle, idempotency_key=f"release:lot:{first_lot}:settle", now=run_at
                )
        return sum(points for points, _first in released.values())


# --- expiry reminders --------------------------------------------------------------------------------------------


@dataclass
class _Reminder:
    member_id: int
    email: str
    name: str
    member_number: str
    dates: dict[date, int] = field(default_factory=dict)

    @property
    def points(self) -> int:
        return sum(self.dates.values())


def expiry_reminders_send(*, now: datetime | None = None, batch_size: int = 1000) -> int:
    """Email members whose points expire within ``expiry_reminder_days``; returns the number of emails.

    One email per member, listing each date and how many points expire on it. A lot is reminded about once
    per expiry date: its ``reminder_sent_at`` is set in the same transaction, and under the activity policy a
    purchase after the reminder moves the date, so a later reminder is due again. Members who turned service
    emails off, and closed memberships, get none. Emails go out after the chunk commits.
    """
    program = program_settings_get()
    now = now or timezone.now()
    days = program.expiry_reminder_days
    policy = program.expiry_policy
    if policy == ProgramSettings.ExpiryPolicy.NONE or days == 0:
        return 0
    horizon = now + timedelta(days=days)
    activity = "COALESCE(m.last_purchase_at, m.enrolled_at)"
    if policy == ProgramSettings.ExpiryPolicy.FIXED:
        due_sql = "l.expires_at > %s AND l.expires_at <= %s AND l.reminder_sent_at IS NULL"
        due_params = [_ts(now), _ts(horizon)]
    else:
        # Inactive for the expiry period by the horizon, but not yet (that is the expiry job's business).
        due_sql = (
            f"{activity} > %s AND {activity} <= %s AND (l.reminder_sent_at IS NULL OR l.reminder_sent_at < {activity})"
        )
        due_params = [
            _ts(expiry_period_add(program=program, moment=now, times=-1)),
            _ts(expiry_period_add(program=program, moment=horizon, times=-1)),
        ]
    user_table = Member._meta.get_field("user").related_model._meta.db_table
    base = (
        f"FROM {LOTS} l JOIN {MEMBERS} m ON m.id = l.account_id JOIN {user_table} u ON u.id = m.user_id"
        " WHERE l.remaining > 0 AND l.is_pending = %s AND m.status = %s AND m.email_notifications = %s AND "
    )
    base_params = [False, Member.Status.ACTIVE, True]
    sent, last = 0, 0
    while True:
        ids = [
            row[0]
            for row in _fetch(
                f"SELECT l.account_id {base}{due_sql} AND l.account_id > %s"
                " GROUP BY l.account_id ORDER BY l.account_id LIMIT %s",
                [*base_params, *due_params, last, batch_size],
            )
        ]
        if not ids:
            return sent
        last = ids[-1]
        sent += _remind_chunk(ids, base, base_params, due_sql, due_params, program, now)


def _remind_chunk(ids, base, base_params, due_sql, due_params, program, now) -> int:
    lot_in_sql, lot_in_params = _in("l.account_id", ids)
    with transaction.atomic():
        rows = _fetch(
            f"""
            SELECT l.id, l.account_id, l.remaining, l.expires_at, COALESCE(m.last_purchase_at, m.enrolled_at),
                   m.member_number, u.email, u.first_name
            {base}{due_sql} AND {lot_in_sql}
            ORDER BY l.account_id, l.expires_at, l.id
            """,
            [*base_params, *due_params, *lot_in_params],
        )
        if not rows:
            return 0
        reminders: dict[int, _Reminder] = {}
        lot_ids = []
        for lot_id, member_id, remaining, expires_at, active_at, number, email, first_name in rows:
            lot_ids.append(lot_id)
            expiry = _as_datetime(expires_at)
            if program.expiry_policy == ProgramSettings.ExpiryPolicy.ACTIVITY:
                activity_expiry = expiry_period_add(program=program, moment=_as_datetime(active_at))
                expiry = min(expiry, activity_expiry) if expiry else activity_expiry
            reminder = reminders.setdefault(member_id, _Reminder(member_id, email, first_name, number))
            day = timezone.localdate(expiry)
            reminder.dates[day] = reminder.dates.get(day, 0) + int(remaining)
        lots_in_sql, lots_in_params = _in("id", lot_ids)
        _execute(
            f"UPDATE {LOTS} SET reminder_sent_at = %s WHERE {lots_in_sql}",
            [_ts(now), *lots_in_params],
        )
        messages = [_reminder_message(reminder, program) for reminder in reminders.values()]
        transaction.on_commit(lambda: mail.get_connection().send_messages(messages))
        return len(messages)


def _as_datetime(value) -> datetime | None:
    """Raw SQLite rows give datetimes as text; PostgreSQL gives aware datetimes."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


def _reminder_message(reminder: _Reminder, program: ProgramSettings) -> mail.EmailMultiAlternatives:
    context = {
        "name": reminder.name,
        "member_number": reminder.member_number,
        "dates": sorted(reminder.dates.items()),
        "points": reminder.points,
        "program": program,
        "site_url": getattr(settings, "SITE_URL", ""),
    }
    with translation.override(settings.LANGUAGE_CODE):
        subject = render_to_string("members/email/expiry_reminder_subject.txt", context).strip()
        body = render_to_string("members/email/expiry_reminder.txt", context)
        html = render_to_string("members/email/expiry_reminder.html", context)
    message = mail.EmailMultiAlternatives(subject=subject, body=body, to=[reminder.email])
    message.attach_alternative(html, "text/html")
    return message


# --- tier reviews ------------------------------------------------------------------------------------------------


def _review_window(program: ProgramSettings, today: date) -> tuple[date, date | None]:
    """Months counted at a review on ``today``: the last 12 months, or the calendar year just ended."""
    if program.tier_period == ProgramSettings.TierPeriod.CALENDAR_YEAR:
        return date(today.year - 1, 1, 1), date(today.year, 1, 1)
    return qualification_window_start(program=program, today=today), None


def _next_review(program: ProgramSettings, today: date) -> date:
    if program.tier_period == ProgramSettings.TierPeriod.CALENDAR_YEAR:
        return date(today.year + 1, 1, 1)
    try:
        return today.replace(year=today.year + 1)
    except ValueError:  # 29 February
        return today.replace(year=today.year + 1, day=28)


def tiers_evaluate(*, today: date | None = None, batch_size: int = 5000) -> int:
    """Review every member whose ``tier_review_at`` has come; returns how many were reviewed.

    A member below their tier's threshold (qualifying points or spend over the review window) goes down exactly
    one tier (a soft landing); one at or above it keeps the tier. Either way the review date moves on a period
    (members landing on the entry tier have nothing left to review) and a TierHistory row records the outcome.
    Set-based, per tier in keyset chunks of ``batch_size`` members (one transaction each): lock the chunk, insert
    its history rows, re-date the members who keep the tier and move the others down. ``tier.changed`` is
    emitted for every downgrade. A crash loses at most the chunk in progress; a re-run reviews only who is left.
    """
    program = program_settings_get()
    today = today or timezone.localdate()
    tiers: list[Tier] = tiers_list()
    if not tiers:
        return 0
    now = timezone.now()
    start, end = _review_window(program, today)
    column = "points" if program.tier_basis == ProgramSettings.TierBasis.POINTS else "spend"
    window_sql = "q.month >= %s" + (" AND q.month < %s" if end else "")
    window_params = [_day(start)] + ([_day(end)] if end else [])
    value_sql = f"COALESCE((SELECT SUM(q.{column}) FROM {QUALIFYING} q WHERE q.member_id = m.id AND {window_sql}), 0)"
    next_review = _next_review(program, today)
    reviewed = 0
    for index, tier in enumerate(tiers):
        lower = tiers[index - 1] if index > 0 else None
        reviewed += _review_tier(
            tier=tier,
            lower=lower,
            entry_tier=tiers[0],
            today=today,
            now=now,
            value_sql=value_sql,
            window_params=window_params,
            next_review=next_review,
            batch_size=batch_size,
        )
    return reviewed


def _review_tier(*, tier, lower, entry_tier, today, now, value_sql, window_params, next_review, batch_size) -> int:
    """Review the tier's due members in keyset chunks, one short transaction each, so a review of a million
    members never holds a million row locks (purchases of those members would wait behind it)."""
    due_sql = "m.tier_id = %s AND m.tier_review_at <= %s AND m.status = %s"
    due_params = [tier.pk, _day(today), Member.Status.ACTIVE]
    threshold = Decimal(tier.threshold)
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    lower_review = None if lower is None or lower.pk == entry_tier.pk else _day(next_review)
    reviewed, last = 0, 0
    while True:
        with transaction.atomic():
            ids = [
                row[0]
                for row in _fetch(
                    f"SELECT m.id FROM {MEMBERS} m WHERE {due_sql} AND m.id > %s ORDER BY m.id LIMIT %s{lock}",
                    [*due_params, last, batch_size],
                )
            ]
            if not ids:
                return reviewed
            last = ids[-1]
            reviewed += len(ids)
            chunk_sql, chunk_params = _in("m.id", ids)
            chunk = f"SELECT m.id FROM {MEMBERS} m WHERE {chunk_sql}"
            if lower is None:
                # The entry tier cannot be lost: nothing to review any more.
                _execute(f"UPDATE {MEMBERS} SET tier_review_at = NULL WHERE id IN ({chunk})", chunk_params)
                continue
            below = f"{value_sql} < CAST(%s AS NUMERIC)"
            downgraded = _fetch(
                f"SELECT m.member_number, m.id FROM {MEMBERS} m WHERE {chunk_sql} AND {below} ORDER BY m.id",
                [*chunk_params, *window_params, threshold],
            )
            _execute(
                f"""
                INSERT INTO {TIER_HISTORY} (member_id, from_tier_id, to_tier_id, reason, qualifying_value, created_at)
                SELECT v.member_id, %s, CASE WHEN v.value < CAST(%s AS NUMERIC) THEN %s ELSE %s END,
                       CASE WHEN v.value < CAST(%s AS NUMERIC) THEN %s ELSE %s END, v.value, %s
                FROM (SELECT m.id AS member_id, {value_sql} AS value FROM {MEMBERS} m WHERE {chunk_sql}) v
                ORDER BY v.member_id
                """,
                [
                    tier.pk,
                    threshold,
                    lower.pk,
                    tier.pk,
                    threshold,
                    TierHistoryModel.Reason.DOWNGRADE,
                    TierHistoryModel.Reason.RETAINED,
                    _ts(now),
                    *window_params,
                    *chunk_params,
                ],
            )
            # Re-date the members who keep the tier first: the downgrade below changes tier_id, not the chunk.
            _execute(
                f"UPDATE {MEMBERS} SET tier_review_at = %s WHERE id IN ({chunk} AND NOT ({below}))",
                [_day(next_review), *chunk_params, *window_params, threshold],
            )
            _execute(
                f"UPDATE {MEMBERS} SET tier_id = %s, tier_achieved_at = %s, tier_review_at = %s,"
                f" tier_notice_pending = %s WHERE id IN ({chunk} AND {below})",
                [lower.pk, _ts(now), lower_review, True, *chunk_params, *window_params, threshold],
            )
            tier_news_queue(member_ids=[member_id for _number, member_id in downgraded])
            for number, _member_id in downgraded:
                hooks.emit(
                    "tier.changed",
                    {
                        "member_number": number,
                        "from": tier.name,
                        "to": lower.name,
                        "reason": TierHistoryModel.Reason.DOWNGRADE,
                    },
                )


#: Cache key of the last expiry run's time (the ``/metrics`` gauge ``loyalty_expiry_last_run_age_seconds``).
EXPIRY_LAST_RUN_KEY = "ops:expiry:last_run"


def expiry_run_mark(*, points: int, now: datetime | None = None) -> None:
    """Record that the expiry job finished (in the shared cache, read at scrape time) and count its points."""
    cache.set(EXPIRY_LAST_RUN_KEY, (now or timezone.now()).timestamp(), timeout=None)
    if points:
        POINTS.labels(movement="expired").inc(points)
