"""Feedback after a purchase: who is asked and when, the signed single-use link, the page, and the survey points."""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from members.exceptions import FeedbackAlreadyGiven, FeedbackLinkExpired, FeedbackLinkInvalid
from members.models import ActionOccurrence, FeedbackRequest, FeedbackResponse, LedgerEntry, Member, PointsAccount
from members.services.feedback import (
    feedback_answer,
    feedback_emails_send,
    feedback_record,
    feedback_requests_create,
    feedback_token,
)
from members.tasks import send_feedback_requests
from tests.factories import MemberFactory, buy, earning_action_factory

pytestmark = pytest.mark.django_db


@pytest.fixture
def survey():
    return earning_action_factory(code="survey", name="Answer our survey", points=25)


def bought(member, *, days_ago=1.2, store="Utrecht", channel="in_store", **kwargs):
    return buy(
        member, "20.00", store=store, channel=channel, occurred_at=timezone.now() - timedelta(days=days_ago), **kwargs
    ).purchase


def asked(member, **kwargs) -> FeedbackRequest:
    bought(member, **kwargs)
    ids = feedback_requests_create()
    return FeedbackRequest.objects.get(pk__in=ids, member=member)


def test_a_purchase_a_day_ago_is_asked_about_once_by_email(survey):
    member = MemberFactory(first_name="Ada")
    purchase = bought(member, store="Utrecht")
    bought(MemberFactory(), days_ago=0.5)  # too recent: the delay is one day

    sent = send_feedback_requests()

    assert sent == 1
    request = FeedbackRequest.objects.get()
    assert request.purchase == purchase and request.expires_at == request.sent_at + timedelta(days=14)
    message = mail.outbox[0]
    assert message.to == [member.user.email]
    assert message.subject == "How was your visit to Utrecht?"
    link = re.search(r"https?://\S+/feedback/(\S+)/", message.body)
    assert link.group(1) == feedback_token(request)
    assert "25 points" in message.body
    assert link.group(0) in message.alternatives[0][0]
    assert send_feedback_requests() == 0  # asked already: nothing twice


def test_only_the_latest_purchase_and_at_most_one_request_per_interval():
    member = MemberFactory()
    bought(member, days_ago=3)
    latest = bought(member, days_ago=1.5)

    assert len(feedback_requests_create()) == 1
    assert FeedbackRequest.objects.get().purchase == latest
    bought(member, days_ago=1.1)
    assert feedback_requests_create() == []  # within feedback_interval_days (30) of the last request


def test_no_request_without_consent_to_service_emails_or_for_old_or_imported_purchases():
    no_emails = MemberFactory()
    Member.objects.filter(pk=no_emails.pk).update(email_notifications=False)
    bought(no_emails)
    bought(MemberFactory(), days_ago=30)  # back-filled history
    closed = MemberFactory()
    bought(closed)
    Member.objects.filter(pk=closed.pk).update(status=Member.Status.CLOSED)

    assert feedback_requests_create() == []


def test_consent_withdrawn_after_the_request_sends_nothing():
    member = MemberFactory()
    request = asked(member)
    Member.objects.filter(pk=member.pk).update(email_notifications=False)

    assert feedback_emails_send(request_ids=[request.pk]) == 0
    assert mail.outbox == []


def test_answer_stores_store_and_channel_and_credits_the_survey_once(survey):
    member = MemberFactory()
    request = asked(member, store="Webshop", channel="online")

    result = feedback_answer(token=feedback_token(request), score=9, comment="  Quick delivery  ")

    response = FeedbackResponse.objects.get()
    assert (response.score, response.comment, response.store, response.channel) == (
        9,
        "Quick delivery",
        "Webshop",
        "online",
    )
    assert response.group == "promoter" and response.source == "email"
    assert result.points == 25 and result.balance == PointsAccount.objects.get(pk=member.pk).balance
    occurrence = ActionOccurrence.objects.get()
    assert (occurrence.action, occurrence.external_id) == (survey, f"purchase:{request.purchase_id}")
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.ACTION).count() == 1


def test_a_link_works_once():
    request = asked(MemberFactory())
    token = feedback_token(request)
    feedback_answer(token=token, score=3)

    with pytest.raises(FeedbackAlreadyGiven):
        feedback_answer(token=token, score=10)
    assert FeedbackResponse.objects.get().score == 3


def test_an_expired_link_is_refused():
    request = asked(MemberFactory())

    with pytest.raises(FeedbackLinkExpired):
        feedback_answer(token=feedback_token(request), score=8, now=request.expires_at)
    assert not FeedbackResponse.objects.exists()


@pytest.mark.parametrize(
    "mangle",
    [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), lambda t: f"{int(t.split(':')[0]) + 1}:{t.split(':')[1]}"],
)
def test_a_forged_link_is_refused(mangle):
    request = asked(MemberFactory())
    forged = mangle(feedback_token(request))

    with pytest.raises(FeedbackLinkInvalid):
        feedback_answer(token=forged, score=10)
    with pytest.raises(FeedbackLinkInvalid):
        feedback_answer(token=f"{request.pk}:not-a-signature", score=10)
    assert not FeedbackResponse.objects.exists()


