"""Telling a member that their tier changed: by email (a service email, sent whatever their marketing or
reminder choices) and once on the next page of the member site they open.

An upgrade (``tiers._tier_set``) and a downgrade at the review (``batch.tiers_evaluate``) set
``Member.tier_notice_pending`` in the same statement that moves the tier, and queue the email after commit. The
flag lives on the member row the site loads anyway, so a page costs no query for it until there is news.
"""

from __future__ import annotations

from django.conf import settings
from django.core import mail
from django.template.loader import render_to_string
from django.utils import translation

from integrations.tasking import task_enqueue_on_commit

from ..models import Member, TierHistory
from ..selectors import program_settings_get

ANNOUNCED = (TierHistory.Reason.UPGRADE, TierHistory.Reason.DOWNGRADE)
EMAIL_TASK = "members.tasks.send_tier_news"


def tier_news_queue(*, member_ids: list[int]) -> None:
    """Email these members about their latest tier move once the current transaction commits."""
    if member_ids:
        task_enqueue_on_commit(EMAIL_TASK, list(member_ids), robust=True)


def _latest_moves(member_ids: list[int]) -> dict[int, TierHistory]:
    latest: dict[int, TierHistory] = {}
    rows = (
        TierHistory.objects.filter(member_id__in=member_ids, reason__in=ANNOUNCED)
        .select_related("from_tier", "to_tier", "member__user")
        .order_by("member_id", "-created_at", "-pk")
    )
    for row in rows:
        latest.setdefault(row.member_id, row)
    return latest


def tier_news_email(*, member_ids: list[int]) -> int:
    """Send each member one email about their latest tier move; returns how many were sent."""
    program = program_settings_get()
    messages = []
    for move in _latest_moves(member_ids).values():
        member = move.member
        if member.status != Member.Status.ACTIVE or not member.user.email:
            continue
        context = {
            "name": member.user.first_name,
            "member_number": member.member_number,
            "move": move,
            "upgrade": move.reason == TierHistory.Reason.UPGRADE,
            "program": program,
            "site_url": settings.SITE_URL.rstrip("/"),
        }
        with translation.override(settings.LANGUAGE_CODE):
            subject = render_to_string("members/email/tier_changed_subject.txt", context).strip()
            body = render_to_string("members/email/tier_changed.txt", context)
            html = render_to_string("members/email/tier_changed.html", context)
        message = mail.EmailMultiAlternatives(subject=subject, body=body, to=[member.user.email])
        message.attach_alternative(html, "text/html")
        messages.append(message)
    if messages:
        mail.get_connection().send_messages(messages)
    return len(messages)


def tier_news_take(member: Member) -> TierHistory | None:
    """The tier move the member has not been shown yet (and mark it shown), or None without a query."""
    if not member.tier_notice_pending:
        return None
    Member.objects.filter(pk=member.pk).update(tier_notice_pending=False)
    member.tier_notice_pending = False
    return _latest_moves([member.pk]).get(member.pk)
