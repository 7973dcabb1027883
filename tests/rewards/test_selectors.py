from datetime import timedelta

import pytest
from django.utils import timezone

from members.models import Tier
from rewards.models import Reward
from rewards.selectors import (
    donation_totals_by_charity,
    reward_redemption_counts,
    rewards_catalogue,
    rewards_featured,
)
from rewards.services import reward_redeem, voucher_cancel
from tests.factories import MemberFactory, RewardFactory, points_give

pytestmark = pytest.mark.django_db


def test_catalogue_annotates_affordable_and_points_to_go(member, django_assert_num_queries):
    cheap = RewardFactory(points_cost=400)
    dear = RewardFactory(points_cost=1120)
    with django_assert_num_queries(2):  # the (cached) membership plans, then the catalogue
        rows = {r.pk: r for r in rewards_catalogue(member=member, balance=1000)}
    assert rows[cheap.pk].affordable and rows[cheap.pk].points_to_go == 0
    assert not rows[dear.pk].affordable and rows[dear.pk].points_to_go == 120


def test_catalogue_respects_tier_window_stock_and_active(member):
    silver = Tier.objects.get(name="Silver")
    visible = RewardFactory(points_cost=10)
    RewardFactory(points_cost=10, min_tier=silver)
    RewardFactory(points_cost=10, stock=0)
    RewardFactory(points_cost=10, is_active=False)
    RewardFactory(points_cost=10, available_from=timezone.now() + timedelta(days=1))
    assert list(rewards_catalogue(member=member, balance=1000)) == [visible]
    member.tier = Tier.objects.get(name="Gold")
    assert len(rewards_catalogue(member=member, balance=1000)) == 2


def test_catalogue_counts_what_the_member_already_redeemed(member):
    reward = RewardFactory(points_cost=10, per_member_limit=2)
    reward_redeem(member=member, reward=reward, idempotency_key="a")
    assert rewards_catalogue(member=member, balance=990).get(pk=reward.pk).redeemed_by_member == 1


def test_featured_is_available_and_limited():
    RewardFactory.create_batch(3, featured=True)
    RewardFactory(featured=True, is_active=False)
    RewardFactory(featured=False)
    assert len(rewards_featured(limit=2)) == 2
    assert len(rewards_featured(limit=10)) == 3


def test_redemption_counts_and_donation_totals(member):
    other = MemberFactory()
    points_give(other, 1000)
    bank = RewardFactory(kind=Reward.Kind.DONATION, value=None, charity="Food Bank", points_cost=10)
    shelter = RewardFactory(kind=Reward.Kind.DONATION, value=None, charity="Shelter", points_cost=10)
    reward_redeem(member=member, reward=bank, idempotency_key="a", points=100)
    reward_redeem(member=member, reward=bank, idempotency_key="b", points=50)
    reward_redeem(member=other, reward=bank, idempotency_key="c", points=25)
    reward_redeem(member=other, reward=shelter, idempotency_key="d", points=500)
    assert donation_totals_by_charity() == [
        {"charity": "Shelter", "points": 500, "donations": 1, "donors": 1},
        {"charity": "Food Bank", "points": 175, "donations": 3, "donors": 2},
    ]
    voucher_reward = RewardFactory(points_cost=10)
    first = reward_redeem(member=member, reward=voucher_reward, idempotency_key="e")
    reward_redeem(member=member, reward=voucher_reward, idempotency_key="f")
    voucher_cancel(voucher=first.voucher)
    counts = reward_redemption_counts()
    assert counts[bank.pk] == {"redemptions": 3, "units": 3}
    assert counts[voucher_reward.pk] == {"redemptions": 1, "units": 1}


def test_the_dashboards_compiled_suggestions_are_the_catalogues_own_order(member):
    """``rewards_for_member_dashboard`` sends a statement compiled once per tier position and plan: what it lists,
    with its annotations, is what the ORM catalogue lists, for every balance and tier."""
    from members.models import Member
    from members.selectors import member_for_user
    from rewards.selectors import rewards_for_member_dashboard

    silver = Tier.objects.get(name="Silver")
    for cost in (50, 300, 900, 2500):
        RewardFactory(points_cost=cost)
    RewardFactory(points_cost=200, min_tier=silver)
    RewardFactory(points_cost=10, stock=0)
    for tier_name in ("Bronze", "Silver"):
        Member.objects.filter(pk=member.pk).update(tier=Tier.objects.get(name=tier_name))
        for balance in (0, 250, 1000, 5000):
            member.account.__class__.objects.filter(pk=member.pk).update(balance=balance)
            loaded = member_for_user(member.user)
            compiled = rewards_for_member_dashboard(loaded, limit=3)
            orm = list(
                rewards_catalogue(member=loaded, balance=balance).order_by("points_to_go", "points_cost", "pk")[:3]
            )
            assert [r.pk for r in compiled] == [r.pk for r in orm]
            assert [(r.affordable, r.points_to_go, r.unit_cost) for r in compiled] == [
                (r.affordable, r.points_to_go, r.unit_cost) for r in orm
            ]