def test_without_a_survey_action_the_answer_is_kept_and_earns_nothing():
    request = asked(MemberFactory())

    result = feedback_answer(token=feedback_token(request), score=6)

    assert result.points == 0 and FeedbackResponse.objects.get().group == "detractor"
    assert not ActionOccurrence.objects.exists()


def test_an_integration_answer_closes_the_emailed_link_and_credits_once_per_purchase(survey):
    member = MemberFactory()
    request = asked(member)

    first = feedback_record(member=member, score=7, external_id="APP-1", source="app", purchase=request.purchase)
    again = feedback_record(member=member, score=7, external_id="APP-1", source="app", purchase=request.purchase)

    assert again.replayed and again.response.pk == first.response.pk
    with pytest.raises(FeedbackAlreadyGiven):
        feedback_answer(token=feedback_token(request), score=10)
    with pytest.raises(FeedbackAlreadyGiven):
        feedback_record(member=member, score=1, external_id="APP-2", source="app", purchase=request.purchase)
    assert ActionOccurrence.objects.count() == 1 and first.points == 25


# --- the page -------------------------------------------------------------------------------------------------


def test_the_page_works_logged_out_without_javascript(client, survey):
    request = asked(MemberFactory())
    url = reverse("feedback", kwargs={"token": feedback_token(request)})

    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "How likely are you to recommend us to a friend?" in html
    assert html.count('type="radio"') == 11 and "<script" not in html.split("<main", 1)[1]

    answered = client.post(url, {"score": "10", "comment": "Lovely staff"}, follow=True)
    assert answered.redirect_chain == [(url, 302)]
    assert "Thank you for your feedback!" in answered.content.decode()
    assert "25 points were added" in answered.content.decode()

    twice = client.post(url, {"score": "0"})
    assert twice.status_code == 200
    assert "already answered" in twice.content.decode()
    assert FeedbackResponse.objects.get().score == 10


def test_the_page_asks_again_for_a_missing_score(client):
    request = asked(MemberFactory())
    url = reverse("feedback", kwargs={"token": feedback_token(request)})

    page = client.post(url, {"comment": "no score"})

    assert page.status_code == 400 and "Choose a number from 0 to 10." in page.content.decode()
    assert not FeedbackResponse.objects.exists()


def test_the_page_for_forged_and_expired_links(client):
    request = asked(MemberFactory())
    forged = client.get(reverse("feedback", kwargs={"token": f"{request.pk}:forged"}))
    assert forged.status_code == 404 and "This link does not work" in forged.content.decode()

    FeedbackRequest.objects.filter(pk=request.pk).update(
        sent_at=timezone.now() - timedelta(days=15), expires_at=timezone.now() - timedelta(minutes=1)
    )
    expired = client.get(reverse("feedback", kwargs={"token": feedback_token(request)}))
    assert expired.status_code == 410 and "This survey has closed" in expired.content.decode()


def test_export_holds_answers_and_actions_and_closing_erases_what_the_member_wrote(survey):
    from members.selectors import member_export
    from members.services import member_close

    member = MemberFactory()
    request = asked(member)
    feedback_answer(token=feedback_token(request), score=4, comment="My neighbour Jan was rude")

    exported = member_export(member)
    assert exported["feedback"][0]["comment"] == "My neighbour Jan was rude"
    assert exported["actions"][0]["action"] == "survey"

    member_close(member=member, actor=None)
    answer = FeedbackResponse.objects.get()
    assert (answer.comment, answer.score) == ("", 4)
    assert ActionOccurrence.objects.get().reference == ""


def test_staff_set_the_delay_interval_and_link_validity_in_the_admin(client):
    from members.models import ProgramSettings
    from members.selectors import program_settings_get
    from tests.factories import SuperUserFactory

    client.force_login(SuperUserFactory())
    page = client.get(reverse("admin:members_programsettings_change", args=[1]))
    html = page.content.decode()
    assert all(
        f'name="{name}"' in html for name in ("feedback_delay_days", "feedback_interval_days", "feedback_link_days")
    )

    program = program_settings_get()
    program.feedback_delay_days, program.feedback_link_days = 3, 5
    program.save()
    member = MemberFactory()
    bought(member, days_ago=2)
    assert feedback_requests_create() == []  # not yet three days
    bought(member, days_ago=3.5)
    request = FeedbackRequest.objects.get(pk__in=feedback_requests_create())
    assert request.expires_at - request.sent_at == timedelta(days=5)
    assert ProgramSettings.objects.get().feedback_interval_days == 30


def test_the_hourly_job_is_scheduled_on_the_emails_queue(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["feedback-requests"]
    assert entry["task"] == send_feedback_requests.name == "members.tasks.send_feedback_requests"
    assert settings.CELERY_TASK_ROUTES[entry["task"]] == {"queue": "emails"}
    assert send_feedback_requests.acks_late
