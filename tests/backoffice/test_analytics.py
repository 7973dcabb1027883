"""Each dashboard metric against a small dataset computed by hand."""

from datetime import date
from decimal import Decimal

import pytest
from django.urls import reverse

from backoffice.analytics import dashboard_build
from backoffice.periods import Period
from members.models import LedgerEntry, Member, Tier, TierHistory
from tests.backoffice.conftest import aware, buy, post
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
JANUARY = Period(start=date(2025, 1, 1), end=date(2025, 1, 31))


@pytest.fixture
def dataset(db):
    a, b, c = (MemberFactory(email=f"{name}@example.com") for name in "abc")
    Member.objects.filter(pk__in=[a.pk, b.pk]).update(enrolled_at=aware(2025, 1, 1, 9))
    Member.objects.filter(pk=c.pk).update(enrolled_at=aware(2024, 6, 1, 9))
    # A: three purchases in January, 3 and 6 days apart.
    buy(a, "A1", aware(2025, 1, 2, 10), "10.00")
    buy(a, "A2", aware(2025, 1, 5, 10), "20.00")
    buy(a, "A3", aware(2025, 1, 11, 10), "30.00")
    # B: one in January, one in February (outside the period).
    buy(b, "B1", aware(2025, 1, 3, 12), "40.00")
    buy(b, "B2", aware(2025, 2, 10, 12), "99.00")
    # C: one in December (outside), one in January: the December one must not make a January gap.
    buy(c, "C0", aware(2024, 12, 20, 12), "5.00")
    buy(c, "C1", aware(2025, 1, 20, 12), "50.00")
    # A gets spendable points by adjustment, then redeems 30 and loses 10 to expiry.
    post(a, LedgerEntry.Kind.ADJUST, points=100, when=aware(2025, 1, 1, 8))
    post(a, LedgerEntry.Kind.REDEEM, points=-30, when=aware(2025, 1, 25, 8))
    post(a, LedgerEntry.Kind.EXPIRE, points=-10, when=aware(2025, 1, 28, 8))
    post(a, LedgerEntry.Kind.REDEEM, points=-5, when=aware(2025, 2, 2, 8))  # outside
    bronze, silver = Tier.objects.get(name="Bronze"), Tier.objects.get(name="Silver")
    TierHistory.objects.create(
        member=a, from_tier=bronze, to_tier=silver, reason="upgrade", created_at=aware(2025, 1, 15)
    )
    Member.objects.filter(pk=a.pk).update(tier=silver)
    return a, b, c


def test_dashboard_metrics_match_hand_computed_values(dataset):
    d = dashboard_build(JANUARY)
    assert d.active_members == 3
    assert d.enrolments == 2
    assert d.purchases == 5
    assert d.revenue == Decimal("150.00")
    assert d.average_order_value == Decimal("30.00")
    # 1 point per euro at Bronze: 10 + 20 + 30 + 40 + 50.
    assert d.points_issued == 150
    assert d.points_redeemed == 30
    assert d.points_expired == 10
    assert d.redemption_rate == Decimal("0.2000")
    assert (d.buyers, d.repeat_buyers) == (3, 1)
    assert d.repeat_purchase_rate == Decimal("0.3333")
    assert d.average_purchase_cycle_days == Decimal("4.50")
    assert [(row["tier__name"], row["members"]) for row in d.tier_distribution] == [("Bronze", 2), ("Silver", 1)]
    assert [(m["reason"], m["from_tier__name"], m["to_tier__name"], m["members"]) for m in d.tier_movements] == [
        ("upgrade", "Bronze", "Silver", 1)
    ]
    by_day = {day: (issued, redeemed) for day, issued, redeemed in d.points_by_day}
    assert len(by_day) == 31
    assert by_day[date(2025, 1, 2)] == (10, 0) and by_day[date(2025, 1, 25)] == (0, 30)
    assert dict(d.enrolments_by_day)[date(2025, 1, 1)] == 2


def test_empty_period_has_no_rates(db):
    d = dashboard_build(JANUARY)
    assert d.redemption_rate is None and d.repeat_purchase_rate is None
    assert d.average_purchase_cycle_days is None and d.average_order_value is None


