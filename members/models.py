"""Members, their points accounts and the append-only points ledger.

Invariants, backed by database constraints where a constraint can say them:
- ``PointsAccount.balance`` (spendable) is never negative and always equals the sum of ``LedgerEntry.points``
  and the sum of the remaining points of its available lots; ``pending`` likewise equals the sum of
  ``LedgerEntry.pending_delta`` and the remaining points of its pending lots.
- ``PointsAccount.owed`` (clawback shortfall still to be netted) equals the sum of ``LedgerEntry.owed_delta``.
- Ledger entries are never updated or deleted (enforced in the model and, on PostgreSQL, by a trigger).
- Every entry has a unique idempotency key, so a retried write never posts twice.
"""

from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .cache import program_cache_clear

MONEY = {"max_digits": 12, "decimal_places": 2}
#: Sums of many purchases (a member's month of qualifying spend): room for ten thousand of the largest purchase.
MONEY_SUM = {"max_digits": 16, "decimal_places": 2}
RATE = {"max_digits": 9, "decimal_places": 4}
#: Longest expiry period in days (ten years and leap days): a longer one is better said in months.
MAX_EXPIRY_DAYS = 3660


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    """A login. Customers and staff alike sign in with their email address."""

    username = None
    email = models.EmailField(_("email address"), unique=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS = []

    class Meta:
        ordering = ["email"]

    def __str__(self):
        return self.email


class ProgramSettings(models.Model):
    """The program's rules, one row (pk=1), edited by staff in the admin and cached per process."""

    class ExpiryPolicy(models.TextChoices):
        NONE = "none", _("Points never expire")
        FIXED = "fixed", _("Fixed: N months (or days) after earning")
        ACTIVITY = "activity", _("Activity: all points expire after N months (or days) without a purchase")

    class ExpiryUnit(models.TextChoices):
        MONTHS = "months", _("Months")
        DAYS = "days", _("Days")

    class Rounding(models.TextChoices):
        DOWN = "down", _("Round down")
        NEAREST = "nearest", _("Round to nearest (half up)")
        UP = "up", _("Round up")

    class TierBasis(models.TextChoices):
        POINTS = "points", _("Qualifying points")
        SPEND = "spend", _("Qualifying spend")

    class TierPeriod(models.TextChoices):
        ROLLING_12_MONTHS = "rolling", _("Rolling 12 months")
        CALENDAR_YEAR = "calendar", _("Calendar year")

    name = models.CharField(max_length=100, default="Loyalty Rewards")
    currency = models.CharField(max_length=3, default="EUR")
    point_value = models.DecimalField(
        **RATE,
        default=Decimal("0.0100"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("What one point is worth in the program currency."),
    )
    base_rate = models.DecimalField(
        **RATE,
        default=Decimal("1.0000"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_(
            "Points per currency unit spent, before multipliers; applies only while no base earning rule (per "
            "currency unit, per visit, per unit bought, cash-back) is active."
        ),
    )
    rounding = models.CharField(max_length=10, choices=Rounding.choices, default=Rounding.DOWN)
    max_points_per_purchase = models.PositiveIntegerField(
        null=True,
        blank=True,
        default=100_000,
        help_text=_("Cap on base points from one purchase (bonuses come on top); empty for no cap."),
    )
    max_line_amount = models.DecimalField(
        **MONEY,
        null=True,
        blank=True,
        default=Decimal("10000.00"),
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_(
            "Largest amount one purchase line (unit price × quantity) may come to; a larger one is refused as a "
            "likely typo. Empty for no limit."
        ),
    )
    max_purchase_amount = models.DecimalField(
        **MONEY,
        null=True,
        blank=True,
        default=Decimal("50000.00"),
        validators=[MinValueValidator(Decimal("0.01"))],
        help_text=_("Largest amount the lines of one purchase may add up to; empty for no limit."),
    )
    expiry_policy = models.CharField(max_length=10, choices=ExpiryPolicy.choices, default=ExpiryPolicy.FIXED)
    expiry_unit = models.CharField(
        max_length=6,
        choices=ExpiryUnit.choices,
        default=ExpiryUnit.MONTHS,
        help_text=_("Whether the expiry period counts calendar months or days, in the program's time zone."),
    )
    expiry_months = models.PositiveSmallIntegerField(
        default=24, help_text=_("The expiry period when it counts months.")
    )
    expiry_days = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(MAX_EXPIRY_DAYS)],
        help_text=_("The expiry period when it counts days."),
    )
    expiry_reminder_days = models.PositiveSmallIntegerField(default=30)
    pending_days = models.PositiveSmallIntegerField(
        default=14, help_text=_("Return window: purchase points stay pending this many days.")
    )
    tier_basis = models.CharField(max_length=10, choices=TierBasis.choices, default=TierBasis.POINTS)
    tier_period = models.CharField(max_length=10, choices=TierPeriod.choices, default=TierPeriod.ROLLING_12_MONTHS)
    tier_counts_bonus_points = models.BooleanField(
        default=False,
        help_text=_(
            "With qualifying points: whether campaign bonus points on purchases count toward tiers too (otherwise "
            "only the points the purchase itself earned)."
        ),
    )
    transfer_max_points = models.PositiveIntegerField(
        default=5000, help_text=_("Most points a member may transfer in one go.")
    )
    transfer_max_per_month = models.PositiveIntegerField(default=20000)
    voucher_validity_days = models.PositiveSmallIntegerField(default=90)
    voucher_cancel_grace_hours = models.PositiveSmallIntegerField(default=24)
    refund_points_on_voucher_expiry = models.BooleanField(default=False)
    feedback_delay_days = models.PositiveSmallIntegerField(
        default=1, help_text=_("Days after a purchase before the member is asked how likely they are to recommend us.")
    )
    feedback_interval_days = models.PositiveSmallIntegerField(
        default=30, help_text=_("At most one feedback request per member in this many days.")
    )
    feedback_link_days = models.PositiveSmallIntegerField(
        default=14, validators=[MinValueValidator(1)], help_text=_("Days a feedback link stays valid.")
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("program settings")
        verbose_name_plural = _("program settings")
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="program_settings_singleton"),
            models.CheckConstraint(condition=Q(expiry_days__lte=MAX_EXPIRY_DAYS), name="program_expiry_days_range"),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)
        program_cache_clear()

    def clean(self):
        super().clean()
        if self.expiry_policy == self.ExpiryPolicy.NONE:
            return
        if self.expiry_unit == self.ExpiryUnit.DAYS and not self.expiry_days:
            raise ValidationError(
                {"expiry_days": _("Points that expire after a number of days need that number (at least 1).")}
            )
        if self.expiry_unit == self.ExpiryUnit.MONTHS and not self.expiry_months:
            raise ValidationError(
                {"expiry_months": _("Points that expire after a number of months need that number (at least 1).")}
            )

    @property
    def expires_by_days(self) -> bool:
        return self.expiry_unit == self.ExpiryUnit.DAYS

    @property
    def expiry_period(self) -> int:
        """The expiry period's length in its unit (days or months); 0 when points do not expire."""
        if self.expiry_policy == self.ExpiryPolicy.NONE:
            return 0
        return self.expiry_days if self.expires_by_days else self.expiry_months


