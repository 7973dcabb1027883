"""``reward.redeemed`` and ``voucher.used`` reach subscribed webhook endpoints, inside the service's transaction."""

import json
from decimal import Decimal

import pytest
from django.utils import timezone

from integrations.models import WebhookDelivery
from members.exceptions import InsufficientPoints
from members.services.purchases import PurchaseLineInput, purchase_record
from rewards.exceptions import VoucherAlreadyUsed
from rewards.models import Reward
from rewards.services import reward_redeem, voucher_use
from tests.factories import MemberFactory, RewardFactory, webhook_endpoint_for
from tests.rewards.conftest import balance

pytestmark = pytest.mark.django_db


def _deliveries(event):
    return list(WebhookDelivery.objects.filter(event=event).select_related("endpoint"))


def _buy(member, external_id="T-1"):
    return purchase_record(
        member=member,
        external_id=external_id,
        lines=[PurchaseLineInput(sku="SKU", quantity=1, unit_price=Decimal("10.00"))],
        channel="in_store",
        occurred_at=timezone.now(),
        currency="EUR",
    ).purchase


def test_redeeming_a_voucher_reward_is_delivered_to_subscribed_endpoints_only(member, emitted_events):
    subscribed = webhook_endpoint_for(["reward.redeemed"])
    webhook_endpoint_for(["voucher.used", "purchase.recorded"], name="Till")
    reward = RewardFactory(points_cost=200, kind=Reward.Kind.FIXED_DISCOUNT, value=Decimal("5.00"), stock=3)
    redemption = reward_redeem(member=member, reward=reward, idempotency_key="r-1")

    [delivery] = _deliveries("reward.redeemed")
    assert delivery.endpoint == subscribed
    voucher = redemption.voucher
    assert delivery.payload == {
        "member_number": member.member_number,
        "redemption_id": redemption.pk,
        "reward_id": reward.pk,
        "reward_slug": reward.slug,
        "reward_name": reward.name,
        "reward_kind": "fixed_discount",
        "quantity": 1,
        "points_spent": 200,
        "balance": balance(member),
        "charity": "",
        "requires_shipping": False,
        # A program-wide endpoint hears a redemption no integration made, but not the voucher's code.
        "voucher_code": None,
        "voucher_expires_at": voucher.expires_at.isoformat(),
        "redeemed_at": redemption.created_at.isoformat(),
        "redeemable_at": None,  # an operator's reward (a partner's says which partner's tills take it)
    }
    # What the hook is given is JSON as it stands (no encoder needed), for any listener.
    [(_, payload)] = [item for item in emitted_events if item[0] == "reward.redeemed"]
    assert json.loads(json.dumps(payload)) == payload == {**delivery.payload, "voucher_code": voucher.code}


def test_a_replayed_or_refused_redemption_emits_nothing(member, emitted_events):
    webhook_endpoint_for(["reward.redeemed"])
    reward = RewardFactory(points_cost=200, stock=3)
    reward_redeem(member=member, reward=reward, idempotency_key="r-1")
    assert reward_redeem(member=member, reward=reward, idempotency_key="r-1").replayed
    with pytest.raises(InsufficientPoints):
        reward_redeem(member=member, reward=RewardFactory(points_cost=5000), idempotency_key="r-2")
    assert len(_deliveries("reward.redeemed")) == 1
    assert [event for event, _ in emitted_events] == ["reward.redeemed"]


def test_no_subscriber_no_delivery(member):
    webhook_endpoint_for(["purchase.recorded", "tier.changed"])
    voucher = reward_redeem(member=member, reward=RewardFactory(points_cost=100), idempotency_key="r-1").voucher
    voucher_use(code=voucher.code)
    assert not WebhookDelivery.objects.filter(event__in=["reward.redeemed", "voucher.used"]).exists()


def test_using_a_voucher_is_delivered_once_with_the_purchase_it_paid(member, emitted_events):
    subscribed = webhook_endpoint_for(["voucher.used"])
    webhook_endpoint_for(["reward.redeemed"], name="Other")
    reward = RewardFactory(points_cost=100, kind=Reward.Kind.PERCENT_DISCOUNT, value=None, percent_off=Decimal("15.00"))
    voucher = reward_redeem(member=member, reward=reward, idempotency_key="r-1").voucher
    # A gift: another member's purchase pays with it (vouchers are transferable) and the event says so.
    friend = MemberFactory()
    purchase = _buy(friend)
    used = voucher_use(
        code=voucher.code.lower(), purchase=purchase, purchase_reference="receipt 42", idempotency_key="u"
    )
    assert used.used_on_purchase == purchase
    assert voucher_use(code=voucher.code, purchase=purchase, idempotency_key="u").replayed
    with pytest.raises(VoucherAlreadyUsed):
        voucher_use(code=voucher.code, idempotency_key="other")

    [delivery] = _deliveries("voucher.used")
    assert delivery.endpoint == subscribed
    assert delivery.payload == {
        "member_number": member.member_number,
        "voucher_id": voucher.pk,
        "voucher_code": None,  # the code goes only to the integration that used it
        "redemption_id": voucher.redemption_id,
        "reward_id": reward.pk,
        "reward_name": reward.name,
        "value": None,
        "percent_off": "15.00",
        "used_at": used.used_at.isoformat(),
        "purchase_external_id": "T-1",
        "purchase_member_number": friend.member_number,
        "purchase_reference": "receipt 42",
        "partner": None,  # used at the operator's till
    }
    [(_, payload)] = [item for item in emitted_events if item[0] == "voucher.used"]
    assert json.loads(json.dumps(payload)) == payload


def test_a_fixed_value_voucher_used_without_a_purchase_sends_its_value_as_a_string(member):
    webhook_endpoint_for(["voucher.used"])
    reward = RewardFactory(points_cost=100, kind=Reward.Kind.FIXED_DISCOUNT, value=Decimal("7.50"))
    voucher = reward_redeem(member=member, reward=reward, idempotency_key="r-1").voucher
    voucher_use(code=voucher.code)
    [delivery] = _deliveries("voucher.used")
    assert delivery.payload["value"] == "7.50"
    assert delivery.payload["purchase_external_id"] is None and delivery.payload["purchase_member_number"] is None
