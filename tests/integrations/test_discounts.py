"""`discounts` on POST /api/v1/purchases/: earning on the net, the total that must add up, our vouchers used as
discount codes, and the program's amount limits."""

from decimal import Decimal

import pytest

from members.models import EarningRule, Purchase, QualifyingActivity
from rewards.models import Voucher
from rewards.services import reward_redeem
from tests.factories import EarningRuleFactory, MemberFactory, RewardFactory, points_give
from tests.integrations.conftest import post, purchase_body
from tests.members.conftest import program_set

pytestmark = pytest.mark.django_db
URL = "/api/v1/purchases/"
LINES = [
    {"sku": "SHOE", "category": "shoes", "quantity": 1, "unit_price": "60.00"},
    {"sku": "SOCK", "category": "apparel", "quantity": 3, "unit_price": "10.00"},
    {"sku": "GIFT", "category": "giftcards", "quantity": 1, "unit_price": "50.00"},
]


@pytest.fixture(autouse=True)
def _program(db):
    program_set(pending_days=0)


def body(member, external_id="T-1", **overrides):
    return purchase_body(member, external_id=external_id, lines=LINES, **overrides)


def test_a_discount_split_across_categories_with_one_excluded_earns_on_the_net(api, member):
    EarningRuleFactory(name="No gift cards", kind=EarningRule.Kind.EXCLUDE_CATEGORY, category="giftcards")
    discounts = [{"code": "SPRING10", "amount": "10.00", "kind": "order"}]
    response = post(api, URL, body(member, total="130.00", discounts=discounts))
    assert response.status_code == 201, response.json()
    data = response.json()
    assert (data["total"], data["discount_total"], data["eligible_amount"]) == ("130.00", "10.00", "80.00")
    assert data["base_points"] == 80
    assert [line["discount"] for line in data["lines"]] == ["6.67", "3.33", "0.00"]
    assert data["discounts"] == [{"code": "SPRING10", "kind": "order", "line_number": None, "amount": "10.00"}]


def test_the_total_defaults_to_the_lines_less_the_discounts(api, member):
    discounts = [{"amount": "5.00", "kind": "line", "line_number": 2}]
    response = post(api, URL, body(member, discounts=discounts))
    assert response.status_code == 201, response.json()
    assert response.json()["total"] == "135.00"
    assert response.json()["lines"][1]["discount"] == "5.00"


def test_a_total_that_is_not_the_lines_less_the_discounts_is_a_400_by_field(api, member):
    discounts = [{"code": "SPRING10", "amount": "10.00", "kind": "order"}]
    response = post(api, URL, body(member, total="140.00", discounts=discounts))
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "total": ["The total must be the lines (140.00) less the discounts (10.00): 130.00."]
    }
    assert not Purchase.objects.exists() and not QualifyingActivity.objects.exists()


@pytest.mark.parametrize(
    ("discount", "field"),
    [
        ({"amount": "-2.00", "kind": "order"}, "discounts.0.amount"),
        ({"amount": "2.00", "kind": "coupon"}, "discounts.0.kind"),
        ({"amount": "2.00", "kind": "line"}, "discounts.0.line_number"),
        ({"amount": "2.00", "kind": "line", "line_number": 9}, "discounts.0.line_number"),
        ({"amount": "two", "kind": "order"}, "discounts.0.amount"),
    ],
)
def test_a_bad_discount_is_a_400_on_its_field(api, member, discount, field):
    response = post(api, URL, body(member, discounts=[discount]))
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"], response.json()
    assert not Purchase.objects.exists()


def test_the_preview_takes_discounts_too(api, member):
    discounts = [{"amount": "14.00", "kind": "order"}]
    response = api.post("/api/v1/purchases/preview/", body(member, discounts=discounts), format="json")
    assert response.status_code == 200, response.json()
    data = response.json()
    assert (data["total"], data["discount_total"], data["base_points"]) == ("126.00", "14.00", 126)
    assert any(step["kind"] == "discount" for step in data["steps"])


@pytest.fixture
def voucher(member):
    owner = MemberFactory(email="owner@example.com")
    points_give(owner, 1000)
    redemption = reward_redeem(member=owner, reward=RewardFactory(points_cost=500), idempotency_key="r-1")
    return redemption.voucher


def test_our_voucher_used_as_a_discount_code_is_marked_used_with_the_purchase(api, member, voucher):
    code = voucher.code.lower().replace("-", " ")  # read as forgivingly as at the voucher endpoints
    discounts = [{"code": code, "amount": "5.00", "kind": "order"}]
    response = post(api, URL, body(member, discounts=discounts))
    assert response.status_code == 201, response.json()
    voucher.refresh_from_db()
    assert voucher.state == Voucher.State.USED
    assert voucher.used_on_purchase == Purchase.objects.get(external_id="T-1")

    again = post(api, URL, body(member, external_id="T-2", discounts=discounts), key="k-2")
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "voucher_used"
    assert not Purchase.objects.filter(external_id="T-2").exists()


def test_the_voucher_is_used_in_the_purchases_transaction(api, member, voucher):
    from members import hooks
    from members.exceptions import InvalidPurchase

    def refuse_after_posting(result):
        raise InvalidPurchase("A later step refused the purchase.")

    # A refusal after the voucher was marked used (a purchase_recorded hook runs after the points are posted).
    hooks.register(hooks.purchase_recorded, refuse_after_posting)
    try:
        discounts = [{"code": voucher.code, "amount": "5.00", "kind": "order"}]
        response = post(api, URL, body(member, discounts=discounts), key="k-3")
    finally:
        hooks.purchase_recorded.remove(refuse_after_posting)
    assert response.status_code == 422
    voucher.refresh_from_db()
    assert voucher.state == Voucher.State.ISSUED and voucher.used_on_purchase is None
    assert not Purchase.objects.exists()


def test_a_line_over_the_programs_maximum_is_a_400(api, member):
    program_set(max_line_amount=Decimal("100.00"))
    line = {"sku": "TV", "quantity": 1, "unit_price": "100.01"}
    response = post(api, URL, purchase_body(member, lines=[line]))
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "lines.0.unit_price": ["This line comes to 100.01, more than the program accepts for one line (100.00)."]
    }