class Tier(models.Model):
    name = models.CharField(max_length=50, unique=True)
    rank = models.PositiveSmallIntegerField(unique=True, help_text=_("0 is the entry tier; higher is better."))
    threshold = models.DecimalField(
        **MONEY,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("Qualifying points (or spend) over the tier period needed to reach this tier."),
    )
    earn_multiplier = models.DecimalField(**RATE, default=Decimal("1.0000"))
    perks = models.TextField(blank=True, help_text=_("One perk per line."))
    colour = models.CharField(max_length=7, default="#8c6239")

    class Meta:
        ordering = ["rank"]
        constraints = [
            models.CheckConstraint(condition=Q(earn_multiplier__gte=0), name="tier_multiplier_non_negative"),
            models.CheckConstraint(condition=Q(threshold__gte=0), name="tier_threshold_non_negative"),
        ]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        program_cache_clear()

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        program_cache_clear()
        return result

    @property
    def perk_list(self):
        return [line.strip() for line in self.perks.splitlines() if line.strip()]


class Member(models.Model):
    """A customer enrolled in the program. Every user who signs up gets exactly one."""

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        CLOSED = "closed", _("Closed")

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="member")
    member_number = models.CharField(max_length=12, unique=True)
    card_number = models.CharField(max_length=19, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="members")
    tier_achieved_at = models.DateTimeField(null=True, blank=True)
    tier_review_at = models.DateField(null=True, blank=True, help_text=_("Next date a downgrade may happen."))
    tier_notice_pending = models.BooleanField(
        default=False, help_text=_("The member has not yet been shown their latest tier move on the site.")
    )
    birthday = models.DateField(null=True, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    marketing_consent = models.BooleanField(default=False)
    email_notifications = models.BooleanField(default=True, help_text=_("Service emails such as expiry reminders."))
    enrolled_at = models.DateTimeField(default=timezone.now)
    enrollment_channel = models.CharField(max_length=20, default="web")
    last_purchase_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["member_number"]
        # No index on last_purchase_at: every purchase sets it, and with an index on it that update could not be
        # HOT (heap-only), so it would write a new entry into each of this table's indexes. With none, and free
        # room on the page (fillfactor 90, migration 0025), it rewrites one heap page. The segments that filter
        # on it read all members either way.
        indexes = [models.Index(fields=["enrolled_at"], name="member_enrolled_idx")]

    def __str__(self):
        return f"{self.member_number} ({self.user.email})"

    def get_absolute_url(self):
        return reverse("admin:members_member_change", args=[self.pk])

    @property
    def display_name(self):
        return self.user.get_full_name() or self.user.email


class PointsAccount(models.Model):
    """The cached balances of one member. Rows are changed only by ``members.services.ledger``."""

    member = models.OneToOneField(Member, on_delete=models.PROTECT, primary_key=True, related_name="account")
    balance = models.BigIntegerField(default=0, help_text=_("Spendable points."))
    pending = models.BigIntegerField(default=0, help_text=_("Points earned but still in the return window."))
    owed = models.BigIntegerField(default=0, help_text=_("Clawback shortfall, netted against future earnings."))
    lifetime_earned = models.BigIntegerField(default=0)
    lifetime_spent = models.BigIntegerField(default=0)
    point_payments_awaiting = models.PositiveIntegerField(
        default=0,
        help_text=_(
            "Point payments that name a purchase not yet recorded: only while there are any does recording a "
            "purchase look for them, so an everyday earn costs no extra query."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="account_balance_non_negative"),
            models.CheckConstraint(condition=Q(pending__gte=0), name="account_pending_non_negative"),
            models.CheckConstraint(condition=Q(owed__gte=0), name="account_owed_non_negative"),
        ]

    def __str__(self):
        return f"{self.member_id}: {self.balance} pts"


class Purchase(models.Model):
    """A basket bought by a member, sent by a till, the e-shop or a partner."""

    class Channel(models.TextChoices):
        ONLINE = "online", _("Online")
        IN_STORE = "in_store", _("In store")
        PARTNER = "partner", _("Partner")

    # Indexed by purchase_member_recent_idx (member, -occurred_at) in Meta.
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="purchases", db_index=False)
    external_id = models.CharField(max_length=100)
    source = models.CharField(
        max_length=100,
        default="",
        blank=True,
        help_text=_("Which integration sent it; external ids are unique per source."),
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.IN_STORE)
    store = models.CharField(max_length=100, blank=True)
    # The coalition partner whose till (API key) sent it; empty for the operator's own shops.
    partner = models.ForeignKey(
        "Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="purchases", db_index=False
    )
    occurred_at = models.DateTimeField()
    currency = models.CharField(max_length=3)
    total = models.DecimalField(**MONEY)
    eligible_amount = models.DecimalField(**MONEY, default=Decimal("0"))
    points_earned = models.BigIntegerField(default=0, help_text=_("Base and rule points, without bonuses."))
    points_bonus = models.BigIntegerField(default=0, help_text=_("Campaign bonus points."))
    refunded_total = models.DecimalField(**MONEY, default=Decimal("0"))
    points_clawed_back = models.BigIntegerField(default=0)
    points_paid = models.BigIntegerField(default=0, help_text=_("Points the member paid with (point payments)."))
    points_paid_amount = models.DecimalField(
        **MONEY, default=Decimal("0"), help_text=_("What the points paid were worth; the rest of the total earns.")
    )
    points_returned = models.BigIntegerField(default=0, help_text=_("Points paid that refunds gave back."))
    discount_total = models.DecimalField(
        **MONEY, default=Decimal("0"), help_text=_("Discounts on the purchase: the lines add up to total + this.")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="purchase_external_id_unique_per_source"),
            models.CheckConstraint(condition=Q(total__gte=0), name="purchase_total_non_negative"),
            models.CheckConstraint(condition=Q(refunded_total__lte=models.F("total")), name="purchase_refund_le_total"),
            models.CheckConstraint(
                condition=Q(points_paid_amount__gte=0) & Q(points_paid_amount__lte=models.F("total")),
                name="purchase_points_paid_le_total",
            ),
            models.CheckConstraint(
                condition=Q(points_returned__gte=0) & Q(points_returned__lte=models.F("points_paid")),
                name="purchase_points_returned_in_range",
            ),
        ]
        indexes = [
            models.Index(fields=["member", "-occurred_at"], name="purchase_member_recent_idx"),
            models.Index(
                fields=["partner", "created_at"], condition=Q(partner__isnull=False), name="purchase_partner_idx"
            ),
        ]

    def __str__(self):
        return f"{self.external_id} ({self.total} {self.currency})"

    @property
    def points_total(self):
        return self.points_earned + self.points_bonus

    @property
    def money_paid(self) -> Decimal:
        """What the member paid in money: the total less what points paid."""
        return self.total - self.points_paid_amount


