"""Points accounting: the liability on any date and the movements of a period, from the ledger.

Outstanding points on a date are the sum of every ledger entry (spendable ``points`` plus ``pending_delta``)
created before the end of that day, which equals the sum of all members' balance plus pending at that moment.
Period movements bucket the entries of the period by kind; opening + Σ movements = closing holds by
construction, because every entry falls in exactly one bucket.

Both sum the daily roll-ups (``DailyPoints``: entries per day and kind) for the days they cover and add the ledger
entries those do not hold yet (``backoffice.rollups.live_rows``): the same numbers as summing the ledger, at
the cost of a few thousand roll-up rows plus the entries since the last roll-up run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import F, Q, Sum
from django.utils.translation import gettext_lazy as _

from backoffice.models import DailyPoints
from backoffice.periods import Period, day_start
from backoffice.rollups import Watermark, live_rows, rolled_days, rollup_watermark
from members.models import LedgerEntry
from members.months import add_months
from members.selectors import program_settings_get
from members.services.ledger import EARNING_KINDS
from rewards.selectors import redemption_reversals_total

Kind = LedgerEntry.Kind
CENT = Decimal("0.01")
BREAKAGE_MONTHS = 24

#: Movement buckets, in report order: (key, label, kinds). ``other`` takes every kind not listed.
MOVEMENT_BUCKETS = [
    ("issued", _("Issued (earned, bonus, referral, opening balances)"), sorted(EARNING_KINDS)),
    ("redeemed", _("Redeemed and donated, net of cancellations"), [Kind.REDEEM, Kind.DONATION]),
    ("expired", _("Expired"), [Kind.EXPIRE]),
    ("adjusted", _("Adjusted by staff"), [Kind.ADJUST]),
    ("clawed_back", _("Refund clawbacks and settlements"), [Kind.CLAWBACK, Kind.SETTLEMENT]),
    ("forfeited", _("Forfeited on closure"), [Kind.FORFEIT]),
]
_LISTED = {kind for _key, _label, kinds in MOVEMENT_BUCKETS for kind in kinds}
OTHER_KINDS = sorted(set(Kind.values) - _LISTED)  # transfers, reversals, releases: net zero or corrections

MOVED = F("points") + F("pending_delta")


@dataclass
class Liability:
    as_of: date
    spendable: int
    pending: int
    point_value: Decimal
    currency: str
    breakage: Decimal
    breakage_expired: int
    breakage_redeemed: int
    breakage_method: str

    @property
    def outstanding(self) -> int:
        return self.spendable + self.pending

    @property
    def value(self) -> Decimal:
        return (Decimal(self.outstanding) * self.point_value).quantize(CENT, ROUND_HALF_UP)

    @property
    def expected_breakage_value(self) -> Decimal:
        return (self.value * self.breakage).quantize(CENT, ROUND_HALF_UP)

    @property
    def deferred_revenue(self) -> Decimal:
        return self.value - self.expected_breakage_value


def _ledger_totals(last_day: date, end_at, watermark: Watermark | None, aggregates) -> dict[str, int]:
    """Sums over every entry created before ``end_at`` (the midnight after ``last_day``): the roll-up rows of the
    days they cover plus the entries they do not hold. ``aggregates(when, on_rollups)`` builds the same sums for
    both: on the roll-ups ``when`` is the day, on the ledger the entry's time."""
    totals: dict[str, int] = {}
    rolled = rolled_days(None, last_day, watermark)
    if rolled:
        rows = DailyPoints.objects.filter(day__lte=rolled[1]).aggregate(**aggregates("day", True))
        totals = {key: int(value or 0) for key, value in rows.items()}
    mark = watermark.ledger_entry_id if watermark else 0
    live = LedgerEntry.objects.filter(live_rows("created_at", None, end_at, watermark, mark))
    for key, value in live.aggregate(**aggregates("created_at", False)).items():
        totals[key] = totals.get(key, 0) + int(value or 0)
    return totals


def liability_as_of(as_of: date, *, use_rollups: bool = True) -> Liability:
    """Outstanding points at the end of ``as_of`` (local time), their value, breakage and deferred revenue.

    Breakage is estimated from the program's own history: expired ÷ (expired + redeemed) over the 24 months
    up to ``as_of``. With no expiries or redemptions in that window it is 0 (stated on the report).
    ``use_rollups=False`` sums the ledger alone (the reference the roll-ups are tested against).
    """
    program = program_settings_get()
    cutoff = day_start(as_of + timedelta(days=1))
    window_first_day = add_months(as_of, -BREAKAGE_MONTHS) + timedelta(days=1)
    window_start = day_start(window_first_day)

    def aggregates(when: str, on_rollups: bool) -> dict:
        in_window = Q(**{f"{when}__gte": window_first_day if on_rollups else window_start})
        return {
            "spendable": Sum("points"),
            "pending": Sum("pending_delta"),
            "expired": Sum("points", filter=Q(kind=Kind.EXPIRE) & in_window),
            "redeemed": Sum("points", filter=Q(kind__in=[Kind.REDEEM, Kind.DONATION]) & in_window),
        }

    watermark = rollup_watermark() if use_rollups else None
    totals = _ledger_totals(as_of, cutoff, watermark, aggregates)
    given_back = redemption_reversals_total(start_at=window_start, end_at=cutoff)
    expired, redeemed = -totals["expired"], -totals["redeemed"] - given_back
    if expired + redeemed > 0:
        breakage = (Decimal(expired) / Decimal(expired + redeemed)).quantize(Decimal("0.0001"), ROUND_HALF_UP)
        method = _(
            "Breakage = points expired ÷ (points expired + points redeemed) over the %(months)s months up to this "
            "date: %(expired)s ÷ (%(expired)s + %(redeemed)s)."
        ) % {"months": BREAKAGE_MONTHS, "expired": expired, "redeemed": redeemed}
    else:
        breakage = Decimal("0")
        method = _(
            "No points expired or were redeemed in the %(months)s months up to this date, so there is no history "
            "to estimate breakage from; it is taken as 0 and the deferred revenue equals the full value."
        ) % {"months": BREAKAGE_MONTHS}
    return Liability(
        as_of=as_of,
        spendable=totals["spendable"],
        pending=totals["pending"],
        point_value=program.point_value,
        currency=program.currency,
        breakage=breakage,
        breakage_expired=expired,
        breakage_redeemed=redeemed,
        breakage_method=str(method),
    )


