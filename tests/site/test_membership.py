"""The member's paid-membership page and the plan badge: plans side by side, status, savings in money, cancelling
at the period end themselves, and the history."""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from integrations.models import WebhookDelivery
from integrations.services import api_key_create, webhook_endpoint_create
from members.services.purchases import PurchaseLineInput, purchase_record
from members.subscriptions import services
from members.subscriptions.models import MembershipPlan, Subscription, SubscriptionEvent
from tests.factories import MemberFactory, RewardFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def plans():
    plus = MembershipPlan.objects.create(
        name="Plus", slug="plus", price=Decimal("4.99"), earn_multiplier=Decimal("2"), free_shipping=True
    )
    premium = MembershipPlan.objects.create(
        name="Premium", slug="premium", price=Decimal("99"), period="year", early_access_days=2
    )
    return plus, premium


@pytest.fixture
def member():
    return MemberFactory()


@pytest.fixture
def member_client(client, member):
    client.force_login(member.user)
    return client


def subscribe(member, plan, *, source="key:1"):
    return services.subscription_start(member=member, plan=plan, external_id="sub_1", source=source)


def test_page_needs_login(client):
    response = client.get(reverse("members:membership"))
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_free_member_sees_the_plans_side_by_side(member_client, plans):
    body = member_client.get(reverse("members:membership")).content.decode()
    assert 'data-testid="no-membership"' in body
    assert 'data-testid="plan-plus"' in body and 'data-testid="plan-premium"' in body
    assert "×2 points on purchases, on top of your tier" in body
    assert "Free shipping" in body
    assert "Early access to new rewards, 2 days before everyone" in body


def test_subscriber_sees_plan_status_renewal_savings_and_history(member_client, member, plans):
    plus, _ = plans
    RewardFactory(name="Monthly fiver", kind="fixed_discount", value=Decimal("5.00"), period_reward_plan=plus)
    subscribe(member, plus)
    purchase_record(
        member=member,
        external_id="P-1",
        lines=[PurchaseLineInput(sku="TEA", quantity=1, unit_price=Decimal("100.00"))],
        channel="online",
        occurred_at=timezone.now(),
        currency="EUR",
    )
    body = member_client.get(reverse("members:membership")).content.decode()
    assert 'data-testid="plan-name">Plus<' in body
    assert "Next renewal" in body
    # 100 extra points at €0.01 and the €5 voucher of the period
    assert "You saved €6.00 this year" in body
    assert "Extra points, at their value: €1.00" in body
    assert "Monthly fiver every month" in body
    assert 'data-testid="membership-history"' in body and "Started" in body
    assert 'aria-current="true"' in body


def test_member_cancels_at_period_end_themselves(member_client, member, plans):
    api_key, _ = api_key_create(name="Shop", scopes=["subscriptions:read"])
    webhook_endpoint_create(api_key=api_key, url="https://shop.example/hooks", events=["subscription.cancelled"])
    other_key, _ = api_key_create(name="Another shop", scopes=["subscriptions:read"])
    webhook_endpoint_create(api_key=other_key, url="https://other.example/hooks", events=["subscription.cancelled"])
    subscription = subscribe(member, plans[0], source=api_key.source)
    response = member_client.post(reverse("members:membership"))
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert subscription.cancel_at_period_end and subscription.status == "active"
    event = SubscriptionEvent.objects.get(kind="cancel_scheduled")
    assert event.actor == "member"
    # The shop that reported the subscription hears of the member's own cancellation; another shop does not.
    deliveries = WebhookDelivery.objects.filter(event="subscription.cancelled")
    assert [d.endpoint.api_key_id for d in deliveries] == [api_key.pk]
    body = member_client.get(reverse("members:membership")).content.decode()
    assert "Ends on" in body and 'data-testid="cancel-membership"' not in body


def test_a_member_cannot_cancel_someone_elses(member_client, plans):
    other = MemberFactory()
    subscription = services.subscription_start(member=other, plan=plans[0], external_id="x", source="key:1")
    member_client.post(reverse("members:membership"))
    subscription.refresh_from_db()
    assert not subscription.cancel_at_period_end


def test_dashboard_shows_the_plan_badge_while_benefits_last(member_client, member, plans):
    assert 'data-testid="plan-badge"' not in member_client.get(reverse("members:dashboard")).content.decode()
    subscribe(member, plans[0])
    body = member_client.get(reverse("members:dashboard")).content.decode()
    assert 'data-testid="plan-badge"' in body and "Plus subscriber" in body
    Subscription.objects.update(status="cancelled", ended_at=timezone.now())
    assert 'data-testid="plan-badge"' not in member_client.get(reverse("members:dashboard")).content.decode()


def test_membership_page_query_count_is_constant(member_client, member, plans, django_assert_max_num_queries):
    subscription = subscribe(member, plans[0])
    for days in range(40, 46):  # each renewal pays a later period: six more history rows
        end = subscription.current_period_end + timezone.timedelta(days=days)
        subscription, _ = services.subscription_renew(
            subscription=subscription, paid_amount=Decimal("1"), period_end=end
        )
    assert SubscriptionEvent.objects.count() == 7
    member_client.get(reverse("members:membership"))
    with django_assert_max_num_queries(10):
        assert member_client.get(reverse("members:membership")).status_code == 200


def test_data_export_includes_subscriptions_history_and_savings(member_client, member, plans):
    import json

    subscribe(member, plans[0])
    data = json.loads(member_client.get(reverse("members:export")).content)
    assert data["subscriptions"][0]["plan"] == "Plus"
    assert data["subscription_events"][0]["kind"] == "started"
    assert data["subscription_savings"] == []
