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

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import F, Max, Q, Sum
from django.utils.translation import gettext_lazy as _

from backoffice import ifrs15
from backoffice.models import AccountingPeriod, AccountingSettings, DailyPoints, RedemptionRateEstimate
from backoffice.periods import Period, day_start
from backoffice.rollups import Watermark, live_rows, rolled_days, rollup_watermark
from members.models import LedgerEntry, Purchase, Refund
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
    (
        "redeemed",
        _("Redeemed, donated and paid with points, net of cancellations and returns"),
        [Kind.REDEEM, Kind.DONATION, Kind.PAYMENT, Kind.PAYMENT_RETURN],
    ),
    ("expired", _("Expired"), [Kind.EXPIRE]),
    ("adjusted", _("Adjusted by staff"), [Kind.ADJUST]),
    ("clawed_back", _("Refund clawbacks and settlements"), [Kind.CLAWBACK, Kind.SETTLEMENT]),
    ("forfeited", _("Forfeited on closure"), [Kind.FORFEIT]),
]
_LISTED = {kind for _key, _label, kinds in MOVEMENT_BUCKETS for kind in kinds}
OTHER_KINDS = sorted(set(Kind.values) - _LISTED)  # transfers, reversals, releases: net zero or corrections

MOVED = F("points") + F("pending_delta")
#: Points the member used: rewards, donations and paying at a till with points (a voided or refunded payment's
#: points come back as PAYMENT_RETURN, netted here, as cancelled redemptions are).
REDEEMING_KINDS = [Kind.REDEEM, Kind.DONATION, Kind.PAYMENT, Kind.PAYMENT_RETURN]


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
            "redeemed": Sum("points", filter=Q(kind__in=REDEEMING_KINDS) & in_window),
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


# --- IFRS 15 / ASC 606: points as a customer option -------------------------------------------------------------
#
# The report keeps one pool of points for the whole program (the portfolio approach IFRS 15.4 allows): every
# point issued adds to the amount allocated to points, every point redeemed earns its share of it, and the
# expected redemption rate in force decides what share that is (``backoffice.ifrs15`` has the arithmetic).
#
# - Points issued with a sale (a purchase's earned and bonus points, less what its refunds clawed back) get their
#   share of the sale's price by relative stand-alone selling prices, per stretch of days with one estimate. Price
#   and points come from the same rows at the same moments (purchases by the day they happened, refunds by the
#   day refunded), so a till that reports late cannot put a sale in one period and its points in another.
# - Points issued without a sale (bonuses and earnings not tied to a purchase, referral bonuses, opening balances,
#   staff adjustments) have no price to share: they are added at their stand-alone price, which the books carry as
#   a marketing expense. They come from the ledger, by the entry's time.
# - Only purchases in the program currency count. Settlements of owed points are not counted again: the refund
#   that made them owed already took the points out of the pool.
#
# A pool figure is cumulative: the figures of the latest closed period ending on or before the day, plus what the
# ledger, purchases and refunds add after it (and what arrived late for a closed period: rows above its marks).

FREE_POINTS = Q(kind__in=[Kind.EARN, Kind.BONUS], purchase__isnull=True) | Q(
    kind__in=[Kind.REFERRAL, Kind.IMPORT, Kind.ADJUST, Kind.ACTION]
)
REDEEMED_POINTS = Q(kind__in=REDEEMING_KINDS)
NO_ESTIMATE_RATE = Decimal("1.0000")


@dataclass(frozen=True)
class Marks:
    """Highest row ids a set of figures includes (0: none)."""

    ledger_entry_id: int = 0
    purchase_id: int = 0
    refund_id: int = 0


