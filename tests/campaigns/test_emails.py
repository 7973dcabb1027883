from datetime import timedelta
from unittest import mock

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign, CampaignEmail, CampaignParticipation
from campaigns.services import campaign_emails_send, member_unsubscribe
from campaigns.services.emails import unsubscribe_token
from members.models import Member, PointsAccount, Tier
from members.services import points_adjust
from tests.factories import MemberFactory, StaffUserFactory, buy, campaign_factory

pytestmark = pytest.mark.django_db
Kind = Campaign.Kind


def credit(member, points):
    points_adjust(
        member=member, points=points, reason="test", actor=StaffUserFactory(), idempotency_key=f"t{member.pk}"
    )


def winback(**fields):
    fields.setdefault("audience_days", 60)
    fields.setdefault("email_subject", "We miss you, {{ first_name }}")
    fields.setdefault(
        "email_body", "Hi {{ name }}, you have {{ balance }} points worth {{ currency }} {{ value }}. {{ offer }}"
    )
    return campaign_factory(kind=Kind.WINBACK, **fields)


def lapse(member, days=90):
    Member.objects.filter(pk=member.pk).update(last_purchase_at=timezone.now() - timedelta(days=days))


def test_winback_email_goes_to_lapsed_consenting_members_with_points():
    lapsed = MemberFactory(marketing_consent=True, first_name="Ada", last_name="Lovelace")
    no_consent = MemberFactory(marketing_consent=False)
    recent = MemberFactory(marketing_consent=True)
    empty = MemberFactory(marketing_consent=True)
    for member in (lapsed, no_consent, recent):
        credit(member, 500)
    lapse(lapsed)
    lapse(no_consent)
    lapse(empty)
    lapse(recent, days=5)
    campaign = winback()
    result = campaign_emails_send(campaign_id=campaign.pk)
    assert result.sent == 1 and len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [lapsed.user.email]
    assert message.subject == "We miss you, Ada"
    assert "Hi Ada Lovelace, you have 500 points worth EUR 5.00." in message.body
    token = unsubscribe_token(member_id=lapsed.pk)
    assert reverse("campaigns:unsubscribe", args=[token]) in message.body
    assert message.extra_headers["List-Unsubscribe"].endswith(f"/campaigns/unsubscribe/{token}/>")
    assert CampaignEmail.objects.get(campaign=campaign, member=lapsed).status == CampaignEmail.Status.SENT
    # Running again sends nothing more.
    assert campaign_emails_send(campaign_id=campaign.pk).sent == 0
    assert len(mail.outbox) == 1


def test_winback_offer_is_honoured_once_on_the_next_purchase():
    member = MemberFactory(marketing_consent=True)
    credit(member, 100)
    lapse(member)
    campaign = winback(bonus_points=300, offer_days=7)
    campaign_emails_send(campaign_id=campaign.pk)
    assert "300 bonus points on your next purchase until" in mail.outbox[0].body
    participation = CampaignParticipation.objects.get(campaign=campaign, member=member)
    assert participation.offer_expires_at > timezone.now()
    assert buy(member, "10").purchase.points_bonus == 300
    assert buy(member, "10").purchase.points_bonus == 0
    participation.refresh_from_db()
    assert participation.offer_used_at is not None and participation.points_awarded == 300


def test_winback_offer_expires_and_members_without_offer_get_nothing():
    member, other = MemberFactory(marketing_consent=True), MemberFactory()
    credit(member, 100)
    lapse(member)
    campaign = winback(bonus_points=300, offer_days=7)
    campaign_emails_send(campaign_id=campaign.pk)
    assert buy(other, "10").purchase.points_bonus == 0
    assert buy(member, "10", occurred_at=timezone.now() - timedelta(days=1)).purchase.points_bonus == 0
    CampaignParticipation.objects.filter(campaign=campaign).update(offer_expires_at=timezone.now())
    assert buy(member, "10").purchase.points_bonus == 0


def test_holdout_members_get_no_email():
    members = MemberFactory.create_batch(10, marketing_consent=True)
    for member in members:
        credit(member, 10)
        lapse(member)
    campaign = winback(holdout_percent=50)
    from campaigns.segments import in_holdout

    treated = {m.user.email for m in members if not in_holdout(campaign=campaign, member_id=m.pk)}
    campaign_emails_send(campaign_id=campaign.pk)
    assert {message.to[0] for message in mail.outbox} == treated


