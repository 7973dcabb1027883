"""Rules staff write: points per unit bought, rule order and "stop further rules", and their validation."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from members.models import EarningRule, ProgramSettings
from members.services.purchases import PurchaseLineInput, purchase_preview
from tests.factories import EarningRuleFactory, SuperUserFactory
from tests.members.conftest import assert_consistent, buy

pytestmark = pytest.mark.django_db
Kind = EarningRule.Kind


def line(price, qty=1, sku="SKU", category=""):
    return PurchaseLineInput(sku=sku, quantity=qty, unit_price=Decimal(price), category=category)


def points_by_sku(result):
    return dict(result.purchase.lines.values_list("sku", "points"))


def preview(lines):
    return purchase_preview(member=None, lines=lines, channel="in_store", store="", occurred_at=None, currency="EUR")


# --- points per unit bought --------------------------------------------------------------------------------------


def test_points_per_unit_of_a_category_whatever_the_price(program, member):
    EarningRuleFactory(name="50 per bottle", kind=Kind.PER_UNIT, category="wine", rate=Decimal("50"))
    result = buy(member, lines=[line("8.99", qty=3, sku="RED", category="wine"), line("30", sku="CHEESE")])
    # A per-unit rule is a base rule: without a spend rule beside it the base rate no longer applies.
    assert points_by_sku(result) == {"RED": 150, "CHEESE": 0}
    assert result.purchase.points_earned == 150
    assert_consistent(member)


def test_points_per_unit_of_a_product_beside_points_per_euro(program, member):
    EarningRuleFactory(name="Per euro", kind=Kind.SPEND, rate=Decimal("1"))
    EarningRuleFactory(name="1 per bag", kind=Kind.PER_UNIT, sku="BEANS", rate=Decimal("1"))
    result = buy(member, lines=[line("12.00", qty=2, sku="BEANS"), line("5.00", sku="MUG")])
    assert points_by_sku(result) == {"BEANS": 24 + 2, "MUG": 5}


def test_a_free_unit_earns_nothing_per_unit(program, member):
    EarningRuleFactory(kind=Kind.PER_UNIT, category="wine", rate=Decimal("50"))
    assert buy(member, lines=[line("0.00", qty=2, sku="SAMPLE", category="wine")]).purchase.points_earned == 0


def test_per_unit_points_are_multiplied_and_respect_exclusions_channel_and_min_spend(program, member):
    EarningRuleFactory(kind=Kind.EXCLUDE_CATEGORY, category="gift_card")
    EarningRuleFactory(kind=Kind.PER_UNIT, category="gift_card", rate=Decimal("10"))
    EarningRuleFactory(kind=Kind.PER_UNIT, category="wine", rate=Decimal("5"), min_spend=Decimal("20"))
    EarningRuleFactory(kind=Kind.PER_UNIT, category="wine", rate=Decimal("7"), channel="online")
    EarningRuleFactory(kind=Kind.CATEGORY_MULTIPLIER, category="wine", rate=Decimal("2"))
    small = buy(member, lines=[line("9.00", qty=2, sku="RED", category="wine")])
    assert small.purchase.points_earned == 0  # 18.00 is under the 20.00 minimum; the online rule is not in store
    big = buy(
        member, lines=[line("9.00", qty=3, sku="RED", category="wine"), line("25", sku="G", category="gift_card")]
    )
    assert points_by_sku(big) == {"RED": 3 * 5 * 2, "G": 0}


# --- order and stop further rules -------------------------------------------------------------------------------


def test_a_rule_that_stops_further_rules_keeps_its_lines_from_later_base_rules_and_multipliers(program, member):
    EarningRuleFactory(name="Per euro", kind=Kind.SPEND, rate=Decimal("1"), priority=100)
    EarningRuleFactory(
        name="Wine per bottle", kind=Kind.PER_UNIT, category="wine", rate=Decimal("50"), priority=10,
        stop_further_rules=True,
    )  # fmt: skip
    EarningRuleFactory(name="Double wine", kind=Kind.CATEGORY_MULTIPLIER, category="wine", rate=Decimal("2"))
    EarningRuleFactory(name="Double cheese", kind=Kind.CATEGORY_MULTIPLIER, category="cheese", rate=Decimal("2"))
    result = buy(
        member, lines=[line("20.00", qty=2, sku="RED", category="wine"), line("6", sku="BRIE", category="cheese")]
    )
    assert points_by_sku(result) == {"RED": 100, "BRIE": 12}


def test_without_stop_every_matching_rule_applies(program, member):
    EarningRuleFactory(name="Per euro", kind=Kind.SPEND, rate=Decimal("1"), priority=100)
    EarningRuleFactory(name="Wine per bottle", kind=Kind.PER_UNIT, category="wine", rate=Decimal("50"), priority=10)
    EarningRuleFactory(name="Double wine", kind=Kind.CATEGORY_MULTIPLIER, category="wine", rate=Decimal("2"))
    result = buy(member, lines=[line("20.00", qty=2, sku="RED", category="wine")])
    assert points_by_sku(result) == {"RED": (100 + 40) * 2}


def test_priority_decides_which_of_two_stopping_multipliers_applies(program, member):
    product = EarningRuleFactory(
        name="Triple beans", kind=Kind.PRODUCT_MULTIPLIER, sku="BEANS", rate=Decimal("3"), priority=20,
        stop_further_rules=True,
    )  # fmt: skip
    category = EarningRuleFactory(
        name="Double coffee", kind=Kind.CATEGORY_MULTIPLIER, category="coffee", rate=Decimal("2"), priority=10,
        stop_further_rules=True,
    )  # fmt: skip
    beans = [line("10", sku="BEANS", category="coffee"), line("10", sku="CUP", category="coffee")]
    assert points_by_sku(buy(member, lines=beans)) == {"BEANS": 20, "CUP": 20}  # the category rule runs first
    product.priority, category.priority = 5, 10
    product.save()
    category.save()
    assert points_by_sku(buy(member, lines=beans)) == {"BEANS": 30, "CUP": 20}


def test_equal_priorities_run_oldest_first(program, member):
    EarningRuleFactory(name="Older", kind=Kind.SPEND, category="tea", rate=Decimal("3"), stop_further_rules=True)
    EarningRuleFactory(name="Newer", kind=Kind.SPEND, category="tea", rate=Decimal("5"), stop_further_rules=True)
    assert buy(member, lines=[line("10", category="tea")]).purchase.points_earned == 30


def test_the_preview_lists_each_rule_with_its_priority_and_whether_it_stopped_the_rest(program):
    EarningRuleFactory(name="No gift cards", kind=Kind.EXCLUDE_CATEGORY, category="gift_card", priority=1)
    EarningRuleFactory(name="Per euro", kind=Kind.SPEND, rate=Decimal("1"), priority=100)
    EarningRuleFactory(
        name="Wine per bottle", kind=Kind.PER_UNIT, category="wine", rate=Decimal("50"), priority=10,
        stop_further_rules=True,
    )  # fmt: skip
    result = preview(
        [line("20", qty=2, sku="RED", category="wine"), line("5", sku="BREAD"), line("25", category="gift_card")]
    )
    steps = [(step.rule, step.priority, step.stops_further_rules, step.line_numbers) for step in result.steps]
    assert steps == [
        ("No gift cards", 1, False, (3,)),
        ("Wine per bottle", 10, True, (1,)),
        ("Per euro", 100, False, (2,)),
    ]
    assert result.steps[1].points == 100
    assert result.steps[1].detail == "50 point(s) per unit bought; later rules skip these lines"
    assert result.steps[2].detail == "1 point(s) per EUR 1"
    assert result.line_points == {1: 100, 2: 5, 3: 0}


# --- validation staff see --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": Kind.PER_UNIT}, "category"),
        ({"kind": Kind.PRODUCT_MULTIPLIER}, "sku"),
        ({"kind": Kind.CATEGORY_MULTIPLIER}, "category"),
        ({"kind": Kind.EXCLUDE_CATEGORY, "category": "gift_card", "stop_further_rules": True}, "stop_further_rules"),
        ({"kind": Kind.CASHBACK, "rate": Decimal("150")}, "rate"),
    ],
)
def test_rules_that_cannot_mean_anything_are_refused_with_a_field_message(fields, field):
    rule = EarningRule(name="Rule", **fields)
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert field in error.value.message_dict


def test_sensible_rules_pass_validation():
    for rule in [
        EarningRule(name="Per bottle", kind=Kind.PER_UNIT, category="wine", rate=Decimal("50")),
        EarningRule(name="Per bag", kind=Kind.PER_UNIT, sku="BEANS", rate=Decimal("1"), stop_further_rules=True),
        EarningRule(name="No partner points", kind=Kind.SPEND, channel="partner", rate=Decimal("0")),
    ]:
        rule.full_clean()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"expiry_unit": "days", "expiry_days": 0}, "expiry_days"),
        ({"expiry_unit": "months", "expiry_months": 0}, "expiry_months"),
        ({"expiry_unit": "days", "expiry_days": 5000}, "expiry_days"),
    ],
)
def test_an_expiry_period_of_nothing_is_refused(fields, field):
    program = ProgramSettings(expiry_policy=ProgramSettings.ExpiryPolicy.FIXED, **fields)
    with pytest.raises(ValidationError) as error:
        program.full_clean()
    assert field in error.value.message_dict


def test_staff_edit_a_per_unit_rule_with_stop_in_the_admin_and_see_field_errors(client):
    client.force_login(SuperUserFactory())
    url = reverse("admin:members_earningrule_add")
    data = {"name": "Wine per bottle", "kind": "per_unit", "is_active": "on", "rate": "50", "category": "", "sku": "",
            "channel": "", "min_spend": "0", "priority": "10", "stop_further_rules": "on"}  # fmt: skip
    refused = client.post(url, data)
    assert refused.status_code == 200 and "category" in refused.context["adminform"].form.errors
    assert not EarningRule.objects.exists()
    saved = client.post(url, {**data, "category": "wine"})
    assert saved.status_code == 302
    rule = EarningRule.objects.get()
    assert (rule.kind, rule.category, rule.priority, rule.stop_further_rules) == ("per_unit", "wine", 10, True)
    listing = client.get(reverse("admin:members_earningrule_changelist"))
    assert listing.status_code == 200 and b"2 \xc2\xb7 base" in listing.content
