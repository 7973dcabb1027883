"""The terms page states the program's real rules: what earns, exclusions, expiry, return window, tiers."""

import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse

from members.models import EarningRule, ProgramSettings
from tests.factories import EarningRuleFactory
from tests.members.conftest import program_set

pytestmark = pytest.mark.django_db
Kind = EarningRule.Kind


def terms_text(client):
    response = client.get(reverse("terms"))
    assert response.status_code == 200
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_terms_list_the_active_rules_in_the_order_they_run_and_the_exclusions(client):
    program_set(rounding=ProgramSettings.Rounding.NEAREST, max_points_per_purchase=5000)
    EarningRuleFactory(name="Per euro", kind=Kind.SPEND, rate=Decimal("2"), priority=100)
    EarningRuleFactory(
        name="Wine", kind=Kind.PER_UNIT, category="wine", rate=Decimal("50"), priority=10, stop_further_rules=True
    )
    EarningRuleFactory(name="Double coffee", kind=Kind.CATEGORY_MULTIPLIER, category="coffee", rate=Decimal("2"))
    EarningRuleFactory(name="Web bonus", kind=Kind.CASHBACK, rate=Decimal("3"), channel="online", priority=120)
    EarningRuleFactory(kind=Kind.EXCLUDE_CATEGORY, category="gift_card")
    EarningRuleFactory(kind=Kind.EXCLUDE_CATEGORY, category="shipping")
    EarningRuleFactory(name="Retired", kind=Kind.SPEND, rate=Decimal("9"), is_active=False)
    text = terms_text(client)
    assert "Wine : 50 point(s) per unit bought on wine; no rule listed after this one adds to those items" in text
    assert "Per euro : 2 point(s) per EUR 1 spent" in text
    assert "Web bonus : 3% of what you spend back as points (online)" in text
    assert "Double coffee : ×2 the points on coffee" in text
    assert text.index("Wine :") < text.index("Per euro :") < text.index("Web bonus :") < text.index("Double coffee")
    assert "These earn no points: gift card, shipping." in text
    assert "Retired" not in text and "9 point(s)" not in text
    assert "rounded to the nearest point" in text and "at most 5000 points" in text


def test_without_rules_the_terms_state_the_base_rate(client):
    program_set(base_rate=Decimal("1.5"))
    text = terms_text(client)
    assert "1.50 point(s) per EUR 1 spent." in text
    assert "These earn no points" not in text


@pytest.mark.parametrize(
    ("changes", "sentence"),
    [
        (
            {"expiry_policy": "fixed", "expiry_unit": "days", "expiry_days": 90},
            "Points expire 90 days after the purchase",
        ),
        (
            {"expiry_policy": "fixed", "expiry_unit": "months", "expiry_months": 24},
            "Points expire 24 months after the day",
        ),
        ({"expiry_policy": "activity", "expiry_unit": "days", "expiry_days": 1}, "make no purchase for 1 day."),
        ({"expiry_policy": "activity", "expiry_unit": "months", "expiry_months": 18}, "no purchase for 18 months."),
        ({"expiry_policy": "none"}, "Points do not expire while your account is open."),
    ],
)
def test_terms_state_the_expiry_policy_in_its_unit(client, changes, sentence):
    program_set(**changes)
    assert sentence in terms_text(client)


def test_terms_state_the_return_window_and_the_tier_rules(client):
    program_set(pending_days=30, tier_basis="spend", tier_period="calendar", expiry_reminder_days=14)
    text = terms_text(client)
    assert "stay pending for 30 days" in text
    assert "qualifying spend in the calendar year" in text
    assert "Silver EUR 1,000 ×1.25" in text
    assert "your tier's multiplier" in text
    assert "remind you by email 14 days before" in text


def test_the_terms_page_reads_only_cached_rules(client, django_assert_max_num_queries):
    EarningRuleFactory(kind=Kind.EXCLUDE_CATEGORY, category="gift_card")
    client.get(reverse("terms"))
    with django_assert_max_num_queries(2):  # the session and the user at most, never the rules
        assert client.get(reverse("terms")).status_code == 200


def test_the_demo_program_seeds_the_exclusions_its_terms_mention(client):
    call_command("seed_demo", verbosity=0)
    exclusions = set(EarningRule.objects.filter(kind=Kind.EXCLUDE_CATEGORY).values_list("category", flat=True))
    assert {"gift_card", "shipping"} <= exclusions
    text = terms_text(client)
    assert "These earn no points: gift card, shipping." in text
    assert "50 points per 1 kg bag of coffee : 50 point(s) per unit bought on product COF-1KG" in text
    # The demo basket with a gift card earned nothing on it; the one with shipping nothing on shipping.
    from members.models import PurchaseLine

    assert set(
        PurchaseLine.objects.filter(category__in=["gift_card", "shipping"]).values_list("points", flat=True)
    ) == {0}
    assert PurchaseLine.objects.get(purchase__external_id="DEMO-1003", sku="COF-1KG").points == 50
