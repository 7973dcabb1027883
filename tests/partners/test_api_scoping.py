"""Partner keys: attribution, earning under the partner's rules, what a partner may and may not see, burning a
partner's vouchers, webhooks."""

from decimal import Decimal

import pytest

from members.models import EarningRule, LedgerEntry, Partner, Purchase
from rewards.models import Voucher
from rewards.services import reward_redeem
from tests.factories import (
    EarningRuleFactory,
    MemberFactory,
    RewardFactory,
    buy,
    partner_client,
    partner_factory,
    points_give,
    webhook_endpoint_for,
)
from tests.integrations.conftest import post, purchase_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def cafe():
    partner = partner_factory(name="Cafe Noir", slug="cafe-noir", categories=["coffee"])
    EarningRuleFactory(name="2 per euro", kind=EarningRule.Kind.SPEND, rate=Decimal("2"), partner=partner)
    return partner


@pytest.fixture
def cinema():
    return partner_factory(name="Cinema Lux", slug="cinema-lux")


@pytest.fixture
def member():
    return MemberFactory(email="ada@example.com")


def test_a_partner_keys_purchase_is_attributed_to_the_partner_and_earns_under_its_rules(cafe, member):
    client = partner_client(cafe)
    response = post(client, "/api/v1/purchases/", purchase_body(member) | _now())
    assert response.status_code == 201, response.json()
    assert response.json()["points_earned"] == 22  # 11.25 at 2 points per euro; the operator's base rate gives 11
    purchase = Purchase.objects.get(external_id="T-1")
    assert purchase.partner == cafe
    assert set(LedgerEntry.objects.filter(purchase=purchase).values_list("partner_id", flat=True)) == {cafe.pk}


def test_operator_rules_do_not_apply_at_a_partner_nor_partner_rules_at_the_operator(cafe, member, api):
    EarningRuleFactory(name="Operator triple", kind=EarningRule.Kind.SPEND, rate=Decimal("3"))
    at_cafe = post(partner_client(cafe), "/api/v1/purchases/", purchase_body(member, "C-1") | _now())
    at_operator = post(api, "/api/v1/purchases/", purchase_body(member, "O-1") | _now())
    assert at_cafe.json()["points_earned"] == 22
    assert at_operator.json()["points_earned"] == 33
    assert Purchase.objects.get(external_id="O-1").partner is None


def test_a_partner_without_rules_earns_the_program_base_rate(cinema, member):
    response = post(partner_client(cinema), "/api/v1/purchases/", purchase_body(member) | _now())
    assert response.json()["points_earned"] == 11


def test_a_paused_partner_is_refused_and_nothing_is_written(cafe, member):
    Partner.objects.filter(pk=cafe.pk).update(status=Partner.Status.PAUSED)
    cafe.refresh_from_db()
    cafe.save()  # clears the cached partner list, as the admin does
    response = post(partner_client(cafe), "/api/v1/purchases/", purchase_body(member) | _now())
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "partner_inactive"
    assert not Purchase.objects.exists()


def test_purchases_at_a_partner_that_does_not_count_toward_tiers_add_no_qualifying_value(member):
    from members.selectors import member_tier_progress

    fuel = partner_factory(name="Fuel", slug="fuel", counts_toward_tiers=False)
    before = member_tier_progress(member).qualifying_value
    buy(member, "100.00", partner=fuel)
    assert member_tier_progress(member).qualifying_value == before
    buy(member, "100.00")
    assert member_tier_progress(member).qualifying_value > before


def test_a_partners_refund_claws_back_at_the_partner(cafe, member):
    client = partner_client(cafe)
    post(client, "/api/v1/purchases/", purchase_body(member) | _now())
    response = post(client, "/api/v1/purchases/T-1/refunds/", {}, key="rf-1")
    assert response.status_code == 201
    clawback = LedgerEntry.objects.get(kind=LedgerEntry.Kind.CLAWBACK)
    assert clawback.partner == cafe


def test_a_partner_cannot_refund_another_partners_purchase(cafe, cinema, member):
    post(partner_client(cinema), "/api/v1/purchases/", purchase_body(member) | _now())
    response = post(partner_client(cafe), "/api/v1/purchases/T-1/refunds/", {}, key="rf-1")
    assert response.status_code == 404


def test_a_partner_looks_a_member_up_by_card_and_sees_the_balance_but_no_profile(cafe, member):
    points_give(member, 300)
    client = partner_client(cafe)
    response = client.get("/api/v1/members/", {"card_number": member.card_number})
    assert response.status_code == 200
    (found,) = response.json()
    assert found["member_number"] == member.member_number
    assert found["balance"] == 300
    assert found["points_value"] == "3.00"
    for private in ("email", "first_name", "last_name", "tier", "tier_progress", "lifetime_earned", "enrolled_at"):
        assert private not in found
    detail = client.get(f"/api/v1/members/{member.member_number}/").json()
    assert "email" not in detail and "first_name" not in detail and detail["balance"] == 300


