"""Reading the daily roll-ups: which days of a report they answer, and which rows a report still reads live.

A report over ``[start, end]`` sums the roll-up rows of its days up to ``RollupState.rolled_through`` and adds,
from the source table, the rows those roll-ups do not hold: every row after the last rolled-up day, and the rows of
rolled-up days whose id is above the state's mark (recorded after the job read their day). So a figure is exact
and current whatever the roll-ups' age; with no roll-ups at all, the live part is the whole period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Q
from django.utils import timezone

from backoffice.models import RollupState
from backoffice.periods import day_start


@dataclass(frozen=True)
class Watermark:
    """How far the roll-ups reach (a snapshot of ``RollupState``)."""

    through: date
    ledger_entry_id: int
    purchase_id: int
    member_id: int
    tier_history_id: int
    rolled_at: datetime | None

    @property
    def boundary(self) -> datetime:
        """The first moment not rolled up: midnight after ``through``."""
        return day_start(self.through + timedelta(days=1))

    @property
    def key(self) -> str:
        """Changes whenever a run moves the roll-ups (for cache keys)."""
        stamp = self.rolled_at.timestamp() if self.rolled_at else 0
        return f"{self.through.isoformat()}:{stamp:.6f}"


def rollup_watermark() -> Watermark | None:
    """The roll-ups' reach, or None when there are none the reports can use: never run, or rolled up in another
    time zone than the one reports draw their days in (their days would not be the report's days)."""
    state = RollupState.objects.filter(pk=1).first()
    if state is None or state.rolled_through is None or state.time_zone != timezone.get_current_timezone_name():
        return None
    return Watermark(
        through=state.rolled_through,
        ledger_entry_id=state.ledger_entry_id,
        purchase_id=state.purchase_id,
        member_id=state.member_id,
        tier_history_id=state.tier_history_id,
        rolled_at=state.rolled_at,
    )


def rolled_days(first: date | None, last: date, watermark: Watermark | None) -> tuple[date | None, date] | None:
    """The days of ``[first, last]`` the roll-ups answer, as ``(first, last)`` (``first`` None: from the
    beginning), or None when they answer none of them."""
    if watermark is None:
        return None
    last = min(last, watermark.through)
    if first is not None and first > last:
        return None
    return first, last


def live_rows(field: str, start_at: datetime | None, end_at: datetime, watermark: Watermark | None, mark: int) -> Q:
    """Rows with ``field`` in ``[start_at, end_at)`` (``start_at`` None: no lower bound) that the roll-ups do not
    hold: after the last rolled-up day, or on a rolled-up day with an id above ``mark``.

    Written as two ranges, each narrow on its own index (the timestamp for the tail, the primary key for rows
    recorded since the last run), so the database never scans the rolled-up part of the period.
    """
    lower = Q(**{f"{field}__gte": start_at}) if start_at is not None else Q()
    if watermark is None:
        return lower & Q(**{f"{field}__lt": end_at})
    boundary = watermark.boundary
    tail_start = boundary if start_at is None else max(start_at, boundary)
    tail = Q(**{f"{field}__gte": tail_start, f"{field}__lt": end_at})
    late = lower & Q(pk__gt=mark, **{f"{field}__lt": min(end_at, boundary)})
    return tail | late
