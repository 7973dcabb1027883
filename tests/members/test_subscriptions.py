"""Paid membership in the core: the earn multiplier in the engine's steps, benefits by the clock, the daily job,
the append-only history and the savings it records."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members.services.purchases import PurchaseLineInput, purchase_preview, purchase_record
from members.subscriptions import selectors, services
from members.subscriptions.exceptions import SubscriptionEnded, SubscriptionExists
from members.subscriptions.models import MembershipPlan, SubscriptionEvent, SubscriptionSaving
from tests.factories import MemberFactory, TierFactory

pytestmark = pytest.mark.django_db

LINES = [PurchaseLineInput(sku="TEA", quantity=2, unit_price=Decimal("5.00"), category="drinks")]


@pytest.fixture
def plan():
    return MembershipPlan.objects.create(
        name="Plus", slug="plus", price=Decimal("5.00"), earn_multiplier=Decimal("2"), grace_days=5, trial_days=14
    )


@pytest.fixture
def member():
    TierFactory(name="Bronze", rank=0)
    return MemberFactory()


def subscribe(member, plan, **kwargs):
    return services.subscription_start(member=member, plan=plan, external_id="sub", source="key:1", **kwargs)


def test_preview_shows_the_plan_multiplier_as_its_own_step(member, plan):
    subscribe(member, plan)
    result = purchase_preview(member=member, lines=LINES, channel="online")
    assert [step.kind for step in result.steps][-1] == "plan_multiplier"
    step = result.steps[-1]
    assert step.rule == "Plus membership"
    assert step.points == Decimal("10")
    assert result.base_points == 20


def test_tier_and_plan_multiply_or_take_the_larger(member, plan):
    silver = TierFactory(name="Silver", rank=1)
    member.tier = silver
    member.save()
    subscribe(member, plan)
    multiplied = purchase_preview(member=member, lines=LINES, channel="online").base_points
    assert multiplied == int(10 * silver.earn_multiplier * 2)
    plan.multiplier_combination = MembershipPlan.Combination.LARGER
    plan.save()
    result = purchase_preview(member=member, lines=LINES, channel="online")
    assert result.base_points == 20  # 10 × max(tier, 2)
    assert "larger" in result.steps[-1].detail


def test_no_multiplier_without_a_subscription_and_no_query_without_plans(member, django_assert_num_queries):
    result = purchase_preview(member=member, lines=LINES, channel="online")
    assert result.base_points == 10
    assert all(step.kind != "plan_multiplier" for step in result.steps)
    selectors.plans_list()  # warm the cache, as every earn after the first finds it
    with django_assert_num_queries(0):
        assert selectors.earning_plan(member_id=member.pk, at=timezone.now()) is None


def test_benefits_stop_exactly_at_expiry(member, plan):
    subscription = subscribe(member, plan)
    end = subscription.current_period_end
    just_before = purchase_preview(member=member, lines=LINES, channel="online", occurred_at=end - timedelta(seconds=1))
    at_end = purchase_preview(member=member, lines=LINES, channel="online", occurred_at=end)
    assert just_before.base_points == 20
    assert at_end.base_points == 10  # before the daily job has run: the clock decides
    assert selectors.member_plan(member_id=member.pk, at=end - timedelta(microseconds=1)) == plan
    assert selectors.member_plan(member_id=member.pk, at=end) is None


def test_a_recorded_purchase_saves_the_extra_points_once(member, plan):
    subscribe(member, plan)
    now = timezone.now()
    for _ in range(2):
        purchase_record(
            member=member, external_id="P-1", lines=LINES, channel="online", occurred_at=now, currency="EUR"
        )
    saving = SubscriptionSaving.objects.get()
    assert (saving.kind, saving.points, saving.amount) == ("extra_points", 10, Decimal("0.10"))


def test_the_daily_job_expires_lapsed_subscriptions_once(member, plan):
    subscription = subscribe(member, plan)
    end = subscription.current_period_end
    assert services.subscriptions_expire_due(now=end - timedelta(microseconds=1)) == 0
    assert services.subscriptions_expire_due(now=end) == 1
    assert services.subscriptions_expire_due(now=end + timedelta(days=1)) == 0
    subscription.refresh_from_db()
    assert (subscription.status, subscription.ended_at) == ("expired", end)
    assert SubscriptionEvent.objects.filter(kind="expired").count() == 1
    with pytest.raises(SubscriptionEnded):
        services.subscription_renew(subscription=subscription, paid_amount=Decimal("5"))


def test_payment_failed_grace_runs_from_the_period_end(member, plan):
    subscription = subscribe(member, plan)
    end = subscription.current_period_end
    subscription, changed = services.subscription_payment_failed(subscription=subscription, now=end)
    assert changed and subscription.grace_until == end + timedelta(days=5)
    assert subscription.benefits_at(end + timedelta(days=4))
    _, again = services.subscription_payment_failed(subscription=subscription, now=end + timedelta(days=1))
    assert again is False
    recovered, _ = services.subscription_renew(
        subscription=subscription, paid_amount=Decimal("5"), now=end + timedelta(days=2)
    )
    assert recovered.status == "active"
    assert recovered.current_period_start == end


def test_a_new_subscription_after_one_lapsed_unnoticed(member, plan):
    subscription = subscribe(member, plan)
    later = subscription.current_period_end + timedelta(hours=1)
    with pytest.raises(SubscriptionExists):
        services.subscription_start(member=member, plan=plan, external_id="sub-2", source="key:1")
    second = services.subscription_start(member=member, plan=plan, external_id="sub-2", source="key:1", now=later)
    assert second.status == "active"
    subscription.refresh_from_db()
    assert subscription.status == "expired"


def test_events_are_append_only(member, plan):
    subscribe(member, plan)
    event = SubscriptionEvent.objects.get()
    event.amount = Decimal("0")
    with pytest.raises(ValueError, match="append-only"):
        event.save()
    with pytest.raises(ValueError, match="append-only"):
        event.delete()


def test_figures_count_subscribers_trials_mrr_churn_and_revenue(plan):
    yearly = MembershipPlan.objects.create(name="Year", slug="year", price=Decimal("120"), period="year")
    TierFactory(name="Bronze", rank=0)
    members = MemberFactory.create_batch(3)
    now = timezone.now()
    start = now - timedelta(days=1)
    services.subscription_start(member=members[0], plan=plan, external_id="a", source="k", now=now)
    services.subscription_start(member=members[1], plan=yearly, external_id="b", source="k", now=now)
    trial = services.subscription_start(member=members[2], plan=plan, external_id="c", source="k", trial=True, now=now)
    services.subscription_renew(subscription=trial, paid_amount=Decimal("5"), now=now)
    figures = selectors.subscription_figures(start_at=start, end_at=now + timedelta(seconds=1))
    assert figures["active"] == 3
    assert figures["mrr"] == Decimal("5.00") * 2 + Decimal("10.00")
    assert (figures["trials_started"], figures["trials_converted"], figures["trial_conversion"]) == (1, 1, 100)
    assert {row["plan"]: row["revenue"] for row in figures["plans"]} == {"Plus": Decimal("10.00"), "Year": 120}


def test_fees_are_deferred_over_their_period(member, plan):
    now = timezone.now()
    subscription = subscribe(member, plan, now=now)
    end = subscription.current_period_end
    middle = now + (end - now) / 2
    deferred = selectors.subscription_fees_deferred(at=middle)
    assert deferred["totals"]["EUR"] == Decimal("2.50")
    assert selectors.subscription_fees_deferred(at=end)["totals"] == {}


def test_closing_the_membership_ends_the_subscription(member, plan):
    from members.services import member_close

    subscription = subscribe(member, plan)
    member_close(member=member)
    subscription.refresh_from_db()
    assert subscription.status == "cancelled"
    assert not subscription.benefits_at(timezone.now())
    assert SubscriptionEvent.objects.filter(kind="cancelled").count() == 1