@dataclass(frozen=True)
class PoolFigures:
    """The points pool at the end of ``day``, cumulative. Amounts in the program currency, to the cent."""

    day: date | None
    sales: Decimal
    sale_points: int
    free_points: int
    allocated_from_sales: Decimal
    allocated_free: Decimal
    redeemed: int
    redemption_rate: Decimal
    recognised: Decimal

    @property
    def allocated(self) -> Decimal:
        return self.allocated_from_sales + self.allocated_free

    @property
    def issued(self) -> int:
        return self.sale_points + self.free_points

    @property
    def pool(self) -> ifrs15.PoolState:
        return ifrs15.PoolState(
            allocated=self.allocated,
            issued=self.issued,
            redeemed=self.redeemed,
            redemption_rate=self.redemption_rate,
            recognised=self.recognised,
        )

    @property
    def expected(self) -> Decimal:
        return self.pool.expected

    @property
    def liability(self) -> Decimal:
        return self.pool.liability

    def as_json(self) -> dict:
        return {
            "day": self.day.isoformat() if self.day else None,
            "sales": str(self.sales),
            "sale_points": self.sale_points,
            "free_points": self.free_points,
            "allocated_from_sales": str(self.allocated_from_sales),
            "allocated_free": str(self.allocated_free),
            "redeemed": self.redeemed,
            "redemption_rate": str(self.redemption_rate),
            "recognised": str(self.recognised),
        }

    @classmethod
    def from_json(cls, data: dict) -> PoolFigures:
        return cls(
            day=date.fromisoformat(data["day"]) if data.get("day") else None,
            sales=Decimal(data["sales"]),
            sale_points=int(data["sale_points"]),
            free_points=int(data["free_points"]),
            allocated_from_sales=Decimal(data["allocated_from_sales"]),
            allocated_free=Decimal(data["allocated_free"]),
            redeemed=int(data["redeemed"]),
            redemption_rate=Decimal(data["redemption_rate"]),
            recognised=Decimal(data["recognised"]),
        )


EMPTY_POOL = PoolFigures(
    day=None,
    sales=Decimal("0.00"),
    sale_points=0,
    free_points=0,
    allocated_from_sales=Decimal("0.00"),
    allocated_free=Decimal("0.00"),
    redeemed=0,
    redemption_rate=NO_ESTIMATE_RATE,
    recognised=Decimal("0.00"),
)


def redemption_estimates() -> list[RedemptionRateEstimate]:
    """Every estimate, the one in force longest ago first (ties: the later recorded wins). One query."""
    return list(
        RedemptionRateEstimate.objects.select_related("created_by").order_by("effective_from", "created_at", "id")
    )


def rate_on(day: date, estimates: list[RedemptionRateEstimate]) -> tuple[Decimal, RedemptionRateEstimate | None]:
    """The expected redemption rate in force on ``day`` and the estimate it comes from; 1 (every point expected to
    be redeemed, no breakage assumed) before the first estimate."""
    current = None
    for estimate in estimates:
        if estimate.effective_from <= day:
            current = estimate
    return (current.rate if current else NO_ESTIMATE_RATE), current


def closed_periods() -> list[AccountingPeriod]:
    """Closed periods, latest first. One query."""
    return list(
        AccountingPeriod.objects.filter(status=AccountingPeriod.Status.CLOSED)
        .select_related("closed_by")
        .order_by("-end")
    )


def current_marks() -> Marks:
    """The highest ids now stored: figures computed under these marks ignore rows that commit afterwards."""
    return Marks(
        ledger_entry_id=LedgerEntry.objects.aggregate(m=Max("id"))["m"] or 0,
        purchase_id=Purchase.objects.aggregate(m=Max("id"))["m"] or 0,
        refund_id=Refund.objects.aggregate(m=Max("id"))["m"] or 0,
    )


def _stretches(first_day: date | None, last_day: date, estimates) -> list[tuple[date | None, date, Decimal]]:
    """Split ``first_day``..``last_day`` into stretches with one estimate in force each: (first day, or None for
    "everything before", last day, rate). No estimate starts inside a stretch, so its last day's rate is its rate."""
    starts = sorted(
        {
            e.effective_from
            for e in estimates
            if (first_day is None or e.effective_from > first_day) and e.effective_from <= last_day
        }
    )
    stretches = []
    for index, start in enumerate([first_day, *starts]):
        end = starts[index] - timedelta(days=1) if index < len(starts) else last_day
        stretches.append((start, end, rate_on(end, estimates)[0]))
    return stretches


