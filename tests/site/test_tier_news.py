"""Tier moves are told: by a service email (whatever the member's email choices), once on the next page of the
member site, and on the activity page; upgrades at once, downgrades at the review."""

from decimal import Decimal

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from members.models import Member, Tier, TierHistory
from members.services import batch
from members.services.tiers import qualifying_activity_add
from tests.factories import MemberFactory
from tests.members.conftest import buy, program_set

pytestmark = pytest.mark.django_db


@pytest.fixture
def program(db, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    settings.SITE_URL = "https://rewards.example.com:8443"
    return program_set(pending_days=0)


def _tiers():
    return {tier.name: tier for tier in Tier.objects.all()}


def test_an_upgrade_sends_a_service_email_and_is_told_once_on_the_next_page(
    program, client, django_capture_on_commit_callbacks
):
    member = MemberFactory(marketing_consent=False, first_name="Robin")
    Member.objects.filter(pk=member.pk).update(email_notifications=False)
    member.refresh_from_db()
    silver = _tiers()["Silver"]
    with django_capture_on_commit_callbacks(execute=True):
        buy(member, str(Decimal(silver.threshold)))
    member.refresh_from_db()
    assert member.tier == silver and member.tier_notice_pending

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [member.user.email]
    assert message.subject == "You are now Silver"
    assert "you moved up from Bronze to Silver" in message.body
    assert "https://rewards.example.com:8443/me/tiers/" in message.body
    assert "sent whatever your email preferences" in message.body

    client.force_login(member.user)
    page = client.get(reverse("members:dashboard")).content.decode()
    assert "Congratulations: you moved up from Bronze to Silver." in page
    again = client.get(reverse("members:dashboard")).content.decode()
    assert "Congratulations" not in again
    activity = client.get(reverse("members:activity")).content.decode()
    assert "Tier changes" in activity and "moved up from Bronze to Silver" in activity


def test_a_downgrade_at_the_review_is_emailed_and_told(program, client, django_capture_on_commit_callbacks):
    tiers = _tiers()
    today = timezone.localdate()
    member = MemberFactory()
    kept = MemberFactory()
    Member.objects.filter(pk__in=[member.pk, kept.pk]).update(tier=tiers["Gold"], tier_review_at=today)
    qualifying_activity_add(member=kept, when=timezone.now(), points=10**6, spend=Decimal(10**6))
    with django_capture_on_commit_callbacks(execute=True):
        assert batch.tiers_evaluate(today=today) == 2
    assert [m.to for m in mail.outbox] == [[member.user.email]]
    assert "At your tier review you moved from Gold to Silver" in mail.outbox[0].body
    assert Member.objects.get(pk=member.pk).tier_notice_pending
    assert not Member.objects.get(pk=kept.pk).tier_notice_pending

    client.force_login(member.user)
    page = client.get(reverse("members:tiers")).content.decode()
    assert "At your tier review you moved from Gold to Silver" in page
    assert TierHistory.objects.filter(member=member, reason="downgrade").exists()
    activity = client.get(reverse("members:activity")).content.decode()
    assert "moved from Gold to Silver at the tier review" in activity


def test_tier_progress_says_what_counts(program, client):
    member = MemberFactory()
    client.force_login(member.user)
    for name in ("members:dashboard", "members:tiers"):
        body = client.get(reverse(name)).content.decode()
        assert "What counts toward your tier: the points your purchases earn" in body, name
        assert "Campaign bonuses, referral and welcome points are extra" in body, name


def test_tier_progress_says_whether_bonus_points_count(program, client):
    program_set(tier_counts_bonus_points=True)
    member = MemberFactory()
    client.force_login(member.user)
    for name in ("members:dashboard", "members:tiers"):
        body = client.get(reverse(name)).content.decode()
        assert "and the campaign bonuses on them" in body, name
        assert "Campaign bonuses, referral and welcome points are extra" not in body, name
    program_set(tier_counts_bonus_points=False, tier_basis="spend")
    body = client.get(reverse("members:tiers")).content.decode()
    assert "What you pay with points does not count." in body
