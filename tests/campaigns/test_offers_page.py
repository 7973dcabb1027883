from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, Segment
from campaigns.segments import in_holdout
from tests.factories import MemberFactory, campaign_factory, segment_factory

pytestmark = pytest.mark.django_db


def test_offers_page_lists_running_campaigns_for_the_member_only(client, django_assert_max_num_queries):
    member = MemberFactory(marketing_consent=True)
    campaign_factory(name="Double coffee", multiplier=Decimal("2"), description="Twice the beans.")
    campaign_factory(
        name="Big spender",
        kind=Campaign.Kind.FIXED_BONUS,
        trigger="spend_over",
        bonus_points=250,
        threshold_spend=Decimal("50"),
    )
    campaign_factory(name="Consenters only", segment=segment_factory(marketing_consent=Segment.Consent.NO))
    campaign_factory(name="Not yet", starts_at=timezone.now() + timedelta(days=1))
    campaign_factory(name="Paused one", status=Campaign.Status.PAUSED)
    campaign_factory(name="Birthday", kind=Campaign.Kind.BIRTHDAY, bonus_points=5)
    client.force_login(member.user)
    with django_assert_max_num_queries(12):
        response = client.get(reverse("campaigns:offers"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Double coffee" in body and "Twice the beans." in body and "Big spender" in body
    for hidden in ("Consenters only", "Not yet", "Paused one", "Birthday"):
        assert hidden not in body
    for index in range(10):
        campaign_factory(name=f"More {index}", segment=segment_factory(spend_min=0))
    with django_assert_max_num_queries(12):
        assert "More 9" in client.get(reverse("campaigns:offers")).content.decode()


def test_holdout_members_do_not_see_the_campaign(client):
    members = MemberFactory.create_batch(8)
    campaign = campaign_factory(name="Secret test", holdout_percent=50)
    held = next(m for m in members if in_holdout(campaign=campaign, member_id=m.pk))
    treated = next(m for m in members if not in_holdout(campaign=campaign, member_id=m.pk))
    client.force_login(held.user)
    assert "Secret test" not in client.get(reverse("campaigns:offers")).content.decode()
    client.force_login(treated.user)
    assert "Secret test" in client.get(reverse("campaigns:offers")).content.decode()


def test_offers_page_needs_login(client):
    response = client.get(reverse("campaigns:offers"))
    assert response.status_code == 302 and reverse("account_login") in response.url


def test_beat_schedule_has_the_campaign_jobs(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {
        "campaigns.tasks.advance_campaigns",
        "campaigns.tasks.birthday_gifts",
        "campaigns.tasks.send_campaign_emails",
    } <= tasks
    from campaigns import tasks as campaign_tasks

    assert campaign_tasks.advance_campaigns.delay().get() == {"started": 0, "ended": 0}


def test_demo_seed_is_idempotent():
    from campaigns import demo
    from members import demo as members_demo

    members_demo.seed()
    assert len(demo.seed()) == 2
    assert demo.seed() == []
    weekend = Campaign.objects.get(name=demo.DOUBLE_WEEKEND)
    assert weekend.status in (Campaign.Status.SCHEDULED, Campaign.Status.ACTIVE)
    assert (weekend.ends_at - weekend.starts_at) in (
        timedelta(days=2),
        timedelta(days=2, hours=1),
        timedelta(days=2, hours=-1),
    )
    assert Campaign.objects.get(name=demo.SPEND_BONUS).status == Campaign.Status.ACTIVE
