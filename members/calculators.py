"""The earning engine: pure calculation, no writes.

A basket goes through the program's active earning rules in a fixed order, each a strategy class chosen by
``EarningRule.kind``:

1. exclusions (gift cards, shipping, tax…) take lines out of earning;
2. base strategies add points per line: spend-based, visit-based, cash-back (without any active base rule the
   program's ``base_rate`` applies as a spend rule);
3. category and product multipliers scale the lines they match;
4. the member's tier multiplier scales everything;
5. rounding (the program's rule) turns the total into whole points, shared out over the lines by largest
   remainder, and the per-purchase cap applies;
6. earning providers registered by other apps (campaigns) add bonus awards on top.

Between 1 and 2 the basket becomes what was paid in money: order-level discounts are shared over the lines that
still earn, and the part paid with points over every line (:func:`share_cents`). From there on a line's
``amount`` is its net amount, so every rule and campaign earns on what was really paid.

Every step is recorded, so the same result powers recording a purchase and the "what would this basket earn"
preview, line by line.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from . import hooks
from .models import EarningRule, ProgramSettings, Tier

ZERO = Decimal("0")
HUNDRED = Decimal("100")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class BasketLine:
    line_number: int
    sku: str
    category: str
    quantity: int
    unit_price: Decimal
    #: Discounts on this line: its own line-level ones, then (set by :func:`calculate`) its share of the order's.
    discount: Decimal = ZERO
    #: Its share of what was paid with points (set by :func:`calculate`).
    paid_with_points: Decimal = ZERO

    @property
    def gross_amount(self) -> Decimal:
        return self.unit_price * self.quantity

    @property
    def amount(self) -> Decimal:
        """What was paid for the line in money: the amount that earns."""
        return self.gross_amount - self.discount - self.paid_with_points


@dataclass(frozen=True)
class Basket:
    """What the engine needs to know about a purchase (recorded or only previewed)."""

    lines: tuple[BasketLine, ...]
    channel: str
    store: str
    occurred_at: datetime
    currency: str
    member: object | None = None  # members.models.Member, None for an anonymous preview
    tier: Tier | None = None
    #: Facts about the member's history that campaign rules need (purchase counts, channels used…),
    #: filled in by the service so providers do not query per line.
    context: Mapping = field(default_factory=dict)
    #: Order-level discounts (codes, vouchers, staff discounts), not yet shared over the lines.
    order_discount: Decimal = ZERO
    #: What the member paid with points (point payments), not yet shared over the lines.
    points_paid_amount: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)


@dataclass
class Step:
    """One rule as it applied to the basket, in order; what the preview shows."""

    rule: str
    kind: str
    points: Decimal
    detail: str = ""
    line_numbers: tuple[int, ...] = ()
    campaign_id: int | None = None


@dataclass(frozen=True)
class Award:
    """Bonus points from an earning provider (a campaign), posted as its own ledger entry."""

    points: int
    label: str
    source: object | None = None  # the campaign model instance, for the entry's source
    key: str = ""  # stable part of the idempotency key, e.g. "campaign:12"
    line_points: dict[int, int] = field(default_factory=dict)
    detail: str = ""


@dataclass
class EarningResult:
    base_points: int
    line_points: dict[int, int]
    eligible_amount: Decimal
    steps: list[Step]
    awards: list[Award] = field(default_factory=list)
    capped: bool = False
    #: Each line's discounts (its own and its share of the order's) and its share of the points payment.
    line_discounts: dict[int, Decimal] = field(default_factory=dict)
    line_points_paid: dict[int, Decimal] = field(default_factory=dict)

    @property
    def bonus_points(self) -> int:
        return sum(award.points for award in self.awards)

    @property
    def total_points(self) -> int:
        return self.base_points + self.bonus_points


@dataclass
class _Working:
    """Mutable state while rules run: unrounded points per line and which lines still earn."""

    points: dict[int, Decimal]
    excluded: set[int]
    steps: list[Step]


class Calculator(ABC):
    """A strategy for one ``EarningRule.kind``."""

    stage: int = 0

    def __init__(self, rule: EarningRule, program: ProgramSettings):
        self.rule = rule
        self.program = program

    def matches(self, basket: Basket, line: BasketLine) -> bool:
        rule = self.rule
        if rule.channel and rule.channel != basket.channel:
            return False
        if rule.category and rule.category != line.category:
            return False
        return not (rule.sku and rule.sku != line.sku)

    @abstractmethod
    def apply(self, basket: Basket, working: _Working) -> None: ...


class ExcludeCategory(Calculator):
    stage = 1

    def apply(self, basket, working):
        hit = tuple(
            line.line_number
            for line in basket.lines
            if line.category and line.category == self.rule.category and line.line_number not in working.excluded
        )
        if hit:
            working.excluded.update(hit)
            working.steps.append(
                Step(self.rule.name, self.rule.kind, ZERO, f"{self.rule.category} earns no points", hit)
            )


class SpendBased(Calculator):
    stage = 2

    def line_points(self, line: BasketLine) -> Decimal:
        return line.amount * self.rule.rate

    def apply(self, basket, working):
        if basket.total < self.rule.min_spend:
            return
        total, hit = ZERO, []
        for line in basket.lines:
            if line.line_number in working.excluded or not self.matches(basket, line):
                continue
            points = self.line_points(line)
            working.points[line.line_number] += points
            total += points
            hit.append(line.line_number)
        if hit:
            working.steps.append(Step(self.rule.name, self.rule.kind, total, self.describe(), tuple(hit)))

    def describe(self) -> str:
        return f"{self.rule.rate.normalize()} point(s) per {self.program.currency} 1"


class CashBack(SpendBased):
    """A percentage of the spend back, as points worth that much at the program's point value."""

    def line_points(self, line):
        if not self.program.point_value:
            return ZERO
        return line.amount * self.rule.rate / HUNDRED / self.program.point_value

    def describe(self):
        return f"{self.rule.rate.normalize()}% back as points"