class PointPayment(models.Model):
    """Points a member paid with at a till or in the e-shop ("burn"): a payment worth ``points × point value``.

    Sent by an integration before (or with) the purchase it pays for; the purchase then earns only on what was
    paid in money. ``(source, external_id)`` is unique, so a retried payment never debits twice.
    """

    class Status(models.TextChoices):
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled (voided at the till)")

    # Indexed by point_payment_member_idx (member, -created_at) in Meta.
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="point_payments", db_index=False)
    source = models.CharField(max_length=100, default="", blank=True, help_text=_("Which integration sent it."))
    external_id = models.CharField(max_length=100)
    purchase_external_id = models.CharField(
        max_length=100, blank=True, help_text=_("The purchase it pays for, as the integration will send it.")
    )
    purchase = models.ForeignKey(
        Purchase, null=True, blank=True, on_delete=models.PROTECT, related_name="point_payments"
    )
    points = models.BigIntegerField()
    point_value = models.DecimalField(**RATE, help_text=_("What one point was worth when it was paid."))
    amount = models.DecimalField(**MONEY)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.COMPLETED)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    # The coalition partner whose till took the points (settlement reimburses it); empty at the operator.
    partner = models.ForeignKey(
        "Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="point_payment_external_id_unique"),
            models.CheckConstraint(condition=Q(points__gt=0), name="point_payment_points_positive"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="point_payment_amount_non_negative"),
            models.CheckConstraint(
                condition=Q(status="completed") | Q(purchase__isnull=True), name="point_payment_cancelled_unused"
            ),
        ]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="point_payment_member_idx"),
            models.Index(
                fields=["source", "purchase_external_id"],
                condition=Q(purchase__isnull=True) & ~Q(purchase_external_id=""),
                name="point_payment_awaiting_idx",
            ),
        ]

    def __str__(self):
        return f"{self.external_id}: {self.points} pts ({self.amount} {self.currency})"


