"""``reward_grant``: a catalogue reward given as a gift, without spending points."""

from decimal import Decimal

import pytest

from members.exceptions import DuplicateRequest
from members.models import LedgerEntry, Tier
from rewards.exceptions import RewardNotAvailable, RewardOutOfStock
from rewards.models import PartnerCode, Redemption, Reward, Voucher
from rewards.services import reward_grant, reward_redeem, voucher_cancel
from tests.factories import RewardFactory, StaffUserFactory
from tests.rewards.conftest import balance, snapshot

pytestmark = pytest.mark.django_db


def grant(member, reward, key="gift-1", **kwargs):
    return reward_grant(member=member, reward=reward, idempotency_key=key, **kwargs)


def test_a_gift_issues_a_voucher_takes_stock_and_leaves_the_balance_alone(member, emitted_events):
    reward = RewardFactory(kind=Reward.Kind.FIXED_DISCOUNT, points_cost=5000, value=Decimal("5.00"), stock=3)
    entries = LedgerEntry.objects.count()

    redemption = grant(member, reward, reason="Birthday")

    assert redemption.is_gift and redemption.points_spent == 0 and redemption.status == Redemption.Status.COMPLETED
    assert redemption.grant_reason == "Birthday"
    assert balance(member) == 1000
    assert LedgerEntry.objects.count() == entries
    reward.refresh_from_db()
    assert reward.stock == 2
    voucher = Voucher.objects.get(redemption=redemption)
    assert voucher.state == Voucher.State.ISSUED and voucher.member_id == member.pk
    assert voucher.value == Decimal("5.00")
    [(_, payload)] = [item for item in emitted_events if item[0] == "reward.redeemed"]
    assert payload["points_spent"] == 0 and payload["is_gift"] is True and payload["voucher_code"] == voucher.code


def test_a_gift_ignores_tier_and_spending_limits(member):
    gold = Tier.objects.order_by("-rank").first()
    reward = RewardFactory(points_cost=5000, min_tier=gold, per_member_limit=1)
    reward_grant(member=member, reward=reward, idempotency_key="a")
    reward_grant(member=member, reward=reward, idempotency_key="b")
    assert Voucher.objects.filter(member=member).count() == 2


def test_gifts_do_not_use_up_the_members_own_redemption_limit(member):
    reward = RewardFactory(points_cost=100, per_member_limit=1)
    grant(member, reward)
    reward_redeem(member=member, reward=reward, idempotency_key="own")
    assert balance(member) == 900


def test_granting_is_idempotent(member, emitted_events):
    reward = RewardFactory(stock=5)
    first = grant(member, reward)
    again = grant(member, reward)

    assert again.pk == first.pk and again.replayed and not first.replayed
    assert Voucher.objects.count() == 1
    reward.refresh_from_db()
    assert reward.stock == 4
    assert [event for event, _ in emitted_events] == ["reward.redeemed"]


def test_a_key_reused_for_another_member_or_a_paid_redemption_is_refused(member):
    reward = RewardFactory(points_cost=100)
    reward_redeem(member=member, reward=reward, idempotency_key="paid")
    with pytest.raises(DuplicateRequest):
        grant(member, reward, key="paid")


def test_out_of_stock_is_refused_and_changes_nothing(member):
    reward = RewardFactory(stock=0)
    before = snapshot(member, reward)
    with pytest.raises(RewardOutOfStock):
        grant(member, reward)
    assert snapshot(member, reward) == before


def test_an_inactive_reward_is_refused_and_changes_nothing(member):
    reward = RewardFactory(stock=2, is_active=False)
    before = snapshot(member, reward)
    with pytest.raises(RewardNotAvailable):
        grant(member, reward)
    assert snapshot(member, reward) == before


def test_a_partner_gift_takes_a_code(member):
    reward = RewardFactory(kind=Reward.Kind.PARTNER, value=None, stock=1, partner_name="Cinema")
    PartnerCode.objects.create(reward=reward, code="CINE-1")
    redemption = grant(member, reward)
    assert PartnerCode.objects.get(code="CINE-1").redemption_id == redemption.pk


def test_cancelling_a_gift_voucher_returns_stock_but_no_points(member):
    reward = RewardFactory(stock=1)
    redemption = grant(member, reward)
    entries = LedgerEntry.objects.count()

    voucher_cancel(voucher=Voucher.objects.get(redemption=redemption), actor=StaffUserFactory())

    redemption.refresh_from_db()
    assert redemption.status == Redemption.Status.CANCELLED
    assert balance(member) == 1000 and LedgerEntry.objects.count() == entries
    reward.refresh_from_db()
    assert reward.stock == 1


def test_the_redeem_page_and_the_service_agree_that_gifts_do_not_use_up_the_member_limit(member):
    from rewards.selectors import reward_redeemability

    reward = RewardFactory(kind=Reward.Kind.FIXED_DISCOUNT, points_cost=100, value=Decimal("5.00"), per_member_limit=1)
    grant(member, reward)
    assert reward_redeemability(member=member, reward=reward).error is None
    reward_redeem(member=member, reward=reward, idempotency_key="paid-1")
    assert reward_redeemability(member=member, reward=reward).error is not None
