"""Partner settlement: per partner per calendar month (program time zone), what each side owes.

Items of a statement, each valued at the partner's rate in force when its points moved
(``members.selectors.rate_in_force``):

- points issued at the partner (every earning entry of its purchases, base and bonus) × price per point issued:
  the partner pays;
- refund clawbacks at the partner × the price it paid for those points (the rate at the purchase): credited back;
- points redeemed there, vouchers its tills took and points paid at its tills (``/point-payments/``, net of
  payments voided or given back on a refund, at the payment's rate) × reimbursement per point redeemed: the
  operator pays.

Net = issued − clawed back − redeemed; positive means the partner pays the operator. Amounts are summed at full
precision and rounded to the cent once per total.

An open month is computed live. Closing it (``backoffice.services.settlement.settlement_close``) freezes its
totals and items; every item is settled once (``SettlementItem`` is unique per kind and source row), so an item
that turns up later for a month already closed (a late till batch, a back-dated posting) is not lost: it lands
in the first open month after the last closed one, marked late.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from backoffice.models import SettlementItem, SettlementStatement
from backoffice.periods import day_start
from members.models import LEDGER_EARNING_KINDS, LedgerEntry, Partner
from members.months import add_months
from members.selectors import (
    PARTNER_BURN_KINDS,
    issued_points_by_partner,
    partner_first_move_at,
    partner_ledger_moves,
    partner_rates,
    program_settings_get,
    rate_in_force,
)
from rewards.selectors import partner_first_burn_at, partner_voucher_burns

CENT = Decimal("0.01")
Kind = SettlementItem.Kind


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_bounds(month: date) -> tuple[datetime, datetime]:
    """``[start, end)`` of a calendar month in the program's time zone."""
    return day_start(month), day_start(add_months(month, 1))


@dataclass
class Line:
    kind: str
    ref_id: int
    moved_at: datetime
    points: int
    rate: Decimal | None
    late: bool = False

    @property
    def amount(self) -> Decimal:
        return Decimal(self.points) * (self.rate or Decimal("0"))

    @property
    def kind_label(self) -> str:
        return str(Kind(self.kind).label)


@dataclass
class Statement:
    partner: Partner
    month: date
    currency: str
    lines: list[Line] = field(default_factory=list)
    closed: SettlementStatement | None = None
    #: Months before the first open one that were never closed: their items are in the first open statement.
    carried: bool = False

    def _points(self, *kinds) -> int:
        return sum(line.points for line in self.lines if line.kind in kinds)

    def _amount(self, *kinds) -> Decimal:
        return sum((line.amount for line in self.lines if line.kind in kinds), Decimal("0")).quantize(
            CENT, ROUND_HALF_UP
        )

    @property
    def is_closed(self) -> bool:
        return self.closed is not None

    @property
    def points_issued(self) -> int:
        return self.closed.points_issued if self.closed else self._points(Kind.ISSUED)

    @property
    def points_clawed_back(self) -> int:
        return self.closed.points_clawed_back if self.closed else self._points(Kind.CLAWED_BACK)

    @property
    def points_redeemed_vouchers(self) -> int:
        return self.closed.points_redeemed_vouchers if self.closed else self._points(Kind.VOUCHER)

    @property
    def points_redeemed_payments(self) -> int:
        return self.closed.points_redeemed_payments if self.closed else self._points(Kind.POINT_PAYMENT)

    @property
    def points_redeemed(self) -> int:
        return self.points_redeemed_vouchers + self.points_redeemed_payments

    @property
    def amount_issued(self) -> Decimal:
        return self.closed.amount_issued if self.closed else self._amount(Kind.ISSUED)

    @property
    def amount_clawed_back(self) -> Decimal:
        return self.closed.amount_clawed_back if self.closed else self._amount(Kind.CLAWED_BACK)

    @property
    def amount_redeemed(self) -> Decimal:
        return self.closed.amount_redeemed if self.closed else self._amount(Kind.VOUCHER, Kind.POINT_PAYMENT)

    @property
    def net_amount(self) -> Decimal:
        """Positive: the partner pays the operator; negative: the operator pays the partner."""
        if self.closed:
            return self.closed.net_amount
        return self.amount_issued - self.amount_clawed_back - self.amount_redeemed

    @property
    def late_lines(self) -> list[Line]:
        return [line for line in self.lines if line.late]


def last_closed_month(partner: Partner) -> date | None:
    return (
        SettlementStatement.objects.filter(partner=partner).order_by("-month").values_list("month", flat=True).first()
    )


def first_activity_month(partner: Partner) -> date | None:
    """The month points first moved at the partner (earned, paid with or a voucher taken), None if never."""
    moments = [
        moment
        for moment in (partner_first_move_at(partner_id=partner.pk), partner_first_burn_at(partner_id=partner.pk))
        if moment is not None
    ]
    return month_start(timezone.localtime(min(moments)).date()) if moments else None


def first_open_month(partner: Partner) -> date | None:
    """The month after the last closed one (None: nothing closed yet, so every month is open on its own)."""
    last = last_closed_month(partner)
    return add_months(last, 1) if last is not None else None


