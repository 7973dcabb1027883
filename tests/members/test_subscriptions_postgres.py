"""Paid membership on PostgreSQL: racing starts keep one live subscription, racing renewals count once, the
history's trigger refuses edits, and a start granting the period reward does not deadlock with purchases."""

from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from members.services.purchases import PurchaseLineInput, purchase_record
from members.subscriptions import services
from members.subscriptions.exceptions import SubscriptionExists
from members.subscriptions.models import MembershipPlan, Subscription, SubscriptionEvent
from tests.factories import MemberFactory, RewardFactory
from tests.members.test_concurrency import run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _plan():
    return MembershipPlan.objects.create(name="Plus", slug="plus", price=Decimal("5"), earn_multiplier=Decimal("2"))


def test_racing_starts_leave_one_live_subscription():
    plan, member = _plan(), MemberFactory()
    results, errors = run_at_once(
        6,
        lambda i: services.subscription_start(member=member, plan=plan, external_id=f"sub-{i}", source="k"),
    )
    assert len(results) == 1
    assert len(errors) == 5 and all(isinstance(error, SubscriptionExists) for error in errors.values())
    assert Subscription.objects.filter(member=member).count() == 1


def test_racing_renewals_renew_once():
    plan, member = _plan(), MemberFactory()
    subscription = services.subscription_start(
        member=member, plan=plan, external_id="s", source="k", started_at=timezone.now() - timezone.timedelta(days=27)
    )
    results, errors = run_at_once(
        4, lambda i: services.subscription_renew(subscription=subscription, paid_amount=Decimal("5"))[1]
    )
    assert not errors
    assert sorted(results.values()) == [False, False, False, True]
    assert SubscriptionEvent.objects.filter(kind="renewed").count() == 1


def test_the_history_refuses_updates_and_deletes():
    plan, member = _plan(), MemberFactory()
    services.subscription_start(member=member, plan=plan, external_id="s", source="k")
    for statement in (
        "UPDATE members_subscriptionevent SET amount = 0",
        "DELETE FROM members_subscriptionevent",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement)


def test_starts_with_period_rewards_and_purchases_do_not_deadlock():
    plan = _plan()
    RewardFactory(kind="fixed_discount", value=Decimal("3"), points_cost=1, period_reward_plan=plan)
    members = MemberFactory.create_batch(4)

    def work(index):
        member = members[index // 2]
        if index % 2:
            return services.subscription_start(member=member, plan=plan, external_id=f"s-{index}", source="k")
        return purchase_record(
            member=member,
            external_id=f"P-{index}",
            lines=[PurchaseLineInput(sku="A", quantity=1, unit_price=Decimal("10"))],
            channel="online",
            occurred_at=timezone.now(),
            currency="EUR",
        )

    results, errors = run_at_once(8, work)
    assert not errors
    assert len(results) == 8
    assert Subscription.objects.count() == 4
