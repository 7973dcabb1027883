"""Top rewards, campaign ROI and referral conversion against a small dataset built through the services."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from backoffice.analytics import campaign_roi, dashboard_build, referral_conversion, top_rewards
from backoffice.periods import Period
from members.models import LedgerEntry, Member
from members.services.purchases import purchase_refund
from referrals.models import Referral
from rewards.services import reward_redeem, voucher_cancel
from tests.backoffice.conftest import aware, post
from tests.backoffice.test_analytics import buy
from tests.factories import MemberFactory, RewardFactory, campaign_factory, referral_purchase, referred_friend

pytestmark = pytest.mark.django_db
FEBRUARY = Period(start=date(2025, 2, 1), end=date(2025, 2, 28))


@pytest.fixture
def members(db):
    found = [MemberFactory(email=f"{name}@example.com") for name in "abc"]
    Member.objects.filter(pk__in=[m.pk for m in found]).update(enrolled_at=aware(2024, 12, 1, 9))
    for member in found:
        post(member, LedgerEntry.Kind.IMPORT, points=5000, when=aware(2025, 1, 1, 9))
    return found


def test_top_rewards_counts_completed_redemptions_in_the_period(members):
    a, b, _c = members
    coffee = RewardFactory(name="Coffee", points_cost=300)
    mug = RewardFactory(name="Mug", points_cost=500)
    tea = RewardFactory(name="Tea", points_cost=100)
    reward_redeem(member=a, reward=tea, idempotency_key="jan", now=aware(2025, 1, 31, 23, 59))
    reward_redeem(member=a, reward=coffee, idempotency_key="a-coffee", now=aware(2025, 2, 2, 10))
    reward_redeem(member=b, reward=coffee, idempotency_key="b-coffee-1", now=aware(2025, 2, 3, 10))
    reward_redeem(member=b, reward=coffee, idempotency_key="b-coffee-2", now=aware(2025, 2, 3, 11))
    reward_redeem(member=a, reward=mug, idempotency_key="a-mug", now=aware(2025, 2, 4, 10))
    cancelled = reward_redeem(member=b, reward=mug, idempotency_key="b-mug", now=aware(2025, 2, 5, 10))
    voucher_cancel(voucher=cancelled.voucher, now=aware(2025, 2, 6, 10))
    reward_redeem(member=b, reward=tea, idempotency_key="mar", now=aware(2025, 3, 1, 0, 0))

    rows = [(r["name"], r["redemptions"], r["quantity"], r["points"]) for r in top_rewards(FEBRUARY)]
    # Coffee: a once and b twice (3 × 300); mug: a only, b's was cancelled; tea: both outside the period.
    assert rows == [("Coffee", 3, 3, 900), ("Mug", 1, 1, 500)]
    assert [r["name"] for r in top_rewards(FEBRUARY, limit=1)] == ["Coffee"]


def test_campaign_roi_from_bonus_entries_and_net_revenue(members):
    a, b, c = members
    double = campaign_factory(name="Double points", starts_at=aware(2025, 2, 1), ends_at=aware(2025, 3, 1))
    january = campaign_factory(name="January", starts_at=aware(2025, 1, 1), ends_at=aware(2025, 2, 1))
    buy(a, "JAN", aware(2025, 1, 20, 10), "50.00")  # January's campaign, outside the period
    buy(a, "A1", aware(2025, 2, 3, 10), "10.00")  # 10 base + 10 bonus
    buy(b, "B1", aware(2025, 2, 10, 10), "30.00")  # 30 + 30
    refunded = buy(c, "C1", aware(2025, 2, 12, 10), "20.00")  # 20 + 20, then refunded in full
    purchase_refund(purchase=refunded.purchase, refund_id="C1-refund", now=aware(2025, 2, 13, 10))
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.BONUS, source_id=january.pk).exists()

    (row,) = campaign_roi(FEBRUARY)
    # Point value 0.01: cost = 60 × 0.01 = 0.60; revenue = 10 + 30 + (20 − 20) = 40.00;
    # ROI = (40.00 − 0.60) ÷ 0.60 = 65.6667.
    assert (row["source_id"], row["name"], row["points"], row["purchases"]) == (double.pk, "Double points", 60, 3)
    assert (row["cost"], row["revenue"], row["roi"]) == (Decimal("0.60"), Decimal("40.00"), Decimal("65.6667"))
    assert row["report_url"] == reverse("admin:campaigns_campaign_report", args=[double.pk])


def test_referral_conversion_counts_qualified_referrals_made_in_the_period(db):
    referrer = MemberFactory(email="referrer@example.com")
    friends = [referred_friend(referrer, email=f"friend{n}@example.com") for n in range(4)]
    referral_purchase(friends[0][0], "30.00")
    referral_purchase(friends[1][0], "30.00")
    referral_purchase(friends[3][0], "30.00")
    # The fourth was made before the period: it converted, but does not count.
    Referral.objects.filter(pk=friends[3][1].pk).update(created_at=aware(2020, 1, 1))
    assert set(Referral.objects.values_list("state", flat=True)) == {"qualified", "pending"}

    conversion = referral_conversion(Period.last_days(1))
    assert conversion == {"referrals": 3, "converted": 2, "rate": Decimal("0.6667")}


def test_dashboard_page_shows_rewards_campaigns_and_referrals(client, marketer, members):
    a, _b, _c = members
    reward_redeem(
        member=a, reward=RewardFactory(name="Coffee", points_cost=300), idempotency_key="k", now=aware(2025, 2, 2)
    )
    campaign = campaign_factory(name="Double points", starts_at=aware(2025, 2, 1), ends_at=aware(2025, 3, 1))
    buy(a, "A1", aware(2025, 2, 3, 10), "10.00")
    client.force_login(marketer)
    body = client.get(reverse("staff:analytics"), {"start": "2025-02-01", "end": "2025-02-28"}).content.decode()
    assert "Coffee" in body and "Double points" in body
    assert reverse("admin:campaigns_campaign_report", args=[campaign.pk]) in body
    assert dashboard_build(FEBRUARY).top_rewards[0]["points"] == 300
