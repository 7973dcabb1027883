"""Closing a membership removes the member's personal data from every app; the ledger still sums."""

import pytest
from django.core.management import call_command

from campaigns.models import CampaignEmail
from integrations.models import IdempotencyRecord
from members.models import LedgerEntry, Member, PointsAccount
from members.services import member_close, points_adjust
from referrals.models import Referral
from rewards.models import Redemption, Reward
from rewards.services import ShippingAddress, reward_redeem
from tests.factories import MemberFactory, RewardFactory, campaign_factory, referred_friend
from tests.integrations.conftest import post

pytestmark = pytest.mark.django_db


def test_closure_erases_addresses_stored_responses_email_errors_and_signup_address(api, tiers):
    enrolled = post(api, "/api/v1/members/", {"email": "grace@example.com", "first_name": "Grace"}, key="enrol")
    assert enrolled.status_code == 201
    member = Member.objects.get(member_number=enrolled.json()["member_number"])
    points_adjust(member=member, points=500, reason="Welcome", idempotency_key="w", actor=None)
    mug = RewardFactory(kind=Reward.Kind.FREE_PRODUCT, requires_shipping=True, points_cost=100, stock=5, value=None)
    address = ShippingAddress(name="Grace Hopper", line1="1 Navy Way", postcode="22202", city="Arlington", country="US")
    reward_redeem(member=member, reward=mug, idempotency_key="mug", shipping_address=address)
    campaign = campaign_factory()
    CampaignEmail.objects.create(campaign=campaign, member=member, status="failed", error="550 grace@example.com")
    friend, referral = referred_friend(MemberFactory(), email="friend@example.com")
    Referral.objects.filter(pk=referral.pk).update(signup_ip="203.0.113.7")

    member_close(member=member, actor=None)
    member_close(member=friend, actor=None)

    redemption = Redemption.objects.get(member=member)
    assert (redemption.shipping_name, redemption.shipping_line1, redemption.shipping_city) == ("", "", "")
    assert redemption.points_spent == 100  # what was redeemed stays, for the accounts
    stored = IdempotencyRecord.objects.get(key="enrol")
    assert "grace" not in str(stored.response_body).lower()
    assert stored.response_status == 201
    assert CampaignEmail.objects.get(member=member).error == ""
    assert Referral.objects.get(pk=referral.pk).signup_ip is None
    # A retry of the enrolment is still answered, without the data.
    again = post(api, "/api/v1/members/", {"email": "grace@example.com", "first_name": "Grace"}, key="enrol")
    assert again.status_code == 201 and "grace" not in again.content.decode().lower()
    account = PointsAccount.objects.get(pk=member.pk)
    assert account.balance == 0
    assert sum(LedgerEntry.objects.filter(account=account).values_list("points", flat=True)) == 0
    call_command("verify_ledger")
