"""Enrolment, profile changes and account closure."""

from __future__ import annotations

import secrets
from datetime import date

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import audit, hooks
from ..exceptions import LoyaltyError
from ..models import LedgerEntry, Member, PointsAccount, TierHistory
from ..selectors import tiers_list
from .ledger import account_lock, ledger_post


class MemberAlreadyExists(LoyaltyError):
    code = "member_exists"
    default_message = _("A member with this email address already exists.")
    http_status = 409

    def __init__(self, member: Member):
        self.member = member
        super().__init__(field="email")

    def api_extra(self) -> dict:
        return {"member_number": self.member.member_number}


class BirthdayLocked(LoyaltyError):
    code = "birthday_locked"
    default_message = _("Your birthday is already set; please contact us to change it.")
    field = "birthday"


def luhn_check_digit(digits: str) -> str:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def _new_member_number() -> str:
    return "M" + "".join(secrets.choice("0123456789") for _ in range(9))


def _new_card_number() -> str:
    body = "627" + "".join(secrets.choice("0123456789") for _ in range(12))
    return body + luhn_check_digit(body)


@transaction.atomic
def member_enroll(
    *,
    user,
    channel: str = "web",
    birthday: date | None = None,
    phone: str = "",
    marketing_consent: bool = False,
    context: dict | None = None,
) -> Member:
    """Give ``user`` their member record, points account and entry tier. Calling it again returns the same member."""
    existing = Member.objects.filter(user=user).first()
    if existing is not None:
        return existing
    tiers = tiers_list()
    entry_tier = tiers[0] if tiers else None
    now = timezone.now()
    for _attempt in range(5):
        try:
            with transaction.atomic():
                member = Member.objects.create(
                    user=user,
                    member_number=_new_member_number(),
                    card_number=_new_card_number(),
                    tier=entry_tier,
                    tier_achieved_at=now if entry_tier else None,
                    birthday=birthday,
                    phone=phone,
                    marketing_consent=marketing_consent,
                    enrollment_channel=channel,
                    enrolled_at=now,
                )
            break
        except IntegrityError:
            # A random member or card number collided; draw again.
            continue
    else:  # pragma: no cover - 10^9 numbers make five collisions in a row practically impossible
        raise RuntimeError("Could not allocate a member number.")
    PointsAccount.objects.create(member=member)
    TierHistory.objects.create(member=member, from_tier=None, to_tier=entry_tier, reason=TierHistory.Reason.ENROLLED)
    for hook in hooks.member_enrolled:
        hook(member, context or {})
    return member


@transaction.atomic
def member_register(
    *,
    email: str,
    password: str | None = None,
    first_name: str = "",
    last_name: str = "",
    birthday: date | None = None,
    phone: str = "",
    marketing_consent: bool = False,
    channel: str = "api",
    referral_code: str = "",
) -> Member:
    """Create a login and a member at once (enrolment at a till or by an e-shop).

    Raises :class:`MemberAlreadyExists` (with the member) when the email is already registered.
    """
    user_model = get_user_model()
    email = user_model.objects.normalize_email(email).lower()
    existing = user_model.objects.filter(email__iexact=email).select_related("member").first()
    if existing is not None:
        member = getattr(existing, "member", None) or member_enroll(user=existing, channel=channel)
        raise MemberAlreadyExists(member)
    user = user_model.objects.create_user(email=email, password=password, first_name=first_name, last_name=last_name)
    return member_enroll(
        user=user,
        channel=channel,
        birthday=birthday,
        phone=phone,
        marketing_consent=marketing_consent,
        context={"referral_code": referral_code, "request": None},
    )


@transaction.atomic
def member_update_profile(
    *,
    member: Member,
    first_name: str | None = None,
    last_name: str | None = None,
    birthday: date | None = None,
    phone: str | None = None,
    marketing_consent: bool | None = None,
    email_notifications: bool | None = None,
    by_staff: bool = False,
) -> Member:
    """Update what a member may change about themselves.

    A birthday, once set, can only be changed by staff (``by_staff=True``), so birthday gifts cannot be farmed.
    """
    member = Member.objects.select_for_update().select_related("user").get(pk=member.pk)
    if birthday is not None and birthday != member.birthday:
        if member.birthday is not None and not by_staff:
            raise BirthdayLocked()
        member.birthday = birthday
    for field, value in (
        ("phone", phone),
        ("marketing_consent", marketing_consent),
        ("email_notifications", email_notifications),
    ):
        if value is not None:
            setattr(member, field, value)
    member.save()
    user = member.user
    if first_name is not None:
        user.first_name = first_name.strip()
    if last_name is not None:
        user.last_name = last_name.strip()
    user.save(update_fields=["first_name", "last_name"])
    return member


@transaction.atomic
def member_close(*, member: Member, actor=None) -> Member:
    """Close a membership: forfeit all points, anonymise personal data, keep the ledger for accounting.

    The closure is announced to the audit trail (``members.audit``) with ``actor`` (staff, or the member's own
    user), the status and the points forfeited, and no personal data.
    """
    account = account_lock(member_id=member.pk)
    member = Member.objects.select_for_update().select_related("user").get(pk=member.pk)
    if member.status == Member.Status.CLOSED:
        return member
    before = {"status": member.status, "balance": account.balance, "pending": account.pending}
    if account.balance or account.pending:
        ledger_post(
            account=account,
            kind=LedgerEntry.Kind.FORFEIT,
            points=-account.balance,
            pending_delta=-account.pending,
            idempotency_key=f"close:{member.pk}",
            description=_("Points forfeited on account closure"),
            actor=actor,
        )
    user = member.user
    former_email = user.email
    user.email = f"closed-{member.pk}@closed.invalid"
    user.first_name = ""
    user.last_name = ""
    user.is_active = False
    user.set_unusable_password()
    user.save()
    user.emailaddress_set.all().delete()
    member.status = Member.Status.CLOSED
    member.closed_at = timezone.now()
    member.birthday = None
    member.phone = ""
    member.marketing_consent = False
    member.email_notifications = False
    member.save()
    for hook in hooks.member_closed:
        hook(member, former_email=former_email)
    audit.account_action_announce(
        actor=actor,
        action=audit.MEMBER_CLOSED,
        obj=member,
        member=member,
        before=before,
        after={"status": member.status, "balance": 0, "pending": 0},
        object_repr=member.member_number,
    )
    return member
