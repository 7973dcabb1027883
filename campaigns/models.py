"""Campaigns: bonus rules that run for a while, the audiences they target, and what they cost and earned back.

- A :class:`Segment` describes an audience by rules over the members' data plus explicit include/exclude lists;
  ``campaigns.segments`` turns it into one set-based query.
- A :class:`Campaign` is a bonus (multiplier, fixed bonus, win-back offer) that the earning engine applies when a
  purchase arrives, or a job (birthday gift, manual bonus, reminder emails) run by Celery tasks. Its rules are
  frozen once launched; ``points_awarded`` is its budget counter, only changed under the campaign's row lock.
- A :class:`CampaignParticipation` row per member who got something (or was offered something).
- :class:`CampaignChange` is the audit trail, :class:`CampaignEmail` the per-member send record.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import MONEY, RATE, FeedbackResponse, Member, Purchase, Tier


class Segment(models.Model):
    """An audience: members matching every rule that is set, plus the include list, minus the exclude list."""

    class Base(models.TextChoices):
        RULES = "rules", _("Members matching the rules (plus the include list)")
        LIST_ONLY = "list", _("Only the include list")

    class SpendPeriod(models.TextChoices):
        LIFETIME = "lifetime", _("Lifetime")
        TWELVE_MONTHS = "12m", _("Last 12 months")

    class Consent(models.TextChoices):
        ANY = "", _("Any")
        YES = "yes", _("Gave marketing consent")
        NO = "no", _("No marketing consent")

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    base = models.CharField(max_length=5, choices=Base.choices, default=Base.RULES)
    tiers = models.ManyToManyField(Tier, blank=True, related_name="+", help_text=_("Empty for every tier."))
    enrolled_from = models.DateField(null=True, blank=True)
    enrolled_to = models.DateField(null=True, blank=True, help_text=_("Inclusive."))
    purchased_within_days = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Last purchase at most this many days ago.")
    )
    no_purchase_for_days = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("No purchase for at least this many days (never purchased counts).")
    )
    spend_period = models.CharField(max_length=8, choices=SpendPeriod.choices, default=SpendPeriod.LIFETIME)
    spend_min = models.DecimalField(**MONEY, null=True, blank=True)
    spend_max = models.DecimalField(**MONEY, null=True, blank=True)
    purchases_min = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Number of purchases, over the spend period.")
    )
    purchases_max = models.PositiveIntegerField(null=True, blank=True)
    channel = models.CharField(
        max_length=10, choices=Purchase.Channel.choices, blank=True, help_text=_("Has bought through this channel.")
    )
    birthday_month = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(12)]
    )
    marketing_consent = models.CharField(max_length=3, choices=Consent.choices, blank=True, default=Consent.ANY)
    balance_min = models.PositiveBigIntegerField(null=True, blank=True, help_text=_("Spendable points at least."))
    feedback_group = models.CharField(
        max_length=10,
        choices=FeedbackResponse.Group.choices,
        blank=True,
        help_text=_("Members whose latest feedback answer puts them in this group (detractors: win them back)."),
    )
    feedback_within_days = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Only a latest answer given at most this many days ago counts.")
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(spend_min__isnull=True)
                | Q(spend_max__isnull=True)
                | Q(spend_min__lte=models.F("spend_max")),
                name="segment_spend_range",
            ),
            models.CheckConstraint(
                condition=Q(enrolled_from__isnull=True)
                | Q(enrolled_to__isnull=True)
                | Q(enrolled_from__lte=models.F("enrolled_to")),
                name="segment_enrolled_range",
            ),
        ]

    def __str__(self):
        return self.name


class SegmentMember(models.Model):
    """A member put into (or kept out of) a segment by hand, e.g. from an uploaded CSV."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="listed")
    member = models.ForeignKey(Member, on_delete=models.CASCADE, related_name="+")
    excluded = models.BooleanField(default=False, help_text=_("Exclude instead of include."))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["segment", "member"], name="segment_member_unique")]
        indexes = [models.Index(fields=["member", "segment"], name="segment_member_by_member_idx")]

    def __str__(self):
        return f"{'−' if self.excluded else '+'}{self.member_id} in {self.segment_id}"


