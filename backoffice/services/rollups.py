# ruff: noqa: S608 - raw SQL here takes table names from model metadata; every value is a parameter.
"""The nightly analytics roll-up: per local day, ledger sums by kind, enrolments, purchases and tier movements.

One run is one transaction holding the ``RollupState`` row lock (so runs never overlap) and one
``INSERT … SELECT … GROUP BY … ON CONFLICT DO UPDATE`` per roll-up table, written for PostgreSQL and SQLite
(3.24+). It recomputes the days from two days before the last rolled-up day through yesterday, so a
transaction that committed after the previous run had read its day is counted now, plus any older day that got
rows since the previous run (a purchase a till sent days late). Only rows up to the id marks read at the start are
rolled up; the reports add anything newer live (``backoffice.rollups``).

Rows are upserted, not deleted: the ledger is append-only and members, purchases and tier history are protected
by foreign keys and read-only in the admin, so a day's group cannot disappear. A run that finds nothing new
changes no row (the upsert only updates a row whose numbers differ). Only a change of ``TIME_ZONE`` (other days)
empties the tables before the rebuild.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection, transaction
from django.db.models import Min
from django.utils import timezone

from backoffice.models import DailyActivity, DailyPoints, DailyTierMovement, RollupState
from members.models import LedgerEntry, Member, Purchase
from members.models import TierHistory as TierHistoryModel

#: Days before the last rolled-up day that every run recomputes: a transaction that began before midnight and
#: committed after the previous run had read its day is picked up by the next run.
RECHECK_DAYS = 2

#: The rows each run reads: (model, timestamp field, id mark on ``RollupState``).
SOURCES = [
    (LedgerEntry, "created_at", "ledger_entry_id"),
    (Purchase, "occurred_at", "purchase_id"),
    (Member, "enrolled_at", "member_id"),
    (TierHistoryModel, "created_at", "tier_history_id"),
]


@dataclass(frozen=True)
class RollupRun:
    start: date | None  # first day recomputed; None when there was nothing to roll up
    through: date
    rows_changed: int

    @property
    def days(self) -> int:
        return 0 if self.start is None else (self.through - self.start).days + 1


def _ts(value: datetime):
    """A datetime as the backend stores it, so raw comparisons match what the ORM wrote."""
    return connection.ops.adapt_datetimefield_value(value)


def _day_start(day: date, tz) -> datetime:
    return timezone.make_aware(datetime.combine(day, datetime.min.time()), tz)


def _local_day(column: str, time_zone: str) -> tuple[str, list]:
    """SQL for the local calendar date of ``column`` in ``time_zone`` (PostgreSQL ``AT TIME ZONE``, SQLite through
    Django's registered function), with its parameters."""
    sql, params = connection.ops.datetime_cast_date_sql(column, (), time_zone)
    return sql, list(params)


def _upsert(table: str, keys: list[str], values: list[str], select_sql: str, params: list) -> int:
    """``INSERT … SELECT … ON CONFLICT (keys) DO UPDATE`` that leaves rows whose numbers are unchanged alone."""
    columns = ", ".join(keys + values)
    assignments = ", ".join(f"{column} = excluded.{column}" for column in values)
    changed = " OR ".join(f"{table}.{column} <> excluded.{column}" for column in values)
    sql = (
        f"INSERT INTO {table} ({columns}) {select_sql} "
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {assignments} WHERE {changed}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return max(cursor.rowcount, 0)


def _roll_points(window: list, time_zone: str, mark: int) -> int:
    day, day_params = _local_day("created_at", time_zone)
    select = f"""
        SELECT {day}, kind, SUM(points), SUM(pending_delta), COUNT(*)
        FROM {LedgerEntry._meta.db_table}
        WHERE created_at >= %s AND created_at < %s AND id <= %s
        GROUP BY 1, 2
    """
    return _upsert(
        DailyPoints._meta.db_table,
        ["day", "kind"],
        ["points", "pending_delta", "entries"],
        select,
        [*day_params, *window, mark],
    )


def _roll_activity(window: list, time_zone: str, members_mark: int, purchases_mark: int) -> int:
    enrolled, enrolled_params = _local_day("enrolled_at", time_zone)
    occurred, occurred_params = _local_day("occurred_at", time_zone)
    # Each source is grouped by day first, so the union carries one row per day and source, not one per row.
    select = f"""
        SELECT day, SUM(enrolments), SUM(purchases), SUM(revenue)
        FROM (
            SELECT {enrolled} AS day, COUNT(*) AS enrolments, 0 AS purchases, 0 AS revenue
            FROM {Member._meta.db_table}
            WHERE enrolled_at >= %s AND enrolled_at < %s AND id <= %s
            GROUP BY 1
            UNION ALL
            SELECT {occurred}, 0, COUNT(*), SUM(total)
            FROM {Purchase._meta.db_table}
            WHERE occurred_at >= %s AND occurred_at < %s AND id <= %s
            GROUP BY 1
        ) per_source
        WHERE day IS NOT NULL
        GROUP BY day
    """
    return _upsert(
        DailyActivity._meta.db_table,
        ["day"],
        ["enrolments", "purchases", "revenue"],
        select,
        [*enrolled_params, *window, members_mark, *occurred_params, *window, purchases_mark],
    )


def _roll_tier_movements(window: list, time_zone: str, mark: int) -> int:
    day, day_params = _local_day("created_at", time_zone)
    select = f"""
        SELECT {day}, reason, COALESCE(from_tier_id, 0), COALESCE(to_tier_id, 0), COUNT(*)
        FROM {TierHistoryModel._meta.db_table}
        WHERE created_at >= %s AND created_at < %s AND id <= %s
        GROUP BY 1, 2, 3, 4
    """
    return _upsert(
        DailyTierMovement._meta.db_table,
        ["day", "reason", "from_tier_id", "to_tier_id"],
        ["members"],
        select,
        [*day_params, *window, mark],
    )


def _id_marks() -> dict[str, int]:
    subqueries = ", ".join(f"(SELECT COALESCE(MAX(id), 0) FROM {model._meta.db_table})" for model, _f, _m in SOURCES)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {subqueries}")
        values = cursor.fetchone()
    return {mark: int(value) for (_model, _field, mark), value in zip(SOURCES, values, strict=True)}


def _earliest_day(tz, *, after: dict[str, int] | None = None, upto: dict[str, int] | None = None) -> date | None:
    """The first local day with rows: of every row, or of the rows with ids in ``(after, upto]`` per source."""
    earliest = None
    for model, field, mark in SOURCES:
        rows = model.objects.all()
        if after is not None:
            if upto[mark] <= after[mark]:
                continue
            rows = rows.filter(pk__gt=after[mark], pk__lte=upto[mark])
        moment = rows.aggregate(first=Min(field))["first"]
        if moment is not None:
            day = timezone.localtime(moment, tz).date()
            earliest = day if earliest is None else min(earliest, day)
    return earliest


def analytics_rollup(*, since: date | None = None, everything: bool = False, today: date | None = None) -> RollupRun:
    """Bring the daily roll-ups up to yesterday (local time) and record how far they reach.

    Recomputes from two days before the last rolled-up day (or from ``since``, if earlier; or from the first day
    with data when ``everything`` is set, on the first run, or when ``TIME_ZONE`` changed) through yesterday, plus
    any older day that received rows since the previous run. Idempotent: a second run over the same data changes
    no row. Safe to run at any time and concurrently (runs serialise on the ``RollupState`` row lock).
    """
    tz = timezone.get_default_timezone()
    time_zone = timezone.get_default_timezone_name()
    today = today or timezone.localdate(timezone=tz)
    with transaction.atomic():
        RollupState.objects.get_or_create(pk=1)
        state = RollupState.objects.select_for_update().get(pk=1)
        previous = {mark: getattr(state, mark) for _model, _field, mark in SOURCES}
        marks = _id_marks()
        through = today - timedelta(days=1)
        if state.rolled_through is not None and state.time_zone == time_zone:
            # Never move the watermark back: the days after ``through`` hold rows up to the old marks only, and
            # the new marks would hide the rest of them from the reports.
            through = max(through, state.rolled_through)
        if state.rolled_through is None or state.time_zone != time_zone:
            # Rows keyed by another time zone's days would not be overwritten where the new days differ.
            for model in (DailyPoints, DailyActivity, DailyTierMovement):
                model.objects.all().delete()
        if everything or state.rolled_through is None or state.time_zone != time_zone:
            start = _earliest_day(tz)
        else:
            start = state.rolled_through - timedelta(days=RECHECK_DAYS)
            late = _earliest_day(tz, after=previous, upto=marks)
            start = min(day for day in (start, late, since) if day is not None)
        if since is not None and start is not None:
            start = min(start, since)
        changed = 0
        if start is not None and start <= through:
            window = [_ts(_day_start(start, tz)), _ts(_day_start(through + timedelta(days=1), tz))]
            changed += _roll_points(window, time_zone, marks["ledger_entry_id"])
            changed += _roll_activity(window, time_zone, marks["member_id"], marks["purchase_id"])
            changed += _roll_tier_movements(window, time_zone, marks["tier_history_id"])
        else:
            start = None
        for mark, value in marks.items():
            setattr(state, mark, value)
        state.rolled_through = through
        state.time_zone = time_zone
        state.rolled_at = timezone.now()
        state.save()
    return RollupRun(start=start, through=through, rows_changed=changed)
