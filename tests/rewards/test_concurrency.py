"""Real concurrency on PostgreSQL: threads with their own connections racing through the services."""

from collections import Counter

import pytest

from members.exceptions import InsufficientPoints, LoyaltyError
from members.models import PointsAccount
from rewards.exceptions import RewardOutOfStock, VoucherAlreadyUsed
from rewards.models import PartnerCode, Redemption, Reward, Voucher
from rewards.services import reward_redeem, voucher_use
from tests.concurrency import race
from tests.factories import MemberFactory, RewardFactory, points_give

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def outcomes(results):
    return Counter(type(result).__name__ for result in results)


def test_fifty_members_racing_for_the_last_ten_units_get_exactly_ten_vouchers():
    reward = RewardFactory(kind=Reward.Kind.EXPERIENCE, value=None, points_cost=100, stock=10)
    members = MemberFactory.create_batch(50)
    for member in members:
        points_give(member, 500)

    results = race(
        [
            lambda member=member: reward_redeem(member=member, reward=reward, idempotency_key=f"race-{member.pk}")
            for member in members
        ]
    )

    assert outcomes(results) == {"Redemption": 10, "RewardOutOfStock": 40}, results
    assert all(isinstance(r, Redemption | RewardOutOfStock) for r in results)
    reward.refresh_from_db()
    assert reward.stock == 0
    assert Voucher.objects.filter(reward=reward).count() == 10
    balances = Counter(PointsAccount.objects.filter(pk__in=[m.pk for m in members]).values_list("balance", flat=True))
    assert balances == {400: 10, 500: 40}


def test_one_member_racing_twenty_redemptions_against_a_balance_worth_seven_gets_seven():
    member = MemberFactory()
    points_give(member, 700)
    reward = RewardFactory(points_cost=100, stock=None)

    results = race(
        [lambda n=n: reward_redeem(member=member, reward=reward, idempotency_key=f"hot-{n}") for n in range(20)]
    )

    assert outcomes(results) == {"Redemption": 7, "InsufficientPoints": 13}, results
    assert all(isinstance(r, Redemption | InsufficientPoints) for r in results)
    account = PointsAccount.objects.get(pk=member.pk)
    assert account.balance == 0 and account.lifetime_spent == 700
    assert Voucher.objects.filter(member=member).count() == 7


def test_the_same_idempotency_key_raced_redeems_once():
    member = MemberFactory()
    points_give(member, 1000)
    reward = RewardFactory(points_cost=100, stock=5)
    results = race([lambda: reward_redeem(member=member, reward=reward, idempotency_key="same") for _ in range(8)])
    assert all(isinstance(r, Redemption) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert PointsAccount.objects.get(pk=member.pk).balance == 900
    reward.refresh_from_db()
    assert reward.stock == 4


def test_members_racing_for_partner_codes_each_get_a_different_code():
    reward = RewardFactory(kind=Reward.Kind.PARTNER, value=None, partner_name="CityBikes", points_cost=10, stock=5)
    PartnerCode.objects.bulk_create([PartnerCode(reward=reward, code=f"BIKE-{n}") for n in range(5)])
    members = MemberFactory.create_batch(12)
    for member in members:
        points_give(member, 100)
    results = race(
        [
            lambda member=member: reward_redeem(member=member, reward=reward, idempotency_key=f"p{member.pk}")
            for member in members
        ]
    )
    assert outcomes(results) == {"Redemption": 5, "RewardOutOfStock": 7}, results
    assert PartnerCode.objects.filter(redemption__isnull=False).count() == 5


def test_two_tills_racing_to_use_one_voucher_only_one_wins():
    member = MemberFactory()
    points_give(member, 100)
    voucher = reward_redeem(member=member, reward=RewardFactory(points_cost=100), idempotency_key="v").voucher
    results = race([lambda n=n: voucher_use(code=voucher.code, purchase_reference=f"till-{n}") for n in range(10)])
    assert outcomes(results) == {"Voucher": 1, "VoucherAlreadyUsed": 9}, results
    assert all(isinstance(r, Voucher | LoyaltyError) for r in results)
    assert sum(isinstance(r, VoucherAlreadyUsed) for r in results) == 9