def test_a_partner_cannot_look_members_up_by_email_or_enrol_them(cafe, member):
    client = partner_client(cafe)
    assert client.get("/api/v1/members/", {"email": "ada@example.com"}).status_code == 400
    enrol = post(client, "/api/v1/members/", {"email": "new@example.com", "first_name": "N", "last_name": "M"})
    assert enrol.status_code == 403
    assert enrol.json()["error"]["code"] == "partner_not_allowed"
    by_email = post(client, "/api/v1/purchases/", purchase_body(member, member="ada@example.com") | _now())
    assert by_email.status_code == 400


def test_a_partner_sees_only_its_own_lines_of_a_members_activity(cafe, cinema, member, api):
    post(partner_client(cinema), "/api/v1/purchases/", purchase_body(member, "CIN-1") | _now())
    post(api, "/api/v1/purchases/", purchase_body(member, "OP-1") | _now())
    cafe_client = partner_client(cafe)
    post(cafe_client, "/api/v1/purchases/", purchase_body(member, "CAF-1") | _now())
    seen = cafe_client.get(f"/api/v1/members/{member.member_number}/activity/").json()["results"]
    assert [row["purchase_external_id"] for row in seen] == ["CAF-1"]
    assert seen[0]["partner"] == "cafe-noir" and seen[0]["partner_name"] == "Cafe Noir"
    everything = api.get(f"/api/v1/members/{member.member_number}/activity/").json()["results"]
    assert {row["purchase_external_id"] for row in everything} == {"CIN-1", "OP-1", "CAF-1"}


def test_a_partner_key_for_a_deleted_partner_sees_nothing(member):
    gone = partner_factory(name="Gone", slug="gone")
    client = partner_client(gone)
    gone.rates.all().delete()
    gone.delete()
    response = client.get("/api/v1/members/", {"card_number": member.card_number})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "partner_inactive"


# --- partner rewards --------------------------------------------------------------------------------------------


def _partner_voucher(member, partner, points=500):
    reward = RewardFactory(redeemable_at=partner, points_cost=points)
    points_give(member, points)
    redemption = reward_redeem(member=member, reward=reward, idempotency_key=f"redeem-{reward.pk}")
    return redemption.voucher


def test_a_partners_voucher_is_used_at_that_partner_and_records_it(cafe, member):
    voucher = _partner_voucher(member, cafe)
    response = post(partner_client(cafe), f"/api/v1/vouchers/{voucher.code}/redeem/", {}, key="v-1")
    assert response.status_code == 200, response.json()
    assert response.json()["redeemable_at"] == "cafe-noir"
    voucher.refresh_from_db()
    assert voucher.state == Voucher.State.USED and voucher.used_by_partner == cafe


def test_a_partners_voucher_is_refused_by_the_operator_and_unknown_to_other_partners(cafe, cinema, member, api):
    voucher = _partner_voucher(member, cafe)
    at_operator = post(api, f"/api/v1/vouchers/{voucher.code}/redeem/", {}, key="v-1")
    assert at_operator.status_code == 422
    assert at_operator.json()["error"]["code"] == "voucher_wrong_partner"
    check = api.post("/api/v1/voucher-lookups/", {"code": voucher.code}, format="json").json()
    assert check["usable"] is False and check["refusal"]["code"] == "voucher_wrong_partner"
    elsewhere = partner_client(cinema)
    assert elsewhere.post("/api/v1/voucher-lookups/", {"code": voucher.code}, format="json").status_code == 404
    assert post(elsewhere, f"/api/v1/vouchers/{voucher.code}/redeem/", {}, key="v-2").status_code == 404
    voucher.refresh_from_db()
    assert voucher.state == Voucher.State.ISSUED


def test_a_partner_cannot_see_or_take_the_operators_vouchers(cafe, member):
    reward = RewardFactory()
    points_give(member, 500)
    voucher = reward_redeem(member=member, reward=reward, idempotency_key="op-voucher").voucher
    client = partner_client(cafe)
    assert client.post("/api/v1/voucher-lookups/", {"code": voucher.code}, format="json").status_code == 404


def test_a_partner_lists_and_redeems_only_its_own_rewards(cafe, cinema, member):
    own = RewardFactory(redeemable_at=cafe, points_cost=100)
    RewardFactory(redeemable_at=cinema, points_cost=100)
    operator_reward = RewardFactory(points_cost=100)
    points_give(member, 1000)
    client = partner_client(cafe)
    listed = client.get("/api/v1/rewards/").json()["results"]
    assert [row["slug"] for row in listed] == [own.slug]
    refused = post(client, f"/api/v1/members/{member.member_number}/redemptions/", {"reward": operator_reward.slug})
    assert refused.status_code == 400