class Refund(models.Model):
    """A refund or return on a purchase; ``refund_id`` (from the till) makes retries harmless."""

    purchase = models.ForeignKey(Purchase, on_delete=models.PROTECT, related_name="refunds")
    refund_id = models.CharField(max_length=100)
    amount = models.DecimalField(**MONEY)
    points_clawed_back = models.BigIntegerField(default=0)
    points_returned = models.BigIntegerField(default=0, help_text=_("Points paid for the purchase given back."))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["purchase", "refund_id"], name="refund_id_unique_per_purchase")]

    def __str__(self):
        return f"refund {self.refund_id} on {self.purchase_id}"


class PurchaseLine(models.Model):
    # Indexed by the (purchase, line_number) unique constraint in Meta.
    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="lines", db_index=False)
    line_number = models.PositiveSmallIntegerField()
    sku = models.CharField(max_length=64)
    category = models.CharField(max_length=64, blank=True)
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    unit_price = models.DecimalField(**MONEY)
    points = models.BigIntegerField(default=0, help_text=_("Points this line earned (base, rules and bonuses)."))
    discount = models.DecimalField(
        **MONEY, default=Decimal("0"), help_text=_("Its own discounts and its share of the order's.")
    )
    refunded_quantity = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["purchase", "line_number"]
        constraints = [
            models.UniqueConstraint(fields=["purchase", "line_number"], name="purchase_line_number_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="purchase_line_quantity_positive"),
            models.CheckConstraint(
                condition=Q(refunded_quantity__lte=models.F("quantity")),
                name="purchase_line_refund_le_quantity",
            ),
        ]

    def __str__(self):
        return f"{self.sku} × {self.quantity}"

    @property
    def amount(self):
        return self.unit_price * self.quantity

    @property
    def net_amount(self):
        """What was charged for the line after its discounts."""
        return self.amount - self.discount


class PurchaseDiscount(models.Model):
    """A discount the till applied to a purchase: a code, a voucher of ours, a staff discount."""

    class Kind(models.TextChoices):
        ORDER = "order", _("Order: shared over the lines that earn")
        LINE = "line", _("Line")

    # Indexed by the (purchase, position) unique constraint in Meta.
    purchase = models.ForeignKey(Purchase, on_delete=models.CASCADE, related_name="discounts", db_index=False)
    position = models.PositiveSmallIntegerField(help_text=_("Its place in the purchase's list, from 1."))
    code = models.CharField(max_length=64, blank=True)
    kind = models.CharField(max_length=5, choices=Kind.choices)
    line_number = models.PositiveSmallIntegerField(null=True, blank=True)
    amount = models.DecimalField(**MONEY)

    class Meta:
        ordering = ["purchase", "position"]
        constraints = [
            models.UniqueConstraint(fields=["purchase", "position"], name="purchase_discount_position_unique"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="purchase_discount_amount_positive"),
            models.CheckConstraint(
                condition=(Q(kind="order") & Q(line_number__isnull=True))
                | (Q(kind="line") & Q(line_number__isnull=False)),
                name="purchase_discount_line_matches_kind",
            ),
        ]

    def __str__(self):
        return f"{self.code or self.get_kind_display()}: −{self.amount}"


class LedgerEntry(models.Model):
    """One movement of points. Append-only: a mistake is corrected by a new, reversing entry."""

    class Kind(models.TextChoices):
        EARN = "earn", _("Earned")
        BONUS = "bonus", _("Bonus")
        RELEASE = "release", _("Pending points released")
        REDEEM = "redeem", _("Redeemed")
        EXPIRE = "expire", _("Expired")
        ADJUST = "adjust", _("Adjusted")
        CLAWBACK = "clawback", _("Refund clawback")
        SETTLEMENT = "settlement", _("Owed points settled")
        REFERRAL = "referral", _("Referral")
        DONATION = "donation", _("Donated")
        TRANSFER_IN = "transfer_in", _("Transfer received")
        TRANSFER_OUT = "transfer_out", _("Transfer sent")
        REVERSAL = "reversal", _("Reversal")
        IMPORT = "import", _("Opening balance")
        FORFEIT = "forfeit", _("Forfeited")
        ACTION = "action", _("Earned by an action")
        PAYMENT = "payment", _("Paid with points")
        PAYMENT_RETURN = "payment_return", _("Points payment returned")

    # The ledger is the largest table and every write touches all its indexes: the account and source type are
    # the leading columns of composite indexes in Meta, and purchase and actor have partial indexes there.
    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="entries", db_index=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    points = models.BigIntegerField(default=0, help_text=_("Signed change of the spendable balance."))
    pending_delta = models.BigIntegerField(default=0, help_text=_("Signed change of the pending points."))
    owed_delta = models.BigIntegerField(default=0, help_text=_("Signed change of the owed shortfall."))
    balance_after = models.BigIntegerField(help_text=_("Spendable balance after this entry."))
    # Unique through Meta.constraints rather than unique=True, which on PostgreSQL adds a second, LIKE-pattern
    # index that nothing here queries and every insert would pay for.
    idempotency_key = models.CharField(max_length=200)
    description = models.CharField(max_length=255, blank=True)
    purchase = models.ForeignKey(
        Purchase, null=True, blank=True, on_delete=models.PROTECT, related_name="entries", db_index=False
    )
    # A soft reference like source_id: content types are never deleted, and a database foreign key here would
    # cost a check per entry (a million per expiry run) for nothing.
    source_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, db_index=False, db_constraint=False
    )
    source_id = models.PositiveBigIntegerField(null=True, blank=True)
    source = GenericForeignKey("source_type", "source_id")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        help_text=_("Who caused it; empty for the system or an integration."),
    )
    reversal_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by"
    )
    # Where the points moved: the coalition partner whose purchase earned them or whose till took them back (a
    # refund) or spent them; empty for the operator. Settlement and the partner's API view read it.
    partner = models.ForeignKey(
        "Partner", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=False)

    class Meta:
        verbose_name_plural = _("ledger entries")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(points=0) | ~Q(pending_delta=0) | ~Q(owed_delta=0),
                name="ledger_entry_moves_something",
            ),
            models.CheckConstraint(condition=Q(balance_after__gte=0), name="ledger_balance_after_non_negative"),
            models.UniqueConstraint(fields=["idempotency_key"], name="ledger_idempotency_key_unique"),
        ]
        indexes = [
            models.Index(fields=["account", "-created_at", "-id"], name="ledger_account_recent_idx"),
            models.Index(fields=["kind", "created_at"], name="ledger_kind_created_idx"),
            # Most entries (expiry, redemptions, transfers) have no purchase, almost none an actor and earns no
            # source: partial indexes keep those rows out of them.
            models.Index(fields=["purchase"], condition=Q(purchase__isnull=False), name="ledger_purchase_idx"),
            models.Index(fields=["actor"], condition=Q(actor__isnull=False), name="ledger_actor_idx"),
            models.Index(
                fields=["source_type", "source_id"], condition=Q(source_type__isnull=False), name="ledger_source_idx"
            ),
            models.Index(
                fields=["partner", "created_at"], condition=Q(partner__isnull=False), name="ledger_partner_idx"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.points:+d} ({self.idempotency_key})"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("Ledger entries are append-only; post a reversing entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are append-only; post a reversing entry instead.")


#: The kinds that issue points (the liability report's "issued", settlement's points issued at a partner).
LEDGER_EARNING_KINDS = frozenset(
    {
        LedgerEntry.Kind.EARN,
        LedgerEntry.Kind.BONUS,
        LedgerEntry.Kind.REFERRAL,
        LedgerEntry.Kind.IMPORT,
        LedgerEntry.Kind.ACTION,
    }
)


class PointsLot(models.Model):
    """Points credited together, with one expiry date; spending consumes lots soonest-expiring first."""

    account = models.ForeignKey(PointsAccount, on_delete=models.PROTECT, related_name="lots")
    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="lot")
    amount = models.BigIntegerField()
    remaining = models.BigIntegerField()
    expired = models.BigIntegerField(default=0, help_text=_("Points of this lot that expired."))
    expired_at = models.DateTimeField(null=True, blank=True)
    is_pending = models.BooleanField(default=False)
    available_at = models.DateTimeField(help_text=_("When pending points become spendable."))
    expires_at = models.DateTimeField(null=True, blank=True)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["expires_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="lot_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining__gte=0) & Q(remaining__lte=models.F("amount")),
                name="lot_remaining_in_range",
            ),
            models.CheckConstraint(
                condition=Q(expired__gte=0) & Q(expired__lte=models.F("amount") - models.F("remaining")),
                name="lot_expired_in_range",
            ),
        ]
        indexes = [
            # Spending reads one account's open lots of one kind (pending or not) in expiry order; the expiry job
            # walks the open, spendable lots in account order, checking the date inside the index.
            models.Index(
                fields=["account", "is_pending", "expires_at", "id"],
                condition=Q(remaining__gt=0),
                name="lot_open_idx",
            ),
            models.Index(
                fields=["expires_at"], condition=Q(remaining__gt=0, is_pending=False), name="lot_expiring_idx"
            ),
            models.Index(fields=["available_at"], condition=Q(is_pending=True), name="lot_pending_release_idx"),
        ]

    def __str__(self):
        return f"lot {self.pk}: {self.remaining}/{self.amount}"


