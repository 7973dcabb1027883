"""Earning at the edges: the per-purchase cap, minimum spends, multipliers below 1 and stacked on one line."""

from decimal import Decimal

import pytest

from members.cache import program_cache_clear
from members.models import EarningRule, Member, ProgramSettings, Tier
from members.services.purchases import PurchaseLineInput, purchase_preview
from tests.factories import EarningRuleFactory, campaign_factory

from .conftest import buy, program_set

pytestmark = pytest.mark.django_db


def line(price, qty=1, sku="SKU", category=""):
    return PurchaseLineInput(sku=sku, quantity=qty, unit_price=Decimal(price), category=category)


def preview(member, lines):
    return purchase_preview(member=member, lines=lines, channel="in_store")


def tier_set(member, name):
    Member.objects.filter(pk=member.pk).update(tier=Tier.objects.get(name=name))
    member.refresh_from_db()


# --- the per-purchase cap ----------------------------------------------------------------------------------------


def test_a_basket_worth_exactly_the_cap_is_not_capped(program, member):
    program_set(max_points_per_purchase=100)
    result = buy(member, lines=[line("60", sku="A"), line("40", sku="B")])
    assert result.purchase.points_earned == 100
    assert result.earning.capped is False
    assert [step.kind for step in result.earning.steps] == ["spend"]


def test_a_basket_worth_the_cap_plus_one_earns_the_cap(program, member):
    program_set(max_points_per_purchase=100)
    result = buy(member, lines=[line("61", sku="A"), line("40", sku="B")])
    assert result.purchase.points_earned == 100
    assert result.earning.capped is True
    cap = result.earning.steps[-1]
    assert (cap.kind, cap.points) == ("cap", Decimal("-1"))
    assert dict(result.purchase.lines.values_list("sku", "points")) == {"A": 60, "B": 40}
    assert result.balance == 100


# --- minimum spend -----------------------------------------------------------------------------------------------


def test_a_spend_equal_to_the_rules_minimum_earns(program, member):
    EarningRuleFactory(kind=EarningRule.Kind.SPEND, rate=Decimal("2"), min_spend=Decimal("20.00"))
    assert preview(member, [line("19.99")]).base_points == 0
    assert preview(member, [line("20.00")]).base_points == 40
    assert preview(member, [line("10.00", sku="A"), line("10.00", sku="B")]).base_points == 40


def test_a_visit_equal_to_the_rules_minimum_spend_earns(program, member):
    EarningRuleFactory(kind=EarningRule.Kind.VISIT, rate=Decimal("15"), min_spend=Decimal("5.00"))
    assert preview(member, [line("4.99")]).base_points == 0
    assert preview(member, [line("5.00")]).base_points == 15
    result = preview(member, [line("3.00", sku="A"), line("2.00", sku="B")])
    assert (result.base_points, result.line_points) == (15, {1: 9, 2: 6})


# --- multipliers -------------------------------------------------------------------------------------------------


def test_a_category_multiplier_below_one_halves_the_lines_points(program, member):
    EarningRuleFactory(kind=EarningRule.Kind.CATEGORY_MULTIPLIER, category="sale", rate=Decimal("0.5"))
    result = buy(member, lines=[line("10", sku="CUP", category="sale"), line("10", sku="MUG")])
    assert dict(result.purchase.lines.values_list("sku", "points")) == {"CUP": 5, "MUG": 10}
    assert result.purchase.points_earned == 15
    step = result.earning.steps[-1]
    assert (step.kind, step.points, step.line_numbers) == ("category_multiplier", Decimal("-5.0"), (1,))


def test_a_tier_multiplier_below_one_lowers_the_points(program, member):
    Tier.objects.filter(name="Bronze").update(earn_multiplier=Decimal("0.5"))
    program_cache_clear()  # tiers are cached
    result = preview(member, [line("10")])
    assert result.base_points == 5
    assert result.steps[-1].kind == "tier_multiplier"
    assert result.steps[-1].points == Decimal("-5.0")


@pytest.mark.parametrize(
    ("rounding", "points"),
    [(ProgramSettings.Rounding.DOWN, 1), (ProgramSettings.Rounding.NEAREST, 2), (ProgramSettings.Rounding.UP, 2)],
)
def test_the_top_tiers_multiplier_on_a_line_worth_one_point(program, member, rounding, points):
    program_set(rounding=rounding)
    tier_set(member, "Gold")  # × 1.5: one point becomes 1.5
    result = buy(member, lines=[line("1.00")])
    assert result.purchase.points_earned == points
    assert result.purchase.lines.get().points == points