@dataclass
class Movements:
    period: Period
    opening: int
    lines: list[tuple[str, str, int]]  # (key, label, points)
    closing: int

    @property
    def total_movement(self) -> int:
        return sum(points for _key, _label, points in self.lines)

    @property
    def reconciles(self) -> bool:
        return self.opening + self.total_movement == self.closing

    def get(self, key: str) -> int:
        return next(points for line_key, _label, points in self.lines if line_key == key)


def movements_for(period: Period, *, use_rollups: bool = True, partner_id: int | None = None) -> Movements:
    """Opening balance, movements by bucket and closing balance (spendable + pending): one aggregate over the
    roll-ups and one over the ledger entries they do not hold (``use_rollups=False``: the ledger alone).

    ``partner_id`` keeps only the entries at that issuing partner (points issued there, clawed back and paid with
    there), from the ledger alone (the roll-ups are not kept per partner): balances are then the net points that
    partner has put into members' accounts.
    """

    def aggregates(when: str, on_rollups: bool) -> dict:
        start = period.start if on_rollups else period.start_at
        in_period = Q(**{f"{when}__gte": start})
        sums = {"opening": Sum(MOVED, filter=Q(**{f"{when}__lt": start}))}
        for key, _label, kinds in MOVEMENT_BUCKETS:
            sums[key] = Sum(MOVED, filter=in_period & Q(kind__in=kinds))
        sums["other"] = Sum(MOVED, filter=in_period & Q(kind__in=OTHER_KINDS))
        sums["closing"] = Sum(MOVED)
        return sums

    if partner_id is not None:
        rows = LedgerEntry.objects.filter(partner_id=partner_id, created_at__lt=period.end_at).aggregate(
            **aggregates("created_at", False)
        )
        totals = {key: int(value or 0) for key, value in rows.items()}
        lines = [(key, str(label), totals[key]) for key, label, _kinds in MOVEMENT_BUCKETS]
        lines.append(("other", str(_("Other (transfers, reversals, pending released)")), totals["other"]))
        return Movements(period=period, opening=totals["opening"], lines=lines, closing=totals["closing"])
    watermark = rollup_watermark() if use_rollups else None
    totals = _ledger_totals(period.end, period.end_at, watermark, aggregates)
    # Redeemed is net of cancelled and refunded redemptions (rewards.selectors.REDEEMED_DEFINITION): the points
    # given back move from "other" (reversals) to "redeemed", so the total movement is unchanged.
    given_back = redemption_reversals_total(start_at=period.start_at, end_at=period.end_at)
    totals["redeemed"] += given_back
    totals["other"] -= given_back
    lines = [(key, str(label), totals[key]) for key, label, _kinds in MOVEMENT_BUCKETS]
    lines.append(("other", str(_("Other (transfers, reversals, pending released)")), totals["other"]))
    return Movements(period=period, opening=totals["opening"], lines=lines, closing=totals["closing"])


ACCOUNTING_CSV_HEADER = ["section", "item", "value"]


def accounting_csv_rows(liability: Liability, movements: Movements):
    yield ["liability", "as_of", liability.as_of.isoformat()]
    yield ["liability", "spendable_points", liability.spendable]
    yield ["liability", "pending_points", liability.pending]
    yield ["liability", "outstanding_points", liability.outstanding]
    yield ["liability", "point_value", liability.point_value]
    yield ["liability", f"value_{liability.currency}", liability.value]
    yield ["liability", "breakage_rate", liability.breakage]
    yield ["liability", "breakage_method", liability.breakage_method]
    yield ["liability", f"expected_breakage_{liability.currency}", liability.expected_breakage_value]
    yield ["liability", f"deferred_revenue_{liability.currency}", liability.deferred_revenue]
    yield ["movements", "period_start", movements.period.start.isoformat()]
    yield ["movements", "period_end", movements.period.end.isoformat()]
    yield ["movements", "opening_balance", movements.opening]
    for key, _label, points in movements.lines:
        yield ["movements", key, points]
    yield ["movements", "closing_balance", movements.closing]