class TierHistory(models.Model):
    class Reason(models.TextChoices):
        ENROLLED = "enrolled", _("Enrolled")
        UPGRADE = "upgrade", _("Upgrade")
        DOWNGRADE = "downgrade", _("Downgrade")
        RETAINED = "retained", _("Retained at review")
        STAFF = "staff", _("Changed by staff")

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="tier_history")
    from_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=10, choices=Reason.choices)
    qualifying_value = models.DecimalField(**MONEY_SUM, default=Decimal("0"))
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = _("tier history")
        indexes = [models.Index(fields=["member", "-created_at"], name="tier_history_member_idx")]

    def __str__(self):
        return f"{self.member_id}: {self.from_tier} → {self.to_tier}"


class QualifyingActivity(models.Model):
    """Qualifying points and spend per member per calendar month.

    Tier progress sums at most 12 (or 13) of these rows, so it costs the same whatever the history length.
    """

    # Indexed by the (member, month) unique constraint in Meta.
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="qualifying_months", db_index=False)
    month = models.DateField(help_text=_("First day of the month."))
    points = models.BigIntegerField(default=0)
    spend = models.DecimalField(**MONEY_SUM, default=Decimal("0"))
    purchases = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name_plural = _("qualifying activity")
        constraints = [models.UniqueConstraint(fields=["member", "month"], name="qualifying_member_month_unique")]

    def __str__(self):
        return f"{self.member_id} {self.month:%Y-%m}: {self.points} pts, {self.spend}"


