"""One definition of "points redeemed" (net of cancelled and refunded redemptions), shared by the analytics
dashboard, its top rewards and the liability report's movements: the three agree on the same data."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice.accounting import movements_for
from backoffice.analytics import dashboard_build
from backoffice.periods import Period
from rewards.models import Reward
from rewards.selectors import REDEEMED_DEFINITION, redeemed_points_total
from rewards.services import reward_redeem, voucher_cancel
from tests.factories import MemberFactory, RewardFactory, points_give

pytestmark = pytest.mark.django_db


def _redeem(member, reward, key, **kwargs):
    return reward_redeem(member=member, reward=reward, idempotency_key=key, **kwargs)


@pytest.fixture
def history():
    """Three redemptions today: a voucher kept (250), a voucher cancelled (250 back), a donation (100)."""
    member = MemberFactory()
    points_give(member, 2000)
    coffee = RewardFactory(name="Free flat white", points_cost=250)
    cake = RewardFactory(name="Slice of cake", points_cost=250)
    charity = RewardFactory(kind=Reward.Kind.DONATION, value=None, charity="Food Bank", points_cost=100)
    _redeem(member, coffee, "kept")
    cancelled = _redeem(member, cake, "cancelled")
    voucher_cancel(voucher=cancelled.voucher, by_member=True)
    _redeem(member, charity, "donated", points=100)
    today = timezone.localdate()
    return Period(start=today - timedelta(days=6), end=today)


@pytest.mark.parametrize("use_rollups", [True, False])
def test_analytics_top_rewards_and_liability_agree_on_points_redeemed(history, use_rollups):
    dashboard = dashboard_build(history, use_rollups=use_rollups)
    movements = movements_for(history, use_rollups=use_rollups)
    net = redeemed_points_total(start_at=history.start_at, end_at=history.end_at)
    assert net == 350  # 250 kept + 100 donated; the cancelled voucher's 250 came back
    assert dashboard.points_redeemed == net
    assert sum(row["points"] for row in dashboard.top_rewards) == net
    assert -movements.get("redeemed") == net
    assert movements.get("other") == 0  # the cancellation's +250 is not "Other" any more
    assert movements.reconciles
    rows = {row["name"]: row for row in dashboard.top_rewards}
    assert rows["Free flat white"]["points"] == 250 and rows["Free flat white"]["redemptions"] == 1
    assert "Slice of cake" not in rows  # cancelled: nothing redeemed net
    assert sum(points for _day, _issued, points in dashboard.points_by_day) == net


def test_the_definition_is_stated_on_both_pages(admin_client, history):
    definition = str(REDEEMED_DEFINITION)
    assert "net of redemptions cancelled or refunded" in definition
    for name in ("staff:analytics", "staff:liability"):
        body = admin_client.get(reverse(name)).content.decode()
        assert definition.replace("'", "&#x27;") in body, name
