"""Keeping campaign statistics right when a purchase with campaign bonuses is refunded."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db.models import F

from members.models import LedgerEntry

from ..models import Campaign, CampaignParticipation


def campaign_refund_record(refund) -> None:
    """``purchase_refunded`` hook: share the points clawed back over the purchase's campaign bonuses.

    The core claws back points line by line (bonus points are part of each line's points), so a campaign's
    share is its bonus over all points the purchase earned. Runs in the refund's transaction, after the account
    lock; the budget is not given back (it counts what was granted), the clawback is reported beside it.
    """
    purchase = refund.purchase
    total = purchase.points_earned + purchase.points_bonus
    if not refund.points_clawed_back or not purchase.points_bonus or total <= 0:
        return
    bonuses = list(
        LedgerEntry.objects.filter(
            purchase=purchase,
            kind=LedgerEntry.Kind.BONUS,
            source_type=ContentType.objects.get_for_model(Campaign),
        ).values_list("source_id", "points", "pending_delta")
    )
    for campaign_id, points, pending in sorted(bonuses):
        share = refund.points_clawed_back * (points + pending) // total
        if share <= 0:
            continue
        Campaign.objects.filter(pk=campaign_id).update(points_clawed_back=F("points_clawed_back") + share)
        CampaignParticipation.objects.filter(campaign_id=campaign_id, member_id=purchase.member_id).update(
            points_clawed_back=F("points_clawed_back") + share
        )