class Campaign(models.Model):
    class Kind(models.TextChoices):
        MULTIPLIER = "multiplier", _("Points multiplier")
        FIXED_BONUS = "fixed_bonus", _("Fixed bonus")
        BIRTHDAY = "birthday", _("Birthday gift")
        WINBACK = "winback", _("Win-back")
        EXPIRY_REMINDER = "expiry_reminder", _("Points-expiry reminder")
        TIER_NEAR = "tier_near", _("Tier-near nudge")
        MANUAL_BONUS = "manual_bonus", _("Manual bonus")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SCHEDULED = "scheduled", _("Scheduled")
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused")
        ENDED = "ended", _("Ended")

    class Trigger(models.TextChoices):
        SPEND_OVER = "spend_over", _("Spend over the threshold")
        PRODUCT = "product", _("Buy one of the products")
        CATEGORY = "category", _("Buy from one of the categories")
        FIRST_PURCHASE = "first_purchase", _("First purchase")
        NTH_PURCHASE = "nth_purchase", _("Nth purchase in a period")
        FIRST_IN_CHANNEL = "first_in_channel", _("First purchase in a new channel")

    class Period(models.TextChoices):
        DAY = "day", _("Day")
        WEEK = "week", _("Week (Monday to Sunday)")
        MONTH = "month", _("Calendar month")

    class BirthdayScope(models.TextChoices):
        DAY = "day", _("On the birthday")
        MONTH = "month", _("In the birthday month")

    #: Kinds the earning engine applies to purchases.
    EARNING_KINDS = (Kind.MULTIPLIER, Kind.FIXED_BONUS, Kind.WINBACK)
    #: Kinds that send an email to their audience.
    EMAIL_KINDS = (Kind.WINBACK, Kind.EXPIRY_REMINDER, Kind.TIER_NEAR)
    #: Email kinds that are service messages (need ``email_notifications``), not marketing (``marketing_consent``).
    SERVICE_EMAIL_KINDS = (Kind.EXPIRY_REMINDER,)
    #: Statuses in which a campaign may award points (scheduled ones only once their window has begun).
    LIVE_STATUSES = (Status.SCHEDULED, Status.ACTIVE)
    #: Fields that define what the campaign does; frozen once it leaves draft.
    RULE_FIELDS = (
        "kind",
        "starts_at",
        "ends_at",
        "segment",
        "multiplier",
        "bonus_points",
        "categories",
        "skus",
        "channels",
        "stores",
        "threshold_spend",
        "trigger",
        "trigger_count",
        "trigger_period",
        "stackable",
        "priority",
        "per_member_cap",
        "holdout_percent",
        "birthday_scope",
        "reward",
        "audience_days",
        "tier_gap",
        "offer_days",
        "email_subject",
        "email_body",
    )
    #: Fields that stay editable after launch.
    LIVE_EDITABLE_FIELDS = ("name", "description", "budget_points")

    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, help_text=_("Shown to members on their offers page."))
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True, help_text=_("Exclusive; empty for open-ended."))
    segment = models.ForeignKey(
        Segment,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="campaigns",
        help_text=_("Empty for every active member."),
    )
    # What is awarded.
    multiplier = models.DecimalField(
        **RATE,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("1"))],
        help_text=_("Points multiplier: 2 doubles the base points of matching lines."),
    )
    bonus_points = models.PositiveBigIntegerField(default=0, help_text=_("Fixed bonus, birthday or manual points."))
    # Conditions on the basket. Empty lists match everything.
    categories = models.JSONField(default=list, blank=True)
    skus = models.JSONField(default=list, blank=True)
    channels = models.JSONField(default=list, blank=True)
    stores = models.JSONField(default=list, blank=True)
    threshold_spend = models.DecimalField(
        **MONEY, null=True, blank=True, help_text=_("Minimum spend on matching lines.")
    )
    trigger = models.CharField(max_length=20, choices=Trigger.choices, blank=True)
    trigger_count = models.PositiveSmallIntegerField(null=True, blank=True, help_text=_("N for the Nth purchase."))
    trigger_period = models.CharField(max_length=5, choices=Period.choices, blank=True)
    # Stacking and limits.
    stackable = models.BooleanField(
        default=True, help_text=_("Combines with other campaigns; otherwise only the best-priority one applies.")
    )
    priority = models.PositiveSmallIntegerField(
        default=100, help_text=_("Among campaigns that do not stack, the lowest number wins.")
    )
    per_member_cap = models.PositiveBigIntegerField(
        null=True, blank=True, help_text=_("Most points one member can get from this campaign.")
    )
    budget_points = models.PositiveBigIntegerField(null=True, blank=True, help_text=_("Empty for no budget."))
    points_awarded = models.BigIntegerField(default=0, editable=False)
    points_clawed_back = models.BigIntegerField(default=0, editable=False)
    budget_exhausted_at = models.DateTimeField(null=True, blank=True, editable=False)
    holdout_percent = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(50)],
        help_text=_("Share of the audience kept as a control group that gets nothing."),
    )
    # Kind-specific settings.
    birthday_scope = models.CharField(max_length=5, choices=BirthdayScope.choices, default=BirthdayScope.DAY)
    audience_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text=_("Win-back: days without a purchase. Expiry reminder: points expiring within this many days."),
    )
    tier_gap = models.PositiveBigIntegerField(
        null=True, blank=True, help_text=_("Tier-near: members at most this far from their next tier.")
    )
    offer_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=_("Win-back: how long the bonus on the next purchase lasts after the email.")
    )
    reward = models.ForeignKey(
        "rewards.Reward",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_(
            "Birthday: a catalogue reward given as a gift (a voucher or partner code), with or instead of points."
        ),
    )
    reward_note = models.CharField(
        max_length=200,
        blank=True,
        help_text=_("Birthday: what to say about the gift."),
    )
    email_subject = models.CharField(max_length=200, blank=True)
    email_body = models.TextField(
        blank=True,
        help_text=_(
            "Django template. Variables: first_name, name, balance, value, currency, offer, expiring_points, "
            "expiry_date, next_tier, gap, program."
        ),
    )
    launched_at = models.DateTimeField(null=True, blank=True, editable=False)
    ended_at = models.DateTimeField(null=True, blank=True, editable=False)
    copied_from = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="copies")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(multiplier__gte=1), name="campaign_multiplier_at_least_one"),
            models.CheckConstraint(
                condition=Q(holdout_percent__gte=0) & Q(holdout_percent__lte=50), name="campaign_holdout_range"
            ),
            models.CheckConstraint(
                condition=Q(starts_at__isnull=True) | Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="campaign_window_order",
            ),
            models.CheckConstraint(
                condition=Q(budget_points__isnull=True) | Q(points_awarded__lte=models.F("budget_points")),
                name="campaign_within_budget",
            ),
            models.CheckConstraint(condition=Q(points_awarded__gte=0), name="campaign_awarded_non_negative"),
        ]
        indexes = [models.Index(fields=["status", "starts_at"], name="campaign_status_start_idx")]
        permissions = [("report_campaign", _("Can see campaign reports"))]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("admin:campaigns_campaign_change", args=[self.pk])

    @property
    def is_draft(self) -> bool:
        return self.status == self.Status.DRAFT

    @property
    def budget_left(self) -> int | None:
        if self.budget_points is None:
            return None
        return max(self.budget_points - self.points_awarded, 0)

    @property
    def budget_exhausted(self) -> bool:
        return self.budget_points is not None and self.points_awarded >= self.budget_points

    def is_live(self, moment) -> bool:
        """Whether a purchase at ``moment`` falls in this campaign's window while it is running."""
        if self.status not in self.LIVE_STATUSES:
            return False
        if self.starts_at is None or moment < self.starts_at:
            return False
        return self.ends_at is None or moment < self.ends_at