def _lines(partner: Partner, start_at: datetime | None, end_at: datetime, late_before: datetime | None) -> list[Line]:
    """The unsettled items of ``partner`` moved in ``[start_at, end_at)``; with ``start_at`` None, every unsettled
    item before ``end_at``, those before ``late_before`` marked late. Three queries (plus one for rates)."""
    settled = SettlementItem.objects.filter(statement__partner=partner)
    rates = partner_rates([partner.pk])[partner.pk]
    lines: list[Line] = []
    for move in partner_ledger_moves(
        partner_ids=[partner.pk],
        start_at=start_at,
        end_at=end_at,
        exclude_entry_ids=settled.filter(kind__in=[Kind.ISSUED, Kind.CLAWED_BACK, Kind.POINT_PAYMENT]).values("ref_id"),
    ):
        if move.kind in LEDGER_EARNING_KINDS:
            kind, points = Kind.ISSUED, move.points
            rate = rate_in_force(rates, move.priced_at)
            price = rate.price_per_point_issued if rate else None
        elif move.kind == LedgerEntry.Kind.CLAWBACK:
            kind, points = Kind.CLAWED_BACK, -move.points
            rate = rate_in_force(rates, move.priced_at)
            price = rate.price_per_point_issued if rate else None
        elif move.kind in PARTNER_BURN_KINDS:
            # Paid with: a debit, counted as points redeemed; given back: a credit that lowers them.
            kind, points = Kind.POINT_PAYMENT, -move.points
            rate = rate_in_force(rates, move.priced_at)
            price = rate.reimbursement_per_point_redeemed if rate else None
        else:
            continue
        late = late_before is not None and move.created_at < late_before
        lines.append(
            Line(kind=kind, ref_id=move.entry_id, moved_at=move.created_at, points=points, rate=price, late=late)
        )
    for burn in partner_voucher_burns(
        partner_ids=[partner.pk],
        start_at=start_at,
        end_at=end_at,
        exclude_voucher_ids=settled.filter(kind=Kind.VOUCHER).values("ref_id"),
    ):
        rate = rate_in_force(rates, burn.used_at)
        late = late_before is not None and burn.used_at < late_before
        lines.append(
            Line(
                kind=Kind.VOUCHER,
                ref_id=burn.voucher_id,
                moved_at=burn.used_at,
                points=burn.points,
                rate=rate.reimbursement_per_point_redeemed if rate else None,
                late=late,
            )
        )
    lines.sort(key=lambda line: (line.moved_at, line.kind, line.ref_id))
    return lines


def statement_for(partner: Partner, month: date) -> Statement:
    """The partner's statement for ``month``: frozen if closed, else computed now."""
    month = month_start(month)
    currency = program_settings_get().currency
    closed = SettlementStatement.objects.filter(partner=partner, month=month).first()
    if closed is not None:
        lines = [
            Line(kind=i.kind, ref_id=i.ref_id, moved_at=i.moved_at, points=i.points, rate=i.rate, late=i.late)
            for i in closed.items.all()
        ]
        return Statement(partner=partner, month=month, currency=closed.currency, lines=lines, closed=closed)
    start_at, end_at = month_bounds(month)
    first_open = first_open_month(partner)
    if first_open is not None and month < first_open:
        # A month before the last closed one that was never closed on its own.
        return Statement(partner=partner, month=month, currency=currency, carried=True)
    if first_open is not None and month == first_open:
        # The first open month also takes whatever turned up for closed months after they closed.
        return Statement(partner=partner, month=month, currency=currency, lines=_lines(partner, None, end_at, start_at))
    return Statement(partner=partner, month=month, currency=currency, lines=_lines(partner, start_at, end_at, None))


STATEMENT_CSV_HEADER = ["kind", "ref_id", "moved_at", "points", "rate", "amount", "late"]


def statement_csv_rows(statement: Statement):
    for line in statement.lines:
        yield [
            line.kind,
            line.ref_id,
            timezone.localtime(line.moved_at).isoformat(timespec="seconds"),
            line.points,
            line.rate if line.rate is not None else "",
            line.amount.quantize(Decimal("0.000001")),
            "yes" if line.late else "",
        ]
    yield ["total", "points_issued", "", statement.points_issued, "", statement.amount_issued, ""]
    yield ["total", "points_clawed_back", "", statement.points_clawed_back, "", statement.amount_clawed_back, ""]
    yield ["total", "points_redeemed", "", statement.points_redeemed, "", statement.amount_redeemed, ""]
    yield ["total", f"net_{statement.currency}_partner_pays", "", "", "", statement.net_amount, ""]


@dataclass
class Summary:
    month: date
    statements: list[Statement]
    issued_by_partner: dict[int | None, int]

    @property
    def partner_issued(self) -> int:
        return sum(points for partner_id, points in self.issued_by_partner.items() if partner_id is not None)

    @property
    def operator_issued(self) -> int:
        return self.issued_by_partner.get(None, 0)

    @property
    def all_issued(self) -> int:
        return self.partner_issued + self.operator_issued

    @property
    def net_amount(self) -> Decimal:
        return sum((statement.net_amount for statement in self.statements), Decimal("0"))


RECONCILIATION_NOTE = _(
    "Points issued in the month by where they were issued, from the ledger: at partners + at the operator = all "
    "points issued (the liability report's “issued” for the same month)."
)


def summary_for(month: date) -> Summary:
    """Every partner's statement for ``month`` and the month's issued points by partner from the ledger."""
    month = month_start(month)
    start_at, end_at = month_bounds(month)
    partners = list(Partner.objects.order_by("sort_order", "name"))
    return Summary(
        month=month,
        statements=[statement_for(partner, month) for partner in partners],
        issued_by_partner=issued_points_by_partner(start_at=start_at, end_at=end_at),
    )
