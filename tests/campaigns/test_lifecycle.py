from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.exceptions import CampaignLocked, InvalidCampaign, InvalidTransition
from campaigns.models import Campaign, CampaignChange
from campaigns.services import (
    campaign_copy,
    campaign_create,
    campaign_end,
    campaign_launch,
    campaign_pause,
    campaign_resume,
    campaign_schedule,
    campaign_unschedule,
    campaign_update,
    campaigns_advance,
)
from tests.factories import MemberFactory, StaffUserFactory, buy

pytestmark = pytest.mark.django_db
Status = Campaign.Status


@pytest.fixture
def marketer():
    return StaffUserFactory()


def draft(marketer, **fields):
    now = timezone.now()
    fields.setdefault("multiplier", Decimal("2"))
    fields.setdefault("starts_at", now + timedelta(hours=1))
    fields.setdefault("ends_at", now + timedelta(days=2))
    return campaign_create(actor=marketer, name="Double points", kind=Campaign.Kind.MULTIPLIER, **fields)


def test_full_lifecycle_is_recorded_with_who(marketer):
    campaign = draft(marketer)
    campaign = campaign_schedule(campaign=campaign, actor=marketer)
    assert campaign.status == Status.SCHEDULED
    campaign = campaign_launch(campaign=campaign, actor=marketer)
    assert campaign.status == Status.ACTIVE and campaign.launched_at
    assert campaign.starts_at <= timezone.now()  # launching early moves the start to now
    campaign = campaign_pause(campaign=campaign, actor=marketer)
    campaign = campaign_resume(campaign=campaign, actor=marketer)
    campaign = campaign_end(campaign=campaign, actor=marketer)
    assert campaign.status == Status.ENDED and campaign.ends_at <= timezone.now()
    history = list(campaign.changes.order_by("id").values_list("action", "from_status", "to_status", "actor"))
    assert history == [
        ("create", "", "draft", marketer.pk),
        ("schedule", "draft", "scheduled", marketer.pk),
        ("launch", "scheduled", "active", marketer.pk),
        ("pause", "active", "paused", marketer.pk),
        ("resume", "paused", "active", marketer.pk),
        ("end", "active", "ended", marketer.pk),
    ]


@pytest.mark.parametrize(
    ("status", "service"),
    [
        (Status.DRAFT, campaign_pause),
        (Status.DRAFT, campaign_resume),
        (Status.DRAFT, campaign_end),
        (Status.ACTIVE, campaign_schedule),
        (Status.ACTIVE, campaign_launch),
        (Status.ACTIVE, campaign_resume),
        (Status.PAUSED, campaign_pause),
        (Status.ENDED, campaign_launch),
        (Status.ENDED, campaign_resume),
        (Status.ENDED, campaign_end),
        (Status.SCHEDULED, campaign_pause),
    ],
)
def test_invalid_transitions_are_refused(marketer, status, service):
    campaign = draft(marketer)
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    with pytest.raises(InvalidTransition):
        service(campaign=campaign, actor=marketer)
    assert Campaign.objects.get(pk=campaign.pk).status == status


def test_unschedule_returns_to_draft(marketer):
    campaign = campaign_schedule(campaign=draft(marketer), actor=marketer)
    assert campaign_unschedule(campaign=campaign, actor=marketer).status == Status.DRAFT


def test_schedule_needs_a_future_start_and_complete_rules(marketer):
    with pytest.raises(InvalidCampaign):
        campaign_schedule(campaign=draft(marketer, starts_at=timezone.now() - timedelta(minutes=1)), actor=marketer)
    with pytest.raises(InvalidCampaign) as error:
        campaign_schedule(campaign=draft(marketer, multiplier=Decimal("1")), actor=marketer)
    assert error.value.field == "multiplier"
    incomplete = campaign_create(actor=marketer, name="Bonus", kind=Campaign.Kind.FIXED_BONUS, bonus_points=10)
    with pytest.raises(InvalidCampaign) as error:
        campaign_launch(campaign=incomplete, actor=marketer)
    assert error.value.field == "trigger"


def test_window_must_end_after_start(marketer):
    now = timezone.now()
    with pytest.raises(InvalidCampaign):
        draft(marketer, starts_at=now, ends_at=now)


def test_rules_frozen_after_launch_but_name_and_budget_editable(marketer):
    campaign = campaign_launch(campaign=draft(marketer), actor=marketer)
    with pytest.raises(CampaignLocked) as error:
        campaign_update(campaign=campaign, actor=marketer, multiplier=Decimal("3"))
    assert "multiplier" in error.value.message
    campaign = campaign_update(campaign=campaign, actor=marketer, name="Triple? No: double", budget_points=1000)
    assert campaign.name == "Triple? No: double"
    change = CampaignChange.objects.filter(campaign=campaign, action="update").get()
    assert change.changes["budget_points"] == [None, 1000] and change.actor == marketer


def test_draft_rules_are_editable_and_recorded(marketer):
    campaign = draft(marketer)
    campaign = campaign_update(campaign=campaign, actor=marketer, multiplier=Decimal("3"), categories="tea, coffee")
    assert campaign.multiplier == 3 and campaign.categories == ["coffee", "tea"]
    assert CampaignChange.objects.get(action="update").changes["multiplier"] == ["2.0000", "3"]


def test_budget_cannot_go_below_what_was_awarded(marketer):
    campaign = campaign_launch(campaign=draft(marketer, budget_points=100), actor=marketer)
    Campaign.objects.filter(pk=campaign.pk).update(points_awarded=60)
    with pytest.raises(InvalidCampaign):
        campaign_update(campaign=campaign, actor=marketer, budget_points=50)


def test_copy_makes_an_editable_draft_with_the_same_rules(marketer):
    original = campaign_launch(campaign=draft(marketer, categories=["coffee"], per_member_cap=50), actor=marketer)
    duplicate = campaign_copy(campaign=original, actor=marketer)
    assert duplicate.status == Status.DRAFT and duplicate.copied_from == original
    assert duplicate.categories == ["coffee"] and duplicate.per_member_cap == 50 and duplicate.multiplier == 2
    assert duplicate.points_awarded == 0
    campaign_update(campaign=duplicate, actor=marketer, multiplier=Decimal("3"))


def test_scheduler_starts_and_ends_campaigns(marketer):
    campaign = campaign_schedule(campaign=draft(marketer), actor=marketer)
    member = MemberFactory()
    # A purchase in the window counts even before the beat task has flipped the status.
    later = campaign.starts_at + timedelta(minutes=1)
    assert campaigns_advance(now=campaign.starts_at - timedelta(seconds=1)) == {"started": 0, "ended": 0}
    assert campaigns_advance(now=later) == {"started": 1, "ended": 0}
    campaign.refresh_from_db()
    assert campaign.status == Status.ACTIVE
    assert campaign.changes.filter(action="launch", actor__isnull=True).exists()
    assert campaigns_advance(now=campaign.ends_at) == {"started": 0, "ended": 1}
    campaign.refresh_from_db()
    assert campaign.status == Status.ENDED
    assert buy(member, "10").purchase.points_bonus == 0


def test_paused_campaign_stops_awarding_at_once(marketer):
    member = MemberFactory()
    campaign = campaign_launch(campaign=draft(marketer), actor=marketer)
    assert buy(member, "10").purchase.points_bonus == 10
    campaign_pause(campaign=campaign, actor=marketer)
    assert buy(member, "10").purchase.points_bonus == 0
    campaign_resume(campaign=campaign, actor=marketer)
    assert buy(member, "10").purchase.points_bonus == 10
