from decimal import Decimal

import pytest

from members.models import EarningRule, LedgerEntry, Purchase, Refund
from tests.factories import EarningRuleFactory, MemberFactory
from tests.integrations.conftest import post, purchase_body

pytestmark = pytest.mark.django_db

URL = "/api/v1/purchases/"


def test_record_purchase_returns_points_lines_and_balance(api, member):
    response = post(api, URL, purchase_body(member))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["external_id"] == "T-1"
    assert body["member_number"] == member.member_number
    assert body["total"] == "11.25"
    assert body["occurred_at"] == "2026-01-15T10:00:00+01:00"
    assert body["points_earned"] == 11
    assert body["balance"] == 11
    assert [line["points"] for line in body["lines"]] == [7, 4]
    assert body["lines"][0]["unit_price"] == "3.50"
    assert body["replayed"] is False
    purchase = Purchase.objects.get()
    assert purchase.source == api.api_key.source


@pytest.mark.parametrize("field", ["card_number", "email"])
def test_member_can_be_given_by_card_number_or_email(api, member, field):
    identifier = member.card_number if field == "card_number" else member.user.email.upper()
    response = post(api, URL, purchase_body(member, member=identifier))
    assert response.status_code == 201
    assert response.json()["member_number"] == member.member_number


def test_recent_purchase_points_are_pending(api, member):
    from django.utils import timezone

    response = post(api, URL, purchase_body(member, occurred_at=timezone.now().isoformat()))
    body = response.json()
    assert body["points_pending"] == 11 and body["pending"] == 11 and body["balance"] == 0


def test_same_external_id_with_a_new_idempotency_key_posts_nothing_again(api, member):
    assert post(api, URL, purchase_body(member), key="a").status_code == 201
    again = post(api, URL, purchase_body(member), key="b")
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    assert again.json()["points_earned"] == 11
    assert LedgerEntry.objects.count() == 1


def test_external_ids_are_unique_per_integration_not_globally(make_client, member):
    first, second = make_client(name="Shop A"), make_client(name="Shop B")
    assert post(first, URL, purchase_body(member)).status_code == 201
    assert post(second, URL, purchase_body(member)).status_code == 201
    assert Purchase.objects.count() == 2


def test_external_id_reused_for_another_member_is_refused(api, member):
    other = MemberFactory(email="bob@example.com")
    post(api, URL, purchase_body(member), key="a")
    response = post(api, URL, purchase_body(other), key="b")
    assert response.status_code == 422
    # Its own code: a till can tell a clash of purchase ids from a reused Idempotency-Key.
    assert response.json()["error"]["code"] == "external_id_taken"
    assert response.json()["error"]["fields"] == {
        "external_id": ["This purchase id was already recorded for another member."]
    }
    assert Purchase.objects.get().member == member


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"lines": []}, "lines"),
        ({"lines": [{"sku": "", "quantity": 1, "unit_price": "1.00"}]}, "lines.0.sku"),
        ({"lines": [{"sku": "A", "quantity": 0, "unit_price": "1.00"}]}, "lines.0.quantity"),
        ({"lines": [{"sku": "A", "quantity": 1, "unit_price": "-1.00"}]}, "lines.0.unit_price"),
        ({"lines": [{"sku": "A", "quantity": 1, "unit_price": "1.001"}]}, "lines.0.unit_price"),
        ({"occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
        ({"occurred_at": "yesterday"}, "occurred_at"),
        ({"channel": "carrier-pigeon"}, "channel"),
        ({"member": "M000000000"}, "member"),
        ({"external_id": ""}, "external_id"),
        ({"total": "-5"}, "total"),
    ],
)
def test_invalid_input_is_400_with_field_messages_and_changes_nothing(api, member, change, field):
    response = post(api, URL, purchase_body(member, **change))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["fields"], error
    assert not Purchase.objects.exists()


def test_business_refusal_is_422_with_the_domain_code(api, member):
    response = post(api, URL, purchase_body(member, currency="USD"))
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_purchase"
    assert "currency" in response.json()["error"]["fields"]
    assert not Purchase.objects.exists()