class EarningRule(models.Model):
    """A rule of the earning engine; ``kind`` chooses the calculator strategy in ``members.calculators``.

    Rules run in stages (exclusions, then base rules, then multipliers) and within a stage by ``priority``, lower
    first, then oldest first. A rule with ``stop_further_rules`` takes the lines it applied to away from every rule
    that runs after it.
    """

    class Kind(models.TextChoices):
        SPEND = "spend", _("Points per currency unit spent")
        VISIT = "visit", _("Points per visit")
        PER_UNIT = "per_unit", _("Points per unit bought")
        CASHBACK = "cashback", _("Cash-back percentage as points")
        CATEGORY_MULTIPLIER = "category_multiplier", _("Category multiplier")
        PRODUCT_MULTIPLIER = "product_multiplier", _("Product multiplier")
        EXCLUDE_CATEGORY = "exclude_category", _("Excluded category")

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=24, choices=Kind.choices)
    is_active = models.BooleanField(default=True)
    priority = models.PositiveSmallIntegerField(
        default=100,
        help_text=_(
            "Order within the rule's stage (exclusions, then base rules, then multipliers): lower runs first; "
            "equal priorities run oldest first."
        ),
    )
    stop_further_rules = models.BooleanField(
        default=False,
        help_text=_("The lines this rule applied to earn nothing more from the rules that run after it."),
    )
    rate = models.DecimalField(
        **RATE,
        default=Decimal("1.0000"),
        help_text=_(
            "Points per currency unit (spend), points per visit (visit), points per unit bought (per unit), "
            "percent (cash-back) or multiplier."
        ),
    )
    category = models.CharField(max_length=64, blank=True)
    sku = models.CharField(max_length=64, blank=True)
    channel = models.CharField(max_length=10, choices=Purchase.Channel.choices, blank=True)
    min_spend = models.DecimalField(**MONEY, default=Decimal("0"))
    partner = models.ForeignKey(
        "Partner",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="earning_rules",
        help_text=_("A partner's own rule: applies to that partner's purchases only (and theirs to no other)."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["priority", "id"]
        constraints = [models.CheckConstraint(condition=Q(rate__gte=0), name="earning_rule_rate_non_negative")]

    def __str__(self):
        return f"{self.name} ({self.get_kind_display()})"

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        program_cache_clear()

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        program_cache_clear()
        return result

    def clean(self):
        super().clean()
        Kind = self.Kind
        errors = {}
        if self.kind in (Kind.EXCLUDE_CATEGORY, Kind.CATEGORY_MULTIPLIER) and not self.category:
            errors["category"] = _("Name the category this rule is for.")
        if self.kind == Kind.PRODUCT_MULTIPLIER and not self.sku:
            errors["sku"] = _("Name the product (SKU) this rule is for.")
        if self.kind == Kind.PER_UNIT and not (self.category or self.sku):
            errors["category"] = _("Points per unit are for a product or a category: name the SKU or the category.")
        if self.kind == Kind.EXCLUDE_CATEGORY and self.stop_further_rules:
            errors["stop_further_rules"] = _("An excluded category already earns nothing from any rule.")
        if self.kind == Kind.CASHBACK and self.rate is not None and self.rate > 100:
            errors["rate"] = _("Cash-back is a percentage of the spend: at most 100.")
        if errors:
            raise ValidationError(errors)

    @property
    def category_label(self) -> str:
        """The category as members read it ("gift_card" → "gift card")."""
        return self.category.replace("_", " ")


# --- Earning beyond purchases: actions, feedback and NPS ---------------------------------------------------------


class EarningAction(models.Model):
    """Something a member does, other than buying, that earns points: a survey, a review, recycling, an event.

    Limits count units (the quantity of each occurrence; 1 for fixed-points actions) of the occurrences credited
    or waiting for review, per calendar day, week (Monday), month and year in the program's time zone, and in
    total. A rejected occurrence frees its units.
    """

    SURVEY = "survey"
    REVIEW = "review"
    RECYCLE = "recycle"
    SOCIAL_FOLLOW = "social_follow"
    EVENT = "event"
    #: Limit fields by period, shortest first.
    PERIOD_LIMITS = (
        ("day", "limit_per_day"),
        ("week", "limit_per_week"),
        ("month", "limit_per_month"),
        ("year", "limit_per_year"),
    )

    code = models.SlugField(
        max_length=40,
        unique=True,
        help_text=_("survey, review, recycle, social_follow, event, or a code of your own; integrations send it."),
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, help_text=_("Shown to members on the Ways to earn page."))
    points = models.PositiveIntegerField(
        validators=[MinValueValidator(1)], help_text=_("Points per occurrence, or per unit when a unit name is set.")
    )
    unit_name = models.CharField(
        max_length=40, blank=True, help_text=_('Points per unit: e.g. "item recycled". Empty for fixed points.')
    )
    max_quantity = models.PositiveIntegerField(
        default=100, validators=[MinValueValidator(1)], help_text=_("Most units one occurrence may carry.")
    )
    limit_per_day = models.PositiveIntegerField(null=True, blank=True)
    limit_per_week = models.PositiveIntegerField(null=True, blank=True)
    limit_per_month = models.PositiveIntegerField(null=True, blank=True)
    limit_per_year = models.PositiveIntegerField(null=True, blank=True)
    limit_total = models.PositiveIntegerField(null=True, blank=True, help_text=_("Most units per member, ever."))
    is_active = models.BooleanField(default=True)
    active_from = models.DateTimeField(null=True, blank=True)
    active_until = models.DateTimeField(null=True, blank=True)
    min_tier = models.ForeignKey(
        Tier, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text=_("Lowest tier that earns.")
    )
    requires_approval = models.BooleanField(
        default=False, help_text=_("Each occurrence waits in the review queue until staff approve it.")
    )
    sort_order = models.IntegerField(default=0, help_text=_("Lower comes first on the member site."))
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["sort_order", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(points__gte=1), name="earning_action_points_positive"),
            models.CheckConstraint(condition=Q(max_quantity__gte=1), name="earning_action_max_quantity_positive"),
            models.CheckConstraint(condition=~Q(code=""), name="earning_action_code_not_blank"),
            models.CheckConstraint(
                condition=Q(active_from__isnull=True)
                | Q(active_until__isnull=True)
                | Q(active_until__gt=models.F("active_from")),
                name="earning_action_window_ordered",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.code})"

    @property
    def per_unit(self) -> bool:
        return bool(self.unit_name)

    def limits(self) -> dict[str, int]:
        """The limits that are set, by period (``day`` … ``year``, ``total``)."""
        found = {period: getattr(self, field) for period, field in self.PERIOD_LIMITS}
        found["total"] = self.limit_total
        return {period: limit for period, limit in found.items() if limit is not None}


class ActionOccurrence(models.Model):
    """One time a member did an action, as reported by an integration, the feedback page or staff.

    ``external_id`` is unique per ``source``: the same report sent again finds this row and changes nothing.
    Credited occurrences have one ``ACTION`` ledger entry whose source is this row.
    """

    class Status(models.TextChoices):
        PENDING_REVIEW = "pending_review", _("Waiting for review")
        CREDITED = "credited", _("Credited")
        REJECTED = "rejected", _("Rejected")

    #: Statuses whose units count against the action's limits.
    COUNTED = (Status.PENDING_REVIEW, Status.CREDITED)

    action = models.ForeignKey(EarningAction, on_delete=models.PROTECT, related_name="occurrences")
    # Indexed by action_occurrence_limits_idx (member, action, occurred_at).
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="action_occurrences", db_index=False)
    source = models.CharField(max_length=100, blank=True, default="", help_text=_("Which integration reported it."))
    external_id = models.CharField(max_length=100)
    quantity = models.PositiveIntegerField(default=1)
    points = models.BigIntegerField(help_text=_("Points it gives (or gave) once credited."))
    status = models.CharField(max_length=16, choices=Status.choices)
    occurred_at = models.DateTimeField()
    reference = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("review_actionoccurrence", "Can approve or reject action occurrences")]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="action_occurrence_external_id_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="action_occurrence_quantity_positive"),
            models.CheckConstraint(condition=Q(points__gte=0), name="action_occurrence_points_non_negative"),
        ]
        indexes = [
            models.Index(fields=["member", "action", "occurred_at"], name="action_occurrence_limits_idx"),
            models.Index(
                fields=["created_at"], condition=Q(status="pending_review"), name="action_occurrence_pending_idx"
            ),
        ]

    def __str__(self):
        return f"{self.action_id} × {self.quantity} for {self.member_id} ({self.status})"


