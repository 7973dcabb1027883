"""The integration platform's models: API keys for tills and e-shops, stored idempotency results, and outbound
webhooks.

The tables keep the names they had when these models lived in the ``members`` app (migrated by state only). Scopes
and events are not listed here: the apps built on the platform register theirs (``integrations.registry``). All
writes go through ``integrations.services``.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

__all__ = ["APIKey", "IdempotencyRecord", "WebhookDelivery", "WebhookEndpoint"]


class APIKey(models.Model):
    """One integration's credential. The key itself is shown once; only its SHA-256 digest is stored.

    Keys are 256 bits from ``secrets``, so a fast digest is enough: there is nothing to brute-force that a slow
    password hash would protect, and a slow hash would cost every API request hundreds of milliseconds.
    """

    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text=_("Shown in lists to tell keys apart."))
    hashed_key = models.CharField(max_length=64, help_text=_("SHA-256 hex digest of the whole key."))
    scopes = models.JSONField(default=list, blank=True)
    # Opaque to the platform: the apps built on it say what an owner label means (``integrations.registry.
    # key_owners``). Blank is the program operator. Events tagged with an owner reach only endpoints of keys
    # with that owner, and the operator's; untagged events reach only the operator's.
    owner = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_index=True,
        help_text=_("Whose key this is (empty: the program operator's own)."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "members_apikey"
        verbose_name = _("API key")
        ordering = ["name", "id"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def source(self) -> str:
        """``Purchase.source`` for purchases this integration sends: external ids are unique per key."""
        return f"api-key:{self.pk}"

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes


class IdempotencyRecord(models.Model):
    """The first response to a write with an ``Idempotency-Key``, kept so retries get the same answer.

    The row is inserted completed, in the transaction that did the work; while that transaction runs, the key is
    claimed by a transaction-scoped advisory lock, so a concurrent request with the same key is refused with 409
    instead of doing the work twice (``integrations.services.idempotency_begin``). ``in_flight`` rows are claims
    committed by releases before that.
    """

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", _("In flight")
        COMPLETED = "completed", _("Completed")

    api_key = models.ForeignKey(APIKey, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64, help_text=_("SHA-256 of method, path and body."))
    state = models.CharField(max_length=10, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    locked_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "members_idempotencyrecord"
        constraints = [models.UniqueConstraint(fields=["api_key", "key"], name="idempotency_key_unique_per_api_key")]
        indexes = [models.Index(fields=["created_at"], name="idempotency_created_idx")]

    def __str__(self):
        return f"{self.api_key_id}:{self.key} ({self.state})"


class WebhookEndpoint(models.Model):
    """A URL an integration wants events posted to, signed with the endpoint's own secret.

    The endpoint belongs to the integration of ``api_key``. By default it receives only the events that
    integration causes (``audience`` OWN): a purchase it sent, the tier change and referral bonus that purchase
    brought, a voucher it used or a redemption it made. Staff may grant it every event of the program (PROGRAM):
    events other integrations, members, staff and scheduled jobs cause. Either way, fields an event registers as
    secret (voucher codes) go only to endpoints of the integration that caused it (``receives``,
    ``integrations.services.webhook_event_enqueue``).
    """

    class Audience(models.TextChoices):
        OWN = "own", _("Only events its own integration causes")
        PROGRAM = "program", _("Every event of the program (staff grant)")

    api_key = models.ForeignKey(
        APIKey,
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        help_text=_("The integration the endpoint belongs to."),
    )
    audience = models.CharField(
        max_length=10,
        choices=Audience.choices,
        default=Audience.OWN,
        help_text=_(
            "Every event of the program includes what other integrations, members and staff cause; voucher codes "
            "are still sent only to the integration whose request issued or used the voucher."
        ),
    )
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=64, help_text=_("Signs each delivery (HMAC-SHA256). Shown once, at creation."))
    previous_secret = models.CharField(
        max_length=64,
        blank=True,
        help_text=_("The secret before the last rotation; also signs until the overlap ends."),
    )
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    events = models.JSONField(default=list, help_text=_("Event names this endpoint receives."))
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "members_webhookendpoint"
        ordering = ["api_key", "id"]

    def __str__(self):
        return self.url

    def wants(self, event: str) -> bool:
        return self.is_active and event in self.events

    def receives(self, *, caused_by_id: int | None) -> bool:
        """Whether an event caused by the key ``caused_by_id`` (None: by no integration) is this endpoint's."""
        return webhook_audience_receives(
            audience=self.audience, owner_api_key_id=self.api_key_id, caused_by_id=caused_by_id
        )

    def signing_secrets(self, now) -> list[str]:
        """The current secret, then the previous one while its overlap window lasts."""
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            return [self.secret, self.previous_secret]
        return [self.secret]


def webhook_audience_receives(
    *, audience: str, owner_api_key_id: int, caused_by_id: int | None, key_owner: str = "", event_owner: str = ""
) -> bool:
    """The one rule of who receives what. An endpoint gets the events its own integration causes (its key's
    requests; for a partner, also events about that partner's business, ``event_owner``). Every other event only
    when staff granted it the program's (``WebhookEndpoint.Audience.PROGRAM``), which a partner's endpoint can never
    be: a partner hears nothing of another partner's or the operator's business."""
    if key_owner:
        return (caused_by_id is not None and caused_by_id == owner_api_key_id) or event_owner == key_owner
    if audience == WebhookEndpoint.Audience.PROGRAM:
        return True
    return caused_by_id is not None and caused_by_id == owner_api_key_id


class WebhookDelivery(models.Model):
    """One event for one endpoint, with the outcome of its latest attempt."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed (gave up)")

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    caused_by = models.ForeignKey(
        APIKey,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_(
            "The integration whose API request caused the event; empty when a member, staff or a scheduled job did."
        ),
    )
    event = models.CharField(max_length=40)
    payload = models.JSONField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response_body = models.TextField(blank=True, help_text=_("The first 1,000 characters."))
    last_error = models.CharField(max_length=255, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "members_webhookdelivery"
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_due_idx"),
        ]

    def __str__(self):
        return f"{self.event} → {self.endpoint_id} ({self.status})"
