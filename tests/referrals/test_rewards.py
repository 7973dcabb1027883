"""Referral programs that also give catalogue rewards (through ``rewards.services.reward_grant``)."""

import pytest

from members.models import PointsAccount
from members.services.purchases import purchase_refund
from referrals.models import Referral, ReferralEvent
from rewards.models import Redemption, Reward, Voucher
from rewards.services import voucher_use
from tests.factories import MemberFactory, RewardFactory, referral_program_set, referral_purchase, referred_friend

pytestmark = pytest.mark.django_db
State = Referral.State


def _qualified():
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    result = referral_purchase(friend, "25.00")
    referral.refresh_from_db()
    assert referral.state == State.QUALIFIED
    return referrer, friend, referral, result.purchase


def _gift(referral, side):
    return Redemption.objects.get(idempotency_key=f"referral:{referral.pk}:{side}:reward")


def test_qualifying_gives_both_sides_their_reward_as_well_as_points():
    referrer_reward = RewardFactory(stock=10)
    friend_reward = RewardFactory(stock=10)
    referral_program_set(referrer_reward=referrer_reward, friend_reward=friend_reward)

    referrer, friend, referral, _ = _qualified()

    mine, theirs = _gift(referral, "referrer"), _gift(referral, "friend")
    assert (mine.member_id, mine.reward_id, mine.is_gift, mine.points_spent) == (
        referrer.pk,
        referrer_reward.pk,
        True,
        0,
    )
    assert (theirs.member_id, theirs.reward_id) == (friend.pk, friend_reward.pk)
    assert Voucher.objects.filter(redemption__in=[mine, theirs]).count() == 2
    assert PointsAccount.objects.get(pk=referrer.pk).balance == 500


def test_a_reward_only_program_pays_no_points():
    reward = RewardFactory()
    referral_program_set(referrer_points=0, friend_points=0, referrer_reward=reward)
    referrer, _, referral, _ = _qualified()
    assert PointsAccount.objects.get(pk=referrer.pk).balance == 0
    assert _gift(referral, "referrer").member_id == referrer.pk


def test_an_out_of_stock_reward_does_not_stop_the_referral_qualifying():
    referral_program_set(friend_reward=RewardFactory(stock=0))
    _, friend, referral, _ = _qualified()
    assert not Redemption.objects.filter(member=friend).exists()
    event = referral.events.get(outcome=ReferralEvent.Outcome.NOTED)
    assert event.reason.startswith("The friend's reward could not be given")


def test_clawback_cancels_unused_gift_vouchers_and_keeps_used_ones():
    referrer_reward = RewardFactory(stock=5)
    friend_reward = RewardFactory(stock=5)
    referral_program_set(referrer_reward=referrer_reward, friend_reward=friend_reward)
    _, _, referral, purchase = _qualified()
    used = Voucher.objects.get(redemption=_gift(referral, "friend"))
    voucher_use(code=used.code)

    purchase_refund(purchase=purchase, refund_id="R1")

    referral.refresh_from_db()
    assert referral.state == State.CLAWED_BACK
    cancelled = Voucher.objects.get(redemption=_gift(referral, "referrer"))
    assert cancelled.state == Voucher.State.CANCELLED
    assert _gift(referral, "referrer").status == Redemption.Status.CANCELLED
    used.refresh_from_db()
    assert used.state == Voucher.State.USED
    [kept] = referral.events.filter(outcome=ReferralEvent.Outcome.KEPT)
    assert kept.reason.startswith(f"Voucher {used.code} kept")
    referrer_reward.refresh_from_db()
    friend_reward.refresh_from_db()
    assert (referrer_reward.stock, friend_reward.stock) == (5, 4)


def test_a_partner_reward_kind_is_kept_on_clawback():
    from rewards.models import PartnerCode

    reward = RewardFactory(kind=Reward.Kind.PARTNER, value=None, stock=1, partner_name="Cinema")
    PartnerCode.objects.create(reward=reward, code="CINE-1")
    referral_program_set(friend_reward=reward)
    _, _, referral, purchase = _qualified()
    purchase_refund(purchase=purchase, refund_id="R1")
    assert _gift(referral, "friend").status == Redemption.Status.COMPLETED
    assert referral.events.filter(outcome=ReferralEvent.Outcome.KEPT, reason__contains="partner code").exists()
