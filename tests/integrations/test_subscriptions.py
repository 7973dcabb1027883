"""Paid membership through the API: plans, every lifecycle step, refusals, idempotency and webhooks."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from integrations.models import WebhookDelivery
from integrations.services import webhook_endpoint_create
from members.subscriptions import services
from members.subscriptions.models import MembershipPlan, Subscription, SubscriptionEvent
from tests.factories import MemberFactory

from .conftest import post

pytestmark = pytest.mark.django_db


@pytest.fixture
def plus():
    return MembershipPlan.objects.create(
        name="Plus",
        slug="plus",
        price=Decimal("4.99"),
        period=MembershipPlan.Period.MONTH,
        trial_days=30,
        grace_days=7,
        earn_multiplier=Decimal("2"),
        free_shipping=True,
    )


@pytest.fixture
def premium():
    return MembershipPlan.objects.create(
        name="Premium", slug="premium", price=Decimal("99.00"), period=MembershipPlan.Period.YEAR, grace_days=3
    )


def start(api, member, key="s-1", **body):
    """Start a subscription 27 days ago, so that its month ends within a few days (a renewal is due)."""
    started_at = (timezone.now() - timedelta(days=27)).isoformat()
    body = {"plan": "plus", "external_id": "sub_1", "started_at": started_at, **body}
    return post(api, f"/api/v1/members/{member.member_number}/subscriptions/", body, key=key)


def action(api, action, body=None, key="a-1", external_id="sub_1"):
    return post(api, f"/api/v1/subscriptions/{external_id}/{action}/", body or {}, key=key)


def test_plans_list_active_plans_with_price_period_and_benefits(make_client, plus, premium):
    MembershipPlan.objects.create(name="Old", slug="old", price=Decimal("1"), is_active=False)
    client = make_client(scopes=["subscriptions:read"])
    response = client.get("/api/v1/plans/")
    assert response.status_code == 200
    body = response.json()
    assert [plan["slug"] for plan in body] == ["plus", "premium"]
    assert body[0]["price"] == "4.99"
    assert body[0]["period"] == "month"
    assert body[0]["benefits"]["earn_multiplier"] == "2.0000"
    assert body[0]["benefits"]["free_shipping"] is True
    assert body[1]["period"] == "year"


def test_scopes_are_enforced(make_client, member, plus):
    reader = make_client(scopes=["subscriptions:read"])
    assert start(reader, member).status_code == 403
    assert make_client(scopes=["members:read"]).get("/api/v1/plans/").status_code == 403


def test_start_paid_then_detail_and_member_show_it(api, member, plus):
    response = start(api, member, paid_amount="4.99")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "active"
    assert body["plan"] == "plus"
    assert body["free_shipping"] is True
    assert body["benefits_active"] is True
    detail = api.get("/api/v1/subscriptions/sub_1/").json()
    assert detail["current_period_end"] == body["current_period_end"]
    member_body = api.get(f"/api/v1/members/{member.member_number}/").json()
    assert member_body["subscription"]["plan"] == "plus"
    assert member_body["subscription"]["status"] == "active"
    assert member_body["subscription"]["free_shipping"] is True
    assert member_body["subscription"]["benefits"]["earn_multiplier"] == "2.0000"
    event = SubscriptionEvent.objects.get()
    assert (event.kind, event.amount) == ("started", Decimal("4.99"))


def test_member_detail_hides_another_integrations_external_id(make_client, api, member, plus):
    start(api, member)
    other = make_client(name="Other shop")
    subscription = other.get(f"/api/v1/members/{member.member_number}/").json()["subscription"]
    assert subscription["plan"] == "plus"
    assert "external_id" not in subscription
    assert other.get("/api/v1/subscriptions/sub_1/").status_code == 404


def test_member_without_subscription_has_null(api, member):
    assert api.get(f"/api/v1/members/{member.member_number}/").json()["subscription"] is None


def test_second_live_subscription_is_409_and_inactive_plan_422(api, member, plus, premium):
    assert start(api, member).status_code == 201
    second = start(api, member, key="s-2", plan="premium", external_id="sub_2")
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "subscription_exists"
    premium.is_active = False
    premium.save()
    other = MemberFactory()
    refused = start(api, other, key="s-3", plan="premium", external_id="sub_3")
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "plan_not_available"
    assert Subscription.objects.count() == 1


def test_start_is_idempotent_on_its_key(api, member, plus):
    started_at = (timezone.now() - timedelta(days=3)).isoformat()
    first = start(api, member, started_at=started_at)
    again = start(api, member, started_at=started_at)
    assert again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert SubscriptionEvent.objects.count() == 1


def test_writes_need_an_idempotency_key(api, member, plus):
    response = api.post(
        f"/api/v1/members/{member.member_number}/subscriptions/",
        {"plan": "plus", "external_id": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert not Subscription.objects.exists()


def test_bad_input_is_400_with_fields(api, member, plus):
    response = start(api, member, paid_amount="-1", started_at="yesterday")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) >= {"paid_amount", "started_at"}


def test_trial_converts_on_first_renewal(api, member, plus):
    body = start(api, member, trial=True).json()
    assert body["status"] == "trialing"
    assert body["trial_ends_at"] == body["current_period_end"]
    renewed = action(api, "renewals", {"paid_amount": "4.99"})
    assert renewed.status_code == 201
    assert renewed.json()["status"] == "active"
    assert renewed.json()["current_period_start"] == body["trial_ends_at"]


def test_trial_refused_when_plan_has_none_or_member_had_one(api, member, plus, premium):
    assert start(api, member, plan="premium", trial=True).json()["error"]["code"] == "trial_not_available"
    start(api, member, key="s-2", trial=True)
    action(api, "cancel", {"at_period_end": False})
    again = start(api, member, key="s-3", trial=True, external_id="sub_2")
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "trial_not_available"


def test_renewal_arriving_twice_changes_nothing(api, member, plus):
    start(api, member)
    first = action(api, "renewals", {"paid_amount": "4.99"}, key="r-1")
    assert first.status_code == 201
    again = action(api, "renewals", {"paid_amount": "4.99"}, key="r-2")  # the provider's retry, a new key
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    assert again.json()["current_period_end"] == first.json()["current_period_end"]
    assert SubscriptionEvent.objects.filter(kind="renewed").count() == 1
    with_end = first.json()["current_period_end"]
    same_end = action(api, "renewals", {"paid_amount": "4.99", "period_end": with_end}, key="r-3")
    assert same_end.status_code == 200
    assert SubscriptionEvent.objects.filter(kind="renewed").count() == 1


def test_renewal_with_period_end(api, member, plus):
    start(api, member)
    end = (timezone.now() + timedelta(days=70)).replace(microsecond=0)
    response = action(api, "renewals", {"paid_amount": "9.98", "period_end": end.isoformat()})
    assert response.status_code == 201
    subscription = Subscription.objects.get()
    assert subscription.current_period_end == end
    assert SubscriptionEvent.objects.get(kind="renewed").amount == Decimal("9.98")


def test_payment_failure_recovered_within_grace(api, member, plus):
    start(api, member)
    failed = action(api, "payment-failed", key="f-1")
    assert failed.status_code == 200
    body = failed.json()
    assert body["status"] == "past_due"
    assert body["benefits_active"] is True
    subscription = Subscription.objects.get()
    assert subscription.grace_until == subscription.current_period_end + timedelta(days=7)
    recovered = action(api, "renewals", {"paid_amount": "4.99"}, key="r-1")
    assert recovered.status_code == 201
    assert recovered.json()["status"] == "active"
    assert recovered.json()["grace_until"] is None
    assert list(SubscriptionEvent.objects.order_by("id").values_list("kind", flat=True)) == [
        "started",
        "payment_failed",
        "recovered",
    ]


def test_payment_failure_not_recovered_expires_and_renewal_is_422(api, member, plus):
    start(api, member)
    action(api, "payment-failed", key="f-1")
    subscription = Subscription.objects.get()
    assert services.subscriptions_expire_due(now=subscription.grace_until - timedelta(microseconds=1)) == 0
    assert services.subscriptions_expire_due(now=subscription.grace_until) == 1
    subscription.refresh_from_db()
    assert subscription.status == "expired"
    assert subscription.ended_at == subscription.grace_until
    late = action(api, "renewals", {"paid_amount": "4.99"}, key="r-late")
    assert late.status_code == 422
    assert late.json()["error"]["code"] == "subscription_ended"
    assert api.get(f"/api/v1/members/{member.member_number}/").json()["subscription"]["benefits_active"] is False


def test_cancel_now_and_at_period_end(api, member, plus):
    start(api, member)
    scheduled = action(api, "cancel", {"at_period_end": True}, key="c-1")
    assert scheduled.status_code == 200
    assert scheduled.json()["cancel_at_period_end"] is True
    assert scheduled.json()["status"] == "active"
    assert scheduled.json()["benefits_active"] is True
    now = action(api, "cancel", {"at_period_end": False}, key="c-2").json()
    assert now["status"] == "cancelled"
    assert now["benefits_active"] is False
    assert action(api, "cancel", {"at_period_end": False}, key="c-3").status_code == 422


def test_cancel_at_period_end_ends_exactly_at_the_period_end(api, member, plus):
    start(api, member)
    action(api, "cancel", {"at_period_end": True})
    subscription = Subscription.objects.get()
    end = subscription.current_period_end
    assert subscription.benefits_at(end - timedelta(microseconds=1))
    assert not subscription.benefits_at(end)
    services.subscriptions_expire_due(now=end)
    subscription.refresh_from_db()
    assert (subscription.status, subscription.ended_at) == ("cancelled", end)


def test_plan_change_upgrade_now_downgrade_at_renewal(api, member, plus, premium):
    start(api, member)
    upgraded = action(api, "plan-change", {"plan": "premium"}, key="p-1")
    assert upgraded.status_code == 200
    assert upgraded.json()["plan"] == "premium"
    downgrade = action(api, "plan-change", {"plan": "plus"}, key="p-2").json()
    assert (downgrade["plan"], downgrade["pending_plan"]) == ("premium", "plus")
    renewed = action(api, "renewals", {"paid_amount": "4.99"}, key="r-1").json()
    assert (renewed["plan"], renewed["pending_plan"]) == ("plus", None)
    assert action(api, "plan-change", {"plan": "nope"}, key="p-3").status_code == 422


def test_unknown_subscription_is_404(api):
    assert action(api, "renewals", {"paid_amount": "1"}, external_id="missing").status_code == 404
    assert api.get("/api/v1/subscriptions/missing/").status_code == 404


def test_lifecycle_webhooks(api, member, plus):
    webhook_endpoint_create(
        api_key=api.api_key,
        url="https://shop.example/hooks",
        events=[
            "subscription.started",
            "subscription.renewed",
            "subscription.past_due",
            "subscription.cancelled",
            "subscription.expired",
        ],
    )
    start(api, member)
    action(api, "payment-failed", key="f")
    action(api, "renewals", {"paid_amount": "4.99"}, key="r")
    action(api, "cancel", {"at_period_end": True}, key="c")
    subscription = Subscription.objects.get()
    services.subscriptions_expire_due(now=subscription.current_period_end)
    deliveries = list(WebhookDelivery.objects.order_by("id"))
    assert [delivery.event for delivery in deliveries] == [
        "subscription.started",
        "subscription.past_due",
        "subscription.renewed",
        "subscription.cancelled",
        "subscription.expired",
    ]
    assert deliveries[0].payload["member_number"] == member.member_number
    assert deliveries[1].payload["subscription"]["status"] == "past_due"
    assert deliveries[-1].payload["subscription"]["status"] == "cancelled"


def test_subscription_reads_cost_constant_queries(api, member, plus, django_assert_max_num_queries):
    start(api, member)
    for number in range(3):
        action(api, "renewals", {"paid_amount": "1"}, key=f"r{number}")
    with django_assert_max_num_queries(4):
        assert api.get("/api/v1/subscriptions/sub_1/").status_code == 200
    with django_assert_max_num_queries(3):
        assert api.get("/api/v1/plans/").status_code == 200


def test_purchase_preview_lists_the_plan_multiplier_step(api, member, plus):
    from .conftest import purchase_body

    start(api, member)
    body = purchase_body(member)
    del body["occurred_at"]
    steps = api.post("/api/v1/purchases/preview/", body, format="json").json()["steps"]
    assert steps[-1]["kind"] == "plan_multiplier"
    assert steps[-1]["rule"] == "Plus membership"
    assert steps[-1]["detail"].startswith("× 2")


def test_rewards_api_names_the_plan_of_members_only_rewards(api, plus):
    from tests.factories import RewardFactory

    RewardFactory(slug="lounge", required_plan=plus, member_points_cost=None)
    RewardFactory(slug="mug", points_cost=500, member_points_cost=300)
    rows = {row["slug"]: row for row in api.get("/api/v1/rewards/").json()["results"]}
    assert rows["lounge"]["required_plan"] == "plus"
    assert rows["mug"]["member_points_cost"] == 300


def test_the_tills_look_up_knows_who_never_subscribed_and_a_subscriber_still_earns_the_multiplier(api, member, plus):
    """Members who never had a subscription cost no subscription query (``has_subscriptions`` on the till's
    member look-up); a subscriber's purchase and read still find theirs."""
    from members.selectors import member_get

    other = MemberFactory()
    assert start(api, member).status_code == 201
    assert member_get(member_number=member.member_number).has_subscriptions is True
    assert member_get(member_number=other.member_number).has_subscriptions is False
    assert api.get(f"/api/v1/members/{member.member_number}/").json()["subscription"]["plan"] == "plus"
    assert api.get(f"/api/v1/members/{other.member_number}/").json()["subscription"] is None
    lines = [{"sku": "A", "quantity": 1, "unit_price": "20.00"}]
    earned = {}
    for who in (member, other):
        body = {"member": who.member_number, "external_id": f"x-{who.pk}", "channel": "online", "lines": lines}
        body["occurred_at"] = timezone.now().isoformat()
        response = post(api, "/api/v1/purchases/", body, key=f"p-{who.pk}")
        assert response.status_code == 201, response.json()
        earned[who.pk] = response.json()["points_earned"] + response.json()["points_pending"]
    assert earned[member.pk] == 2 * earned[other.pk] > 0
