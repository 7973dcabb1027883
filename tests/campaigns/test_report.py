import math
import statistics
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone
from django.utils.formats import date_format

from campaigns.models import Campaign, Segment
from campaigns.segments import in_holdout
from campaigns.selectors import campaign_report
from campaigns.services import segment_list_upload
from members.charts import days_filled
from members.models import LedgerEntry
from members.services import account_lock, ledger_post, points_adjust
from tests.factories import MemberFactory, StaffUserFactory, buy, campaign_factory, segment_factory

pytestmark = pytest.mark.django_db


def redeem(member, points, key):
    with transaction.atomic():
        account = account_lock(member_id=member.pk)
        ledger_post(account=account, kind=LedgerEntry.Kind.REDEEM, points=-points, idempotency_key=key)


@pytest.fixture
def dataset():
    """Four treated members and two in the holdout group (a 50% holdout over a hand-picked list)."""
    segment = segment_factory(base=Segment.Base.LIST_ONLY)
    campaign = campaign_factory(multiplier=Decimal("2"), holdout_percent=50, segment=segment, budget_points=1000)
    treated, holdout = [], []
    while len(treated) < 4 or len(holdout) < 2:
        member = MemberFactory()
        group = holdout if in_holdout(campaign=campaign, member_id=member.pk) else treated
        if (group is treated and len(treated) < 4) or (group is holdout and len(holdout) < 2):
            group.append(member)
    segment_list_upload(segment=segment, content="\n".join(m.member_number for m in treated + holdout), excluded=False)
    return campaign, treated, holdout


def test_report_numbers_on_a_hand_computed_dataset(dataset):
    campaign, treated, holdout = dataset
    staff = StaffUserFactory()
    for member in treated[:3]:
        points_adjust(member=member, points=100, reason="goodwill", actor=staff, idempotency_key=f"g{member.pk}")
    redeem(treated[2], 10, "before")  # no award yet: does not count as following the campaign
    assert buy(treated[0], "100").purchase.points_bonus == 100
    assert buy(treated[1], "50").purchase.points_bonus == 50
    assert buy(holdout[0], "30").purchase.points_bonus == 0
    # Before the window: neither revenue nor bonus.
    assert buy(holdout[1], "500", occurred_at=timezone.now() - timedelta(days=3)).purchase.points_bonus == 0
    redeem(treated[0], 40, "after")

    campaign.refresh_from_db()
    report = campaign_report(campaign)
    assert (report.audience, report.holdout_members, report.participants) == (6, 2, 2)
    assert report.points_awarded == 150 and report.budget_used_percent == Decimal("15.0")
    assert (report.redemptions, report.points_redeemed) == (1, 40)
    assert report.cost == Decimal("1.50")  # 150 points × 0.01
    assert (report.treatment.members, report.treatment.buyers, report.treatment.revenue) == (4, 2, Decimal("150"))
    assert (report.holdout.members, report.holdout.buyers, report.holdout.revenue) == (2, 1, Decimal("30"))
    assert report.treatment.per_member == Decimal("37.50")
    assert report.holdout.per_member == Decimal("15.00")
    assert report.lift == Decimal("1.5000")  # 37.50 / 15.00 − 1
    assert report.incremental_revenue == Decimal("90.00")  # (37.50 − 15.00) × 4
    assert report.roi == Decimal("59.0000")  # (90.00 − 1.50) / 1.50
    assert report.points_by_day == [(timezone.localdate(), 150)]


def test_report_without_holdout_has_no_lift():
    campaign = campaign_factory(multiplier=Decimal("2"))
    buy(MemberFactory(), "10")
    report = campaign_report(Campaign.objects.get(pk=campaign.pk))
    assert report.lift is None and report.roi is None and report.points_awarded == 10


def test_report_page_renders_the_chart_with_constant_queries(admin_client, dataset, django_assert_max_num_queries):
    from django.urls import reverse

    campaign, treated, _holdout = dataset
    buy(treated[0], "100")
    url = reverse("admin:campaigns_campaign_report", args=[campaign.pk])
    with django_assert_max_num_queries(20):
        response = admin_client.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    assert "<svg" in body and 'class="bar"' in body
    assert f"<td>{date_format(timezone.localdate(), 'DATE_FORMAT')}</td><td>100</td>" in body
    # The holdout group has not bought yet: no lift, no ROI, and the page says why with the counts.
    assert "Not enough data yet: 0 buyers in the holdout group and 1 in the campaign group" in body
    assert "shown once both the campaign and the holdout group have buyers" in body
    assert "running since" in body
    for index in range(5):
        buy(treated[index % 4], "10")
    with django_assert_max_num_queries(20):
        assert admin_client.get(url).status_code == 200


