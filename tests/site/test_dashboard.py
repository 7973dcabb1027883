from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from members.models import Member, PointsAccount, ProgramSettings, QualifyingActivity, Tier
from members.selectors import member_summary, member_tier_progress
from members.services import points_adjust
from members.services.purchases import PurchaseLineInput, purchase_record, purchase_refund
from tests.factories import MemberFactory, RewardFactory, StaffUserFactory
from tests.site.conftest import add_history

pytestmark = pytest.mark.django_db


def _buy(member, external_id, amount, *, days_ago=30):
    return purchase_record(
        member=member,
        external_id=external_id,
        lines=[PurchaseLineInput(sku="SKU", quantity=1, unit_price=Decimal(amount))],
        channel="in_store",
        store="Utrecht",
        occurred_at=timezone.now() - timedelta(days=days_ago),
        currency="EUR",
    )


def _program(**changes):
    program = ProgramSettings.objects.get(pk=1)
    for field, value in changes.items():
        setattr(program, field, value)
    program.save()
    return program


def test_new_member_sees_a_zero_balance_and_the_way_to_silver(member_client):
    response = member_client.get(reverse("members:dashboard"))
    assert response.status_code == 200
    body = response.content.decode()
    assert 'data-testid="balance">0<' in body
    assert "Bronze member" in body
    assert "Earn <strong>1,000</strong> more points by" in body and "to reach <strong>Silver</strong>" in body
    assert "No activity yet" in body


def test_dashboard_shows_balance_value_pending_recent_activity_and_progress(member_client, member):
    _buy(member, "T-1", "250.00", days_ago=30)  # available: older than the 14-day return window
    _buy(member, "T-2", "40.00", days_ago=1)  # still pending
    response = member_client.get(reverse("members:dashboard"))
    body = response.content.decode()
    assert 'data-testid="balance">250<' in body
    assert "Worth €2.50" in body
    assert 'data-testid="pending">40<' in body
    assert "Purchase T-1" in body and "Utrecht" in body
    assert "Earn <strong>710</strong> more points by" in body
    assert 'aria-valuenow="29"' in body


def test_progress_sentence_uses_spend_and_the_window_end_under_a_spend_basis(member_client, member):
    _program(tier_basis=ProgramSettings.TierBasis.SPEND, tier_period=ProgramSettings.TierPeriod.CALENDAR_YEAR)
    Tier.objects.filter(name="Silver").update(threshold=Decimal("500"))
    _buy(member, "T-1", "120.00", days_ago=0)
    body = member_client.get(reverse("members:dashboard")).content.decode()
    year = timezone.localdate().year
    assert f"Spend <strong>€380.00</strong> more by 31 Dec {year}" in body


def test_tier_progress_counts_only_the_window_and_what_keeps_the_tier(member):
    gold = Tier.objects.get(name="Gold")
    silver = Tier.objects.get(name="Silver")
    today = date(2027, 3, 15)
    Member.objects.filter(pk=member.pk).update(tier=silver, tier_review_at=date(2027, 6, 20))
    member.refresh_from_db()
    for month, points in [(date(2026, 2, 1), 5000), (date(2026, 5, 1), 300), (date(2026, 9, 1), 200)]:
        QualifyingActivity.objects.create(member=member, month=month, points=points)
    progress = member_tier_progress(member, today=today)
    # Rolling 12 months on 15 March 2027: April 2026 to March 2027 count, so February 2026 does not.
    assert progress.qualifying_value == Decimal(500)
    assert progress.next_tier == gold
    assert progress.needed_for_next == Decimal(4500)
    assert progress.window_end == date(2027, 3, 31)
    assert progress.percent == 10
    # At the June 2027 review the window starts in July 2026: May's 300 will have dropped out.
    assert progress.needed_to_keep == Decimal(800)


def test_top_tier_member_is_told_so(member_client, member):
    Member.objects.filter(pk=member.pk).update(tier=Tier.objects.get(name="Gold"))
    body = member_client.get(reverse("members:dashboard")).content.decode()
    assert "You are in our top tier" in body


def test_points_expiring_within_30_days_are_summed_with_the_first_date(member):
    add_history(member, 2, expires_in_days=10)
    add_history(member, 3, expires_in_days=200)
    member = Member.objects.select_related("account").get(pk=member.pk)
    summary = member_summary(member)
    assert summary.balance == 50
    assert summary.expiring_points == 20
    assert summary.expiring_on == timezone.localdate(timezone.now() + timedelta(days=10))


def test_activity_policy_shows_the_day_all_points_expire(member_client, member):
    _program(expiry_policy=ProgramSettings.ExpiryPolicy.ACTIVITY, expiry_months=12)
    purchase = _buy(member, "T-1", "100.00", days_ago=350)
    body = member_client.get(reverse("members:dashboard")).content.decode()
    expected = (purchase.purchase.occurred_at + timedelta(days=365)).date()
    summary = member_summary(Member.objects.select_related("account").get(pk=member.pk))
    assert summary.all_expire_on in {expected, expected - timedelta(days=1), expected + timedelta(days=1)}
    assert summary.expiring_points == 100
    assert 'data-testid="expiring">100<' in body