class VisitBased(Calculator):
    """A flat number of points per qualifying visit, spread over the eligible lines by amount."""

    stage = 2

    def apply(self, basket, working):
        eligible = [
            line
            for line in basket.lines
            if line.line_number not in working.excluded and self.matches(basket, line) and line.amount > 0
        ]
        amount = sum((line.amount for line in eligible), ZERO)
        if not eligible or amount < self.rule.min_spend:
            return
        for line in eligible:
            working.points[line.line_number] += self.rule.rate * line.amount / amount
        working.steps.append(
            Step(
                self.rule.name,
                self.rule.kind,
                self.rule.rate,
                f"{self.rule.rate.normalize()} points per visit",
                tuple(line.line_number for line in eligible),
            )
        )


class Multiplier(Calculator):
    stage = 3

    def apply(self, basket, working):
        added, hit = ZERO, []
        for line in basket.lines:
            if line.line_number in working.excluded or not self.matches(basket, line):
                continue
            before = working.points[line.line_number]
            working.points[line.line_number] = before * self.rule.rate
            added += working.points[line.line_number] - before
            hit.append(line.line_number)
        if hit:
            working.steps.append(
                Step(self.rule.name, self.rule.kind, added, f"× {self.rule.rate.normalize()}", tuple(hit))
            )


CALCULATORS: dict[str, type[Calculator]] = {
    EarningRule.Kind.EXCLUDE_CATEGORY: ExcludeCategory,
    EarningRule.Kind.SPEND: SpendBased,
    EarningRule.Kind.CASHBACK: CashBack,
    EarningRule.Kind.VISIT: VisitBased,
    EarningRule.Kind.CATEGORY_MULTIPLIER: Multiplier,
    EarningRule.Kind.PRODUCT_MULTIPLIER: Multiplier,
}
BASE_KINDS = {EarningRule.Kind.SPEND, EarningRule.Kind.CASHBACK, EarningRule.Kind.VISIT}

_ROUNDING = {
    ProgramSettings.Rounding.DOWN: ROUND_FLOOR,
    ProgramSettings.Rounding.NEAREST: ROUND_HALF_UP,
    ProgramSettings.Rounding.UP: ROUND_CEILING,
}


def round_points(value: Decimal, rounding: str) -> int:
    return int(value.quantize(Decimal("1"), rounding=_ROUNDING[rounding]))


def distribute(total: int, weights: dict[int, Decimal]) -> dict[int, int]:
    """Share ``total`` whole points over lines in proportion to ``weights`` (largest remainder), summing exactly."""
    weight_sum = sum(weights.values(), ZERO)
    if total == 0 or weight_sum <= 0:
        return dict.fromkeys(weights, 0)
    shares = {key: Decimal(total) * weight / weight_sum for key, weight in weights.items()}
    result = {key: int(share) for key, share in shares.items()}
    leftover = total - sum(result.values())
    for key in sorted(shares, key=lambda k: (shares[k] - result[k], -k), reverse=True)[:leftover]:
        result[key] += 1
    return result


def share_cents(amount: Decimal, weights: Mapping[int, Decimal]) -> dict[int, Decimal]:
    """Split ``amount`` over the keys in proportion to ``weights`` (line amounts), in whole cents.

    Each share is rounded down to the cent and is never more than its weight (a line is never discounted below
    zero); the cents left over go to the line with the largest weight (ties: the lowest line number), and on to the
    next largest only when that line has no room left. The shares always add up to exactly ``amount``, or to the
    sum of the weights when ``amount`` is larger.
    """
    shares = dict.fromkeys(weights, ZERO)
    weight_sum = sum((weight for weight in weights.values() if weight > 0), ZERO)
    if amount <= 0 or weight_sum <= 0:
        return shares
    amount = min(amount, weight_sum)
    for key, weight in weights.items():
        if weight > 0:
            shares[key] = (amount * weight / weight_sum).quantize(CENT, rounding=ROUND_FLOOR)
    left = amount - sum(shares.values(), ZERO)
    for key in sorted(weights, key=lambda k: (-weights[k], k)):
        if left <= 0:
            break
        take = min(max(weights[key] - shares[key], ZERO), left)
        shares[key] += take
        left -= take
    return shares


