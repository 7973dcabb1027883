"""IFRS 15 / ASC 606 arithmetic for loyalty points as a customer option (material right). Pure: no database.

The method, step by step (IFRS 15.B39–B43, Illustrative Example 22, IE267–IE270):

1. **Stand-alone selling price of the points** = points × redemption value of one point × expected redemption
   rate (:func:`points_standalone_price`). The goods' stand-alone selling price is what they were sold for.
2. **Allocation by relative stand-alone selling prices**: the transaction price is split in the ratio of the two
   stand-alone prices (:func:`allocate_by_ssp`). The points' share is rounded to ``quantum`` (half up); the goods
   take the remainder, so the two shares always add up to the price exactly.
3. **Revenue for points is recognised as points are redeemed**: cumulative revenue = cumulative points redeemed ÷
   points expected to be redeemed × cumulative amount allocated to points, capped at the amount allocated
   (:func:`cumulative_revenue`, rounded to ``quantum`` half up). A period's revenue is the cumulative figure at its
   end less the one at its start, so a change of the estimate is a cumulative catch-up in the period it is made,
   and opening liability + allocated − recognised = closing liability holds to the cent by construction
   (:func:`period_schedule`).

Every amount is a :class:`~decimal.Decimal`; points are integers. Rounding happens only at the three places named
above, to ``quantum`` (the report uses the cent, ``Decimal("0.01")``; the standard's example rounds to the unit).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
UNIT = Decimal("1")
ZERO = Decimal("0")


def _round(amount: Decimal, quantum: Decimal) -> Decimal:
    return amount.quantize(quantum, rounding=ROUND_HALF_UP)


def points_standalone_price(*, points: int, point_value: Decimal, redemption_rate: Decimal) -> Decimal:
    """What the points would sell for on their own: points × value of a point × expected redemption rate.
    Not rounded (it only enters a ratio)."""
    if not ZERO <= redemption_rate <= 1:
        raise ValueError("The expected redemption rate must be between 0 and 1.")
    return Decimal(points) * point_value * redemption_rate


@dataclass(frozen=True)
class Allocation:
    goods: Decimal
    points: Decimal


def allocate_by_ssp(*, price: Decimal, goods_ssp: Decimal, points_ssp: Decimal, quantum: Decimal = CENT) -> Allocation:
    """Split ``price`` between goods and points in the ratio of their stand-alone selling prices.

    points = price × points_ssp ÷ (goods_ssp + points_ssp), rounded half up to ``quantum``; goods = price − points.
    Both stand-alone prices zero: nothing to allocate to points. A negative figure (a period where refunds and
    clawbacks outweigh sales) is allocated by the same ratio when both sides have the same sign; with opposite
    signs no meaningful ratio exists and the points are taken at their stand-alone price, capped at the price.
    """
    total_ssp = goods_ssp + points_ssp
    if total_ssp == 0 or points_ssp == 0:
        return Allocation(goods=price, points=_round(ZERO, quantum))
    if (goods_ssp >= 0) == (points_ssp >= 0):
        points = _round(price * points_ssp / total_ssp, quantum)
    else:
        points = _round(points_ssp if abs(points_ssp) <= abs(price) else price, quantum)
    return Allocation(goods=price - points, points=points)


def cumulative_revenue(*, allocated: Decimal, redeemed: int, expected: Decimal, quantum: Decimal = CENT) -> Decimal:
    """Revenue recognised to date for points: redeemed ÷ expected × allocated, rounded half up to ``quantum``.

    The fraction is capped at 1 (more redeemed than expected: everything allocated has been earned) and at 0;
    with nothing expected to be redeemed, nothing is recognised through redemptions.
    """
    if expected <= 0 or redeemed <= 0:
        return _round(ZERO, quantum)
    fraction = min(Decimal(redeemed) / expected, Decimal(1))
    return _round(allocated * fraction, quantum)


@dataclass(frozen=True)
class PoolState:
    """The points pool at one moment, cumulative since the program began (or since its opening balance).

    ``allocated``: amount allocated to points to date; ``issued``: points issued to date; ``redeemed``: points
    redeemed to date (net of cancellations); ``redemption_rate``: the estimate in force; ``recognised``: revenue
    recognised to date, as :func:`cumulative_revenue` computed it with that estimate.
    """

    allocated: Decimal
    issued: int
    redeemed: int
    redemption_rate: Decimal
    recognised: Decimal

    @property
    def expected(self) -> Decimal:
        """Points expected to be redeemed: issued × expected redemption rate (not rounded: a ratio's divisor)."""
        return Decimal(self.issued) * self.redemption_rate

    @property
    def liability(self) -> Decimal:
        """Contract liability: allocated to date less recognised to date."""
        return self.allocated - self.recognised


def pool_state(
    *, allocated: Decimal, issued: int, redeemed: int, redemption_rate: Decimal, quantum: Decimal = CENT
) -> PoolState:
    """The pool with its cumulative revenue worked out under ``redemption_rate``."""
    recognised = cumulative_revenue(
        allocated=allocated, redeemed=redeemed, expected=Decimal(issued) * redemption_rate, quantum=quantum
    )
    return PoolState(
        allocated=allocated,
        issued=issued,
        redeemed=redeemed,
        redemption_rate=redemption_rate,
        recognised=recognised,
    )


@dataclass(frozen=True)
class Schedule:
    """One period's movement schedule, in currency and in pool points."""

    opening: PoolState
    closing: PoolState

    @property
    def allocated(self) -> Decimal:
        return self.closing.allocated - self.opening.allocated

    @property
    def recognised(self) -> Decimal:
        """Revenue recognised in the period, including any cumulative catch-up from a changed estimate."""
        return self.closing.recognised - self.opening.recognised

    @property
    def points_issued(self) -> int:
        return self.closing.issued - self.opening.issued

    @property
    def points_redeemed(self) -> int:
        return self.closing.redeemed - self.opening.redeemed

    @property
    def reconciles(self) -> bool:
        return self.opening.liability + self.allocated - self.recognised == self.closing.liability


def period_schedule(*, opening: PoolState, closing: PoolState) -> Schedule:
    return Schedule(opening=opening, closing=closing)