class FeedbackRequest(models.Model):
    """A feedback email sent about one purchase; its link carries this row's id, signed."""

    # Indexed by feedback_request_member_idx (member, -sent_at).
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="feedback_requests", db_index=False)
    purchase = models.OneToOneField(Purchase, on_delete=models.PROTECT, related_name="feedback_request")
    sent_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-sent_at", "-id"]
        indexes = [
            models.Index(fields=["member", "-sent_at"], name="feedback_request_member_idx"),
            models.Index(fields=["sent_at"], name="feedback_request_sent_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(expires_at__gt=models.F("sent_at")), name="feedback_request_expiry")
        ]

    def __str__(self):
        return f"feedback request {self.pk} for purchase {self.purchase_id}"


class FeedbackResponse(models.Model):
    """A member's answer to "How likely are you to recommend us to a friend?" (0–10), with an optional comment.

    Promoters answer 9–10, passives 7–8, detractors 0–6; NPS = % promoters − % detractors. The purchase's store
    and channel are copied here, so reports group answers without joining purchases.
    """

    PROMOTER_MIN = 9
    DETRACTOR_MAX = 6

    class Group(models.TextChoices):
        PROMOTER = "promoter", _("Promoter (9–10)")
        PASSIVE = "passive", _("Passive (7–8)")
        DETRACTOR = "detractor", _("Detractor (0–6)")

    # Indexed by feedback_member_recent_idx (member, -answered_at).
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="feedback", db_index=False)
    request = models.OneToOneField(
        FeedbackRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="response"
    )
    purchase = models.ForeignKey(Purchase, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    score = models.PositiveSmallIntegerField()
    comment = models.TextField(blank=True, max_length=2000)
    store = models.CharField(max_length=100, blank=True)
    channel = models.CharField(max_length=10, choices=Purchase.Channel.choices, blank=True)
    source = models.CharField(max_length=100, blank=True, default="", help_text=_("email, or the integration's."))
    external_id = models.CharField(max_length=100, blank=True)
    occurrence = models.OneToOneField(
        ActionOccurrence,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="feedback",
        help_text=_("The survey action it credited, if any."),
    )
    answered_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-answered_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(score__gte=0) & Q(score__lte=10), name="feedback_score_0_to_10"),
            models.UniqueConstraint(
                fields=["purchase"], condition=Q(purchase__isnull=False), name="feedback_once_per_purchase"
            ),
            models.UniqueConstraint(
                fields=["source", "external_id"], condition=~Q(external_id=""), name="feedback_external_id_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["member", "-answered_at"], name="feedback_member_recent_idx"),
            models.Index(fields=["answered_at"], name="feedback_answered_idx"),
        ]

    def __str__(self):
        return f"{self.score}/10 from {self.member_id}"

    @property
    def group(self) -> str:
        if self.score >= self.PROMOTER_MIN:
            return self.Group.PROMOTER
        if self.score <= self.DETRACTOR_MAX:
            return self.Group.DETRACTOR
        return self.Group.PASSIVE