def _since(when: str, anchor_at: datetime | None, mark: int) -> Q:
    """Rows after the anchor, or dated before it but stored after its figures were taken (above its mark)."""
    if anchor_at is None:
        return Q()
    return Q(**{f"{when}__gte": anchor_at}) | Q(id__gt=mark)


def _in_stretch(when: str, start: date | None, end: date, first: bool) -> Q:
    condition = Q(**{f"{when}__lt": day_start(end + timedelta(days=1))})
    if start is not None and not first:
        condition &= Q(**{f"{when}__gte": day_start(start)})
    return condition


def pool_at(
    day: date,
    *,
    upto: Marks | None = None,
    estimates: list[RedemptionRateEstimate] | None = None,
    periods: list[AccountingPeriod] | None = None,
) -> PoolFigures:
    """The pool at the end of ``day`` (program time zone). Stored figures at the end of a closed period; otherwise
    the latest closed period before ``day`` plus four aggregate queries (ledger, purchases, refunds, redemption
    reversals). ``upto`` caps the rows counted (closing a period counts what was stored when it began)."""
    program = program_settings_get()
    estimates = redemption_estimates() if estimates is None else estimates
    periods = closed_periods() if periods is None else periods
    anchor = next((period for period in periods if period.end <= day), None)
    if anchor is not None and anchor.end == day and upto is None:
        return PoolFigures.from_json(anchor.figures["closing"])
    base = PoolFigures.from_json(anchor.figures["closing"]) if anchor else EMPTY_POOL
    anchor_at = day_start(anchor.end + timedelta(days=1)) if anchor else None
    end_at = day_start(day + timedelta(days=1))
    first_day = anchor.end + timedelta(days=1) if anchor else None
    stretches = _stretches(first_day, day, estimates)

    entries = LedgerEntry.objects.filter(
        _since("created_at", anchor_at, anchor.ledger_entry_id if anchor else 0), created_at__lt=end_at
    )
    purchases = Purchase.objects.filter(
        _since("occurred_at", anchor_at, anchor.purchase_id if anchor else 0),
        occurred_at__lt=end_at,
        currency=program.currency,
    )
    refunds = Refund.objects.filter(
        _since("created_at", anchor_at, anchor.refund_id if anchor else 0),
        created_at__lt=end_at,
        purchase__currency=program.currency,
    )
    if upto is not None:
        entries = entries.filter(id__lte=upto.ledger_entry_id)
        purchases = purchases.filter(id__lte=upto.purchase_id)
        refunds = refunds.filter(id__lte=upto.refund_id)
    ledger_sums = {"redeemed": Sum("points", filter=REDEEMED_POINTS)}
    purchase_sums, refund_sums = {}, {}
    for index, (start, end, _rate) in enumerate(stretches):
        first = index == 0
        in_stretch = _in_stretch("created_at", start, end, first)
        ledger_sums[f"free_{index}"] = Sum(MOVED, filter=FREE_POINTS & in_stretch)
        sold_in_stretch = _in_stretch("occurred_at", start, end, first)
        purchase_sums[f"sales_{index}"] = Sum("total", filter=sold_in_stretch)
        purchase_sums[f"points_{index}"] = Sum(F("points_earned") + F("points_bonus"), filter=sold_in_stretch)
        refund_sums[f"refunds_{index}"] = Sum("amount", filter=in_stretch)
        refund_sums[f"clawed_{index}"] = Sum("points_clawed_back", filter=in_stretch)
    ledger = entries.aggregate(**ledger_sums)
    sold = purchases.aggregate(**purchase_sums)
    refunded = refunds.aggregate(**refund_sums)
    given_back = redemption_reversals_total(start_at=anchor_at, end_at=end_at)

    sales, sale_points, free_points = base.sales, base.sale_points, base.free_points
    allocated_from_sales, allocated_free = base.allocated_from_sales, base.allocated_free
    for index, (_start, _end, rate) in enumerate(stretches):
        stretch_sales = (sold[f"sales_{index}"] or Decimal(0)) - (refunded[f"refunds_{index}"] or Decimal(0))
        stretch_sale_points = int(sold[f"points_{index}"] or 0) - int(refunded[f"clawed_{index}"] or 0)
        stretch_free_points = int(ledger[f"free_{index}"] or 0)
        points_ssp = ifrs15.points_standalone_price(
            points=stretch_sale_points, point_value=program.point_value, redemption_rate=rate
        )
        allocation = ifrs15.allocate_by_ssp(price=stretch_sales, goods_ssp=stretch_sales, points_ssp=points_ssp)
        free_ssp = ifrs15.points_standalone_price(
            points=stretch_free_points, point_value=program.point_value, redemption_rate=rate
        )
        sales += stretch_sales
        sale_points += stretch_sale_points
        free_points += stretch_free_points
        allocated_from_sales += allocation.points
        allocated_free += free_ssp.quantize(ifrs15.CENT, ROUND_HALF_UP)
    redeemed = base.redeemed - int(ledger["redeemed"] or 0) - given_back
    rate, _estimate = rate_on(day, estimates)
    state = ifrs15.pool_state(
        allocated=allocated_from_sales + allocated_free,
        issued=sale_points + free_points,
        redeemed=redeemed,
        redemption_rate=rate,
    )
    return PoolFigures(
        day=day,
        sales=sales,
        sale_points=sale_points,
        free_points=free_points,
        allocated_from_sales=allocated_from_sales,
        allocated_free=allocated_free,
        redeemed=redeemed,
        redemption_rate=rate,
        recognised=state.recognised,
    )


