from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members.exceptions import AccountClosed, DuplicateRequest, InsufficientPoints
from members.models import LedgerEntry, PointsLot, Tier
from members.services import member_close
from rewards.exceptions import (
    InvalidRedemption,
    RedemptionLimitReached,
    RewardNotAvailable,
    RewardOutOfStock,
    TierTooLow,
)
from rewards.models import PartnerCode, Redemption, Reward, Voucher
from rewards.services import ShippingAddress, reward_redeem
from tests.factories import RewardFactory, points_give
from tests.rewards.conftest import balance, snapshot

pytestmark = pytest.mark.django_db

ADDRESS = ShippingAddress(name="Dana Demo", line1="Damrak 1", postcode="1012 LG", city="Amsterdam", country="nl")


def redeem(member, reward, key="key-1", **kwargs):
    return reward_redeem(member=member, reward=reward, idempotency_key=key, **kwargs)


def test_fixed_discount_debits_points_decrements_stock_and_issues_a_voucher(member):
    reward = RewardFactory(kind=Reward.Kind.FIXED_DISCOUNT, points_cost=400, value=Decimal("5.00"), stock=3)
    redemption = redeem(member, reward)

    assert redemption.points_spent == 400 and redemption.status == Redemption.Status.COMPLETED
    assert balance(member) == 600
    reward.refresh_from_db()
    assert reward.stock == 2
    voucher = Voucher.objects.get(redemption=redemption)
    assert voucher.state == Voucher.State.ISSUED and voucher.value == Decimal("5.00")
    assert voucher.member_id == member.pk
    entry = LedgerEntry.objects.get(source_id=redemption.pk, kind=LedgerEntry.Kind.REDEEM)
    assert entry.points == -400 and entry.balance_after == 600 and entry.source == redemption
    member.account.refresh_from_db()
    assert member.account.lifetime_spent == 400


def test_redeeming_consumes_lots_soonest_expiring_first(member):
    # The fixture's 1,000 points are one lot; a second, later-expiring lot must stay untouched.
    later = points_give(member, 300)
    PointsLot.objects.filter(entry=later).update(expires_at=timezone.now() + timedelta(days=3000))
    redeem(member, RewardFactory(points_cost=900))
    assert PointsLot.objects.get(entry=later).remaining == 300
    assert sum(PointsLot.objects.filter(account_id=member.pk).values_list("remaining", flat=True)) == 400


def test_voucher_validity_comes_from_the_reward_or_the_program(member):
    now = timezone.now()
    default = redeem(member, RewardFactory(points_cost=100), key="a", now=now)
    override = redeem(member, RewardFactory(points_cost=100, voucher_validity_days=7), key="b", now=now)
    assert default.voucher.expires_at == now + timedelta(days=90)
    assert override.voucher.expires_at == now + timedelta(days=7)


def test_percent_discount_voucher_carries_the_percentage(member):
    reward = RewardFactory(kind=Reward.Kind.PERCENT_DISCOUNT, value=None, percent_off=Decimal("15"))
    voucher = redeem(member, reward).voucher
    assert voucher.percent_off == Decimal("15.00") and voucher.value is None


def test_store_credit_voucher_carries_the_credit(member):
    reward = RewardFactory(kind=Reward.Kind.STORE_CREDIT, points_cost=1000, value=Decimal("10.00"))
    voucher = redeem(member, reward).voucher
    assert voucher.value == Decimal("10.00")
    assert balance(member) == 0


def test_free_product_and_experience_allow_several_units(member):
    product = RewardFactory(kind=Reward.Kind.FREE_PRODUCT, points_cost=100, value=Decimal("3.40"), stock=5)
    redemption = redeem(member, product, quantity=3)
    assert redemption.points_spent == 300 and redemption.quantity == 3
    assert redemption.voucher.value == Decimal("10.20")
    product.refresh_from_db()
    assert product.stock == 2

    event = RewardFactory(kind=Reward.Kind.EXPERIENCE, points_cost=200, value=None, stock=10)
    redemption = redeem(member, event, key="key-2", quantity=2)
    assert redemption.points_spent == 400 and redemption.voucher.state == Voucher.State.ISSUED
    assert balance(member) == 300


def test_quantity_is_refused_for_single_unit_kinds(member):
    reward = RewardFactory(points_cost=100)
    before = snapshot(member, reward)
    with pytest.raises(InvalidRedemption, match="one at a time"):
        redeem(member, reward, quantity=2)
    assert snapshot(member, reward) == before


