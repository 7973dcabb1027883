"""Feedback after a purchase: the emailed request, the answer through its link or an integration, and the survey
points it earns.

- :func:`feedback_requests_create` (the hourly job) picks purchases made ``feedback_delay_days`` ago (at most a
  week earlier, so back-filled history asks nothing), one per member, only for active members who accept service
  emails and were not asked within ``feedback_interval_days``; :func:`feedback_emails_send` emails each its link.
- The link (``/feedback/<token>/``) carries the request's id signed with the site's secret
  (:func:`feedback_token`): a forged token fails its signature; the request row says when it expires and
  whether it was answered, so a link works once.
- :func:`feedback_answer` (the link) and :func:`feedback_record` (an integration) store the answer with the
  purchase's store and channel and credit the ``survey`` action once per purchase, under the member's account
  lock. No survey action, or its limit reached: the answer is kept and earns nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import mail, signing
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from ..exceptions import (
    ActionLimitReached,
    ActionNotAvailable,
    ExternalIdTaken,
    FeedbackAlreadyGiven,
    FeedbackLinkExpired,
    FeedbackLinkInvalid,
)
from ..models import EarningAction, FeedbackRequest, FeedbackResponse, Member, PointsAccount, Purchase
from ..selectors import program_settings_get
from .actions import action_record
from .ledger import account_lock

TOKEN_SALT = "members.feedback"  # noqa: S105 - a signing namespace, not a secret
#: Purchases older than the delay plus this are never asked about (imports, a job that was down for long).
LOOKBACK_DAYS = 7
EMAIL_SOURCE = "email"
SURVEY_SOURCE = "feedback"
MAX_COMMENT_LENGTH = 2000


def feedback_token(request: FeedbackRequest) -> str:
    return signing.Signer(salt=TOKEN_SALT).sign(str(request.pk))


def feedback_request_from_token(token: str) -> FeedbackRequest:
    """The request a link stands for; :class:`FeedbackLinkInvalid` when the signature does not hold."""
    try:
        request_id = int(signing.Signer(salt=TOKEN_SALT).unsign(token))
    except (signing.BadSignature, ValueError):
        raise FeedbackLinkInvalid() from None
    request = FeedbackRequest.objects.select_related("purchase", "member__user").filter(pk=request_id).first()
    if request is None:
        raise FeedbackLinkInvalid()
    return request


def feedback_requests_create(*, now: datetime | None = None, limit: int = 1000) -> list[int]:
    """Create the feedback requests that are due; returns their ids (one query to choose, one to insert)."""
    now = now or timezone.now()
    program = program_settings_get()
    due_before = now - timedelta(days=program.feedback_delay_days)
    asked_recently = FeedbackRequest.objects.filter(
        member_id=OuterRef("member_id"), sent_at__gt=now - timedelta(days=program.feedback_interval_days)
    )
    answered = FeedbackResponse.objects.filter(purchase_id=OuterRef("pk"))
    rows = (
        Purchase.objects.filter(
            occurred_at__lte=due_before,
            occurred_at__gt=due_before - timedelta(days=LOOKBACK_DAYS),
            member__status=Member.Status.ACTIVE,
            member__email_notifications=True,
            refunded_total__lt=F("total"),
            feedback_request__isnull=True,
        )
        .exclude(source__startswith="import:")
        .exclude(member__user__email="")
        .filter(~Exists(asked_recently), ~Exists(answered))
        .order_by("member_id", "-occurred_at", "-pk")
        .values_list("pk", "member_id")[: limit * 5]
    )
    chosen: dict[int, int] = {}
    for purchase_id, member_id in rows:
        chosen.setdefault(member_id, purchase_id)  # the latest purchase of each member
        if len(chosen) >= limit:
            break
    if not chosen:
        return []
    expires = now + timedelta(days=program.feedback_link_days)
    with transaction.atomic():
        FeedbackRequest.objects.bulk_create(
            [
                FeedbackRequest(member_id=member_id, purchase_id=purchase_id, sent_at=now, expires_at=expires)
                for member_id, purchase_id in chosen.items()
            ],
            ignore_conflicts=True,  # a purchase asked about by a run racing this one keeps that run's request
        )
    return list(
        FeedbackRequest.objects.filter(purchase_id__in=chosen.values(), sent_at=now).values_list("pk", flat=True)
    )


def survey_points_offered() -> int | None:
    """What answering earns now, for the email and the page (None without an active survey action)."""
    action = EarningAction.objects.filter(code=EarningAction.SURVEY, is_active=True).only("points").first()
    return action.points if action else None


def feedback_emails_send(*, request_ids: list[int]) -> int:
    """Email each request's link (one connection for all); returns how many were sent."""
    requests = FeedbackRequest.objects.filter(pk__in=request_ids, answered_at__isnull=True).select_related(
        "purchase", "member__user"
    )
    program = program_settings_get()
    points = survey_points_offered()
    site = settings.SITE_URL.rstrip("/")
    messages = []
    for request in requests:
        member = request.member
        if member.status != Member.Status.ACTIVE or not member.email_notifications or not member.user.email:
            continue  # consent withdrawn since the request was made
        context = {
            "name": member.user.first_name,
            "program": program,
            "purchase": request.purchase,
            "store": request.purchase.store,
            "points": points,
            "expires_at": request.expires_at,
            "link": site + reverse("feedback", kwargs={"token": feedback_token(request)}),
            "profile_url": site + reverse("members:profile"),
        }
        with translation.override(settings.LANGUAGE_CODE):
            subject = render_to_string("members/email/feedback_request_subject.txt", context).strip()
            body = render_to_string("members/email/feedback_request.txt", context)
            html = render_to_string("members/email/feedback_request.html", context)
        message = mail.EmailMultiAlternatives(subject=subject, body=body, to=[member.user.email])
        message.attach_alternative(html, "text/html")
        messages.append(message)
    if messages:
        mail.get_connection().send_messages(messages)
    return len(messages)


