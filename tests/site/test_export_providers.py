import json

import pytest
from django.urls import reverse

from referrals.services import referral_code_get_or_create
from rewards.services import reward_redeem
from tests.factories import MemberFactory, RewardFactory, points_give

pytestmark = pytest.mark.django_db


def test_export_includes_vouchers_and_referral_code(client):
    member = MemberFactory(email="exporter@example.com")
    points_give(member, 500)
    reward = RewardFactory(points_cost=100)
    reward_redeem(member=member, reward=reward, idempotency_key="export-test")
    code = referral_code_get_or_create(member=member)
    client.force_login(member.user)
    data = json.loads(client.get(reverse("members:export")).content)
    assert data["redemptions"][0]["reward"] == reward.name
    assert data["redemptions"][0]["voucher"]["code"]
    assert data["referral_code"] == code.code


def test_dashboard_suggests_rewards_the_member_is_close_to(client):
    member = MemberFactory(email="close@example.com")
    points_give(member, 80)
    RewardFactory(name="Free coffee", points_cost=200)
    client.force_login(member.user)
    body = client.get(reverse("members:dashboard")).content.decode()
    assert "Free coffee" in body
    assert "120" in body  # points to go