def test_record_runs_a_constant_number_of_queries(api, member, django_assert_max_num_queries):
    for number in range(3):
        post(api, URL, purchase_body(member, external_id=f"warm-{number}"), key=f"w{number}")
    lines = [{"sku": f"S{n}", "category": "food", "quantity": 1, "unit_price": "2.00"} for n in range(40)]
    with django_assert_max_num_queries(40):
        response = post(api, URL, purchase_body(member, external_id="big", lines=lines), key="big")
    assert response.status_code == 201


def test_preview_shows_every_rule_in_order_and_writes_nothing(api, member):
    EarningRuleFactory(name="No points on gift cards", kind=EarningRule.Kind.EXCLUDE_CATEGORY, category="giftcard")
    EarningRuleFactory(name="Base", kind=EarningRule.Kind.SPEND, rate=Decimal("1"))
    EarningRuleFactory(name="Double coffee", kind=EarningRule.Kind.PRODUCT_MULTIPLIER, sku="COFFEE", rate=Decimal("2"))
    body = purchase_body(member)
    body["lines"].append({"sku": "GIFT", "category": "giftcard", "quantity": 1, "unit_price": "25.00"})
    response = api.post("/api/v1/purchases/preview/", body, format="json")
    assert response.status_code == 200, response.json()
    result = response.json()
    assert [step["rule"] for step in result["steps"]] == ["No points on gift cards", "Base", "Double coffee"]
    assert [step["order"] for step in result["steps"]] == [1, 2, 3]
    assert result["steps"][2]["line_numbers"] == [1]
    assert [line["points"] for line in result["lines"]] == [14, 4, 0]
    assert result["total_points"] == 18
    assert result["eligible_amount"] == "11.25"
    assert not Purchase.objects.exists() and not LedgerEntry.objects.exists()


def test_preview_without_a_member(api, member):
    body = purchase_body(member)
    del body["member"], body["external_id"], body["occurred_at"]
    response = api.post("/api/v1/purchases/preview/", body, format="json")
    assert response.status_code == 200
    assert response.json()["total_points"] == 11


def test_preview_accepts_purchases_write_keys(make_client, member):
    client = make_client(scopes=["purchases:write"])
    assert client.post("/api/v1/purchases/preview/", purchase_body(member), format="json").status_code == 200


def refund_url(external_id="T-1"):
    return f"/api/v1/purchases/{external_id}/refunds/"


def test_full_refund_claws_back_all_points(api, member):
    post(api, URL, purchase_body(member), key="p")
    response = post(api, refund_url(), {"refund_id": "R-1"}, key="r")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["points_clawed_back"] == 11
    assert body["amount"] == "11.25"
    assert body["balance"] == 0
    assert Refund.objects.get().refund_id == "R-1"


def test_partial_refund_by_line_and_by_sku(api, member):
    post(api, URL, purchase_body(member), key="p")
    first = post(api, refund_url(), {"lines": [{"line_number": 1, "quantity": 1}]}, key="r1")
    assert first.status_code == 201
    assert first.json()["points_clawed_back"] == 3
    assert first.json()["refund_id"] == "r1"  # the Idempotency-Key is the refund id by default
    second = post(api, refund_url(), {"lines": [{"sku": "CAKE"}]}, key="r2")
    assert second.json()["points_clawed_back"] == 4
    assert second.json()["refunded_total"] == "7.75"
    assert second.json()["balance"] == 4


def test_refund_with_an_already_used_refund_id_is_not_applied_twice(api, member):
    post(api, URL, purchase_body(member), key="p")
    post(api, refund_url(), {"refund_id": "R-1", "lines": [{"line_number": 1}]}, key="r1")
    again = post(api, refund_url(), {"refund_id": "R-1", "lines": [{"line_number": 1}]}, key="r2")
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    assert Refund.objects.count() == 1


def test_refund_errors(api, make_client, member):
    post(api, URL, purchase_body(member), key="p")
    missing = post(api, refund_url("nope"), {}, key="r0")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    # Another integration cannot refund this integration's purchase.
    assert post(make_client(name="Other"), refund_url(), {}, key="r0").status_code == 404
    too_many = post(api, refund_url(), {"lines": [{"line_number": 1, "quantity": 3}]}, key="r1")
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "refund_exceeds_purchase"
    bad_line = post(api, refund_url(), {"lines": [{"quantity": 1}]}, key="r2")
    assert bad_line.status_code == 400 and "lines.0" in bad_line.json()["error"]["fields"]
    assert not Refund.objects.exists()
