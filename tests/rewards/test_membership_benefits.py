"""Rewards for paid members: members-only rewards and prices, early access, and the reward every period (granted
once per subscription and period, however often the daily job runs)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from members.subscriptions import services as subscriptions
from members.subscriptions.models import MembershipPlan, SubscriptionSaving
from members.tasks import subscriptions_daily
from rewards.exceptions import MembersOnly, RewardNotAvailable
from rewards.models import Redemption, Reward, Voucher
from rewards.services import reward_redeem
from tests.factories import MemberFactory, RewardFactory, points_give
from tests.rewards.conftest import balance

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan():
    return MembershipPlan.objects.create(name="Plus", slug="plus", price=Decimal("5.00"), early_access_days=3)


def subscribe(member, plan, external_id="sub", **kwargs):
    return subscriptions.subscription_start(member=member, plan=plan, external_id=external_id, source="key:1", **kwargs)


def test_members_only_reward_needs_the_plan(member, plan):
    reward = RewardFactory(points_cost=100, required_plan=plan)
    with pytest.raises(MembersOnly):
        reward_redeem(member=member, reward=reward, idempotency_key="r-1")
    subscribe(member, plan)
    redemption = reward_redeem(member=member, reward=reward, idempotency_key="r-2")
    assert redemption.points_spent == 100


def test_members_only_price_and_its_saving(member, plan):
    reward = RewardFactory(points_cost=500, member_points_cost=300)
    subscribe(member, plan)
    reward_redeem(member=member, reward=reward, idempotency_key="r-1")
    assert balance(member) == 700
    saving = SubscriptionSaving.objects.get(kind="member_price")
    assert (saving.points, saving.amount) == (200, Decimal("2.00"))


def test_free_members_pay_the_normal_price(member, plan):
    reward = RewardFactory(points_cost=500, member_points_cost=300)
    reward_redeem(member=member, reward=reward, idempotency_key="r-1")
    assert balance(member) == 500


def test_early_access_opens_a_reward_days_before_everyone(member, plan):
    opens = timezone.now() + timedelta(days=2)
    reward = RewardFactory(points_cost=100, available_from=opens)
    other = MemberFactory()
    points_give(other, 1000)
    with pytest.raises(RewardNotAvailable):
        reward_redeem(member=other, reward=reward, idempotency_key="o-1")
    subscribe(member, plan)
    assert reward_redeem(member=member, reward=reward, idempotency_key="m-1").points_spent == 100


def test_period_reward_granted_once_per_period_under_a_rerun_job(member, plan):
    gift = RewardFactory(kind=Reward.Kind.FIXED_DISCOUNT, value=Decimal("5.00"), points_cost=1, period_reward_plan=plan)
    subscription = subscribe(member, plan)
    assert Redemption.objects.filter(reward=gift, is_gift=True).count() == 1  # at the start, without waiting
    for _ in range(3):
        subscriptions_daily()
    assert Redemption.objects.filter(reward=gift, is_gift=True).count() == 1
    assert Voucher.objects.filter(member=member, reward=gift).count() == 1
    assert SubscriptionSaving.objects.get(kind="period_reward").amount == Decimal("5.00")
    # The next period brings the next one, once.
    end = subscription.current_period_end
    subscriptions.subscription_renew(subscription=subscription, paid_amount=Decimal("5"), now=end - timedelta(days=1))
    assert Redemption.objects.filter(reward=gift, is_gift=True).count() == 2
    assert subscriptions.subscription_period_rewards_grant(now=end + timedelta(days=1)) == 0
    assert Redemption.objects.filter(reward=gift, is_gift=True).count() == 2


def test_the_job_grants_what_a_start_could_not(member, plan):
    gift = RewardFactory(kind=Reward.Kind.FIXED_DISCOUNT, value=Decimal("5"), points_cost=1, stock=0)
    gift.period_reward_plan = plan
    gift.save()
    subscribe(member, plan)  # out of stock: the start still succeeds
    assert not Redemption.objects.filter(reward=gift).exists()
    Reward.objects.filter(pk=gift.pk).update(stock=5)
    assert subscriptions.subscription_period_rewards_grant() == 1
    assert subscriptions.subscription_period_rewards_grant() == 0


def test_no_period_reward_after_expiry(member, plan):
    gift = RewardFactory(kind=Reward.Kind.FIXED_DISCOUNT, value=Decimal("5"), points_cost=1, period_reward_plan=plan)
    subscription = subscribe(member, plan)
    end = subscription.current_period_end
    subscriptions.subscriptions_expire_due(now=end)
    assert subscriptions.subscription_period_rewards_grant(now=end + timedelta(days=1)) == 0
    assert Redemption.objects.filter(reward=gift).count() == 1


def test_catalogue_labels_members_only_rewards_for_everyone(client, member, plan):
    RewardFactory(name="Lounge pass", points_cost=100, required_plan=plan)
    RewardFactory(name="Mug", points_cost=500, member_points_cost=300)
    body = client.get(reverse("rewards:catalogue")).content.decode()
    assert "Members only: Plus" in body
    assert "Paid members: 300 points" in body
    client.force_login(member.user)
    body = client.get(reverse("rewards:catalogue")).content.decode()
    assert "Members only: Plus" in body and "For Plus members." in body
    subscribe(member, plan)
    body = client.get(reverse("rewards:catalogue")).content.decode()
    assert "For Plus members." not in body
    assert "your price" in body


def test_plans_api_lists_period_rewards_and_members_only_count(plan):
    from rest_framework.test import APIClient

    from integrations.services import api_key_create

    RewardFactory(name="Monthly fiver", kind=Reward.Kind.FIXED_DISCOUNT, value=Decimal("5"), period_reward_plan=plan)
    RewardFactory(required_plan=plan)
    _, raw = api_key_create(name="Shop", scopes=["subscriptions:read"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw}")
    benefits = client.get("/api/v1/plans/").json()[0]["benefits"]
    assert benefits["period_rewards"][0]["name"] == "Monthly fiver"
    assert benefits["period_rewards"][0]["value"] == "5.00"
    assert benefits["members_only_rewards"] == 1


def test_the_job_works_through_subscribers_in_chunks(plan):
    for index, member in enumerate(MemberFactory.create_batch(5)):
        subscribe(member, plan, external_id=f"s-{index}")
    # The plan's period reward is added later: the job gives every subscriber this period's, in chunks, once.
    RewardFactory(kind=Reward.Kind.FIXED_DISCOUNT, value=Decimal("2"), points_cost=1, period_reward_plan=plan)
    assert subscriptions.subscription_period_rewards_grant(chunk_size=2) == 5
    assert subscriptions.subscription_period_rewards_grant(chunk_size=2) == 0
    assert Redemption.objects.filter(is_gift=True).count() == 5
