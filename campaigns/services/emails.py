"""Campaign emails (win-back, points-expiry reminders, tier-near nudges) and unsubscribing.

A send runs in batches keyset-paged by member id. Each batch first claims one ``CampaignEmail`` row per member
in a short transaction (the unique (campaign, member) row is the claim), then sends and marks each message
sent. A run that crashes leaves claimed rows behind: the next run skips every member whose email is sent and
retries claims older than the lease, so at most the message in flight at the crash can go out twice.
Marketing emails need ``marketing_consent``; service emails (expiry reminders) need ``email_notifications``.
Holdout members get nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core import signing
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import DecimalField, Exists, F, IntegerField, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.template import Context, Template
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from members.models import MONEY, Member, PointsLot, QualifyingActivity, Tier
from members.selectors import program_settings_get
from members.services.enrollment import member_update_profile
from members.services.tiers import qualification_window_start

from ..exceptions import InvalidUnsubscribeLink
from ..models import Campaign, CampaignEmail, CampaignParticipation
from ..segments import campaign_audience

BATCH_SIZE = 200
CLAIM_LEASE = timedelta(minutes=15)
UNSUBSCRIBE_SALT = "campaigns.unsubscribe"


# --- Unsubscribe ----------------------------------------------------------------------------------------------


def unsubscribe_token(*, member_id: int) -> str:
    """A signed, non-expiring token naming the member (unsubscribe links must keep working)."""
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign(str(member_id))


def unsubscribe_url(*, member_id: int) -> str:
    path = reverse("campaigns:unsubscribe", args=[unsubscribe_token(member_id=member_id)])
    return settings.SITE_URL.rstrip("/") + path


def member_from_unsubscribe_token(*, token: str) -> Member:
    try:
        member_id = int(signing.Signer(salt=UNSUBSCRIBE_SALT).unsign(token))
    except (signing.BadSignature, ValueError) as error:
        raise InvalidUnsubscribeLink() from error
    member = Member.objects.select_related("user").filter(pk=member_id).first()
    if member is None:
        raise InvalidUnsubscribeLink()
    return member


def member_unsubscribe(*, token: str) -> Member:
    """Turn marketing emails off for the member the token names. Idempotent."""
    member = member_from_unsubscribe_token(token=token)
    if not member.marketing_consent:
        return member
    return member_update_profile(member=member, marketing_consent=False)


# --- Audience -------------------------------------------------------------------------------------------------


def email_audience(campaign: Campaign, *, now: datetime):
    """The members an email campaign writes to, with what their email needs, as one queryset (no holdout)."""
    program = program_settings_get()
    audience = campaign_audience(campaign, now=now).filter(user__is_active=True)
    if campaign.kind in Campaign.SERVICE_EMAIL_KINDS:
        audience = audience.filter(email_notifications=True)
    else:
        audience = audience.filter(marketing_consent=True)
    if campaign.kind == Campaign.Kind.WINBACK:
        cutoff = now - timedelta(days=campaign.audience_days or 0)
        audience = audience.filter(account__balance__gt=0).filter(
            Q(last_purchase_at__isnull=True) | Q(last_purchase_at__lt=cutoff)
        )
    elif campaign.kind == Campaign.Kind.EXPIRY_REMINDER:
        days = campaign.audience_days or program.expiry_reminder_days
        lots = PointsLot.objects.filter(
            account_id=OuterRef("pk"),
            remaining__gt=0,
            is_pending=False,
            expires_at__gt=now,
            expires_at__lte=now + timedelta(days=days),
        )
        audience = audience.annotate(
            expiring_points=Subquery(
                lots.values("account_id").annotate(total=Sum("remaining")).values("total"),
                output_field=IntegerField(),
            ),
            expiry_date=Subquery(lots.order_by("expires_at").values("expires_at")[:1]),
        ).filter(expiring_points__gt=0)
    elif campaign.kind == Campaign.Kind.TIER_NEAR:
        field = "points" if program.tier_basis == program.TierBasis.POINTS else "spend"
        since = qualification_window_start(program=program, today=timezone.localdate(now))
        value = (
            QualifyingActivity.objects.filter(member_id=OuterRef("pk"), month__gte=since)
            .values("member_id")
            .annotate(total=Sum(field))
            .values("total")
        )
        next_tier = Tier.objects.filter(rank__gt=OuterRef("tier__rank")).order_by("rank")
        money = DecimalField(**MONEY)
        audience = (
            audience.annotate(
                qualifying=Coalesce(Subquery(value, output_field=money), Value(Decimal("0"), output_field=money)),
                next_threshold=Subquery(next_tier.values("threshold")[:1], output_field=money),
                next_tier=Subquery(next_tier.values("name")[:1]),
            )
            .filter(next_threshold__isnull=False, next_threshold__gt=F("qualifying"))
            .filter(next_threshold__lte=F("qualifying") + Value(campaign.tier_gap or 0, output_field=money))
        )
    return audience


# --- Rendering ------------------------------------------------------------------------------------------------


def _offer_text(campaign: Campaign, *, expires_at: datetime | None) -> str:
    if campaign.kind != Campaign.Kind.WINBACK or not expires_at:
        return ""
    bits = []
    if campaign.multiplier > 1:
        bits.append(_("%(times)s× points") % {"times": campaign.multiplier.normalize()})
    if campaign.bonus_points:
        bits.append(_("%(points)s bonus points") % {"points": campaign.bonus_points})
    if not bits:
        return ""
    return _("%(what)s on your next purchase until %(date)s") % {
        "what": _(" and ").join(bits),
        "date": formats.date_format(timezone.localtime(expires_at), "DATE_FORMAT"),
    }


@dataclass
class Message:
    member_id: int
    email: str
    subject: str
    text: str
    html: str
    headers: dict


def email_render(campaign: Campaign, row: dict, *, offer_expires_at: datetime | None = None) -> Message:
    """The email for one member (``row`` from :func:`email_audience` values)."""
    program = program_settings_get()
    balance = row.get("account__balance") or 0
    value = (Decimal(balance) * program.point_value).quantize(Decimal("0.01"))
    gap = ""
    if row.get("next_threshold") is not None:
        gap = (row["next_threshold"] - row["qualifying"]).normalize()
        gap = f"{gap:f}"
    expiry = row.get("expiry_date")
    context = {
        "first_name": row.get("user__first_name") or "",
        "name": " ".join(filter(None, [row.get("user__first_name"), row.get("user__last_name")])) or row["user__email"],
        "balance": balance,
        "value": value,
        "currency": program.currency,
        "offer": _offer_text(campaign, expires_at=offer_expires_at),
        "expiring_points": row.get("expiring_points") or 0,
        "expiry_date": formats.date_format(timezone.localtime(expiry), "DATE_FORMAT") if expiry else "",
        "next_tier": row.get("next_tier") or "",
        "gap": gap,
        "program": program.name,
    }
    # Only plain values reach the marketer's template, so it cannot reach into models.
    subject = Template(campaign.email_subject).render(Context(context, autoescape=False)).strip()
    body = Template(campaign.email_body).render(Context(context, autoescape=False)).strip()
    link = unsubscribe_url(member_id=row["pk"])
    wrapper = {
        "body": body,
        "unsubscribe_url": link,
        "program": program.name,
        "marketing": campaign.kind not in Campaign.SERVICE_EMAIL_KINDS,
    }
    return Message(
        member_id=row["pk"],
        email=row["user__email"],
        subject=" ".join(subject.split())[:200],
        text=render_to_string("campaigns/email/message.txt", wrapper),
        html=render_to_string("campaigns/email/message.html", wrapper),
        headers={"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
    )


# --- Sending --------------------------------------------------------------------------------------------------

#: A fictional member for the staff preview: every placeholder gets a plausible value.
PREVIEW_MEMBER = {
    "pk": 0,
    "user__email": "alex@example.com",
    "user__first_name": "Alex",
    "user__last_name": "Sample",
    "account__balance": 1250,
    "expiring_points": 300,
    "qualifying": Decimal("420"),
    "next_threshold": Decimal("500"),
    "next_tier": "Gold",
}


def campaign_email_preview(campaign: Campaign, *, now: datetime | None = None) -> Message:
    """The campaign's email as a sample member would get it (renders only: nothing is sent or stored)."""
    now = now or timezone.now()
    row = {**PREVIEW_MEMBER, "expiry_date": now + timedelta(days=campaign.audience_days or 30)}
    offer_ends = now + timedelta(days=campaign.offer_days) if campaign.offer_days else None
    return email_render(campaign, row, offer_expires_at=offer_ends)