def test_chart_days_run_from_the_first_to_the_last_day_with_gaps_as_zero():
    day = timezone.localdate()
    series = [(day + timedelta(days=3), 7), (day, 5)]
    assert days_filled(series) == [(day, 5), (day + timedelta(days=1), 0), (day + timedelta(days=2), 0), series[0]]
    assert days_filled([]) == []


def _groups(campaign, segment, size):
    treated, holdout = [], []
    while len(treated) < size or len(holdout) < size:
        member = MemberFactory()
        group = holdout if in_holdout(campaign=campaign, member_id=member.pk) else treated
        if len(group) < size:
            group.append(member)
    segment_list_upload(segment=segment, content="\n".join(m.member_number for m in treated + holdout), excluded=False)
    return treated, holdout


def test_no_roi_while_the_holdout_group_has_no_buyers():
    """The 9,896 % ROI beside "no lift": incremental revenue needs a holdout baseline that bought."""
    segment = segment_factory(base=Segment.Base.LIST_ONLY)
    campaign = campaign_factory(multiplier=Decimal("2"), holdout_percent=50, segment=segment)
    treated, _holdout = _groups(campaign, segment, 3)
    buy(treated[0], "100")
    report = campaign_report(Campaign.objects.get(pk=campaign.pk))
    assert report.holdout.members == 3 and report.holdout.buyers == 0
    assert report.lift is None and report.incremental_revenue is None and report.roi is None


def test_lift_has_a_confidence_interval_computed_from_each_members_revenue(admin_client):
    from django.urls import reverse

    segment = segment_factory(base=Segment.Base.LIST_ONLY)
    campaign = campaign_factory(multiplier=Decimal("2"), holdout_percent=50, segment=segment)
    treated, holdout = _groups(campaign, segment, 12)
    spend_treated = [30, 40, 50, 60, 20, 80, 45, 35, 55, 65, 0, 0]  # two treated members buy nothing
    spend_holdout = [20, 30, 25, 40, 10, 35, 30, 15, 45, 20, 0, 0]
    for member, amount in [*zip(treated, spend_treated, strict=True), *zip(holdout, spend_holdout, strict=True)]:
        if amount:
            buy(member, str(amount))
    buy(treated[0], "10")  # a second purchase: revenue is summed per member before the variance

    report = campaign_report(Campaign.objects.get(pk=campaign.pk))
    per_treated = [40, 40, 50, 60, 20, 80, 45, 35, 55, 65, 0, 0]
    assert (report.treatment.buyers, report.holdout.buyers) == (10, 10) and report.enough_data
    mean_t, mean_h = statistics.mean(per_treated), statistics.mean(spend_holdout)
    ratio = mean_t / mean_h
    se = ratio * math.sqrt(
        statistics.variance(per_treated) / (12 * mean_t**2) + statistics.variance(spend_holdout) / (12 * mean_h**2)
    )
    low, high = report.lift_interval
    assert report.lift == Decimal("0.8147")  # per member 490 / 12 = 40.83 over 270 / 12 = 22.50, minus one
    assert abs(float(low) - (ratio - 1 - 1.959964 * se)) < 0.001
    assert abs(float(high) - (ratio - 1 + 1.959964 * se)) < 0.001
    assert low < report.lift < high

    body = admin_client.get(reverse("admin:campaigns_campaign_report", args=[campaign.pk])).content.decode()
    assert "Lift: +81.5\u00a0% in revenue per member" in body
    assert "(10 buyers of 12)" in body and "95 % confidence interval" in body


def test_an_ended_campaign_shows_its_window_from_start_to_end(admin_client):
    from django.urls import reverse

    from campaigns.services.lifecycle import campaign_end

    campaign = campaign_factory(multiplier=Decimal("2"))
    campaign_end(campaign=campaign, actor=StaffUserFactory())
    body = admin_client.get(reverse("admin:campaigns_campaign_report", args=[campaign.pk])).content.decode()
    assert "running since" not in body and " – " in body
