"""Paid membership's webhook events, registered with the integration platform, and their one payload."""

from datetime import datetime

from integrations import registry
from integrations.services import ACTING, api_key_id_from_source, webhook_event_enqueue

from .models import Subscription
from .selectors import subscription_payload

STARTED = registry.event_register("subscription.started", "Subscription started")
RENEWED = registry.event_register("subscription.renewed", "Subscription renewed")
PAST_DUE = registry.event_register("subscription.past_due", "Subscription payment failed (past due)")
CANCELLED = registry.event_register("subscription.cancelled", "Subscription cancelled")
EXPIRED = registry.event_register("subscription.expired", "Subscription ended")


def announce(event: str, subscription: Subscription, *, now: datetime) -> None:
    """Enqueue ``event`` for ``subscription`` as stored (its plan and member loaded).

    Every change is told to the integration that reported the subscription, whoever caused it (the member cancelling
    on the site, the daily job ending it), besides the endpoints granted every event."""
    owner = api_key_id_from_source(subscription.source)
    webhook_event_enqueue(
        event=event,
        caused_by=owner if owner is not None else ACTING,
        payload={
            "member_number": subscription.member.member_number,
            "subscription": subscription_payload(subscription, now=now),
        },
    )
