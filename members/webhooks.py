"""The members core's webhook events and what their payloads say.

Registered with the integration platform in ``MembersConfig.ready()``. Payloads are built from the stored rows
once every hook of the purchase has run (``hooks.purchase_settled``), so a bonus another app posts in the same
transaction is in the balance the integration is told.
"""

from integrations import registry
from integrations.services import webhook_event_enqueue

PURCHASE_RECORDED = registry.event_register("purchase.recorded", "Purchase recorded")
POINTS_EXPIRED = registry.event_register("points.expired", "Points expired")
TIER_CHANGED = registry.event_register("tier.changed", "Tier changed")
ACTION_RECORDED = registry.event_register("action.recorded", "Earning action recorded")
ACTION_REVIEWED = registry.event_register("action.reviewed", "Earning action approved or rejected")


def on_purchase_settled(result) -> None:
    """``purchase.recorded``; a partner's purchase is told to the operator's endpoints and that partner's only."""
    purchase = result.purchase
    partner = purchase.partner
    webhook_event_enqueue(
        event=PURCHASE_RECORDED,
        owner=partner.owner_label if partner is not None else "",
        payload={
            "member_number": purchase.member.member_number,
            "external_id": purchase.external_id,
            "source": purchase.source,
            "occurred_at": purchase.occurred_at,
            "total": purchase.total,
            "currency": purchase.currency,
            "partner": partner.slug if partner is not None else None,
            "points_earned": result.points_earned,
            "points_pending": result.points_pending,
            "balance": result.balance,
            "pending": result.pending,
        },
    )
