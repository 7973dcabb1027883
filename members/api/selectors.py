"""Reads the API needs that ``members.selectors`` does not offer yet.

``member_tier_progress`` is a minimal stand-in: switch to ``members.selectors.member_summary`` /
``member_tier_progress`` from the member-site work once that is on main.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db.models import Min, Sum
from django.utils import timezone

from ..models import Member, PointsLot, ProgramSettings
from ..selectors import program_settings_get, tiers_list
from ..services.ledger import add_months
from ..services.tiers import qualifying_value


def member_get(*, member_number: str) -> Member | None:
    return Member.objects.select_related("user", "tier", "account").filter(member_number=member_number).first()


def member_find(*, identifier: str) -> Member | None:
    """A member by member number, card number or email address (what a till scans or an e-shop knows)."""
    identifier = identifier.strip()
    queryset = Member.objects.select_related("user", "tier", "account")
    if "@" in identifier:
        return queryset.filter(user__email__iexact=identifier).first()
    if identifier[:1].upper() == "M":
        return queryset.filter(member_number=identifier.upper()).first()
    return queryset.filter(card_number=identifier.replace(" ", "")).first()


def member_tier_progress(*, member: Member) -> dict:
    """Qualifying value in the current window and how far the next tier is."""
    program = program_settings_get()
    value = qualifying_value(member=member, program=program)
    current_rank = member.tier.rank if member.tier else -1
    upcoming = [tier for tier in tiers_list() if tier.rank > current_rank]
    next_tier = upcoming[0] if upcoming else None
    progress = {
        "basis": program.tier_basis,
        "value": value,
        "next_tier": next_tier.name if next_tier else None,
        "next_threshold": next_tier.threshold if next_tier else None,
        "remaining": max(next_tier.threshold - value, Decimal("0")) if next_tier else None,
        "percent": 100,
    }
    if next_tier is not None and next_tier.threshold > 0:
        progress["percent"] = min(int(value * 100 / next_tier.threshold), 100)
    return progress


def member_points_expiring(*, member: Member, now: datetime | None = None) -> dict:
    """Spendable points that expire within the program's reminder window, and the first date they do."""
    program = program_settings_get()
    now = now or timezone.now()
    days = program.expiry_reminder_days
    horizon = now + timedelta(days=days)
    result = {"points": 0, "first_expiry": None, "within_days": days}
    if program.expiry_policy == ProgramSettings.ExpiryPolicy.FIXED:
        found = PointsLot.objects.filter(
            account_id=member.pk, is_pending=False, remaining__gt=0, expires_at__lte=horizon
        ).aggregate(points=Sum("remaining"), first=Min("expires_at"))
        result.update(points=found["points"] or 0, first_expiry=found["first"])
    elif program.expiry_policy == ProgramSettings.ExpiryPolicy.ACTIVITY and member.last_purchase_at:
        expires = add_months(member.last_purchase_at, program.expiry_months)
        if expires <= horizon and member.account.balance:
            result.update(points=member.account.balance, first_expiry=expires)
    return result