def test_donation_takes_the_points_the_member_chooses_and_no_voucher(member):
    reward = RewardFactory(kind=Reward.Kind.DONATION, points_cost=100, value=None, charity="Food Bank")
    redemption = redeem(member, reward, points=350)
    assert redemption.points_spent == 350 and redemption.charity == "Food Bank"
    assert not Voucher.objects.exists()
    entry = LedgerEntry.objects.get(source_id=redemption.pk, kind=LedgerEntry.Kind.DONATION)
    assert entry.points == -350 and "Food Bank" in entry.description
    assert balance(member) == 650


def test_donation_below_the_minimum_is_refused(member):
    reward = RewardFactory(kind=Reward.Kind.DONATION, points_cost=100, value=None, charity="Food Bank")
    before = snapshot(member, reward)
    with pytest.raises(InvalidRedemption, match="at least 100 points") as info:
        redeem(member, reward, points=99)
    assert info.value.field == "points"
    with pytest.raises(InvalidRedemption):
        redeem(member, reward)
    assert snapshot(member, reward) == before


def test_partner_reward_takes_the_next_unused_code(member):
    reward = RewardFactory(kind=Reward.Kind.PARTNER, value=None, partner_name="CityBikes", points_cost=100, stock=2)
    PartnerCode.objects.bulk_create([PartnerCode(reward=reward, code=c) for c in ("BIKE-1", "BIKE-2")])
    first = redeem(member, reward, key="a")
    second = redeem(member, reward, key="b")
    assert first.partner_code.code == "BIKE-1" and second.partner_code.code == "BIKE-2"
    assert not Voucher.objects.exists()
    with pytest.raises(RewardOutOfStock):
        redeem(member, reward, key="c")


def test_partner_reward_without_codes_left_refuses_and_changes_nothing(member):
    # Stock says one is left but the pool is empty (staff edited the stock by hand).
    reward = RewardFactory(kind=Reward.Kind.PARTNER, value=None, partner_name="CityBikes", points_cost=100, stock=1)
    before = snapshot(member, reward)
    with pytest.raises(RewardOutOfStock, match="no codes left"):
        redeem(member, reward)
    assert snapshot(member, reward) == before


def test_physical_reward_captures_the_address_and_waits_for_shipping(member):
    reward = RewardFactory(kind=Reward.Kind.FREE_PRODUCT, requires_shipping=True, points_cost=300, stock=5)
    redemption = redeem(member, reward, shipping_address=ADDRESS)
    assert redemption.fulfilment_status == Redemption.Fulfilment.PENDING
    assert redemption.shipping_city == "Amsterdam" and redemption.shipping_country == "NL"
    assert not Voucher.objects.exists()


def test_physical_reward_without_an_address_is_refused(member):
    reward = RewardFactory(kind=Reward.Kind.FREE_PRODUCT, requires_shipping=True, points_cost=300, stock=5)
    before = snapshot(member, reward)
    with pytest.raises(InvalidRedemption, match="shipping address") as info:
        partial = ShippingAddress(name="Dana", line1="", postcode="", city="", country="")
        redeem(member, reward, shipping_address=partial)
    assert info.value.field == "shipping_line1"
    with pytest.raises(InvalidRedemption):
        redeem(member, reward)
    assert snapshot(member, reward) == before


# --- refusals: each one clear, and each one changes nothing ------------------------------------------------------


def test_not_enough_points(member):
    reward = RewardFactory(points_cost=1001, stock=5)
    before = snapshot(member, reward)
    with pytest.raises(InsufficientPoints) as info:
        redeem(member, reward)
    assert info.value.code == "insufficient_points"
    assert info.value.message == "Not enough points: 1,001 needed, 1,000 available."
    assert snapshot(member, reward) == before


def test_out_of_stock(member):
    reward = RewardFactory(points_cost=100, stock=0)
    before = snapshot(member, reward)
    with pytest.raises(RewardOutOfStock) as info:
        redeem(member, reward)
    assert info.value.code == "out_of_stock" and "out of stock" in info.value.message
    assert snapshot(member, reward) == before


