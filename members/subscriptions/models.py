"""Paid membership: plans, subscriptions and their append-only history.

The shop (or its payment provider) charges the card; this platform knows the plans, who subscribes, what their
benefits are while the subscription lasts, and what they got back. Registered with the ``members`` app by
``MembersConfig.import_models`` (the models live in this sub-package so the feature stays in one place).

Invariants, backed by constraints where one can say them:
- A member has at most one live (trialing, active or past-due) subscription.
- ``(source, external_id)`` is unique: each integration names its own subscriptions.
- A subscription's benefits last exactly until :attr:`Subscription.benefits_until`, whatever the daily job has
  done yet: trialing and active until the period end, past-due until the grace ends, otherwise not at all.
- Every change of a subscription is one :class:`SubscriptionEvent`, never edited (a trigger on PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..models import MONEY, RATE
from .cache import plans_cache_clear

LIVE_STATUSES = ("trialing", "active", "past_due")


class MembershipPlan(models.Model):
    """A paid membership customers subscribe to at the shop. Staff edit plans in the admin."""

    class Period(models.TextChoices):
        MONTH = "month", _("Monthly")
        YEAR = "year", _("Yearly")

    class Combination(models.TextChoices):
        MULTIPLY = "multiply", _("Multiply with the tier multiplier")
        LARGER = "larger", _("The larger of the plan's and the tier's multiplier")

    name = models.CharField(max_length=80)
    slug = models.SlugField(max_length=80, unique=True)
    description = models.TextField(blank=True)
    price = models.DecimalField(**MONEY, validators=[MinValueValidator(Decimal("0"))])
    currency = models.CharField(max_length=3, default="EUR")
    period = models.CharField(max_length=5, choices=Period.choices, default=Period.MONTH)
    trial_days = models.PositiveSmallIntegerField(default=0, help_text=_("0 for no free trial."))
    grace_days = models.PositiveSmallIntegerField(
        default=7, help_text=_("Days benefits continue after a failed payment, while the shop retries.")
    )
    earn_multiplier = models.DecimalField(
        **RATE,
        default=Decimal("1.0000"),
        validators=[MinValueValidator(Decimal("1"))],
        help_text=_("Extra points on purchases: 2 doubles them."),
    )
    multiplier_combination = models.CharField(
        max_length=8,
        choices=Combination.choices,
        default=Combination.MULTIPLY,
        help_text=_("How the plan's multiplier combines with the member's tier multiplier."),
    )
    free_shipping = models.BooleanField(default=False, help_text=_("The shop reads this flag from the API."))
    early_access_days = models.PositiveSmallIntegerField(
        default=0, help_text=_("Subscribers see and redeem rewards this many days before they open to everyone.")
    )
    is_active = models.BooleanField(default=True, help_text=_("Only active plans can be started or changed to."))
    sort_order = models.IntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "members"
        ordering = ["sort_order", "price", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="plan_price_non_negative"),
            models.CheckConstraint(condition=Q(earn_multiplier__gte=1), name="plan_multiplier_at_least_one"),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        plans_cache_clear()

    @property
    def monthly_price(self) -> Decimal:
        """What the plan brings in per month (a yearly price spread over twelve), for MRR."""
        if self.period == self.Period.YEAR:
            return (self.price / 12).quantize(Decimal("0.01"))
        return self.price

    def combined_multiplier(self, tier_multiplier: Decimal) -> Decimal:
        if self.multiplier_combination == self.Combination.LARGER:
            return max(self.earn_multiplier, tier_multiplier)
        return self.earn_multiplier * tier_multiplier


class Subscription(models.Model):
    """A member's paid membership, as reported by the shop. Changed only by ``members.subscriptions.services``."""

    class Status(models.TextChoices):
        TRIALING = "trialing", _("Free trial")
        ACTIVE = "active", _("Active")
        PAST_DUE = "past_due", _("Payment failed")
        CANCELLED = "cancelled", _("Cancelled")
        EXPIRED = "expired", _("Expired")

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(MembershipPlan, on_delete=models.PROTECT, related_name="subscriptions")
    status = models.CharField(max_length=10, choices=Status.choices)
    source = models.CharField(max_length=64, help_text=_("The integration that reported it (its API key)."))
    external_id = models.CharField(max_length=100, help_text=_("The payment provider's id."))
    started_at = models.DateTimeField()
    trial_ends_at = models.DateTimeField(null=True, blank=True)
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField()
    cancel_at_period_end = models.BooleanField(default=False)
    pending_plan = models.ForeignKey(
        MembershipPlan,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("A downgrade that takes effect at the next renewal."),
    )
    past_due_since = models.DateTimeField(null=True, blank=True)
    grace_until = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "members"
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="subscription_external_id_unique"),
            models.UniqueConstraint(
                fields=["member"], condition=Q(status__in=LIVE_STATUSES), name="subscription_one_live_per_member"
            ),
            models.CheckConstraint(
                condition=Q(current_period_end__gt=F("current_period_start")), name="subscription_period_ordered"
            ),
            models.CheckConstraint(
                condition=~Q(status="past_due") | Q(grace_until__isnull=False), name="subscription_past_due_has_grace"
            ),
            models.CheckConstraint(
                condition=~Q(status__in=["cancelled", "expired"]) | Q(ended_at__isnull=False),
                name="subscription_ended_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "current_period_end"], name="subscription_status_end_idx"),
        ]

    def __str__(self):
        return f"{self.plan} for {self.member_id} ({self.get_status_display()})"

    @property
    def is_live(self) -> bool:
        return self.status in LIVE_STATUSES

    @property
    def benefits_until(self) -> datetime | None:
        """The moment benefits stop, or None once the subscription has ended."""
        if self.status in (self.Status.TRIALING, self.Status.ACTIVE):
            return self.current_period_end
        if self.status == self.Status.PAST_DUE:
            return self.grace_until
        return None

    def benefits_at(self, moment: datetime) -> bool:
        until = self.benefits_until
        return until is not None and self.started_at <= moment < until