def test_nearest_rounding_rounds_a_half_up_and_below_a_half_down(program, member):
    program_set(rounding=ProgramSettings.Rounding.NEAREST)
    tier_set(member, "Gold")
    assert preview(member, [line("3.00")]).base_points == 5  # 4.5
    assert preview(member, [line("2.99")]).base_points == 4  # 4.485
    program_set(rounding=ProgramSettings.Rounding.UP)
    assert preview(member, [line("2.00")]).base_points == 3  # exactly 3.0 stays 3


def test_category_and_product_multipliers_on_the_same_line_multiply(program, member):
    EarningRuleFactory(kind=EarningRule.Kind.CATEGORY_MULTIPLIER, category="coffee", rate=Decimal("2"))
    EarningRuleFactory(kind=EarningRule.Kind.PRODUCT_MULTIPLIER, sku="BEANS", rate=Decimal("3"))
    result = buy(
        member,
        lines=[line("10", sku="BEANS", category="coffee"), line("10", sku="BEANS"), line("10", sku="CUP")],
    )
    # 10 × 2 × 3 on the first line, not 10 + 10 + 20.
    assert [line.points for line in result.purchase.lines.order_by("line_number")] == [60, 30, 10]
    assert result.purchase.points_earned == 100
    kinds = [(step.kind, step.points, step.line_numbers) for step in result.earning.steps]
    assert kinds == [
        ("spend", Decimal("30"), (1, 2, 3)),
        ("category_multiplier", Decimal("10"), (1,)),
        ("product_multiplier", Decimal("60"), (1, 2)),  # line 1: 20 → 60, line 2: 10 → 30
    ]


def test_stacked_multipliers_and_the_tier_multiplier_on_one_line(program, member):
    EarningRuleFactory(kind=EarningRule.Kind.CATEGORY_MULTIPLIER, category="coffee", rate=Decimal("2"))
    EarningRuleFactory(kind=EarningRule.Kind.PRODUCT_MULTIPLIER, sku="BEANS", rate=Decimal("0.5"))
    tier_set(member, "Silver")  # × 1.25
    result = preview(member, [line("10", sku="BEANS", category="coffee"), line("4", sku="TEA")])
    # (10 × 2 × 0.5 + 4) × 1.25 = 17.5, rounded down.
    assert result.base_points == 17
    assert result.line_points == {1: 12, 2: 5}


def test_a_spend_rule_defined_after_a_multiplier_still_runs_before_it(program, member):
    EarningRuleFactory(kind=EarningRule.Kind.CATEGORY_MULTIPLIER, category="coffee", rate=Decimal("2"))
    EarningRuleFactory(kind=EarningRule.Kind.SPEND, rate=Decimal("1"))  # a later id, and the same priority
    result = preview(member, [line("10", sku="CUP", category="coffee")])
    assert result.base_points == 20
    assert [step.kind for step in result.steps] == ["spend", "category_multiplier"]


def test_a_visit_bonus_is_shared_over_lines_under_one_euro_too(program, member):
    EarningRuleFactory(kind=EarningRule.Kind.VISIT, rate=Decimal("20"))
    result = preview(member, [line("0.50", sku="A"), line("9.50", sku="B"), line("0.00", sku="FREE")])
    # 20 × 0.50 / 10.00 = 1 and 20 × 9.50 / 10.00 = 19; the free line has no share.
    assert (result.base_points, result.line_points) == (20, {1: 1, 2: 19, 3: 0})
    assert result.steps[-1].line_numbers == (1, 2)


def test_total_points_are_the_base_and_the_bonus(program, member):
    campaign_factory(multiplier=Decimal("3"))
    result = preview(member, [line("10")])
    assert (result.base_points, result.bonus_points, result.total_points) == (10, 20, 30)


def test_a_one_point_bonus_is_posted(program, member):
    campaign_factory(multiplier=Decimal("2"))
    result = buy(member, lines=[line("1.00")])
    assert (result.purchase.points_earned, result.purchase.points_bonus) == (1, 1)
    assert [(entry.kind, entry.points) for entry in result.entries] == [("earn", 1), ("bonus", 1)]