class CampaignChange(models.Model):
    """Audit trail: who changed a campaign, when, and what (status moves and field edits)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="changes")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Empty for the scheduler."),
    )
    action = models.CharField(max_length=20)
    from_status = models.CharField(max_length=10, choices=Campaign.Status.choices, blank=True)
    to_status = models.CharField(max_length=10, choices=Campaign.Status.choices, blank=True)
    changes = models.JSONField(default=dict, blank=True, help_text=_("Field: [before, after]."))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["campaign", "-created_at"], name="campaign_change_recent_idx")]

    def __str__(self):
        return f"{self.campaign_id} {self.action} by {self.actor_id or 'system'}"


class CampaignParticipation(models.Model):
    """What one member got from (or was offered by) one campaign."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="participations")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    holdout = models.BooleanField(default=False)
    points_awarded = models.BigIntegerField(default=0)
    points_clawed_back = models.BigIntegerField(default=0)
    awards = models.PositiveIntegerField(default=0)
    first_at = models.DateTimeField(null=True, blank=True, help_text=_("First award."))
    last_at = models.DateTimeField(null=True, blank=True)
    offer_expires_at = models.DateTimeField(null=True, blank=True, help_text=_("Win-back: bonus valid until."))
    offer_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["campaign", "member"], name="campaign_participation_unique"),
            models.CheckConstraint(condition=Q(points_awarded__gte=0), name="participation_points_non_negative"),
        ]
        indexes = [models.Index(fields=["member", "campaign"], name="participation_member_idx")]

    def __str__(self):
        return f"{self.member_id} in {self.campaign_id}: {self.points_awarded} pts"


class CampaignEmail(models.Model):
    """One campaign email to one member; the unique row is claimed before sending.

    A resumed batch skips members whose row is sent, and retries claims left behind by a crash once their lease
    has run out (only the message in flight at the crash can go out twice).
    """

    class Status(models.TextChoices):
        CLAIMED = "claimed", _("Claimed")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="emails")
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.CLAIMED)
    claimed_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    error = models.CharField(max_length=255, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["campaign", "member"], name="campaign_email_unique")]
        indexes = [models.Index(fields=["campaign", "status"], name="campaign_email_status_idx")]

    def __str__(self):
        return f"{self.campaign_id} → {self.member_id}: {self.status}"
