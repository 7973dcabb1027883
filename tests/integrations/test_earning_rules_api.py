"""Points per unit, rule order and "stop further rules", and expiry by days, through the API."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members.models import EarningRule, PointsLot, ProgramSettings
from tests.factories import EarningRuleFactory
from tests.integrations.conftest import post, purchase_body
from tests.members.conftest import program_set

pytestmark = pytest.mark.django_db
Kind = EarningRule.Kind

WINE_BASKET = [
    {"sku": "RED", "category": "wine", "quantity": 2, "unit_price": "12.50"},
    {"sku": "BRIE", "category": "cheese", "quantity": 1, "unit_price": "6.00"},
    {"sku": "GIFT", "category": "gift_card", "quantity": 1, "unit_price": "25.00"},
]


@pytest.fixture
def wine_rules(db):
    program_set(pending_days=0)
    EarningRuleFactory(name="No gift cards", kind=Kind.EXCLUDE_CATEGORY, category="gift_card", priority=1)
    EarningRuleFactory(name="Per euro", kind=Kind.SPEND, rate=Decimal("1"), priority=100)
    EarningRuleFactory(
        name="50 per bottle", kind=Kind.PER_UNIT, category="wine", rate=Decimal("50"), priority=10,
        stop_further_rules=True,
    )  # fmt: skip
    EarningRuleFactory(name="Double wine", kind=Kind.CATEGORY_MULTIPLIER, category="wine", rate=Decimal("2"))


def test_preview_steps_show_priority_and_which_rule_stopped_the_rest(api, member, wine_rules):
    response = api.post("/api/v1/purchases/preview/", purchase_body(member, lines=WINE_BASKET), format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    steps = [
        (step["order"], step["rule"], step["kind"], step["priority"], step["stops_further_rules"], step["line_numbers"])
        for step in body["steps"]
    ]
    # "Double wine" matched only wine, which the per-bottle rule had stopped: it is not a step at all.
    assert steps == [
        (1, "No gift cards", "exclude_category", 1, False, [3]),
        (2, "50 per bottle", "per_unit", 10, True, [1]),
        (3, "Per euro", "spend", 100, False, [2]),
    ]
    assert body["steps"][1]["points"] == "100.0000"
    assert [line["points"] for line in body["lines"]] == [100, 6, 0]
    assert body["total_points"] == 106


def test_recording_earns_per_unit_exactly_as_previewed(api, member, wine_rules):
    response = post(api, "/api/v1/purchases/", purchase_body(member, lines=WINE_BASKET))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["points_earned"] == 106
    assert [line["points"] for line in body["lines"]] == [100, 6, 0]


def test_a_stopping_rule_with_a_tier_multiplier_and_cap_still_ends_in_the_tier_and_cap(api, member, wine_rules):
    program_set(max_points_per_purchase=80)
    response = api.post("/api/v1/purchases/preview/", purchase_body(member, lines=WINE_BASKET), format="json")
    body = response.json()
    assert body["total_points"] == 80 and body["capped"] is True
    assert body["steps"][-1]["kind"] == "cap" and body["steps"][-1]["priority"] is None


def _day_before_the_last_clock_change(today):
    """The local day before the most recent change of the program's UTC offset (summer or winter time)."""
    zone = timezone.get_current_timezone()
    day = today
    while True:
        before = datetime.combine(day - timedelta(days=1), time(12), tzinfo=zone).utcoffset()
        if datetime.combine(day, time(12), tzinfo=zone).utcoffset() != before:
            return day - timedelta(days=1)
        day -= timedelta(days=1)


def test_points_from_the_api_expire_a_number_of_days_after_the_purchase_in_local_time(api, member):
    """Bought at 10:00 the day before a clock change, the points expire at 10:00 local time N days later: the
    period is N calendar days (one of them 23 or 25 hours long), not N × 24 hours. N reaches a month past today, so
    the points are not already past expiry when they arrive."""
    zone = timezone.get_current_timezone()
    bought_on = _day_before_the_last_clock_change(timezone.localdate())
    days = (timezone.localdate() - bought_on).days + 30
    program_set(pending_days=0, expiry_policy=ProgramSettings.ExpiryPolicy.FIXED, expiry_unit="days", expiry_days=days)
    bought_at = datetime.combine(bought_on, time(10), tzinfo=zone)
    assert post(api, "/api/v1/purchases/", purchase_body(member, occurred_at=bought_at.isoformat())).status_code == 201
    lot = PointsLot.objects.get()
    expected = datetime.combine(bought_on + timedelta(days=days), time(10), tzinfo=zone)
    assert lot.expires_at == expected
    assert lot.expires_at - bought_at != timedelta(days=days)  # the clock change is inside the period


def test_the_member_api_says_when_activity_points_expire_by_days(api, member):
    program_set(pending_days=0, expiry_policy=ProgramSettings.ExpiryPolicy.ACTIVITY, expiry_unit="days", expiry_days=10)
    now = timezone.now().replace(microsecond=0)
    body = purchase_body(member, occurred_at=now.isoformat())
    assert post(api, "/api/v1/purchases/", body).status_code == 201
    detail = api.get(f"/api/v1/members/{member.member_number}/").json()
    assert detail["expiring_soon"]["all_expire_on"] == (timezone.localdate(now) + timedelta(days=10)).isoformat()
    assert detail["expiring_soon"]["points"] == 11
