"""Membership plans in the admin: the program manager edits them, every save is audited, subscriptions and
their history are read-only, and a reward's period-reward plan is checked."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from backoffice.models import StaffAuditLog
from members.subscriptions.models import MembershipPlan, Subscription
from members.subscriptions.services import subscription_start
from tests.factories import MemberFactory, RewardFactory

pytestmark = pytest.mark.django_db

PLAN_FORM = {
    "name": "Plus",
    "slug": "plus",
    "description": "",
    "is_active": "on",
    "sort_order": "0",
    "price": "4.99",
    "currency": "EUR",
    "period": "month",
    "trial_days": "14",
    "grace_days": "7",
    "earn_multiplier": "2",
    "multiplier_combination": "multiply",
    "early_access_days": "0",
}


def test_program_manager_creates_a_plan_and_it_is_audited(client, manager):
    client.force_login(manager)
    response = client.post(reverse("admin:members_membershipplan_add"), PLAN_FORM)
    assert response.status_code == 302, response.context["adminform"].form.errors
    plan = MembershipPlan.objects.get(slug="plus")
    assert plan.earn_multiplier == Decimal("2")
    log = StaffAuditLog.objects.get(action="rule_created", object_type="members.membershipplan")
    assert log.actor == manager


def test_a_multiplier_below_one_is_refused(client, manager):
    client.force_login(manager)
    response = client.post(reverse("admin:members_membershipplan_add"), {**PLAN_FORM, "earn_multiplier": "0.5"})
    assert response.status_code == 200
    assert not MembershipPlan.objects.exists()


def test_subscriptions_are_read_only_and_marketers_cannot_edit_plans(client, manager, marketer):
    plan = MembershipPlan.objects.create(name="Plus", slug="plus", price=Decimal("5"))
    subscription = subscription_start(member=MemberFactory(), plan=plan, external_id="s", source="k")
    client.force_login(manager)
    url = reverse("admin:members_subscription_change", args=[subscription.pk])
    assert client.get(url).status_code == 200
    client.post(url, {"status": "expired"})
    assert Subscription.objects.get().status == "active"
    assert client.get(reverse("admin:members_subscription_add")).status_code == 403
    client.force_login(marketer)
    assert client.get(reverse("admin:members_membershipplan_change", args=[plan.pk])).status_code == 403


def test_a_period_reward_must_be_one_that_can_be_given(db):
    plan = MembershipPlan.objects.create(name="Plus", slug="plus", price=Decimal("5"))
    reward = RewardFactory.build(kind="donation", charity="Trees", period_reward_plan=plan)
    with pytest.raises(ValidationError):
        reward.clean()