POINTS_METHOD_TEXT = _(
    "Method: IFRS 15 / ASC 606, points as a customer option. Each sale's price is allocated between the goods and "
    "the points in the ratio of their stand-alone selling prices: the goods at the price charged, a point at its "
    "redemption value (%(point_value)s %(currency)s) × the expected redemption rate. Points given without a sale "
    "(bonuses outside a purchase, referral bonuses, opening balances, staff adjustments) are added at that same "
    "stand-alone price. Revenue for points to date = points redeemed to date ÷ points expected to be redeemed "
    "(issued × expected rate) × amount allocated to points to date; a period's revenue is the change in that "
    "figure, so a new estimate is caught up in full in the period it takes effect. Contract liability = allocated "
    "to date − recognised to date. Amounts are rounded half up to the cent at the allocation and at the cumulative "
    "revenue; period figures are differences of those, so opening + allocated − recognised = closing exactly."
)


@dataclass
class PointsRevenue:
    """A period's IFRS 15 figures for points: the movement schedule in currency and in points."""

    period: Period
    method: str
    currency: str
    opening: PoolFigures
    closing: PoolFigures
    estimate: RedemptionRateEstimate | None
    closed: AccountingPeriod | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def schedule(self) -> ifrs15.Schedule:
        return ifrs15.period_schedule(opening=self.opening.pool, closing=self.closing.pool)

    @property
    def allocated_from_sales(self) -> Decimal:
        return self.closing.allocated_from_sales - self.opening.allocated_from_sales

    @property
    def allocated_free(self) -> Decimal:
        return self.closing.allocated_free - self.opening.allocated_free

    @property
    def sales(self) -> Decimal:
        return self.closing.sales - self.opening.sales

    @property
    def allocated_to_goods(self) -> Decimal:
        return self.sales - self.allocated_from_sales

    @property
    def allocated(self) -> Decimal:
        return self.schedule.allocated

    @property
    def recognised(self) -> Decimal:
        return self.schedule.recognised

    @property
    def points_issued(self) -> int:
        return self.schedule.points_issued

    @property
    def sale_points_issued(self) -> int:
        return self.closing.sale_points - self.opening.sale_points

    @property
    def free_points_issued(self) -> int:
        return self.closing.free_points - self.opening.free_points

    @property
    def points_redeemed(self) -> int:
        return self.schedule.points_redeemed

    @property
    def opening_points_unredeemed(self) -> int:
        return self.opening.issued - self.opening.redeemed

    @property
    def closing_points_unredeemed(self) -> int:
        return self.closing.issued - self.closing.redeemed

    @property
    def reconciles(self) -> bool:
        return self.schedule.reconciles and (
            self.opening_points_unredeemed + self.points_issued - self.points_redeemed == self.closing_points_unredeemed
        )


