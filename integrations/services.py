"""API keys, stored idempotency results and outbound webhooks.

Webhooks: ``webhook_event_enqueue`` creates one delivery per subscribed endpoint inside the caller's transaction
and sends them after commit; ``webhook_deliver`` makes one signed attempt and records its response. The Celery
task in ``integrations.tasks`` owns the retries (exponential backoff).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone

from . import metrics, registry
from .models import APIKey, IdempotencyRecord, WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

KEY_PREFIX = "lk"
#: How long a claimed idempotency key may stay in flight before it is treated as abandoned (a crashed worker).
IDEMPOTENCY_LOCK_TIMEOUT = timedelta(minutes=5)
WEBHOOK_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
WEBHOOK_MAX_ATTEMPTS = 8
SIGNATURE_TOLERANCE_SECONDS = 300


# --- API keys ---------------------------------------------------------------------------------------------------


def _digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(*, name: str, scopes: list[str], created_by=None) -> tuple[APIKey, str]:
    """Create a key and return it with the full key text, which is never stored and cannot be shown again.

    The key is ``lk_<prefix>_<secret>``: 8 random characters to find the row, then 256 bits of secret.
    """
    unknown = registry.unknown_scopes(scopes)
    if unknown:
        raise ValueError(f"Unknown scope(s): {', '.join(unknown)}")
    for _attempt in range(5):
        prefix = secrets.token_hex(4)
        raw_key = f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        try:
            with transaction.atomic():
                key = APIKey.objects.create(
                    name=name,
                    prefix=prefix,
                    hashed_key=_digest(raw_key),
                    scopes=sorted(set(scopes)),
                    created_by=created_by,
                )
            return key, raw_key
        except IntegrityError:
            continue  # a prefix collision; draw again
    raise RuntimeError("Could not allocate an API key prefix.")  # pragma: no cover


def api_key_revoke(*, api_key: APIKey) -> APIKey:
    """Revoke a key at once; requests with it get 401 from then on. Revoking twice keeps the first date."""
    APIKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    webhook_subscriptions_clear()
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


def api_key_authenticate(*, raw_key: str, now: datetime | None = None) -> APIKey | None:
    """The active key matching ``raw_key``, or None. Touches ``last_used_at`` at most once a minute."""
    parts = raw_key.split("_")
    if len(parts) < 3 or parts[0] != KEY_PREFIX:
        return None
    key = APIKey.objects.filter(prefix=parts[1]).first()
    if key is None or not hmac.compare_digest(key.hashed_key, _digest(raw_key)) or key.revoked_at is not None:
        return None
    now = now or timezone.now()
    if key.last_used_at is None or key.last_used_at < now - timedelta(minutes=1):
        APIKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


# --- Idempotency --------------------------------------------------------------------------------------------------


@dataclass
class IdempotencyClaim:
    """Outcome of claiming a key: ``record`` to complete (we own it), or an earlier record to answer with."""

    record: IdempotencyRecord
    owned: bool
    conflict: str = ""  # "", "in_flight" or "mismatch"


def idempotency_request_hash(*, method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def idempotency_claim(*, api_key: APIKey, key: str, request_hash: str) -> IdempotencyClaim:
    """Claim ``key`` for this request by inserting its row first, committed in its own transaction.

    Must not run inside an outer transaction: the committed row is what tells a concurrent request with the same
    key that this one is in flight.
    """
    now = timezone.now()
    try:
        with transaction.atomic():
            record = IdempotencyRecord.objects.create(
                api_key=api_key, key=key, request_hash=request_hash, created_at=now, locked_at=now
            )
        return IdempotencyClaim(record=record, owned=True)
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.get(api_key=api_key, key=key)
    if record.request_hash != request_hash:
        metrics.IDEMPOTENCY_CONFLICTS.labels(reason="mismatch").inc()
        return IdempotencyClaim(record=record, owned=False, conflict="mismatch")
    if record.state == IdempotencyRecord.State.COMPLETED:
        return IdempotencyClaim(record=record, owned=False)
    # In flight: take it over only if its holder has evidently died.
    taken = IdempotencyRecord.objects.filter(
        pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT, locked_at__lt=now - IDEMPOTENCY_LOCK_TIMEOUT
    ).update(locked_at=now)
    if taken:
        return IdempotencyClaim(record=record, owned=True)
    metrics.IDEMPOTENCY_CONFLICTS.labels(reason="in_flight").inc()
    return IdempotencyClaim(record=record, owned=False, conflict="in_flight")


def idempotency_complete(*, record: IdempotencyRecord, status: int, body) -> None:
    """Store the first response so that retries with the same key and body get exactly it."""
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyRecord.State.COMPLETED,
        response_status=status,
        response_body=json.loads(json.dumps(body, cls=DjangoJSONEncoder)),
        completed_at=timezone.now(),
    )


def idempotency_release(*, record: IdempotencyRecord) -> None:
    """Forget a claim whose request did no work (invalid input, server error), so the key can be used again."""
    IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT).delete()


def idempotency_records_purge(*, now: datetime | None = None) -> int:
    """Delete stored results older than ``IDEMPOTENCY_KEY_TTL_HOURS`` (default 24, never less). One DELETE."""
    hours = max(getattr(settings, "IDEMPOTENCY_KEY_TTL_HOURS", 24), 24)
    cutoff = (now or timezone.now()) - timedelta(hours=hours)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- Webhooks ------------------------------------------------------------------------------------------------------


def webhook_endpoint_create(*, api_key: APIKey, url: str, events: list[str], secret: str = "") -> WebhookEndpoint:
    unknown = registry.unknown_events(events)
    if unknown:
        raise ValueError(f"Unknown event(s): {', '.join(unknown)}")
    return WebhookEndpoint.objects.create(
        api_key=api_key, url=url, events=sorted(set(events)), secret=secret or webhook_secret_new()
    )


def webhook_secret_new() -> str:
    return "whsec_" + secrets.token_hex(24)


WEBHOOK_SUBSCRIPTIONS_CACHE_KEY = "integrations:webhook-subscriptions"


def webhook_subscriptions() -> list[tuple[int, list[str]]]:
    """``(endpoint id, events)`` of every active endpoint whose key is not revoked.

    Every purchase asks, and the answer changes only when staff edit endpoints or keys, so it is cached: saving
    or deleting an endpoint or a key clears it (signals in ``integrations.models``), and it lives a minute at
    most where the cache is per process. A delivery checks its endpoint and key again before it is sent.
    """
    subscriptions = cache.get(WEBHOOK_SUBSCRIPTIONS_CACHE_KEY)
    if subscriptions is None:
        subscriptions = list(
            WebhookEndpoint.objects.filter(is_active=True, api_key__revoked_at__isnull=True).values_list("pk", "events")
        )
        cache.set(WEBHOOK_SUBSCRIPTIONS_CACHE_KEY, subscriptions, 60)
    return subscriptions


def webhook_subscriptions_clear(**signal_kwargs) -> None:
    """Forget the cached subscriptions. Also connected to every save and delete of a key or an endpoint
    (``IntegrationsConfig.ready``): deletes cascading from a key reach a signal, which an overridden delete() would
    miss."""
    cache.delete(WEBHOOK_SUBSCRIPTIONS_CACHE_KEY)


def webhook_event_enqueue(*, event: str, payload: dict) -> list[WebhookDelivery]:
    """Record a delivery of ``event`` for every active endpoint that subscribed to it, and send them after commit.

    Called inside the transaction of the change it reports, so an event is recorded exactly when the change
    commits; nothing is sent for a change that rolls back.
    """
    endpoint_ids = [endpoint_id for endpoint_id, events in webhook_subscriptions() if event in events]
    if not endpoint_ids:
        return []
    now = timezone.now()
    data = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(endpoint_id=endpoint_id, event=event, payload=data, created_at=now, next_attempt_at=now)
            for endpoint_id in endpoint_ids
        ]
    )
    ids = [delivery.pk for delivery in deliveries]
    transaction.on_commit(lambda: _send_later(ids), robust=True)
    return deliveries


def _send_later(ids: list[int]) -> None:
    task = current_app.tasks["integrations.tasks.webhook_deliver_task"]  # by name: the task module imports this one
    for delivery_id in ids:
        task.delay(delivery_id)


def webhook_body(delivery: WebhookDelivery) -> bytes:
    envelope = {
        "id": delivery.pk,
        "event": delivery.event,
        "created_at": delivery.created_at.isoformat(),
        "data": delivery.payload,
    }
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """``t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def webhook_signature_verify(
    *, secret: str, header: str, body: bytes, now: float | None = None, tolerance: int = SIGNATURE_TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: check the HMAC in constant time and refuse stale timestamps (replays)."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret=secret, timestamp=timestamp, body=body)
    return hmac.compare_digest(expected, f"t={timestamp},v1={fields.get('v1', '')}")


@dataclass
class DeliveryOutcome:
    delivered: bool
    give_up: bool
    status_code: int | None = None


def webhook_deliver(*, delivery_id: int, final_attempt: bool = False, retry_in: int = 0) -> DeliveryOutcome:
    """Make one signed POST of a delivery and record the response. Delivered deliveries are not sent again.

    ``final_attempt`` marks the delivery failed when this attempt does not succeed; otherwise it stays pending
    with ``next_attempt_at`` set ``retry_in`` seconds ahead (the task schedules that retry).
    """
    delivery = WebhookDelivery.objects.select_related("endpoint__api_key").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return DeliveryOutcome(delivered=delivery is not None, give_up=True)
    endpoint = delivery.endpoint
    if not endpoint.is_active or not endpoint.api_key.is_active:
        reason = "Endpoint disabled." if not endpoint.is_active else "API key revoked."
        WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.FAILED, last_error=reason)
        return DeliveryOutcome(delivered=False, give_up=True)
    body = webhook_body(delivery)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "LoyaltyWebhooks/1",
        "X-Loyalty-Event": delivery.event,
        "X-Loyalty-Delivery": str(delivery.pk),
        "X-Loyalty-Timestamp": str(timestamp),
        "X-Loyalty-Signature": webhook_signature(secret=endpoint.secret, timestamp=timestamp, body=body),
    }
    status_code, excerpt, error = None, "", ""
    try:
        response = httpx.post(endpoint.url, content=body, headers=headers, timeout=WEBHOOK_TIMEOUT)
        status_code, excerpt = response.status_code, response.text[:1000]
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:255]
    now = timezone.now()
    delivered = status_code is not None and 200 <= status_code < 300
    if delivered:
        status = WebhookDelivery.Status.DELIVERED
    elif final_attempt:
        status = WebhookDelivery.Status.FAILED
    else:
        status = WebhookDelivery.Status.PENDING
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        attempts=delivery.attempts + 1,
        status=status,
        last_status_code=status_code,
        last_response_body=excerpt,
        last_error=error,
        delivered_at=now if delivered else None,
        next_attempt_at=None if status != WebhookDelivery.Status.PENDING else now + timedelta(seconds=retry_in),
    )
    if not delivered:
        logger.info("Webhook delivery %s failed: %s", delivery.pk, error or status_code)
    return DeliveryOutcome(delivered=delivered, give_up=delivered or final_attempt, status_code=status_code)


def webhook_delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again (staff action), whatever its state; the attempt counter keeps counting."""
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now(), delivered_at=None
        )
        transaction.on_commit(lambda: _send_later([delivery.pk]), robust=True)
    delivery.refresh_from_db()
    return delivery


def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, url: str, events: list[str], is_active: bool
) -> WebhookEndpoint:
    unknown = registry.unknown_events(events)
    if unknown:
        raise ValueError(f"Unknown event(s): {', '.join(unknown)}")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(url=url, events=sorted(set(events)), is_active=is_active)
    webhook_subscriptions_clear()
    endpoint.refresh_from_db()
    return endpoint


def on_event(event: str, payload: dict) -> None:
    """A ``points_changed``-style hook: enqueue registered events, ignore the rest."""
    if event in registry.events:
        webhook_event_enqueue(event=event, payload=payload)


def webhooks_want(event: str) -> bool:
    """Whether any active endpoint subscribes to ``event`` (lets batch jobs skip building unread payloads)."""
    return any(event in events for _endpoint_id, events in webhook_subscriptions())


on_event.wants = webhooks_want


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint and its deliveries (the subscriptions cache is cleared by the delete signal)."""
    endpoint.delete()