def net_basket(basket: Basket, excluded: set[int]) -> Basket:
    """``basket`` with its order-level discounts and points payment shared over the lines.

    Order-level discounts go to the lines that earn (not ``excluded``), pro rata to what is left of each after its
    own line discounts; only what they cannot absorb goes to the excluded lines. The points payment is a means of
    payment, not a discount: it is shared over every line, pro rata to each line's amount after discounts.
    """
    if not basket.order_discount and not basket.points_paid_amount:
        return basket
    after_line = {line.line_number: line.gross_amount - line.discount for line in basket.lines}
    earning = {number: amount for number, amount in after_line.items() if number not in excluded}
    order_shares = share_cents(basket.order_discount, earning)
    spill = basket.order_discount - sum(order_shares.values(), ZERO)
    if spill > 0:
        rest = {number: amount for number, amount in after_line.items() if number in excluded}
        order_shares.update(share_cents(spill, rest))
    after_discounts = {number: amount - order_shares.get(number, ZERO) for number, amount in after_line.items()}
    point_shares = share_cents(basket.points_paid_amount, after_discounts)
    lines = tuple(
        replace(
            line,
            discount=line.discount + order_shares.get(line.line_number, ZERO),
            paid_with_points=point_shares[line.line_number],
        )
        for line in basket.lines
    )
    return replace(basket, lines=lines, order_discount=ZERO, points_paid_amount=ZERO)


def _net_steps(basket: Basket, net: Basket) -> list[Step]:
    """What the preview says about discounts and points paid: they earn nothing, on these lines."""
    steps = []
    discounted = tuple(line.line_number for line in net.lines if line.discount)
    if discounted:
        total = sum((line.discount for line in net.lines), ZERO)
        steps.append(
            Step("Discounts", "discount", ZERO, f"{basket.currency} {total:.2f} off earns no points", discounted)
        )
    paid = tuple(line.line_number for line in net.lines if line.paid_with_points)
    if paid:
        total = sum((line.paid_with_points for line in net.lines), ZERO)
        steps.append(
            Step("Paid with points", "points_payment", ZERO, f"{basket.currency} {total:.2f} earns no points", paid)
        )
    return steps


def calculate(
    *,
    basket: Basket,
    program: ProgramSettings,
    rules: list[EarningRule],
    now: datetime,
    with_bonuses: bool = True,
) -> EarningResult:
    """What ``basket`` earns under ``rules`` (active earning rules, any order) and the registered providers."""
    working = _Working(points={line.line_number: ZERO for line in basket.lines}, excluded=set(), steps=[])
    active = [rule for rule in rules if rule.is_active]
    if not any(rule.kind in BASE_KINDS for rule in active):
        active.append(EarningRule(name="Base rate", kind=EarningRule.Kind.SPEND, rate=program.base_rate, priority=0))
    strategies = sorted(
        (CALCULATORS[rule.kind](rule, program) for rule in active),
        key=lambda calc: (calc.stage, calc.rule.priority, calc.rule.pk or 0),
    )
    netted = False
    for strategy in strategies:
        if not netted and strategy.stage > ExcludeCategory.stage:
            # The exclusions are known: share discounts and the points payment out before anything earns.
            net = net_basket(basket, working.excluded)
            working.steps.extend(_net_steps(basket, net))
            basket, netted = net, True
        strategy.apply(basket, working)
    if not netted:
        basket = net_basket(basket, working.excluded)

    multiplier = basket.tier.earn_multiplier if basket.tier else Decimal("1")
    if multiplier != 1:
        before = sum(working.points.values(), ZERO)
        working.points = {key: value * multiplier for key, value in working.points.items()}
        working.steps.append(
            Step(
                f"{basket.tier.name} tier", "tier_multiplier", before * (multiplier - 1), f"× {multiplier.normalize()}"
            )
        )

    unrounded = sum(working.points.values(), ZERO)
    total = max(round_points(unrounded, program.rounding), 0)
    capped = False
    if program.max_points_per_purchase is not None and total > program.max_points_per_purchase:
        working.steps.append(
            Step("Per-purchase cap", "cap", Decimal(program.max_points_per_purchase - total), "points capped")
        )
        total, capped = program.max_points_per_purchase, True
    line_points = distribute(total, working.points)
    eligible_amount = sum((line.amount for line in basket.lines if line.line_number not in working.excluded), ZERO)
    result = EarningResult(
        base_points=total,
        line_points=line_points,
        eligible_amount=eligible_amount,
        steps=working.steps,
        capped=capped,
        line_discounts={line.line_number: line.discount for line in basket.lines},
        line_points_paid={line.line_number: line.paid_with_points for line in basket.lines},
    )
    if with_bonuses:
        for provider in hooks.earning_providers:
            for award in provider(basket, result, now):
                if award.points > 0:
                    result.awards.append(award)
                    result.steps.append(
                        Step(
                            award.label,
                            "bonus",
                            Decimal(award.points),
                            award.detail,
                            tuple(award.line_points),
                            getattr(award.source, "pk", None),
                        )
                    )
    return result
