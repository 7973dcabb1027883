"""``referral.qualified`` reaches subscribed webhook endpoints when a referral pays, whether at the friend's
purchase or at staff approval of a held one; never for a purchase that does not qualify or a second time."""

import json

import pytest

from integrations.models import WebhookDelivery
from referrals.models import Referral
from referrals.services import referral_approve, referral_qualify
from tests.factories import (
    MemberFactory,
    StaffUserFactory,
    referral_program_set,
    referral_purchase,
    referred_friend,
    webhook_endpoint_for,
)

pytestmark = pytest.mark.django_db


def test_qualifying_purchase_is_delivered_to_subscribed_endpoints_only(emitted_events):
    subscribed = webhook_endpoint_for(["referral.qualified"])
    webhook_endpoint_for(["purchase.recorded"], name="Till")
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    referral_purchase(friend, "9.00")  # below the minimum: nothing yet
    assert not WebhookDelivery.objects.filter(event="referral.qualified").exists()

    result = referral_purchase(friend, "25.00", external_id="T-25")
    referral.refresh_from_db()
    assert referral.state == Referral.State.QUALIFIED
    referral_qualify(referral=referral, purchase=result.purchase)  # a duplicate call pays and emits nothing

    [delivery] = WebhookDelivery.objects.filter(event="referral.qualified")
    assert delivery.endpoint == subscribed
    assert delivery.payload == {
        "member_number": referrer.member_number,
        "referral_id": referral.pk,
        "code": referral.code.code,
        "friend_member_number": friend.member_number,
        "referrer_points": 500,
        "friend_points": 250,
        "purchase_external_id": "T-25",
        "purchase_total": "25.00",
        "currency": "EUR",
        "approved_by_staff": False,
        "qualified_at": referral.qualified_at.isoformat(),
    }
    [(_, payload)] = [item for item in emitted_events if item[0] == "referral.qualified"]
    assert json.loads(json.dumps(payload)) == payload


def test_staff_approval_of_a_held_referral_is_delivered_too():
    webhook_endpoint_for(["referral.qualified"])
    referral_program_set(velocity_max_per_hour=0)
    friend, referral = referred_friend(MemberFactory())
    referral_purchase(friend, "25.00")
    assert not WebhookDelivery.objects.filter(event="referral.qualified").exists()  # held: not paid
    referral_approve(referral=referral, actor=StaffUserFactory(), reason="Known family")
    [delivery] = WebhookDelivery.objects.filter(event="referral.qualified")
    assert delivery.payload["approved_by_staff"] is True


def test_no_subscriber_no_delivery():
    webhook_endpoint_for(["reward.redeemed", "voucher.used"])
    friend, _ = referred_friend(MemberFactory())
    referral_purchase(friend, "25.00")
    assert not WebhookDelivery.objects.exists()