# --- webhooks ---------------------------------------------------------------------------------------------------


def test_webhooks_reach_the_partner_for_its_own_purchases_only(cafe, cinema, member, api):
    from integrations.models import WebhookDelivery, WebhookEndpoint

    cafe_client, cinema_client = partner_client(cafe), partner_client(cinema)
    operator_endpoint = webhook_endpoint_for(["purchase.recorded", "tier.changed"])
    cafe_endpoint = WebhookEndpoint.objects.create(
        api_key=cafe_client.api_key, url="https://cafe.example/hook", secret="s", events=["purchase.recorded"]
    )
    cinema_endpoint = WebhookEndpoint.objects.create(
        api_key=cinema_client.api_key, url="https://cinema.example/hook", secret="s", events=["purchase.recorded"]
    )
    post(cafe_client, "/api/v1/purchases/", purchase_body(member, "CAF-1") | _now())
    post(api, "/api/v1/purchases/", purchase_body(member, "OP-1") | _now())

    def heard(endpoint):
        return sorted(d.payload["external_id"] for d in WebhookDelivery.objects.filter(endpoint=endpoint))

    assert heard(operator_endpoint) == ["CAF-1", "OP-1"]
    assert heard(cafe_endpoint) == ["CAF-1"]
    assert heard(cinema_endpoint) == []
    assert WebhookDelivery.objects.get(endpoint=cafe_endpoint).payload["partner"] == "cafe-noir"


def _now():
    from django.utils import timezone

    return {"occurred_at": timezone.now().isoformat()}


# --- point payments ---------------------------------------------------------------------------------------------


def test_a_partners_point_payment_is_burned_at_the_partner(cafe, member):
    from members.models import PointPayment

    points_give(member, 400)
    client = partner_client(cafe)
    url = f"/api/v1/members/{member.member_number}/point-payments/"
    response = post(client, url, {"points": 150, "external_id": "PP-1"})
    assert response.status_code == 201, response.json()
    payment = PointPayment.objects.get(external_id="PP-1")
    assert payment.partner == cafe
    entry = LedgerEntry.objects.get(kind=LedgerEntry.Kind.PAYMENT)
    assert entry.partner == cafe and entry.points == -150
    cancel = post(client, f"{url}PP-1/cancel/", {}, key="pp-cancel")
    assert cancel.status_code == 200
    assert LedgerEntry.objects.get(kind=LedgerEntry.Kind.PAYMENT_RETURN).partner == cafe


def test_a_partner_cannot_read_another_partners_point_payment(cafe, cinema, member):
    points_give(member, 400)
    url = f"/api/v1/members/{member.member_number}/point-payments/"
    post(partner_client(cinema), url, {"points": 100, "external_id": "PP-1"})
    assert partner_client(cafe).get(f"{url}PP-1/").status_code == 404


def test_voucher_and_redemption_events_reach_the_partner_whose_reward_it_is(cafe, cinema, member):
    from integrations.models import WebhookDelivery, WebhookEndpoint

    cafe_client, cinema_client = partner_client(cafe), partner_client(cinema)
    events = ["voucher.used", "reward.redeemed", "tier.changed"]
    cafe_endpoint = WebhookEndpoint.objects.create(
        api_key=cafe_client.api_key, url="https://cafe.example/hook", secret="s", events=events
    )
    cinema_endpoint = WebhookEndpoint.objects.create(
        api_key=cinema_client.api_key, url="https://cinema.example/hook", secret="s", events=events
    )
    voucher = _partner_voucher(member, cafe)
    post(cafe_client, f"/api/v1/vouchers/{voucher.code}/redeem/", {}, key="v-1")
    heard = sorted(WebhookDelivery.objects.filter(endpoint=cafe_endpoint).values_list("event", flat=True))
    assert heard == ["reward.redeemed", "voucher.used"]
    assert WebhookDelivery.objects.get(endpoint=cafe_endpoint, event="voucher.used").payload["partner"] == "cafe-noir"
    assert not WebhookDelivery.objects.filter(endpoint=cinema_endpoint).exists()


def test_a_partners_till_calls_cost_a_constant_number_of_queries(cafe, member, django_assert_max_num_queries):
    client = partner_client(cafe)
    client.get("/api/v1/members/", {"card_number": member.card_number})  # warms the key and partner caches
    with django_assert_max_num_queries(4):
        assert client.get("/api/v1/members/", {"card_number": member.card_number}).status_code == 200
    for number in range(3):
        post(client, "/api/v1/purchases/", purchase_body(member, f"W-{number}") | _now(), key=f"w-{number}")
    with django_assert_max_num_queries(4):
        assert client.get(f"/api/v1/members/{member.member_number}/activity/").status_code == 200