def test_expiry_reminder_is_a_service_email_with_the_expiring_points():
    member = MemberFactory(marketing_consent=False)
    opted_out = MemberFactory(marketing_consent=True)
    Member.objects.filter(pk=opted_out.pk).update(email_notifications=False)
    for who in (member, opted_out):
        credit(who, 120)
    from members.models import PointsLot

    PointsLot.objects.update(expires_at=timezone.now() + timedelta(days=10))
    campaign = campaign_factory(
        kind=Kind.EXPIRY_REMINDER,
        audience_days=30,
        email_subject="Points expiring",
        email_body="{{ expiring_points }} points expire on {{ expiry_date }}.",
    )
    assert campaign_emails_send(campaign_id=campaign.pk).sent == 1
    assert mail.outbox[0].to == [member.user.email]
    assert "120 points expire on" in mail.outbox[0].body


def test_tier_near_nudge_names_the_gap():
    member = MemberFactory(marketing_consent=True)
    far = MemberFactory(marketing_consent=True)
    buy(member, "920")  # 920 qualifying points, Silver at 1000
    buy(far, "100")
    campaign = campaign_factory(
        kind=Kind.TIER_NEAR,
        tier_gap=100,
        email_subject="Almost {{ next_tier }}",
        email_body="Only {{ gap }} points from {{ next_tier }}!",
    )
    assert campaign_emails_send(campaign_id=campaign.pk).sent == 1
    assert mail.outbox[0].subject == "Almost Silver"
    assert "Only 80 points from Silver!" in mail.outbox[0].body
    assert Tier.objects.filter(name="Silver").exists()


def test_sending_resumes_after_a_crash_without_duplicates():
    members = MemberFactory.create_batch(7, marketing_consent=True)
    for member in members:
        credit(member, 10)
        lapse(member)
    campaign = winback()
    real_send = mail.EmailMessage.send
    calls = {"n": 0}

    def flaky(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("worker killed")
        return real_send(self, *args, **kwargs)

    with mock.patch.object(mail.EmailMessage, "send", flaky), pytest.raises(RuntimeError):
        campaign_emails_send(campaign_id=campaign.pk, batch_size=3)
    assert len(mail.outbox) == 3
    statuses = dict(CampaignEmail.objects.values_list("member_id", "status"))
    assert list(statuses.values()).count(CampaignEmail.Status.SENT) == 3
    # Within the lease nobody touches the crashed claim; the rest of the audience is sent.
    result = campaign_emails_send(campaign_id=campaign.pk, batch_size=3)
    assert result.sent == 3 and len(mail.outbox) == 6
    # After the lease the abandoned claim is retried.
    later = timezone.now() + timedelta(hours=1)
    assert campaign_emails_send(campaign_id=campaign.pk, batch_size=3, now=later).sent == 1
    assert sorted(m.to[0] for m in mail.outbox) == sorted(m.user.email for m in members)
    assert CampaignEmail.objects.filter(status=CampaignEmail.Status.SENT).count() == 7


def test_unsubscribe_link_turns_marketing_consent_off(client):
    member = MemberFactory(marketing_consent=True)
    url = reverse("campaigns:unsubscribe", args=[unsubscribe_token(member_id=member.pk)])
    response = client.get(url)
    assert response.status_code == 200 and b"Unsubscribe" in response.content
    member.refresh_from_db()
    assert member.marketing_consent  # a GET (link scanner) changes nothing
    response = client.post(url)
    assert response.status_code == 200 and b"You are unsubscribed" in response.content
    member.refresh_from_db()
    assert not member.marketing_consent
    assert member_unsubscribe(token=unsubscribe_token(member_id=member.pk)).marketing_consent is False


def test_tampered_unsubscribe_token_is_refused(client):
    member = MemberFactory(marketing_consent=True)
    token = unsubscribe_token(member_id=member.pk)
    forged = f"{member.pk + 1}:{token.split(':', 1)[1]}"
    response = client.post(reverse("campaigns:unsubscribe", args=[forged]))
    assert response.status_code == 400
    assert Member.objects.filter(marketing_consent=True).count() == 1


def test_unsubscribed_members_get_no_more_marketing_email():
    member = MemberFactory(marketing_consent=True)
    credit(member, 10)
    lapse(member)
    member_unsubscribe(token=unsubscribe_token(member_id=member.pk))
    assert campaign_emails_send(campaign_id=winback().pk).sent == 0


def test_launching_an_email_campaign_sends_after_commit(django_capture_on_commit_callbacks):
    from campaigns.services import campaign_create, campaign_launch

    member = MemberFactory(marketing_consent=True)
    credit(member, 10)
    lapse(member)
    marketer = StaffUserFactory()
    campaign = campaign_create(
        actor=marketer,
        name="Come back",
        kind=Kind.WINBACK,
        audience_days=30,
        email_subject="Hello",
        email_body="{{ balance }} points waiting",
    )
    with django_capture_on_commit_callbacks(execute=True):
        campaign_launch(campaign=campaign, actor=marketer)
    assert len(mail.outbox) == 1 and "10 points waiting" in mail.outbox[0].body
    assert PointsAccount.objects.get(pk=member.pk).balance == 10