VALUE_FIELDS = ("pk", "user__email", "user__first_name", "user__last_name", "account__balance")
EXTRA_FIELDS = {
    Campaign.Kind.EXPIRY_REMINDER: ("expiring_points", "expiry_date"),
    Campaign.Kind.TIER_NEAR: ("qualifying", "next_threshold", "next_tier"),
}


@dataclass
class SendResult:
    sent: int = 0
    failed: int = 0
    batches: int = 0


def _claim(campaign: Campaign, rows: list[dict], *, now: datetime, lease: timedelta) -> set[int]:
    """Claim the batch's rows; returns the member ids this run owns (new claims and expired ones)."""
    member_ids = [row["pk"] for row in rows]
    with transaction.atomic():
        CampaignEmail.objects.bulk_create(
            [CampaignEmail(campaign=campaign, member_id=member_id, claimed_at=now) for member_id in member_ids],
            ignore_conflicts=True,
        )
        CampaignEmail.objects.filter(
            campaign=campaign,
            member_id__in=member_ids,
            status__in=[CampaignEmail.Status.CLAIMED, CampaignEmail.Status.FAILED],
            claimed_at__lte=now - lease,
        ).update(claimed_at=now, status=CampaignEmail.Status.CLAIMED)
        owned = set(
            CampaignEmail.objects.filter(
                campaign=campaign, member_id__in=member_ids, status=CampaignEmail.Status.CLAIMED, claimed_at=now
            ).values_list("member_id", flat=True)
        )
        if owned and campaign.kind == Campaign.Kind.WINBACK and campaign.offer_days:
            CampaignParticipation.objects.bulk_create(
                [
                    CampaignParticipation(
                        campaign=campaign,
                        member_id=member_id,
                        offer_expires_at=now + timedelta(days=campaign.offer_days),
                        created_at=now,
                    )
                    for member_id in owned
                ],
                ignore_conflicts=True,
            )
    return owned


