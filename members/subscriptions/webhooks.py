"""Paid membership's webhook events, registered with the integration platform, and their one payload."""

from datetime import datetime

from integrations import registry
from integrations.services import webhook_event_enqueue

from .models import Subscription
from .selectors import subscription_payload

STARTED = registry.event_register("subscription.started", "Subscription started")
RENEWED = registry.event_register("subscription.renewed", "Subscription renewed")
PAST_DUE = registry.event_register("subscription.past_due", "Subscription payment failed (past due)")
CANCELLED = registry.event_register("subscription.cancelled", "Subscription cancelled")
EXPIRED = registry.event_register("subscription.expired", "Subscription ended")


def announce(event: str, subscription: Subscription, *, now: datetime) -> None:
    """Enqueue ``event`` for ``subscription`` as stored (its plan and member loaded)."""
    webhook_event_enqueue(
        event=event,
        payload={
            "member_number": subscription.member.member_number,
            "subscription": subscription_payload(subscription, now=now),
        },
    )
