"""API keys, stored idempotency results and outbound webhooks.

Webhooks: ``webhook_event_enqueue`` creates one delivery per subscribed endpoint inside the caller's transaction
and sends them after commit; ``webhook_deliver`` makes one signed attempt and records its response. The Celery
task in ``integrations.tasks`` owns the retries (exponential backoff), and a sweeper queues again every pending
delivery whose task was lost (``webhook_deliveries_due``), so each is attempted until it succeeds or has made
``WEBHOOK_MAX_ATTEMPTS`` attempts. Delivery is at least once: receivers tell repeats by ``X-Loyalty-Delivery``.
"""

from __future__ import annotations

import copy
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
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q, TextField
from django.db.models.functions import Cast
from django.utils import timezone

from . import metrics, registry
from .cache import CONFIG_VERSION_KEY, config_cached, config_changed, config_version
from .context import acting_api_key
from .models import APIKey, IdempotencyRecord, WebhookDelivery, WebhookEndpoint, webhook_audience_receives

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


def api_key_create(*, name: str, scopes: list[str], created_by=None, owner: str = "") -> tuple[APIKey, str]:
    """Create a key and return it with the full key text, which is never stored and cannot be shown again.

    ``owner`` is an opaque label (see ``APIKey.owner``); blank for the operator's own keys.

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
                    owner=owner,
                )
            return key, raw_key
        except IntegrityError:
            continue  # a prefix collision; draw again
    raise RuntimeError("Could not allocate an API key prefix.")  # pragma: no cover


def api_key_revoke(*, api_key: APIKey) -> APIKey:
    """Revoke a key at once; requests with it get 401 from then on (every process: the keys' version is bumped).
    Revoking twice keeps the first date."""
    APIKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    webhook_subscriptions_clear()
    api_keys_changed()
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


#: A token in the shared cache that changes whenever any key is saved, revoked or deleted.
#: Keys share the configuration's version (``integrations.cache``): one token to read per request for both.
API_KEYS_VERSION_CACHE_KEY = CONFIG_VERSION_KEY
#: How long a process trusts a key it read, as long as the shared version has not moved (a bound for lost tokens).
API_KEY_LOCAL_SECONDS = 60


@dataclass
class _LocalKey:
    key: APIKey
    version: int
    loaded_at: float


#: Keys this process has read, by prefix: a per-process layer in front of the database, checked against the
#: shared version on every request, so a revocation or a scope change takes effect on the next request anywhere.
_local_keys: dict[str, _LocalKey] = {}


def api_keys_version() -> int:
    """The shared version of the keys (one cache read per request). A missing token (evicted, flushed) is drawn
    anew."""
    return config_version()


def api_keys_changed(**signal_kwargs) -> None:
    """Every process's cached keys are stale from its next request on. Connected to every save and delete of a key
    (``IntegrationsConfig.ready``); ``api_key_revoke`` calls it, as it revokes with an UPDATE."""
    config_changed()
    _local_keys.clear()


def api_keys_local_clear() -> None:
    """Forget this process's cached keys (tests use it to play a second process that shares the cache)."""
    _local_keys.clear()


def api_key_authenticate(
    *, raw_key: str, now: datetime | None = None, version: int | None = None, trust_local: bool = False
) -> APIKey | None:
    """The active key matching ``raw_key``, or None. Touches ``last_used_at`` at most once a minute.

    ``version`` (the shared keys' version, read for this request) lets a key this process read under that same
    version answer without a query. With ``trust_local`` a locally cached key answers before the version is known:
    the caller must then check ``api_key_current(key, version)`` later in the same request (the API's base view
    does, from the throttle's cache round trip). Keys read from the database are current as they are.
    """
    parts = raw_key.split("_")
    if len(parts) < 3 or parts[0] != KEY_PREFIX:
        return None
    digest = _digest(raw_key)
    prefix = parts[1]
    local = _local_keys.get(prefix)
    if (
        local is not None
        and (trust_local or local.version == version)
        and time.monotonic() - local.loaded_at < API_KEY_LOCAL_SECONDS
        and hmac.compare_digest(local.key.hashed_key, digest)
    ):
        key = copy.copy(local.key)
        key.local_version = local.version
    else:
        seen = version if version is not None else api_keys_version()  # read first: a bump after it is noticed
        key = APIKey.objects.filter(prefix=prefix).first()
        if key is None or not hmac.compare_digest(key.hashed_key, digest) or key.revoked_at is not None:
            _local_keys.pop(prefix, None)
            return None
        _local_keys[prefix] = _LocalKey(key=copy.copy(key), version=seen, loaded_at=time.monotonic())
        key.local_version = None
    now = now or timezone.now()
    if key.last_used_at is None or key.last_used_at < now - timedelta(minutes=1):
        APIKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
        if prefix in _local_keys:
            _local_keys[prefix].key.last_used_at = now
    return key


def api_key_current(key: APIKey, version: int | None) -> APIKey | None:
    """``key`` as it stands now, given the shared ``version`` read during this request: the same object when it
    came from the database or from this process's layer under that version, else read again (None if revoked)."""
    if getattr(key, "local_version", None) is None or key.local_version == version:
        return key
    _local_keys.pop(key.prefix, None)
    fresh = APIKey.objects.filter(pk=key.pk, revoked_at__isnull=True).first()
    if fresh is None:
        return None
    _local_keys[key.prefix] = _LocalKey(
        key=copy.copy(fresh), version=version if version is not None else api_keys_version(), loaded_at=time.monotonic()
    )
    fresh.local_version = None
    return fresh


# --- Idempotency --------------------------------------------------------------------------------------------------


@dataclass
class IdempotencyClaim:
    """What the key's stored record says about this request.

    ``owned``: nobody answered this key yet, so the caller does the work and stores its response
    (``idempotency_store``) in the same transaction. Otherwise ``record`` is the stored answer to replay, or
    ``conflict`` says why the request is refused.
    """

    record: IdempotencyRecord | None
    owned: bool
    conflict: str = ""  # "", "in_flight" or "mismatch"


def idempotency_request_hash(*, method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def _idempotency_lock_id(api_key_id: int, key: str) -> int:
    """A signed 64-bit advisory-lock id for ``(api key, Idempotency-Key)``."""
    return int.from_bytes(hashlib.sha256(f"{api_key_id}:{key}".encode()).digest()[:8], "big", signed=True)


_RECORDS = IdempotencyRecord._meta.db_table
#: The key's lock (the first ``%s``: the locking expression) and its stored record's id, in one row.
_BEGIN_SQL = (
    "SELECT %s, r.id FROM (SELECT 1) AS one LEFT JOIN "  # noqa: S608 - table name from model metadata
    + _RECORDS
    + ' r ON r.api_key_id = %%s AND r."key" = %%s'
)
#: A completed record, replacing an abandoned in-flight claim of the same request, never a completed one.
_STORE_SQL = f"""
    INSERT INTO {_RECORDS} (api_key_id, "key", request_hash, state, response_status, response_body, created_at,
                            locked_at, completed_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
    ON CONFLICT (api_key_id, "key") DO UPDATE SET
        state = EXCLUDED.state, response_status = EXCLUDED.response_status, response_body = EXCLUDED.response_body,
        locked_at = EXCLUDED.locked_at, completed_at = EXCLUDED.completed_at
    WHERE {_RECORDS}.state = %s AND {_RECORDS}.request_hash = EXCLUDED.request_hash
    RETURNING id
"""  # noqa: S608 - table name from model metadata, values are parameters


def idempotency_begin(*, api_key: APIKey, key: str, request_hash: str, now: datetime | None = None) -> IdempotencyClaim:
    """Claim ``key`` for the transaction the caller has open, and read what was stored for it. One statement.

    On PostgreSQL the claim is a transaction-scoped advisory lock taken without waiting: a concurrent request with
    the same key finds it held and is refused as in flight (409) at once, and the lock ends with the transaction,
    so a worker that dies mid-request frees its key by rolling back. The request's work and its stored response
    (``idempotency_store``) commit together, or neither does. Elsewhere (SQLite, whose writers queue anyway) only
    the stored record is read. A row still ``in_flight`` (a claim committed by an older release) is honoured
    until ``IDEMPOTENCY_LOCK_TIMEOUT``, then taken over.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("idempotency_begin needs the request's transaction open.")
    if connection.vendor == "postgresql":
        sql, params = _BEGIN_SQL % "pg_try_advisory_xact_lock(%s)", [_idempotency_lock_id(api_key.pk, key)]
    else:
        sql, params = _BEGIN_SQL % "1", []
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, api_key.pk, key])
        locked, record_id = cursor.fetchone()
    if record_id is None:
        return IdempotencyClaim(record=None, owned=True) if locked else _in_flight()
    record = IdempotencyRecord.objects.get(pk=record_id)  # a retry: rare, so read the row the plain way
    if record.request_hash != request_hash:
        metrics.IDEMPOTENCY_CONFLICTS.labels(reason="mismatch").inc()
        return IdempotencyClaim(record=record, owned=False, conflict="mismatch")
    if record.state == IdempotencyRecord.State.COMPLETED:
        return IdempotencyClaim(record=record, owned=False)
    now = now or timezone.now()
    if locked and record.locked_at < now - IDEMPOTENCY_LOCK_TIMEOUT:
        return IdempotencyClaim(record=record, owned=True)  # an abandoned claim of an older release
    return _in_flight(record)


def _in_flight(record: IdempotencyRecord | None = None) -> IdempotencyClaim:
    metrics.IDEMPOTENCY_CONFLICTS.labels(reason="in_flight").inc()
    return IdempotencyClaim(record=record, owned=False, conflict="in_flight")


def idempotency_store(
    *, api_key: APIKey, key: str, request_hash: str, status: int, body, now: datetime | None = None
) -> bool:
    """Store the first response to ``key`` so that retries with the same key and body get exactly it. One statement.

    Called in the transaction that did the work, after ``idempotency_begin``. Replaces an abandoned in-flight claim;
    returns False, storing nothing, when a response was stored for the key already (a request that raced this one
    between its read and its lock): the caller then rolls back and answers with that one.
    """
    now = now or timezone.now()
    body_field = IdempotencyRecord._meta.get_field("response_body")
    stored = body_field.get_db_prep_save(json.loads(json.dumps(body, cls=DjangoJSONEncoder)), connection)
    at = IdempotencyRecord._meta.get_field("created_at").get_db_prep_save(now, connection)
    completed = IdempotencyRecord.State.COMPLETED
    with connection.cursor() as cursor:
        cursor.execute(
            _STORE_SQL,
            [api_key.pk, key, request_hash, completed, status, stored, at, at, at, IdempotencyRecord.State.IN_FLIGHT],
        )
        return cursor.fetchone() is not None


def idempotency_record_get(*, api_key: APIKey, key: str) -> IdempotencyRecord | None:
    return IdempotencyRecord.objects.filter(api_key=api_key, key=key).first()


def idempotency_records_redact(*, mentioning: list[str]) -> int:
    """Replace the stored responses that mention any of ``mentioning`` (a closed member's number, their former
    email) with a redaction marker, keeping the status: a retry is still answered, without the personal data."""
    needles = [needle for needle in mentioning if needle]
    if not needles:
        return 0
    matches = Q()
    for needle in needles:
        matches |= Q(body_text__contains=needle)
    records = IdempotencyRecord.objects.annotate(body_text=Cast("response_body", TextField())).filter(matches)
    return IdempotencyRecord.objects.filter(pk__in=records.values("pk")).update(
        response_body={"redacted": True, "reason": "The member closed their account."}
    )


def idempotency_records_purge(*, now: datetime | None = None) -> int:
    """Delete stored results older than ``IDEMPOTENCY_KEY_TTL_HOURS`` (default 24, never less). One DELETE."""
    hours = max(getattr(settings, "IDEMPOTENCY_KEY_TTL_HOURS", 24), 24)
    cutoff = (now or timezone.now()) - timedelta(hours=hours)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


# --- Webhooks ------------------------------------------------------------------------------------------------------


def webhook_endpoint_create(
    *,
    api_key: APIKey,
    url: str,
    events: list[str],
    secret: str = "",
    audience: str = WebhookEndpoint.Audience.OWN,
) -> WebhookEndpoint:
    """An endpoint of ``api_key``'s integration. It hears only what that integration causes unless ``audience`` is
    ``PROGRAM``, which staff grant explicitly."""
    unknown = registry.unknown_events(events)
    if unknown:
        raise ValueError(f"Unknown event(s): {', '.join(unknown)}")
    if audience not in WebhookEndpoint.Audience.values:
        raise ValueError(f"Unknown audience: {audience}")
    return WebhookEndpoint.objects.create(
        api_key=api_key,
        url=url,
        events=sorted(set(events)),
        secret=secret or webhook_secret_new(),
        audience=audience,
    )


def webhook_secret_new() -> str:
    return "whsec_" + secrets.token_hex(24)


WEBHOOK_SUBSCRIPTIONS_CACHE_KEY = "integrations:webhook-subscriptions-v3"


@dataclass(frozen=True)
class Subscription:
    """What deciding on a delivery needs of an active endpoint: its key and that key's owner, whom it hears, which
    events."""

    endpoint_id: int
    owner_api_key_id: int
    key_owner: str
    audience: str
    events: tuple[str, ...]

    def receives(self, event: str, *, caused_by_id: int | None, owner: str = "") -> bool:
        return event in self.events and webhook_audience_receives(
            audience=self.audience,
            owner_api_key_id=self.owner_api_key_id,
            caused_by_id=caused_by_id,
            key_owner=self.key_owner,
            event_owner=owner,
        )

    def may_read_secrets(self, *, caused_by_id: int | None, owner: str) -> bool:
        """Voucher codes and the like: only for the integration that caused the event, or (a partner) whose
        business it is."""
        return self.owner_api_key_id == caused_by_id or (self.key_owner != "" and self.key_owner == owner)


def webhook_subscriptions() -> list[Subscription]:
    """Every active endpoint whose key is not revoked, with its key, the key's owner, audience and events.

    Every purchase asks, and the answer changes only when staff edit endpoints or keys, so it is cached: saving
    or deleting an endpoint or a key draws a new configuration version (signals in ``integrations.apps``), and each
    process keeps its copy a minute at most. A delivery checks its endpoint and key again before it is sent.
    """
    return config_cached(WEBHOOK_SUBSCRIPTIONS_CACHE_KEY, _webhook_subscriptions_load, 60)


def _webhook_subscriptions_load() -> list[Subscription]:
    rows = WebhookEndpoint.objects.filter(is_active=True, api_key__revoked_at__isnull=True).values_list(
        "pk", "api_key_id", "api_key__owner", "audience", "events"
    )
    return [
        Subscription(
            endpoint_id=pk, owner_api_key_id=key_id, key_owner=key_owner, audience=audience, events=tuple(events)
        )
        for pk, key_id, key_owner, audience, events in rows
    ]


def webhook_subscriptions_clear(**signal_kwargs) -> None:
    """Forget the cached subscriptions. Also connected to every save and delete of a key or an endpoint
    (``IntegrationsConfig.ready``): deletes cascading from a key reach a signal, which an overridden delete() would
    miss."""
    config_changed()


class _Acting:
    """The default of ``caused_by``: the integration whose API request is being served (``integrations.context``)."""


ACTING = _Acting()


def api_key_id_from_source(source: str) -> int | None:
    """The API key behind a stored ``source`` (``APIKey.source``: "api-key:<id>"), None for other sources.

    Lets an app attribute a later event (a member cancelling on the site, a nightly job) to the integration that
    reported the thing it is about, so that integration keeps hearing about its own rows."""
    prefix, _sep, key_id = source.partition(":")
    return int(key_id) if prefix == "api-key" and key_id.isdigit() else None


def _caused_by_id(caused_by) -> int | None:
    if isinstance(caused_by, _Acting):
        caused_by = acting_api_key()
    return caused_by.pk if isinstance(caused_by, APIKey) else caused_by


def webhook_event_enqueue(
    *, event: str, payload: dict, caused_by: APIKey | int | _Acting | None = ACTING, owner: str = ""
) -> list[WebhookDelivery]:
    """Record a delivery of ``event`` for every active endpoint that subscribed to it and may receive it, and send
    them after commit.

    ``caused_by`` is the integration (API key) that caused the event, by default the one whose API request is
    being served; None for events of members, staff and scheduled jobs. An endpoint receives the events its own
    integration causes, and every other one only if staff granted it the program's; the event's secret fields
    (``registry.event_secret_fields``: voucher codes) are null in every delivery but those to the causing
    integration's own endpoints. Each delivery records ``caused_by``.

    ``owner`` tags an event about a partner's business (``partner:<id>``, see ``registry.key_owner_providers``):
    every endpoint of that partner's keys receives it, whichever of its keys (or no key: a job) caused it, and no
    endpoint of another partner does, even one granted the program's events.

    Called inside the transaction of the change it reports, so an event is recorded exactly when the change
    commits; nothing is sent for a change that rolls back.
    """
    caused_by_id = _caused_by_id(caused_by)
    subscriptions = [
        sub for sub in webhook_subscriptions() if sub.receives(event, caused_by_id=caused_by_id, owner=owner)
    ]
    if not subscriptions:
        return []
    now = timezone.now()
    data = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    secret_fields = [name for name in registry.event_secret_fields.get(event, ()) if data.get(name) is not None]
    withheld = {**data, **dict.fromkeys(secret_fields)} if secret_fields else data
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                endpoint_id=sub.endpoint_id,
                caused_by_id=caused_by_id,
                event=event,
                payload=data if sub.may_read_secrets(caused_by_id=caused_by_id, owner=owner) else withheld,
                created_at=now,
                next_attempt_at=now,
            )
            for sub in subscriptions
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


def webhook_signature(*, secret: str, timestamp: int, body: bytes, more_secrets: tuple[str, ...] = ()) -> str:
    """``t=<timestamp>,v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``, with one more ``v1=`` per secret in
    ``more_secrets`` (during a rotation's overlap: a receiver accepts the delivery if any ``v1`` matches)."""
    macs = [
        hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
        for key in (secret, *more_secrets)
    ]
    return ",".join([f"t={timestamp}", *(f"v1={mac}" for mac in macs)])


def webhook_signature_verify(
    *, secret: str, header: str, body: bytes, now: float | None = None, tolerance: int = SIGNATURE_TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: check the HMAC in constant time and refuse stale timestamps (replays)."""
    try:
        parts = [part.split("=", 1) for part in header.split(",")]
        timestamp = int(next(value for name, value in parts if name == "t"))
    except (StopIteration, ValueError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return any(name == "v1" and hmac.compare_digest(expected, value) for name, value in parts)


@dataclass
class DeliveryOutcome:
    delivered: bool
    give_up: bool
    status_code: int | None = None
    #: Attempts made so far, and when the next one is due (seconds) if ``give_up`` is False.
    attempts: int = 0
    retry_in: int = 0


def webhook_retry_in(attempts: int) -> int:
    """Seconds to wait after the ``attempts``-th failed attempt: 2, 4, 8 … (256 s after the 8th)."""
    return 2**attempts


def webhook_deliver(*, delivery_id: int) -> DeliveryOutcome:
    """Make one signed POST of a delivery and record the response. Delivered deliveries are not sent again.

    The attempt's number comes from the stored count, so a delivery queued again (by the sweeper, a replay, a
    redelivered message) continues its series. The ``WEBHOOK_MAX_ATTEMPTS``-th failed attempt marks the delivery
    failed; before that it stays pending with ``next_attempt_at`` set ``webhook_retry_in(attempts)`` seconds ahead
    (the task schedules that retry; the sweeper, should the task be lost).
    """
    delivery = WebhookDelivery.objects.select_related("endpoint__api_key").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != WebhookDelivery.Status.PENDING:
        return DeliveryOutcome(delivered=delivery is not None, give_up=True)
    final_attempt = delivery.attempts + 1 >= WEBHOOK_MAX_ATTEMPTS
    retry_in = webhook_retry_in(delivery.attempts + 1)
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
        "X-Loyalty-Signature": webhook_signature(
            secret=endpoint.secret,
            timestamp=timestamp,
            body=body,
            more_secrets=tuple(endpoint.signing_secrets(timezone.now())[1:]),
        ),
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
    return DeliveryOutcome(
        delivered=delivered,
        give_up=delivered or final_attempt,
        status_code=status_code,
        attempts=delivery.attempts + 1,
        retry_in=retry_in,
    )


#: How long past its due time a pending delivery waits before the sweeper takes it for lost. Longer than a
#: delivery's HTTP timeout and than a queued retry's lateness on a busy ``webhooks`` queue, so a delivery whose
#: task is merely late is seldom queued twice (a duplicate only makes an early attempt: ``webhook_deliver`` sends
#: nothing for a delivered delivery).
WEBHOOK_SWEEP_GRACE = timedelta(minutes=2)
#: At most this many deliveries are queued again per sweep (the sweep runs every minute).
WEBHOOK_SWEEP_LIMIT = 5000


def webhook_deliveries_due(*, now: datetime | None = None, limit: int = WEBHOOK_SWEEP_LIMIT) -> list[tuple[int, int]]:
    """``(delivery id, attempts)`` of the pending deliveries overdue by ``WEBHOOK_SWEEP_GRACE``, oldest first,
    with their ``next_attempt_at`` moved to now: each is handed out once per grace period, not on every sweep.
    Two statements. Deliveries of a disabled endpoint or a revoked key are included: their task marks them
    failed."""
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            WebhookDelivery.objects.filter(
                status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now - WEBHOOK_SWEEP_GRACE
            )
            .order_by("next_attempt_at", "pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", "attempts")[:limit]
        )
        if due:
            WebhookDelivery.objects.filter(pk__in=[pk for pk, _attempts in due]).update(next_attempt_at=now)
    return due


def webhook_delivery_replay(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery again (staff action), whatever its state; the attempt counter keeps counting."""
    with transaction.atomic():
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now(), delivered_at=None
        )
        transaction.on_commit(lambda: _send_later([delivery.pk]), robust=True)
    delivery.refresh_from_db()
    return delivery


#: How long a rotated-out secret keeps signing, so receivers can switch to the new one without losing a delivery.
SECRET_ROTATION_OVERLAP = timedelta(hours=24)


def webhook_secret_rotate(
    *, endpoint: WebhookEndpoint, overlap: timedelta = SECRET_ROTATION_OVERLAP, now: datetime | None = None
) -> tuple[WebhookEndpoint, str]:
    """Give the endpoint a new signing secret and return it, to be shown once. Until ``overlap`` has passed every
    delivery is signed with both secrets (two ``v1=`` in the header); then with the new one only."""
    now = now or timezone.now()
    new_secret = webhook_secret_new()
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        previous_secret=F("secret"), previous_secret_expires_at=now + overlap, secret=new_secret
    )
    endpoint.refresh_from_db()
    return endpoint, new_secret


def webhook_endpoint_update(
    *, endpoint: WebhookEndpoint, url: str, events: list[str], is_active: bool, audience: str | None = None
) -> WebhookEndpoint:
    """Change an endpoint; ``audience`` None keeps the one it has."""
    unknown = registry.unknown_events(events)
    if unknown:
        raise ValueError(f"Unknown event(s): {', '.join(unknown)}")
    audience = endpoint.audience if audience is None else audience
    if audience not in WebhookEndpoint.Audience.values:
        raise ValueError(f"Unknown audience: {audience}")
    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(
        url=url, events=sorted(set(events)), is_active=is_active, audience=audience
    )
    webhook_subscriptions_clear()
    endpoint.refresh_from_db()
    return endpoint


def on_event(event: str, payload: dict, owner: str = "") -> None:
    """A ``points_changed``-style hook: enqueue registered events, ignore the rest."""
    if event in registry.events:
        webhook_event_enqueue(event=event, payload=payload, owner=owner)


def webhooks_want(event: str) -> bool:
    """Whether any active endpoint would receive ``event`` now (lets batch jobs skip building unread payloads)."""
    caused_by_id = _caused_by_id(ACTING)
    # A partner's endpoint may hear an event about that partner whoever causes it: count it as listening.
    return any(
        sub.receives(event, caused_by_id=caused_by_id) or (sub.key_owner != "" and event in sub.events)
        for sub in webhook_subscriptions()
    )


on_event.wants = webhooks_want


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint) -> None:
    """Delete an endpoint and its deliveries (the subscriptions cache is cleared by the delete signal)."""
    endpoint.delete()
