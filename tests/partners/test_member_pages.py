"""Members' side of the coalition: "Where to earn and spend", the partner on each activity line, and partner
rewards saying where they can be used."""

from decimal import Decimal

import pytest
from django.urls import reverse

from members.models import EarningRule, Partner, PartnerStore
from rewards.services import reward_redeem
from tests.factories import EarningRuleFactory, MemberFactory, RewardFactory, buy, partner_factory, points_give

pytestmark = pytest.mark.django_db


@pytest.fixture
def cafe():
    partner = partner_factory(name="Cafe Noir", slug="cafe-noir", tagline="2 points per euro on coffee")
    EarningRuleFactory(name="2 points per euro", kind=EarningRule.Kind.SPEND, rate=Decimal("2"), partner=partner)
    PartnerStore.objects.create(partner=partner, name="Cafe Noir Centrum", address="Oudegracht 1", city="Utrecht")
    return partner


def test_where_to_earn_and_spend_lists_active_partners_with_what_they_give_stores_and_rewards(
    client, cafe, django_assert_max_num_queries
):
    partner_factory(name="Closed Shop", slug="closed", status=Partner.Status.ENDED)
    fuel = partner_factory(name="Fuel Stop", slug="fuel", counts_toward_tiers=False)
    RewardFactory(name="Free espresso", redeemable_at=cafe, points_cost=150)
    RewardFactory(name="Free car wash", redeemable_at=fuel, points_cost=400)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("partners"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Where to earn and spend" in body
    assert "Cafe Noir" in body and "2 points per euro on coffee" in body and "Oudegracht 1" in body
    assert "Free espresso" in body and "Free car wash" in body
    assert "do not count toward your tier" in body
    assert "Closed Shop" not in body


def test_the_activity_names_the_partner_on_each_line(client, cafe):
    member = MemberFactory()
    buy(member, "10.00", partner=cafe, external_id="CAFE-1")
    buy(member, "10.00", external_id="OWN-1")
    client.force_login(member.user)
    body = client.get(reverse("members:activity")).content.decode()
    assert body.count(">Cafe Noir</span>") == 1


def test_a_partner_reward_says_where_it_can_be_used(client, cafe):
    member = MemberFactory()
    reward = RewardFactory(name="Free espresso", redeemable_at=cafe, points_cost=150)
    client.force_login(member.user)
    assert "Use at Cafe Noir" in client.get(reverse("rewards:catalogue")).content.decode()
    detail = client.get(reverse("rewards:detail", args=[reward.slug])).content.decode()
    assert "Use it at" in detail and "Cafe Noir" in detail and "(only there)" in detail
    points_give(member, 150)
    reward_redeem(member=member, reward=reward, idempotency_key="espresso")
    assert "Use it at Cafe Noir only." in client.get(reverse("rewards:vouchers")).content.decode()
