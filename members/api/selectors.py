"""Look-ups only the API needs: members by the identifiers a till or an e-shop holds. Everything else the API
reads comes from ``members.selectors``, the same functions the member site uses."""

from __future__ import annotations

from ..models import Member


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
