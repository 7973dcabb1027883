"""Each integration's webhook endpoints hear only what that integration causes (issue 16, item 1).

An endpoint registered under one API key used to receive every event of the program, caused by any key,
including ``reward.redeemed`` with the voucher code. Now an endpoint receives the events its own key's requests
cause; staff may grant it the program's events in the admin, and even then voucher codes go only to the
integration that issued or used the voucher. Events a member causes on the site, or a scheduled job, reach only
program-wide endpoints.
"""

import pytest
from django.db import transaction

from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.services import webhook_endpoint_create
from members import hooks
from rewards.models import Reward, Voucher
from tests.factories import RewardFactory, points_give
from tests.integrations.conftest import post, purchase_body

pytestmark = pytest.mark.django_db

EVERY_EVENT = ["purchase.recorded", "tier.changed", "reward.redeemed", "voucher.used", "points.expired"]


@pytest.fixture
def shop(make_client):
    return make_client(name="Shop A")


@pytest.fixture
def till(make_client):
    return make_client(name="Till B")


@pytest.fixture
def endpoints(shop, till, make_client):
    crm = make_client(name="CRM", scopes=[])
    return {
        "shop": webhook_endpoint_create(api_key=shop.api_key, url="https://a.example/hooks", events=EVERY_EVENT),
        "till": webhook_endpoint_create(api_key=till.api_key, url="https://b.example/hooks", events=EVERY_EVENT),
        "crm": webhook_endpoint_create(
            api_key=crm.api_key, url="https://crm.example/hooks", events=EVERY_EVENT, audience="program"
        ),
    }


def received(event):
    """``{endpoint name: payload}`` of the deliveries of ``event``."""
    names = {"Shop A": "shop", "Till B": "till", "CRM": "crm"}
    return {
        names[delivery.endpoint.api_key.name]: delivery
        for delivery in WebhookDelivery.objects.filter(event=event).select_related("endpoint__api_key")
    }


def test_a_purchase_reaches_its_own_integration_and_program_wide_endpoints_only(shop, member, endpoints):
    big = [{"sku": "TV", "category": "electronics", "quantity": 1, "unit_price": "1200.00"}]
    assert post(shop, "/api/v1/purchases/", purchase_body(member, lines=big)).status_code == 201

    purchases = received("purchase.recorded")
    assert set(purchases) == {"shop", "crm"}  # never the other till
    assert {delivery.caused_by_id for delivery in purchases.values()} == {shop.api_key.pk}
    # The tier change the purchase brought is the shop's too.
    assert set(received("tier.changed")) == {"shop", "crm"}


def test_voucher_codes_go_only_to_the_integration_that_issued_or_used_them(shop, till, member, endpoints):
    with transaction.atomic():
        points_give(member, 1000)
    RewardFactory(slug="five-off", points_cost=300, kind=Reward.Kind.FIXED_DISCOUNT)
    response = post(shop, f"/api/v1/members/{member.member_number}/redemptions/", {"reward": "five-off"})
    assert response.status_code == 201
    code = Voucher.objects.get().code

    redeemed = received("reward.redeemed")
    assert set(redeemed) == {"shop", "crm"}
    assert redeemed["shop"].payload["voucher_code"] == code
    assert redeemed["crm"].payload["voucher_code"] is None  # granted the program's events, not its vouchers
    assert redeemed["crm"].payload["reward_slug"] == "five-off"

    # Another till takes the voucher: the use is that till's event; the shop that issued it is not told.
    used = post(till, f"/api/v1/vouchers/{code}/redeem/", {"purchase_reference": "receipt 9"}, key="use-1")
    assert used.status_code == 200
    uses = received("voucher.used")
    assert set(uses) == {"till", "crm"}
    assert uses["till"].payload["voucher_code"] == code and uses["till"].caused_by_id == till.api_key.pk
    assert uses["crm"].payload["voucher_code"] is None
    # Nowhere else: the code is in no delivery but the shop's redemption and the till's use.
    holders = {(d.endpoint_id, d.event) for d in WebhookDelivery.objects.all() if code in str(d.payload)}
    assert holders == {(endpoints["shop"].pk, "reward.redeemed"), (endpoints["till"].pk, "voucher.used")}


def test_a_member_redeeming_on_the_site_reaches_program_wide_endpoints_only(client, member, endpoints):
    with transaction.atomic():
        points_give(member, 1000)
    reward = RewardFactory(slug="mug", points_cost=300, kind=Reward.Kind.FIXED_DISCOUNT)
    client.force_login(member.user)
    response = client.post(f"/rewards/{reward.slug}/redeem/", {"idempotency_key": "site-redeem-0001"})
    assert response.status_code == 302
    assert Voucher.objects.count() == 1

    [(name, delivery)] = received("reward.redeemed").items()
    assert name == "crm"
    assert delivery.caused_by_id is None
    assert delivery.payload["voucher_code"] is None


def test_scheduled_jobs_events_reach_program_wide_endpoints_only(endpoints):
    with transaction.atomic():
        hooks.emit("points.expired", {"expired_at": "2026-01-01T02:10:00+01:00", "points": 5, "members": []})
    assert set(received("points.expired")) == {"crm"}


def test_staff_grant_program_wide_events_in_the_admin(admin_client, till, member, shop):
    response = admin_client.post(
        "/admin/integrations/webhookendpoint/add/",
        {
            "api_key": till.api_key.pk,
            "url": "https://b.example/all",
            "events": ["purchase.recorded"],
            "audience": "program",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.audience == WebhookEndpoint.Audience.PROGRAM
    assert post(shop, "/api/v1/purchases/", purchase_body(member)).status_code == 201
    assert WebhookDelivery.objects.get().endpoint == endpoint

    # Left unchosen, an endpoint hears only its own integration.
    admin_client.post(
        f"/admin/integrations/webhookendpoint/{endpoint.pk}/change/",
        {"url": endpoint.url, "events": ["purchase.recorded"], "is_active": "on"},
    )
    endpoint.refresh_from_db()
    assert endpoint.audience == WebhookEndpoint.Audience.OWN
    assert post(shop, "/api/v1/purchases/", purchase_body(member, external_id="T-2"), key="k-2").status_code == 201
    assert WebhookDelivery.objects.count() == 1