@dataclass
class FeedbackResult:
    response: FeedbackResponse
    balance: int
    replayed: bool = False

    @property
    def points(self) -> int:
        occurrence = self.response.occurrence
        if occurrence is None or occurrence.status != occurrence.Status.CREDITED:
            return 0
        return occurrence.points


def _score_checked(score: int) -> int:
    if not isinstance(score, int) or isinstance(score, bool) or not 0 <= score <= 10:
        raise ValueError("A score is a whole number from 0 to 10.")
    return score


def _survey_credit(*, response: FeedbackResponse, now: datetime) -> None:
    """Credit the survey action for this answer: once per purchase (or per answer without one)."""
    key = f"purchase:{response.purchase_id}" if response.purchase_id else f"response:{response.pk}"
    try:
        result = action_record(
            member=response.member,
            action_code=EarningAction.SURVEY,
            external_id=key,
            source=SURVEY_SOURCE,
            occurred_at=now,
            reference=_("Feedback %(score)s/10") % {"score": response.score},
            metadata={"feedback_id": response.pk},
            now=now,
        )
    except (ActionNotAvailable, ActionLimitReached):
        return  # the answer still counts; it just earns nothing
    response.occurrence = result.occurrence
    response.save(update_fields=["occurrence"])


def _response_create(
    *, member: Member, score: int, comment: str, purchase: Purchase | None, request, source, external_id, now
) -> FeedbackResponse:
    if purchase is not None and FeedbackResponse.objects.filter(purchase=purchase).exists():
        raise FeedbackAlreadyGiven()
    response = FeedbackResponse.objects.create(
        member=member,
        request=request,
        purchase=purchase,
        score=_score_checked(score),
        comment=comment.strip()[:MAX_COMMENT_LENGTH],
        store=purchase.store if purchase else "",
        channel=purchase.channel if purchase else "",
        source=source,
        external_id=external_id,
        answered_at=now,
        created_at=now,
    )
    if request is not None:
        FeedbackRequest.objects.filter(pk=request.pk).update(answered_at=now)
        request.answered_at = now
    _survey_credit(response=response, now=now)
    return response


def _balance(member_id: int) -> int:
    return PointsAccount.objects.values_list("balance", flat=True).get(pk=member_id)


def feedback_answer(*, token: str, score: int, comment: str = "", now: datetime | None = None) -> FeedbackResult:
    """Answer a feedback request through its emailed link.

    Raises :class:`FeedbackLinkInvalid` (forged), :class:`FeedbackLinkExpired` (too late) or
    :class:`FeedbackAlreadyGiven` (the link was used, or the purchase answered another way). Under the member's
    account lock and the request's row lock, so a double submit stores one answer.
    """
    now = now or timezone.now()
    request = feedback_request_from_token(token)
    with transaction.atomic():
        account_lock(member_id=request.member_id)
        request = FeedbackRequest.objects.select_for_update().select_related("purchase", "member").get(pk=request.pk)
        if request.answered_at is not None:
            raise FeedbackAlreadyGiven()
        if now >= request.expires_at:
            raise FeedbackLinkExpired()
        if request.member.status != Member.Status.ACTIVE:
            raise FeedbackLinkInvalid()
        response = _response_create(
            member=request.member,
            score=score,
            comment=comment,
            purchase=request.purchase,
            request=request,
            source=EMAIL_SOURCE,
            external_id="",
            now=now,
        )
        return FeedbackResult(response=response, balance=_balance(request.member_id))


def feedback_record(
    *,
    member: Member,
    score: int,
    external_id: str,
    source: str,
    comment: str = "",
    purchase: Purchase | None = None,
    now: datetime | None = None,
) -> FeedbackResult:
    """Record an answer collected elsewhere (a till screen, an app), once per ``(source, external_id)``.

    The same id again returns the first answer (``replayed``); the same id for another member raises
    :class:`ExternalIdTaken`; a purchase already answered raises :class:`FeedbackAlreadyGiven`. An open emailed
    request for the purchase is closed by it, so its link then says thank you instead of asking again.
    """
    now = now or timezone.now()
    with transaction.atomic():
        account_lock(member_id=member.pk)
        existing = (
            FeedbackResponse.objects.select_related("occurrence", "purchase")
            .filter(source=source, external_id=external_id)
            .first()
        )
        if existing is not None:
            if existing.member_id != member.pk:
                raise ExternalIdTaken(_("This feedback id was already recorded for another member."))
            return FeedbackResult(response=existing, balance=_balance(member.pk), replayed=True)
        request = None
        if purchase is not None:
            request = (
                FeedbackRequest.objects.select_for_update().filter(purchase=purchase, answered_at__isnull=True).first()
            )
        response = _response_create(
            member=member,
            score=score,
            comment=comment,
            purchase=purchase,
            request=request,
            source=source,
            external_id=external_id,
            now=now,
        )
        return FeedbackResult(response=response, balance=_balance(member.pk))