def campaign_emails_send(
    *,
    campaign_id: int,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    lease: timedelta = CLAIM_LEASE,
) -> SendResult:
    """Send a running email campaign to every member of its audience who has not had it yet."""
    now = now or timezone.now()
    campaign = Campaign.objects.select_related("segment").get(pk=campaign_id)
    result = SendResult()
    if campaign.kind not in Campaign.EMAIL_KINDS or campaign.status != Campaign.Status.ACTIVE:
        return result
    done = CampaignEmail.objects.filter(campaign_id=campaign.pk, member_id=OuterRef("pk")).filter(
        Q(status=CampaignEmail.Status.SENT) | Q(claimed_at__gt=now - lease)
    )
    audience = email_audience(campaign, now=now).filter(~Exists(done))
    fields = VALUE_FIELDS + EXTRA_FIELDS.get(campaign.kind, ())
    last_id = 0
    connection = get_connection()
    while True:
        rows = list(audience.filter(pk__gt=last_id).order_by("pk").values(*fields)[:batch_size])
        if not rows:
            return result
        last_id = rows[-1]["pk"]
        result.batches += 1
        owned = _claim(campaign, rows, now=now, lease=lease)
        offers = {}
        if campaign.kind == Campaign.Kind.WINBACK:
            offers = dict(
                CampaignParticipation.objects.filter(campaign=campaign, member_id__in=owned).values_list(
                    "member_id", "offer_expires_at"
                )
            )
        pending = [row for row in rows if row["pk"] in owned]
        attempted: list[int] = []
        try:
            _send_batch(campaign, pending, offers, connection, result, attempted)
        except BaseException:
            # Claims not yet attempted go back at once; the one in flight waits for its lease (it may have gone).
            unattempted = [row["pk"] for row in pending if row["pk"] not in attempted]
            CampaignEmail.objects.filter(
                campaign=campaign, member_id__in=unattempted, status=CampaignEmail.Status.CLAIMED
            ).delete()
            raise


def _send_batch(
    campaign: Campaign, rows: list[dict], offers: dict, connection, result: SendResult, attempted: list[int]
) -> None:
    for row in rows:
        attempted.append(row["pk"])
        message = email_render(campaign, row, offer_expires_at=offers.get(row["pk"]))
        email = EmailMultiAlternatives(
            subject=message.subject,
            body=message.text,
            to=[message.email],
            headers=message.headers,
            connection=connection,
        )
        email.attach_alternative(message.html, "text/html")
        sent = CampaignEmail.objects.filter(campaign=campaign, member_id=row["pk"])
        try:
            email.send()
        except OSError as error:
            sent.update(status=CampaignEmail.Status.FAILED, error=str(error)[:255])
            result.failed += 1
            continue
        sent.update(status=CampaignEmail.Status.SENT, sent_at=timezone.now(), error="")
        result.sent += 1


def campaigns_emails_send_all(*, now: datetime | None = None) -> int:
    """The daily job: every active email campaign writes to members who entered its audience since."""
    ids = list(
        Campaign.objects.filter(kind__in=Campaign.EMAIL_KINDS, status=Campaign.Status.ACTIVE).values_list(
            "pk", flat=True
        )
    )
    return sum(campaign_emails_send(campaign_id=pk, now=now).sent for pk in ids)


def member_email_log_erase(member, *, former_email: str = "") -> int:
    """The ``members.hooks.member_closed`` hook: a delivery error can quote the address it bounced from, so the
    closed member's email log keeps only which campaign was sent when."""
    return CampaignEmail.objects.filter(member_id=member.pk).exclude(error="").update(error="")