#: How a partner's API keys are labelled (``APIKey.owner``): ``partner:<id>``.
PARTNER_OWNER_PREFIX = "partner:"


class Partner(models.Model):
    """A business in the coalition: its customers earn points there and spend them there, and the operator
    settles the money with it each month (``backoffice.settlement``).

    Its API keys carry the owner label :attr:`owner_label` (``integrations.models.APIKey.owner``): the platform
    knows nothing of partners, members reads the label (``members.selectors.partner_for_key``).
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        PAUSED = "paused", _("Paused (its tills are refused)")
        ENDED = "ended", _("Left the coalition")

    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=60, unique=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    tagline = models.CharField(
        max_length=160, blank=True, help_text=_("What it gives, shown to members, e.g. “2 points per €1 on coffee”.")
    )
    description = models.TextField(blank=True)
    logo = models.ImageField(upload_to="partners/logos/", blank=True)
    website = models.URLField(blank=True)
    contact_name = models.CharField(max_length=100, blank=True)
    contact_email = models.EmailField(blank=True)
    contact_phone = models.CharField(max_length=32, blank=True)
    categories = models.JSONField(
        default=list, blank=True, help_text=_("The categories it sells (its earning rules may name them).")
    )
    counts_toward_tiers = models.BooleanField(
        default=True, help_text=_("Whether points and spend at this partner count toward tiers.")
    )
    sort_order = models.PositiveSmallIntegerField(default=100)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["sort_order", "name", "id"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        program_cache_clear()

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        program_cache_clear()
        return result

    @property
    def owner_label(self) -> str:
        return f"{PARTNER_OWNER_PREFIX}{self.pk}"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class PartnerStore(models.Model):
    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="stores")
    name = models.CharField(max_length=100)
    address = models.CharField(max_length=200, blank=True)
    postcode = models.CharField(max_length=16, blank=True)
    city = models.CharField(max_length=100, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["partner", "city", "name", "id"]

    def __str__(self):
        return f"{self.name}, {self.city}" if self.city else self.name


class PartnerRate(models.Model):
    """What a partner pays per point its customers earn there, and what it is paid per point burned there, from
    ``effective_from`` until the next row. Rows are history: settlement values each point at the row in force
    when it moved, so a new price is a new row, never an edit of an old one."""

    partner = models.ForeignKey(Partner, on_delete=models.CASCADE, related_name="rates")
    effective_from = models.DateTimeField()
    price_per_point_issued = models.DecimalField(max_digits=12, decimal_places=6)
    reimbursement_per_point_redeemed = models.DecimalField(max_digits=12, decimal_places=6)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["partner", "effective_from"]
        constraints = [
            models.UniqueConstraint(fields=["partner", "effective_from"], name="partner_rate_one_per_moment"),
            models.CheckConstraint(
                condition=Q(price_per_point_issued__gte=0, reimbursement_per_point_redeemed__gte=0),
                name="partner_rate_non_negative",
            ),
        ]

    def __str__(self):
        return f"{self.partner_id} from {self.effective_from:%Y-%m-%d}"
