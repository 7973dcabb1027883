"""Rewards catalogue, redemptions, vouchers and partner code pools.

Invariants, backed by database constraints where a constraint can say them:
- ``Reward.stock`` is never negative; ``None`` means unlimited. Redemption decrements it with a conditional
  ``UPDATE … WHERE stock >= n``, so concurrent redemptions never oversell.
- Every completed redemption has exactly one ledger debit whose ``source`` is the redemption; a cancellation
  adds one reversing entry (``reversal_of`` the debit), never an edit.
- A voucher moves issued → used | expired | cancelled once; the timestamps of its final state are set.
- A partner code is given to at most one redemption, and a code is unique within its reward's pool.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.models import MONEY, Member, Partner, Purchase, Tier
from members.subscriptions.models import MembershipPlan

PERCENT = {"max_digits": 5, "decimal_places": 2}


class Reward(models.Model):
    """Something members can spend points on. Staff manage rewards in the admin."""

    class Kind(models.TextChoices):
        FIXED_DISCOUNT = "fixed_discount", _("Discount voucher (fixed amount)")
        PERCENT_DISCOUNT = "percent_discount", _("Discount voucher (percent off)")
        FREE_PRODUCT = "free_product", _("Free product")
        STORE_CREDIT = "store_credit", _("Store credit")
        DONATION = "donation", _("Charity donation")
        EXPERIENCE = "experience", _("Experience or event")
        PARTNER = "partner", _("Partner reward")

    class Period(models.TextChoices):
        DAY = "day", _("Per day")
        WEEK = "week", _("Per week")
        MONTH = "month", _("Per month")
        YEAR = "year", _("Per year")

    #: Kinds a member may redeem several of at once (places at an event, products).
    MULTI_QUANTITY_KINDS = frozenset({Kind.FREE_PRODUCT, Kind.EXPERIENCE})

    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    description = models.TextField(blank=True)
    image = models.ImageField(upload_to="rewards/images/", blank=True)
    thumbnail = models.ImageField(upload_to="rewards/thumbnails/", blank=True, editable=False)
    category = models.CharField(max_length=64, blank=True)
    points_cost = models.BigIntegerField(
        validators=[MinValueValidator(1)],
        help_text=_("Points per unit. For donations, the smallest number of points a member may give."),
    )
    value = models.DecimalField(
        **MONEY,
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("Discount amount or store credit amount, in the program currency."),
    )
    percent_off = models.DecimalField(
        **PERCENT,
        null=True,
        blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    min_tier = models.ForeignKey(
        Tier,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Members below this tier cannot redeem it."),
    )
    available_from = models.DateTimeField(null=True, blank=True)
    available_until = models.DateTimeField(null=True, blank=True)
    stock = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Units left; empty for unlimited. Partner rewards: unused codes.")
    )
    per_member_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Most units one member may ever redeem; empty for no limit.")
    )
    per_member_period_limit = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Most units one member may redeem per period.")
    )
    period = models.CharField(max_length=5, choices=Period.choices, blank=True)
    featured = models.BooleanField(default=False)
    sort_order = models.IntegerField(default=0, help_text=_("Lower comes first."))
    is_active = models.BooleanField(default=True)
    requires_shipping = models.BooleanField(
        default=False, help_text=_("Physical reward: the member gives an address and staff ship it.")
    )
    voucher_validity_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text=_("Overrides the program's voucher validity; empty for the default.")
    )
    charity = models.CharField(max_length=120, blank=True, help_text=_("Donations: the charity that receives it."))
    # Paid membership (members.subscriptions): who may redeem it, at what price, and which plan gives it away.
    required_plan = models.ForeignKey(
        MembershipPlan,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Members-only: only subscribers of this plan may redeem it (everyone sees it, labelled)."),
    )
    member_points_cost = models.BigIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text=_("Members-only price: points per unit for subscribers of any paid plan; empty for none."),
    )
    period_reward_plan = models.ForeignKey(
        MembershipPlan,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="period_rewards",
        help_text=_("Given free to every subscriber of this plan once each billing period (a voucher reward)."),
    )
    partner_name = models.CharField(max_length=120, blank=True)
    redeemable_at = models.ForeignKey(
        Partner,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="rewards",
        help_text=_("A coalition partner's reward: its vouchers are accepted by that partner's tills only."),
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-featured", "sort_order", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(stock__gte=0), name="reward_stock_non_negative"),
            # /rewards/vouchers/ is the member's voucher page, so no reward may take that slug.
            models.CheckConstraint(condition=~Q(slug="vouchers"), name="reward_slug_not_reserved"),
            models.CheckConstraint(condition=Q(points_cost__gt=0), name="reward_points_cost_positive"),
            models.CheckConstraint(
                condition=Q(member_points_cost__isnull=True) | Q(member_points_cost__gt=0),
                name="reward_member_points_cost_positive",
            ),
            models.CheckConstraint(condition=Q(value__gte=0), name="reward_value_non_negative"),
            models.CheckConstraint(
                condition=Q(percent_off__gt=0) & Q(percent_off__lte=100), name="reward_percent_off_in_range"
            ),
            models.CheckConstraint(
                condition=Q(available_from__isnull=True)
                | Q(available_until__isnull=True)
                | Q(available_until__gt=F("available_from")),
                name="reward_window_ordered",
            ),
            models.CheckConstraint(
                condition=Q(per_member_period_limit__isnull=True) | ~Q(period=""),
                name="reward_period_limit_has_period",
            ),
            models.CheckConstraint(
                condition=~Q(kind="fixed_discount") | Q(value__gt=0), name="reward_fixed_discount_has_value"
            ),
            models.CheckConstraint(
                condition=~Q(kind="store_credit") | Q(value__gt=0), name="reward_store_credit_has_value"
            ),
            models.CheckConstraint(
                condition=~Q(kind="percent_discount") | Q(percent_off__isnull=False),
                name="reward_percent_discount_has_percent",
            ),
            models.CheckConstraint(condition=~Q(kind="donation") | ~Q(charity=""), name="reward_donation_has_charity"),
            models.CheckConstraint(
                condition=~Q(kind="partner") | ~Q(partner_name=""), name="reward_partner_has_partner_name"
            ),
        ]
        indexes = [
            models.Index(
                fields=["sort_order", "name"], condition=Q(is_active=True), name="reward_active_catalogue_idx"
            ),
            models.Index(fields=["category"], name="reward_category_idx"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("rewards:detail", args=[self.slug])

    @property
    def issues_voucher(self) -> bool:
        """Whether redeeming gives a code to show at a till (donations, partner and shipped rewards do not)."""
        return not (self.requires_shipping or self.kind in {self.Kind.DONATION, self.Kind.PARTNER})

    @property
    def allows_quantity(self) -> bool:
        return self.kind in self.MULTI_QUANTITY_KINDS

    def clean(self):
        super().clean()
        if self.period_reward_plan_id and (self.kind == self.Kind.DONATION or self.requires_shipping):
            raise ValidationError(
                {"period_reward_plan": _("Only voucher and partner rewards can be given every period.")}
            )

    def unit_points(self, plan=None) -> int:
        """Points per unit for a member with ``plan`` (their paid plan with benefits now, or None)."""
        if plan is not None and self.member_points_cost is not None:
            return min(self.member_points_cost, self.points_cost)
        return self.points_cost


class Redemption(models.Model):
    """A member spending points on a reward, or receiving one as a gift (``is_gift``, no points spent).

    Created only by ``rewards.services.reward_redeem`` and ``rewards.services.reward_grant``.
    """

    class Status(models.TextChoices):
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled (points returned)")
        REFUNDED = "refunded", _("Voucher expired (points returned)")

    class Fulfilment(models.TextChoices):
        NOT_REQUIRED = "not_required", _("Not required")
        PENDING = "pending", _("Waiting to ship")
        SHIPPED = "shipped", _("Shipped")
        DELIVERED = "delivered", _("Delivered")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="redemptions")
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="redemptions")
    quantity = models.PositiveIntegerField(default=1)
    points_spent = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.COMPLETED)
    charity = models.CharField(max_length=120, blank=True, help_text=_("Donations: the charity, as at redemption."))
    is_gift = models.BooleanField(
        default=False, help_text=_("Granted by the program (a campaign, a referral, staff) without spending points.")
    )
    grant_reason = models.CharField(max_length=200, blank=True, help_text=_("Gifts: why it was granted."))
    idempotency_key = models.CharField(max_length=200, unique=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    fulfilment_status = models.CharField(max_length=12, choices=Fulfilment.choices, default=Fulfilment.NOT_REQUIRED)
    shipping_name = models.CharField(max_length=150, blank=True)
    shipping_line1 = models.CharField(max_length=200, blank=True)
    shipping_line2 = models.CharField(max_length=200, blank=True)
    shipping_postcode = models.CharField(max_length=20, blank=True)
    shipping_city = models.CharField(max_length=100, blank=True)
    shipping_country = models.CharField(max_length=2, blank=True)
    tracking_reference = models.CharField(max_length=100, blank=True)
    shipped_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    cancelled_at = models.DateTimeField(null=True, blank=True, help_text=_("When the points were returned."))

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A redemption spends points; a gift spends none.
            models.CheckConstraint(
                condition=Q(is_gift=False, points_spent__gt=0) | Q(is_gift=True, points_spent=0),
                name="redemption_points_match_gift",
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="redemption_quantity_positive"),
            models.CheckConstraint(
                condition=Q(status="completed") | Q(cancelled_at__isnull=False),
                name="redemption_cancelled_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(fulfilment_status__in=["shipped", "delivered"]) | Q(shipped_at__isnull=False),
                name="redemption_shipped_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(fulfilment_status="delivered") | Q(delivered_at__isnull=False),
                name="redemption_delivered_has_time",
            ),
        ]
        indexes = [
            # Per-member limits: this member's redemptions of this reward, newest first.
            models.Index(fields=["member", "reward", "-created_at"], name="redemption_member_reward_idx"),
            models.Index(fields=["reward", "status"], name="redemption_reward_status_idx"),
            models.Index(
                fields=["fulfilment_status", "created_at"],
                condition=Q(fulfilment_status__in=["pending", "shipped"]),
                name="redemption_fulfilment_open_idx",
            ),
        ]

    def __str__(self):
        return f"{self.reward} × {self.quantity} for {self.member_id}"


class Voucher(models.Model):
    """A code a member shows at a till. Created by redemption; used, expired or cancelled once."""

    class State(models.TextChoices):
        ISSUED = "issued", _("Ready to use")
        USED = "used", _("Used")
        EXPIRED = "expired", _("Expired")
        CANCELLED = "cancelled", _("Cancelled")

    code = models.CharField(max_length=24, unique=True)
    redemption = models.OneToOneField(Redemption, on_delete=models.PROTECT, related_name="voucher")
    # Denormalised from the redemption so "my vouchers" is one indexed range scan.
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="vouchers")
    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="vouchers")
    state = models.CharField(max_length=10, choices=State.choices, default=State.ISSUED)
    value = models.DecimalField(**MONEY, null=True, blank=True, help_text=_("Money off or credit, as issued."))
    percent_off = models.DecimalField(**PERCENT, null=True, blank=True)
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_on_purchase = models.ForeignKey(
        Purchase, null=True, blank=True, on_delete=models.PROTECT, related_name="vouchers_used"
    )
    purchase_reference = models.CharField(max_length=100, blank=True, help_text=_("The till's own receipt id."))
    use_idempotency_key = models.CharField(max_length=200, blank=True)
    # The coalition partner whose till took it (settlement reimburses the points it cost); empty at the operator.
    used_by_partner = models.ForeignKey(
        Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    expired_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancelled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=F("issued_at")), name="voucher_expires_after_issue"),
            models.CheckConstraint(condition=~Q(state="used") | Q(used_at__isnull=False), name="voucher_used_has_time"),
            models.CheckConstraint(
                condition=~Q(state="expired") | Q(expired_at__isnull=False), name="voucher_expired_has_time"
            ),
            models.CheckConstraint(
                condition=~Q(state="cancelled") | Q(cancelled_at__isnull=False), name="voucher_cancelled_has_time"
            ),
            models.UniqueConstraint(
                fields=["use_idempotency_key"], condition=~Q(use_idempotency_key=""), name="voucher_use_key_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["member", "-issued_at"], name="voucher_member_recent_idx"),
            models.Index(fields=["expires_at"], condition=Q(state="issued"), name="voucher_issued_expiry_idx"),
            models.Index(
                fields=["used_by_partner", "used_at"],
                condition=Q(used_by_partner__isnull=False),
                name="voucher_partner_used_idx",
            ),
        ]

    def __str__(self):
        return self.code


class PartnerCode(models.Model):
    """One code from a partner's pool (uploaded by staff as CSV); given to one redemption of the reward."""

    reward = models.ForeignKey(Reward, on_delete=models.PROTECT, related_name="partner_codes")
    code = models.CharField(max_length=100)
    redemption = models.OneToOneField(
        Redemption, null=True, blank=True, on_delete=models.PROTECT, related_name="partner_code"
    )
    assigned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["reward", "id"]
        constraints = [
            models.UniqueConstraint(fields=["reward", "code"], name="partner_code_unique_per_reward"),
            models.CheckConstraint(
                condition=Q(redemption__isnull=True) | Q(assigned_at__isnull=False),
                name="partner_code_assigned_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["reward", "id"], condition=Q(redemption__isnull=True), name="partner_code_free_idx")
        ]

    def __str__(self):
        return f"{self.reward_id}: {self.code}"
