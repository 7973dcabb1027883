"""Demo campaigns for `make run`: a double-points weekend and a spend-threshold bonus. Idempotent (by name)."""

from datetime import datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.utils import timezone

from members.demo import DEMO_STAFF_EMAIL

from .models import Campaign
from .services import campaign_create, campaign_launch, campaign_schedule

DOUBLE_WEEKEND = "Double points weekend"
SPEND_BONUS = "Spend 50, get 250 bonus points"


def _weekend(now: datetime) -> tuple[datetime, datetime]:
    """This weekend if it is under way, else the next one: Saturday 00:00 to Monday 00:00, local time."""
    today = timezone.localdate(now)
    saturday = today + timedelta(days=(5 - today.weekday()) % 7)
    if today.weekday() == 6:  # Sunday: the weekend began yesterday
        saturday = today - timedelta(days=1)
    zone = timezone.get_current_timezone()
    start = datetime.combine(saturday, time.min, tzinfo=zone)
    return start, datetime.combine(saturday + timedelta(days=2), time.min, tzinfo=zone)


def _start(campaign: Campaign, actor, now: datetime) -> None:
    if campaign.starts_at and campaign.starts_at > now:
        campaign_schedule(campaign=campaign, actor=actor, now=now)
    else:
        campaign_launch(campaign=campaign, actor=actor, now=now)


def seed(*, stdout=None):
    actor = get_user_model().objects.filter(email=DEMO_STAFF_EMAIL).first()
    now = timezone.now()
    created = []
    if not Campaign.objects.filter(name=DOUBLE_WEEKEND).exists():
        starts_at, ends_at = _weekend(now)
        campaign = campaign_create(
            actor=actor,
            name=DOUBLE_WEEKEND,
            kind=Campaign.Kind.MULTIPLIER,
            description="Every purchase earns twice the points, all weekend long.",
            multiplier=Decimal("2"),
            starts_at=starts_at,
            ends_at=ends_at,
            stackable=True,
            budget_points=50_000,
            holdout_percent=10,
        )
        _start(campaign, actor, now)
        created.append(campaign)
    if not Campaign.objects.filter(name=SPEND_BONUS).exists():
        today = datetime.combine(timezone.localdate(now), time.min, tzinfo=timezone.get_current_timezone())
        campaign = campaign_create(
            actor=actor,
            name=SPEND_BONUS,
            kind=Campaign.Kind.FIXED_BONUS,
            description="Spend 50 or more in one purchase and earn 250 bonus points on top.",
            trigger=Campaign.Trigger.SPEND_OVER,
            threshold_spend=Decimal("50"),
            bonus_points=250,
            starts_at=today,
            ends_at=today + timedelta(days=30),
            per_member_cap=1000,
            budget_points=100_000,
        )
        _start(campaign, actor, now)
        created.append(campaign)
    _detractors_segment(actor)
    if stdout is not None and created:
        stdout.write(f"  Campaigns: {', '.join(c.name for c in created)}")
    return created


DETRACTORS = "Detractors, last 90 days (win them back)"


def _detractors_segment(actor) -> None:
    from members.models import FeedbackResponse

    from .models import Segment
    from .services import segment_save

    if not Segment.objects.filter(name=DETRACTORS).exists():
        segment = Segment(
            name=DETRACTORS,
            description="Members whose latest feedback answer was 0–6, given in the last 90 days.",
            feedback_group=FeedbackResponse.Group.DETRACTOR,
            feedback_within_days=90,
        )
        segment_save(segment=segment, actor=actor)
