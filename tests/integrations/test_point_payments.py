"""POST /api/v1/members/{member_number}/point-payments/ and the purchase and refund that follow it."""

from decimal import Decimal

import pytest

from members.models import LedgerEntry, PointPayment
from tests.factories import points_give
from tests.integrations.conftest import post, purchase_body
from tests.members.conftest import program_set

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _program(db):
    program_set(pending_days=0, point_value=Decimal("0.0100"))


def pay(client, member, body, key="pay-1"):
    return post(client, f"/api/v1/members/{member.member_number}/point-payments/", body, key=key)


def test_paying_with_points_answers_the_amount_in_currency(api, member):
    points_give(member, 1000)
    response = pay(api, member, {"points": 250, "external_id": "PAY-1"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["amount"] == "2.50"
    assert body["currency"] == "EUR"
    assert (body["points"], body["status"], body["balance"], body["replayed"]) == (250, "completed", 750, False)


def test_the_same_key_replays_and_a_new_key_with_the_same_external_id_debits_nothing(api, member):
    points_give(member, 1000)
    first = pay(api, member, {"points": 250, "external_id": "PAY-1"})
    again = pay(api, member, {"points": 250, "external_id": "PAY-1"})
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    other_key = pay(api, member, {"points": 250, "external_id": "PAY-1"}, key="pay-2")
    assert other_key.status_code == 200 and other_key.json()["replayed"] is True
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.PAYMENT).count() == 1


def test_a_payment_needs_the_redemptions_scope_and_an_idempotency_key(make_client, member):
    points_give(member, 1000)
    reader = make_client(scopes=["members:read"])
    assert pay(reader, member, {"points": 10, "external_id": "PAY-1"}).status_code == 403
    payer = make_client(scopes=["redemptions:write"])
    url = f"/api/v1/members/{member.member_number}/point-payments/"
    missing = payer.post(url, {"points": 10, "external_id": "PAY-1"}, format="json")
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "idempotency_key_missing"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"external_id": "PAY-1"}, "points"),
        ({"points": 0, "external_id": "PAY-1"}, "points"),
        ({"points": "ten", "external_id": "PAY-1"}, "points"),
        ({"points": 10}, "external_id"),
    ],
)
def test_bad_input_is_a_400_by_field(api, member, body, field):
    points_give(member, 1000)
    response = pay(api, member, body)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not PointPayment.objects.exists()


def test_more_points_than_the_balance_is_a_422(api, member):
    points_give(member, 100)
    response = pay(api, member, {"points": 101, "external_id": "PAY-1"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "insufficient_points"


def test_an_unknown_member_is_a_404(api, member):
    response = post(api, "/api/v1/members/M000000000/point-payments/", {"points": 1, "external_id": "X"})
    assert response.status_code == 404


def test_a_purchase_after_its_payment_earns_on_money_and_a_refund_returns_the_points(api, member):
    points_give(member, 1000)
    paid = pay(api, member, {"points": 500, "external_id": "PAY-1", "purchase_external_id": "T-1"})
    assert paid.json()["purchase_recorded"] is False
    body = purchase_body(member, external_id="T-1")  # € 11.25, of which € 5.00 in points
    recorded = post(api, "/api/v1/purchases/", body, key="buy-1")
    assert recorded.status_code == 201, recorded.json()
    data = recorded.json()
    assert (data["points_paid"], data["points_paid_amount"], data["money_paid"]) == (500, "5.00", "6.25")
    assert data["base_points"] == 6  # on € 6.25
    assert data["balance"] == 1000 - 500 + 6

    detail = api.get(f"/api/v1/members/{member.member_number}/point-payments/PAY-1/").json()
    assert (detail["purchase_recorded"], detail["purchase_external_id"]) == (True, "T-1")

    refund = post(api, "/api/v1/purchases/T-1/refunds/", {"refund_id": "R-1"}, key="refund-1")
    assert refund.status_code == 201
    assert (refund.json()["points_returned"], refund.json()["points_clawed_back"]) == (500, 6)
    assert refund.json()["balance"] == 1000


def test_a_purchase_can_name_its_payments(api, member):
    points_give(member, 1000)
    pay(api, member, {"points": 300, "external_id": "PAY-1"})
    body = purchase_body(member, external_id="T-1", point_payments=["PAY-1"])
    data = post(api, "/api/v1/purchases/", body, key="buy-1").json()
    assert data["points_paid_amount"] == "3.00"
    unknown = post(api, "/api/v1/purchases/", purchase_body(member, "T-2", point_payments=["NOPE"]), key="buy-2")
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "invalid_point_payment"


def test_a_till_voids_a_payment_and_the_points_come_back(api, member):
    points_give(member, 1000)
    pay(api, member, {"points": 300, "external_id": "PAY-1"})
    url = f"/api/v1/members/{member.member_number}/point-payments/PAY-1/cancel/"
    cancelled = post(api, url, {}, key="void-1")
    assert cancelled.status_code == 200
    assert (cancelled.json()["status"], cancelled.json()["balance"]) == ("cancelled", 1000)
    again = post(api, url, {}, key="void-2")
    assert again.status_code == 200 and again.json()["replayed"] is True
    assert again.json()["balance"] == 1000


def test_another_integrations_payment_is_not_found(api, make_client, member):
    points_give(member, 1000)
    pay(api, member, {"points": 300, "external_id": "PAY-1"})
    other = make_client(name="Web shop")
    assert other.get(f"/api/v1/members/{member.member_number}/point-payments/PAY-1/").status_code == 404
    cancel = post(other, f"/api/v1/members/{member.member_number}/point-payments/PAY-1/cancel/", {}, key="v")
    assert cancel.status_code == 404
