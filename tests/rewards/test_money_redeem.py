"""Redemptions to the point: exact balances and stock, quantities, the voucher's value, cancelling and its grace."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members.exceptions import InsufficientPoints
from members.models import LedgerEntry, PointsAccount, ProgramSettings
from rewards.exceptions import CancellationNotAllowed, RewardOutOfStock
from rewards.models import PartnerCode, Redemption, Reward, Voucher
from rewards.services import (
    ShippingAddress,
    redemption_cancel,
    redemption_mark_shipped,
    reward_redeem,
    voucher_cancel,
)
from tests.factories import RewardFactory
from tests.rewards.conftest import balance, snapshot

pytestmark = pytest.mark.django_db
Kind = LedgerEntry.Kind
ADDRESS = ShippingAddress(name="Dana Demo", line1="Damrak 1", postcode="1012 LG", city="Amsterdam", country="nl")


def redeem(member, reward, key="key-1", **kwargs):
    return reward_redeem(member=member, reward=reward, idempotency_key=key, **kwargs)


def account(member):
    return PointsAccount.objects.get(pk=member.pk)


def entries(member):
    return list(
        LedgerEntry.objects.filter(account_id=member.pk).order_by("id").values_list("kind", "points", "balance_after")
    )


def test_a_reward_costing_exactly_the_balance_can_be_redeemed(member):
    redemption = redeem(member, RewardFactory(points_cost=1000))
    assert redemption.points_spent == 1000
    assert entries(member)[-1] == (Kind.REDEEM, -1000, 0)
    assert (account(member).balance, account(member).lifetime_spent) == (0, 1000)


def test_a_reward_costing_one_point_more_than_the_balance_is_refused(member):
    reward = RewardFactory(points_cost=1001, stock=5)
    before = snapshot(member, reward)
    with pytest.raises(InsufficientPoints) as error:
        redeem(member, reward)
    assert (error.value.params["needed"], error.value.params["available"]) == (1001, 1000)
    assert snapshot(member, reward) == before


def test_the_last_units_of_stock_can_be_redeemed_and_then_none(member):
    reward = RewardFactory(kind=Reward.Kind.FREE_PRODUCT, points_cost=100, value=Decimal("2.50"), stock=3)
    redemption = redeem(member, reward, quantity=3)
    assert (redemption.quantity, redemption.points_spent) == (3, 300)
    assert Reward.objects.get(pk=reward.pk).stock == 0
    assert redemption.voucher.value == Decimal("7.50")  # the unit value times the quantity
    assert entries(member)[-1] == (Kind.REDEEM, -300, 700)
    with pytest.raises(RewardOutOfStock):
        redeem(member, reward, key="key-2")
    assert balance(member) == 700


def test_a_percent_discount_is_not_multiplied_by_anything(member):
    reward = RewardFactory(kind=Reward.Kind.PERCENT_DISCOUNT, points_cost=300, value=Decimal("15"), percent_off=15)
    voucher = redeem(member, reward).voucher
    assert (voucher.value, voucher.percent_off) == (Decimal("15"), 15)


def test_a_voucher_lasts_the_rewards_days_from_the_redemption(member):
    now = timezone.now()
    voucher = redeem(member, RewardFactory(points_cost=100, voucher_validity_days=1), now=now).voucher
    assert voucher.issued_at == now
    assert voucher.expires_at == now + timedelta(days=1)


def test_two_redemptions_debit_in_order_and_count_as_spent(member):
    redeem(member, RewardFactory(points_cost=250), key="a")
    redeem(member, RewardFactory(points_cost=400), key="b")
    assert entries(member)[1:] == [(Kind.REDEEM, -250, 750), (Kind.REDEEM, -400, 350)]
    assert (account(member).balance, account(member).lifetime_spent, account(member).lifetime_earned) == (350, 650, 0)


def test_cancelling_a_voucher_returns_exactly_its_points_and_stock(member):
    reward = RewardFactory(kind=Reward.Kind.FREE_PRODUCT, points_cost=150, value=Decimal("1.00"), stock=5)
    redemption = redeem(member, reward, quantity=2)
    assert balance(member) == 700
    cancelled = voucher_cancel(voucher=redemption.voucher)
    assert (cancelled.replayed, cancelled.state) == (False, Voucher.State.CANCELLED)
    assert entries(member)[-2:] == [(Kind.REDEEM, -300, 700), (Kind.REVERSAL, 300, 1000)]
    reversal = LedgerEntry.objects.get(kind=Kind.REVERSAL)
    assert reversal.reversal_of == LedgerEntry.objects.get(kind=Kind.REDEEM)
    assert Reward.objects.get(pk=reward.pk).stock == 5
    assert Redemption.objects.get(pk=redemption.pk).status == Redemption.Status.CANCELLED


def test_a_member_may_cancel_at_the_last_moment_of_the_grace_period_but_not_a_second_later(member):
    ProgramSettings.objects.filter(pk=1).update(voucher_cancel_grace_hours=24)
    issued = timezone.now() - timedelta(hours=30)
    on_time = redeem(member, RewardFactory(points_cost=100), key="a", now=issued).voucher
    late = redeem(member, RewardFactory(points_cost=100), key="b", now=issued).voucher
    with pytest.raises(CancellationNotAllowed, match="24 hours"):
        voucher_cancel(voucher=late, by_member=True, now=issued + timedelta(hours=24, seconds=1))
    assert Voucher.objects.get(pk=late.pk).state == Voucher.State.ISSUED
    voucher_cancel(voucher=on_time, by_member=True, now=issued + timedelta(hours=24))
    assert Voucher.objects.get(pk=on_time.pk).state == Voucher.State.CANCELLED
    assert balance(member) == 900


def test_staff_cancel_a_physical_reward_before_it_ships_and_get_the_units_back(member):
    reward = RewardFactory(
        kind=Reward.Kind.FREE_PRODUCT, points_cost=200, value=None, stock=4, requires_shipping=True, name="Mug"
    )
    redemption = redeem(member, reward, quantity=2, shipping_address=ADDRESS)
    assert (balance(member), Reward.objects.get(pk=reward.pk).stock) == (600, 2)
    cancelled = redemption_cancel(redemption=redemption)
    assert cancelled.status == Redemption.Status.CANCELLED
    assert entries(member)[-1] == (Kind.REVERSAL, 400, 1000)
    assert Reward.objects.get(pk=reward.pk).stock == 4
    again = redemption_cancel(redemption=redemption)  # already cancelled: nothing more comes back
    assert again.status == Redemption.Status.CANCELLED
    assert balance(member) == 1000 and LedgerEntry.objects.filter(kind=Kind.REVERSAL).count() == 1


def test_a_shipped_reward_cannot_be_cancelled(member):
    reward = RewardFactory(kind=Reward.Kind.FREE_PRODUCT, points_cost=200, value=None, requires_shipping=True)
    redemption = redeem(member, reward, shipping_address=ADDRESS)
    redemption_mark_shipped(redemption=redemption)
    with pytest.raises(CancellationNotAllowed, match="shipped"):
        redemption_cancel(redemption=redemption)
    assert balance(member) == 800


def test_staff_cancelling_a_voucher_redemption_cancels_the_voucher_and_returns_the_points(member):
    reward = RewardFactory(points_cost=350, stock=2)
    redemption = redeem(member, reward)
    cancelled = redemption_cancel(redemption=redemption)
    assert cancelled.status == Redemption.Status.CANCELLED
    assert Voucher.objects.get(redemption=redemption).state == Voucher.State.CANCELLED
    assert entries(member)[-1] == (Kind.REVERSAL, 350, 1000)
    assert Reward.objects.get(pk=reward.pk).stock == 2


@pytest.mark.parametrize("kind", [Reward.Kind.DONATION, Reward.Kind.PARTNER])
def test_donations_and_partner_rewards_cannot_be_cancelled(member, kind):
    extra = {"charity": "Food Bank"} if kind == Reward.Kind.DONATION else {"partner_name": "Bike Shop"}
    reward = RewardFactory(kind=kind, points_cost=100, value=None, **extra)
    if kind == Reward.Kind.PARTNER:
        PartnerCode.objects.create(reward=reward, code="BIKE-1")
    redemption = redeem(member, reward, points=100 if kind == Reward.Kind.DONATION else None)
    with pytest.raises(CancellationNotAllowed, match="cannot be cancelled"):
        redemption_cancel(redemption=redemption)
    assert Redemption.objects.get(pk=redemption.pk).status == Redemption.Status.COMPLETED
    assert balance(member) == 900