class SubscriptionEvent(models.Model):
    """One change of a subscription, as it happened. Append-only: never updated or deleted."""

    class Kind(models.TextChoices):
        STARTED = "started", _("Started")
        TRIAL_STARTED = "trial_started", _("Free trial started")
        RENEWED = "renewed", _("Renewed")
        PAYMENT_FAILED = "payment_failed", _("Payment failed")
        RECOVERED = "recovered", _("Payment recovered")
        CANCEL_SCHEDULED = "cancel_scheduled", _("Cancelled at period end")
        CANCELLED = "cancelled", _("Cancelled")
        PLAN_CHANGED = "plan_changed", _("Plan changed")
        PLAN_CHANGE_SCHEDULED = "plan_change_scheduled", _("Plan change at period end")
        EXPIRED = "expired", _("Ended")

    #: Events that carry a fee paid for ``period_start``–``period_end``.
    PAYMENT_KINDS = (Kind.STARTED, Kind.RENEWED, Kind.RECOVERED)

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    plan = models.ForeignKey(MembershipPlan, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=Subscription.Status.choices, help_text=_("Status after it."))
    amount = models.DecimalField(**MONEY, null=True, blank=True, help_text=_("Fee paid, if any."))
    currency = models.CharField(max_length=3, blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    actor = models.CharField(max_length=20, default="api", help_text=_("api, member, staff or job."))
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "members"
        ordering = ["-occurred_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="subscription_event_amount_positive")]
        indexes = [
            models.Index(fields=["kind", "occurred_at"], name="subscription_event_kind_idx"),
            models.Index(fields=["subscription", "-occurred_at"], name="subscription_event_recent_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} ({self.subscription_id})"

    def save(self, *args, **kwargs):
        if self.pk is not None and not self._state.adding:
            raise ValueError("Subscription events are append-only; record a new event instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Subscription events are append-only; record a new event instead.")


class SubscriptionSaving(models.Model):
    """Value a subscriber got back from the plan (extra points, a period reward, a members-only price, free
    shipping the shop reported), in money, for "you saved … this year". Once per ``reference``."""

    class Kind(models.TextChoices):
        EXTRA_POINTS = "extra_points", _("Extra points")
        PERIOD_REWARD = "period_reward", _("Membership reward")
        MEMBER_PRICE = "member_price", _("Members-only price")
        FREE_SHIPPING = "free_shipping", _("Free shipping")

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="savings")
    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    points = models.BigIntegerField(default=0)
    reference = models.CharField(max_length=200, unique=True, help_text=_("What it was for, once each."))
    occurred_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "members"
        ordering = ["-occurred_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="subscription_saving_non_negative")]
        indexes = [models.Index(fields=["member", "occurred_at"], name="subscription_saving_member_idx")]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.amount} {self.currency}"