def test_owed_points_are_explained(member_client, member):
    # Owed points the real way: 100 earned, 70 spent, then the purchase refunded in full.
    purchase = _buy(member, "T-1", "100.00", days_ago=30)
    points_adjust(member=member, points=-70, reason="spent at the till", actor=None)
    purchase_refund(purchase=purchase.purchase, refund_id="R-1")
    account = PointsAccount.objects.get(pk=member.pk)
    assert (account.balance, account.owed) == (0, 70)
    body = member_client.get(reverse("members:dashboard")).content.decode()
    assert "70 points from a refunded purchase are still owed" in body
    assert 'data-testid="balance">0<' in body


def test_no_owed_sentence_once_a_new_purchase_has_paid_it_back(member_client, member):
    purchase = _buy(member, "T-1", "100.00", days_ago=30)
    points_adjust(member=member, points=-70, reason="spent at the till", actor=None)
    purchase_refund(purchase=purchase.purchase, refund_id="R-1")
    _buy(member, "T-2", "90.00", days_ago=20)  # nets the 70 owed, keeps 20
    body = member_client.get(reverse("members:dashboard")).content.decode()
    assert "still owed" not in body
    assert 'data-testid="balance">20<' in body


def test_rewards_within_reach_come_from_the_rewards_app(member_client, member):
    points_adjust(member=member, points=300, reason="test credit", actor=None)
    for name, cost in [("Free coffee", 150), ("Tote bag", 1200), ("Cinema night", 500), ("Weekend away", 5000)]:
        RewardFactory(name=name, points_cost=cost)
    mug = RewardFactory(name="Mug", points_cost=250)
    RewardFactory(name="Retired prize", points_cost=10, is_active=False)
    body = member_client.get(reverse("members:dashboard")).content.decode()
    section = body[body.index('id="rewards-title"') :]
    # Affordable first (cheapest first), then the closest: four of them, nothing inactive.
    positions = [section.index(name) for name in ("Free coffee", "Mug", "Cinema night", "Tote bag")]
    assert positions == sorted(positions)
    assert "Weekend away" not in section and "Retired prize" not in section
    assert section.count("You have enough points") == 2
    assert "200 points to go" in section and "900 points to go" in section
    assert f'href="{mug.get_absolute_url()}"' in section


def test_dashboard_shows_only_the_logged_in_members_data(member_client, member):
    other = MemberFactory(email="other@example.com")
    _buy(other, "OTHER-1", "999.00")
    _buy(member, "MINE-1", "12.00")
    body = member_client.get(reverse("members:dashboard")).content.decode()
    assert "MINE-1" in body
    assert "OTHER-1" not in body and other.member_number not in body
    assert 'data-testid="balance">12<' in body


def test_a_staff_login_without_membership_is_offered_to_join_not_enrolled(client):
    staff = StaffUserFactory()
    client.force_login(staff)
    response = client.get(reverse("members:dashboard"))
    assert response.status_code == 302 and response["Location"] == reverse("members:staff_join")
    assert not Member.objects.filter(user=staff).exists()


@pytest.mark.parametrize("entries", [3, 300])
def test_dashboard_query_count_does_not_grow_with_history(client, member, entries, django_assert_max_num_queries):
    add_history(member, entries, expires_in_days=5)
    points_adjust(member=member, points=-5, reason="Goodwill correction", actor=None)
    client.force_login(member.user)
    client.get(reverse("members:dashboard"))  # warm the settings and tiers cache
    # session, user, member with account and its points expiring soon, tier sums, recent entries, suggestions
    with django_assert_max_num_queries(6):
        response = client.get(reverse("members:dashboard"))
    assert response.status_code == 200
    # What expires soon, read with the member, is what member_summary finds with a query of its own.
    expected = member_summary(Member.objects.select_related("account").get(pk=member.pk)).expiring_points
    from members.templatetags.loyalty import points

    assert expected > 0 and f'data-testid="expiring">{points(expected)}<' in response.content.decode()


def test_one_date_style_and_no_midnight_in_exclusive_ends():
    from datetime import UTC, datetime

    from django.template import Context, Template

    render = Template(
        '{% load loyalty %}{{ end|until }} · {{ at|date:"DATETIME_FORMAT" }} · {{ at|date:"SHORT_DATE_FORMAT" }}'
    )
    tz = timezone.get_current_timezone()
    text = render.render(
        Context({"end": datetime(2027, 1, 1, tzinfo=tz), "at": datetime(2026, 12, 1, 6, 54, tzinfo=UTC)})
    )
    # 06:54 UTC is 07:54 in the program's time zone (Europe/Amsterdam); the short format is the same style.
    assert text == "until the end of 31 Dec 2026 · 1 Dec 2026, 07:54 · 1 Dec 2026"