def test_dashboard_page_renders_numbers_and_svg_charts(client, marketer, dataset):
    client.force_login(marketer)
    response = client.get(reverse("staff:analytics"), {"start": "2025-01-01", "end": "2025-01-31"})
    assert response.status_code == 200
    body = response.content.decode()
    assert body.count('<svg xmlns="http://www.w3.org/2000/svg" role="group"') == 4
    # Every bar is reachable by keyboard and named with its value; the axes say what they count.
    assert 'tabindex="0" role="img" aria-label="01 Jan: ' in body
    assert "Points issued per day (points)" in body and ">day</text>" in body
    assert 'id="redemption-rate">20%' in body and 'id="purchase-cycle">4.50' in body
    assert 'id="repeat-rate">33%' in body and 'id="aov">30.00' in body


@pytest.mark.parametrize(
    "query",
    [
        {"start": "2025-02-01", "end": "2025-01-01"},
        {"start": "yesterday", "end": "2025-01-01"},
        {"start": "2025-01-01"},
        {"start": "2000-01-01", "end": "2025-01-01"},
    ],
)
def test_invalid_periods_show_form_errors(client, marketer, query):
    client.force_login(marketer)
    response = client.get(reverse("staff:analytics"), query)
    assert response.status_code == 400
    assert "errorlist" in response.content.decode()


def test_dashboard_query_count_does_not_grow_with_data(client, marketer, dataset, django_assert_max_num_queries):
    client.force_login(marketer)
    # 22 on PostgreSQL: its report settings add SAVEPOINT, SET LOCAL and RELEASE, and the one redeemed figure's
    # content-type look-up (cached per process in production, cleared before each test here). Paid membership's
    # figures add five: the plans (cached in production), live subscriptions, trials, churn and plan revenue.
    with django_assert_max_num_queries(27):
        client.get(reverse("staff:analytics"), {"start": "2025-01-01", "end": "2025-01-31"})


def test_referral_conversion_counts_qualified_referrals(db):
    pytest.importorskip("referrals.services")
    from tests.factories import referral_purchase, referred_friend

    referrer = MemberFactory(email="referrer@example.com")
    friend, _referral = referred_friend(referrer, email="friend1@example.com")
    referred_friend(referrer, email="friend2@example.com")
    referral_purchase(friend, "30.00")
    period = Period.last_days(2)
    conversion = dashboard_build(period).referral_conversion
    assert conversion["referrals"] == 2
    assert conversion["converted"] == 1 and conversion["rate"] == Decimal("0.5000")


def test_member_360_lists_referrals(client, support):
    pytest.importorskip("referrals.services")
    from tests.factories import referred_friend

    referrer = MemberFactory(email="referrer@example.com")
    _friend, referral = referred_friend(referrer, email="friend1@example.com")
    client.force_login(support)
    body = client.get(reverse("staff:member_360", args=[referrer.pk])).content.decode()
    assert str(referral) in body


def test_dashboard_shows_paid_membership_figures(client, marketer, db):
    from django.utils import timezone

    from members.subscriptions.models import MembershipPlan
    from members.subscriptions.services import subscription_renew, subscription_start

    plan = MembershipPlan.objects.create(name="Plus", slug="plus", price=Decimal("6.00"), trial_days=7)
    paid, trial = MemberFactory(), MemberFactory()
    subscription_start(member=paid, plan=plan, external_id="a", source="k")
    converted = subscription_start(member=trial, plan=plan, external_id="b", source="k", trial=True)
    subscription_renew(subscription=converted, paid_amount=Decimal("6.00"))
    client.force_login(marketer)
    today = timezone.localdate().isoformat()
    body = client.get(reverse("staff:analytics"), {"start": today, "end": today}).content.decode()
    assert 'id="subscribers">2 (2 + 0 + 0)' in body
    assert 'id="mrr">12.00' in body
    assert 'id="trial-conversion">1 (100.0%' in body
    section = body[body.index('id="subscriptions"') :]
    assert "12.00 EUR" in section, section[:3000]  # plan revenue in the period
