"""Reads of the referrals app: the program's rules, a member's referrals and the staff statistics."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from integrations.cache import config_cached
from members.models import LedgerEntry, Member

from .models import (
    PROGRAM_CACHE_KEY,
    DisposableEmailDomain,
    Referral,
    ReferralCode,
    ReferralProgram,
)
from .rules import code_normalise

State = Referral.State


def referral_program_get() -> ReferralProgram:
    """The referral rules; cached because they are read at every sign-up and purchase."""
    return config_cached(PROGRAM_CACHE_KEY, lambda: ReferralProgram.objects.get_or_create(pk=1)[0], 300)


def email_domain_is_disposable(email: str) -> bool:
    """Whether the address's domain, or a domain it is under (``x.mailinator.com``), is on the staff's list."""
    domain = email.rsplit("@", 1)[-1].strip().lower().rstrip(".")
    labels = domain.split(".")
    candidates = [".".join(labels[index:]) for index in range(len(labels) - 1)]
    return bool(candidates) and DisposableEmailDomain.objects.filter(domain__in=candidates).exists()


def referrals_for_member(*, member: Member, limit: int = 50) -> list[Referral]:
    """The member's latest referrals (as referrer) with each friend, in one query."""
    return list(
        Referral.objects.filter(referrer=member).select_related("friend__user").order_by("-created_at", "-id")[:limit]
    )


def referral_summary_for_member(*, member: Member) -> dict:
    """Counts by state and points earned from referrals (as referrer), in one aggregate query."""
    totals = Referral.objects.filter(referrer=member).aggregate(
        total=Count("id"),
        pending=Count("id", filter=Q(state__in=[State.PENDING, State.HELD])),
        qualified=Count("id", filter=Q(state=State.QUALIFIED)),
        points=Coalesce(Sum("referrer_points", filter=Q(state=State.QUALIFIED)), 0),
    )
    return totals


def referral_statistics(*, top: int = 10) -> dict:
    """Staff figures, each one aggregate query: referrals by state, conversion, points paid, top referrers.

    Conversion is the share of attached referrals (all but rejected) whose friend made a qualifying purchase,
    counting those clawed back afterwards.
    """
    by_state = {row["state"]: row["n"] for row in Referral.objects.values("state").annotate(n=Count("id"))}
    states = [{"state": value, "label": label, "count": by_state.get(value, 0)} for value, label in State.choices]
    attached = sum(by_state.values()) - by_state.get(State.REJECTED, 0)
    converted = by_state.get(State.QUALIFIED, 0) + by_state.get(State.CLAWED_BACK, 0)
    referral_type = ContentType.objects.get_for_model(Referral)
    ledger = LedgerEntry.objects.filter(source_type=referral_type).aggregate(
        paid=Coalesce(Sum("points", filter=Q(kind=LedgerEntry.Kind.REFERRAL)), 0),
        clawed_back=Coalesce(
            Sum(F("owed_delta") - F("points"), filter=Q(kind=LedgerEntry.Kind.CLAWBACK)),
            0,
        ),
    )
    top_referrers = list(
        Referral.objects.filter(state=State.QUALIFIED)
        .values("referrer_id", "referrer__member_number", "referrer__user__email")
        .annotate(qualified=Count("id"), points=Sum("referrer_points"))
        .order_by("-qualified", "-points", "referrer_id")[:top]
    )
    return {
        "by_state": states,
        "total": sum(by_state.values()),
        "attached": attached,
        "converted": converted,
        "conversion_rate": (converted / attached * 100) if attached else None,
        "points_paid": ledger["paid"],
        "points_clawed_back": ledger["clawed_back"],
        "points_net": ledger["paid"] - ledger["clawed_back"],
        "top_referrers": top_referrers,
    }


def member_export(member: Member) -> dict:
    """What the referrals app holds about a member, for their data export."""
    code = ReferralCode.objects.filter(member_id=member.pk).values_list("code", flat=True).first()
    made = Referral.objects.filter(referrer_id=member.pk).order_by("created_at", "pk")
    received = Referral.objects.filter(friend_id=member.pk).select_related("referrer").first()
    return {
        "referral_code": code,
        "referrals_made": [
            {"state": r.state, "points_earned": r.referrer_points, "created_at": r.created_at} for r in made
        ],
        "referred_by": (
            {"state": received.state, "points_earned": received.friend_points, "created_at": received.created_at}
            if received
            else None
        ),
    }


def signup_referral_code_check(cleaned_data: dict) -> dict[str, str]:
    """The sign-up form's referral code, checked before the account exists: an unknown code is shown beside the
    field (to correct or clear) instead of being dropped after the sign-up."""
    code = code_normalise(cleaned_data.get("referral_code") or "")
    if not code:
        return {}
    if not ReferralCode.objects.filter(code=code, member__status=Member.Status.ACTIVE).exists():
        return {
            "referral_code": _(
                "We don't know the referral code %(code)s. Check it with the friend who sent it, "
                "or clear the field to join without one."
            )
            % {"code": code}
        }
    if not referral_program_get().is_enabled:
        return {"referral_code": _("The referral program is not accepting new referrals; clear the field to join.")}
    return {}
