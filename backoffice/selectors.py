"""Reads for the member 360 page: each section is one query, whatever the member's history."""

from __future__ import annotations

from datetime import datetime

from django.apps import apps
from django.db.models import Q
from django.urls import NoReverseMatch, reverse

from backoffice.models import AdjustmentRequest, StaffAuditLog
from campaigns.models import CampaignParticipation
from members.models import LedgerEntry, Member, PointsLot, Purchase, TierHistory
from rewards.models import Redemption, Voucher

LEDGER_PAGE_SIZE = 25
OTHER_APPS = ("rewards", "campaigns", "referrals")
#: Models with their own panel on the page (see ``member_360``); the generic panels skip them.
OWN_PANELS = {"rewards.voucher", "rewards.redemption", "campaigns.campaignparticipation"}
PANEL_SIZE = 10


def ledger_cursor(entry: LedgerEntry) -> str:
    return f"{entry.created_at.isoformat()}|{entry.pk}"


def _parse_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    if not cursor or "|" not in cursor:
        return None
    stamp, _sep, pk = cursor.rpartition("|")
    try:
        return datetime.fromisoformat(stamp), int(pk)
    except ValueError:
        return None


def member_ledger_page(*, member_id: int, before: str | None = None, size: int = LEDGER_PAGE_SIZE):
    """One page of a member's ledger, newest first, keyset-paginated on (created_at, id).

    Returns ``(entries, next_cursor)``; ``next_cursor`` is None on the last page.
    """
    entries = LedgerEntry.objects.filter(account_id=member_id).select_related("actor", "purchase")
    position = _parse_cursor(before)
    if position is not None:
        stamp, pk = position
        entries = entries.filter(Q(created_at__lt=stamp) | Q(created_at=stamp, pk__lt=pk))
    rows = list(entries.order_by("-created_at", "-pk")[: size + 1])
    next_cursor = ledger_cursor(rows[size - 1]) if len(rows) > size else None
    return rows[:size], next_cursor


def _member_links(member: Member) -> list[dict]:
    """Records of other apps that point at the member (vouchers, referrals, campaign sends, emails …).

    Found by introspection so the page works whichever of those apps' models exist; one query per model.
    """
    panels = []
    for label in OTHER_APPS:
        if not apps.is_installed(label):
            continue
        for model in apps.get_app_config(label).get_models():
            if model._meta.proxy or model._meta.label_lower in OWN_PANELS:
                continue
            links = [
                f.name
                for f in model._meta.concrete_fields
                if f.is_relation and (f.many_to_one or f.one_to_one) and f.related_model is Member
            ]
            if not links:
                continue
            condition = Q()
            for name in links:
                condition |= Q(**{name: member})
            rows = list(model.objects.filter(condition).order_by("-pk")[:PANEL_SIZE])
            try:
                changelist = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            except NoReverseMatch:
                changelist = None
            panels.append({"title": model._meta.verbose_name_plural, "rows": rows, "changelist": changelist})
    return panels


def member_360(*, member_id: int, before: str | None = None) -> dict:
    member = Member.objects.select_related("user", "tier", "account").get(pk=member_id)
    entries, next_cursor = member_ledger_page(member_id=member_id, before=before)
    return {
        "member": member,
        "account": member.account,
        "tier_history": list(
            TierHistory.objects.filter(member_id=member_id).select_related("from_tier", "to_tier", "actor")[:20]
        ),
        "lots": list(
            PointsLot.objects.filter(account_id=member_id, remaining__gt=0).order_by("is_pending", "expires_at", "id")[
                :50
            ]
        ),
        "entries": entries,
        "next_cursor": next_cursor,
        "purchases": list(Purchase.objects.filter(member_id=member_id).order_by("-occurred_at", "-pk")[:20]),
        "adjustment_requests": list(
            AdjustmentRequest.objects.filter(member_id=member_id).select_related("requested_by", "decided_by")[:10]
        ),
        "audit": list(StaffAuditLog.objects.filter(member_id=member_id).select_related("actor")[:10]),
        # Rewards and campaigns: one query each, with the reward or campaign joined for its name.
        "vouchers": list(
            Voucher.objects.filter(member_id=member_id)
            .select_related("reward")
            .order_by("-issued_at", "-pk")[:PANEL_SIZE]
        ),
        "redemptions": list(
            Redemption.objects.filter(member_id=member_id, voucher__isnull=True)
            .select_related("reward")
            .order_by("-created_at", "-pk")[:PANEL_SIZE]
        ),
        "participations": list(
            CampaignParticipation.objects.filter(member_id=member_id)
            .select_related("campaign")
            .order_by("-created_at", "-pk")[:PANEL_SIZE]
        ),
        "panels": _member_links(member),
    }
