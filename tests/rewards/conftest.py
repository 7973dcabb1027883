import pytest

from members.models import LedgerEntry, PointsAccount
from rewards.models import PartnerCode, Redemption, Reward, Voucher
from tests.factories import MemberFactory, points_give


@pytest.fixture
def member(db):
    """A Bronze member with 1,000 spendable points."""
    member = MemberFactory()
    points_give(member, 1000)
    return member


def snapshot(member, reward=None):
    """Everything a refused redemption must leave untouched."""
    account = PointsAccount.objects.get(pk=member.pk)
    return {
        "balance": account.balance,
        "lifetime_spent": account.lifetime_spent,
        "stock": Reward.objects.get(pk=reward.pk).stock if reward else None,
        "redemptions": Redemption.objects.count(),
        "vouchers": Voucher.objects.count(),
        "entries": LedgerEntry.objects.count(),
        "codes_used": PartnerCode.objects.filter(redemption__isnull=False).count(),
    }


def balance(member):
    return PointsAccount.objects.get(pk=member.pk).balance