def test_fewer_left_than_asked(member):
    reward = RewardFactory(kind=Reward.Kind.EXPERIENCE, value=None, points_cost=100, stock=2)
    before = snapshot(member, reward)
    with pytest.raises(RewardOutOfStock, match="Only 2 left"):
        redeem(member, reward, quantity=3)
    assert snapshot(member, reward) == before


def test_tier_too_low(member):
    gold = Tier.objects.get(name="Gold")
    reward = RewardFactory(points_cost=100, min_tier=gold, stock=5)
    before = snapshot(member, reward)
    with pytest.raises(TierTooLow) as info:
        redeem(member, reward)
    assert info.value.code == "tier_too_low"
    assert info.value.message == "This reward is for Gold members and above."
    assert snapshot(member, reward) == before


def test_higher_tier_may_redeem_lower_tier_rewards(member):
    member.tier = Tier.objects.get(name="Gold")
    member.save(update_fields=["tier"])
    reward = RewardFactory(points_cost=100, min_tier=Tier.objects.get(name="Silver"))
    assert redeem(member, reward).points_spent == 100


@pytest.mark.parametrize(
    ("window", "message"),
    [
        ({"available_from": timezone.now() + timedelta(days=2)}, "available from"),
        ({"available_until": timezone.now() - timedelta(seconds=1)}, "ended on"),
        ({"is_active": False}, "not available"),
    ],
)
def test_outside_the_window_or_inactive(member, window, message):
    reward = RewardFactory(points_cost=100, stock=5, **window)
    before = snapshot(member, reward)
    with pytest.raises(RewardNotAvailable, match=message) as info:
        redeem(member, reward)
    assert info.value.code == "not_available"
    assert snapshot(member, reward) == before


def test_total_limit_per_member(member):
    reward = RewardFactory(points_cost=100, per_member_limit=2)
    redeem(member, reward, key="a")
    redeem(member, reward, key="b")
    before = snapshot(member, reward)
    with pytest.raises(RedemptionLimitReached) as info:
        redeem(member, reward, key="c")
    assert info.value.code == "limit_reached"
    assert info.value.message == "You can redeem this reward 2 times in total; 0 left for you."
    assert snapshot(member, reward) == before


def test_limit_per_period_resets_next_period(member):
    reward = RewardFactory(points_cost=100, per_member_period_limit=1, period=Reward.Period.MONTH)
    # Mid-month in the site's time zone, so "next month" is unambiguous.
    june = timezone.make_aware(timezone.datetime(2030, 6, 15, 12, 0))
    redeem(member, reward, key="june-1", now=june)
    before = snapshot(member, reward)
    with pytest.raises(RedemptionLimitReached, match="1 times per month"):
        redeem(member, reward, key="june-2", now=june + timedelta(days=10))
    assert snapshot(member, reward) == before
    assert redeem(member, reward, key="july-1", now=june + timedelta(days=20)).points_spent == 100


def test_cancelled_redemptions_do_not_count_towards_limits(member):
    from rewards.services import voucher_cancel

    reward = RewardFactory(points_cost=100, per_member_limit=1)
    first = redeem(member, reward, key="a")
    voucher_cancel(voucher=first.voucher)
    assert redeem(member, reward, key="b").status == Redemption.Status.COMPLETED


def test_closed_member_cannot_redeem(member):
    reward = RewardFactory(points_cost=100)
    member_close(member=member)
    with pytest.raises(AccountClosed):
        redeem(member, reward)


# --- idempotency --------------------------------------------------------------------------------------------------


def test_same_key_returns_the_first_redemption_and_charges_once(member):
    reward = RewardFactory(points_cost=100, stock=5)
    first = redeem(member, reward, key="retry-me")
    again = redeem(member, reward, key="retry-me")
    assert again.pk == first.pk and again.replayed and not first.replayed
    assert balance(member) == 900
    reward.refresh_from_db()
    assert reward.stock == 4
    assert Voucher.objects.count() == 1


def test_same_key_for_another_reward_is_refused(member):
    redeem(member, RewardFactory(points_cost=100), key="k")
    with pytest.raises(DuplicateRequest):
        redeem(member, RewardFactory(points_cost=100), key="k")


def test_a_refused_key_can_be_retried_once_the_member_can_afford_it(member):
    reward = RewardFactory(points_cost=1500)
    with pytest.raises(InsufficientPoints):
        redeem(member, reward, key="later")
    points_give(member, 500)
    assert redeem(member, reward, key="later").points_spent == 1500