def points_revenue_for(period: Period) -> PointsRevenue:
    """The period's allocation, revenue, contract liability and schedule. A closed period answers with the
    figures it was closed with; any other range is worked out from the ledger (about a dozen queries)."""
    program = program_settings_get()
    # Read, never created here: the report may run on a read replica.
    settings_row = AccountingSettings.objects.filter(pk=1).first() or AccountingSettings()
    estimates = redemption_estimates()
    periods = closed_periods()
    method = str(POINTS_METHOD_TEXT % {"point_value": program.point_value, "currency": program.currency})
    if settings_row.points_method != AccountingSettings.Method.RELATIVE_SSP:  # pragma: no cover - one method today
        raise ValueError(settings_row.points_method)
    closed = next((p for p in periods if p.start == period.start and p.end == period.end), None)
    _rate, estimate = rate_on(period.end, estimates)
    if closed is not None:
        opening = PoolFigures.from_json(closed.figures["opening"])
        closing = PoolFigures.from_json(closed.figures["closing"])
    else:
        opening = pool_at(period.start - timedelta(days=1), estimates=estimates, periods=periods)
        closing = pool_at(period.end, estimates=estimates, periods=periods)
    notes = []
    if estimate is None:
        notes.append(
            str(
                _(
                    "No expected redemption rate has been set for this date: every point is taken as expected to be "
                    "redeemed (rate 1), so no breakage is assumed. Set an estimate below."
                )
            )
        )
    return PointsRevenue(
        period=period,
        method=method,
        currency=program.currency,
        opening=opening,
        closing=closing,
        estimate=estimate,
        closed=closed,
        notes=notes,
    )


def historical_redemption_rate(liability: Liability) -> Decimal | None:
    """The program's own record as guidance for the estimate: redeemed ÷ (redeemed + expired) over the breakage
    window of :func:`liability_as_of`; None without history."""
    total = liability.breakage_expired + liability.breakage_redeemed
    if total <= 0:
        return None
    return (Decimal(liability.breakage_redeemed) / Decimal(total)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def points_revenue_csv_rows(report: PointsRevenue):
    currency = report.currency
    section = "ifrs15_points"
    yield [section, "method", report.method]
    yield [section, "period_start", report.period.start.isoformat()]
    yield [section, "period_end", report.period.end.isoformat()]
    yield [section, "period_status", "closed" if report.closed else "open"]
    yield [section, "expected_redemption_rate", report.closing.redemption_rate]
    yield [section, "estimate_effective_from", report.estimate.effective_from.isoformat() if report.estimate else ""]
    yield [section, f"sales_{currency}", report.sales]
    yield [section, f"allocated_to_goods_{currency}", report.allocated_to_goods]
    yield [section, f"allocated_to_points_from_sales_{currency}", report.allocated_from_sales]
    yield [section, f"points_without_sale_at_standalone_price_{currency}", report.allocated_free]
    yield [section, f"opening_contract_liability_{currency}", report.opening.liability]
    yield [section, f"allocated_to_points_{currency}", report.allocated]
    yield [section, f"revenue_recognised_{currency}", report.recognised]
    yield [section, f"closing_contract_liability_{currency}", report.closing.liability]
    yield [section, "opening_points_unredeemed", report.opening_points_unredeemed]
    yield [section, "points_issued", report.points_issued]
    yield [section, "points_redeemed", report.points_redeemed]
    yield [section, "closing_points_unredeemed", report.closing_points_unredeemed]
    yield [section, "cumulative_points_issued", report.closing.issued]
    yield [section, "cumulative_points_redeemed", report.closing.redeemed]
    yield [section, "points_expected_to_be_redeemed", report.closing.expected.quantize(Decimal("1"), ROUND_HALF_UP)]
    yield [section, "reconciles", "yes" if report.reconciles else "no"]
