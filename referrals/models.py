"""Refer-a-friend: codes, referrals, the fraud rules' settings and the trail of every decision.

A referral is attached when the friend signs up with a code, and pays both sides (through the points ledger)
when the friend makes a first qualifying purchase. Invariants the database holds:
- a member is referred at most once (``Referral.friend`` is unique) and never by themselves;
- a qualified referral names its qualifying purchase and when it qualified;
- paid points are never negative; every state change and fraud-rule outcome leaves a ``ReferralEvent``.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from integrations.cache import config_changed
from members.models import MONEY, Member, Purchase

PROGRAM_CACHE_KEY = "referrals:program:v1"


def referral_program_cache_clear() -> None:
    """Forget the cached referral program (read by ``referrals.selectors.referral_program_get``)."""
    config_changed()


class ReferralProgram(models.Model):
    """The referral program's rules, one row (pk=1), edited by staff and cached per process."""

    class CapAction(models.TextChoices):
        HOLD = "hold", _("Hold for review")
        REJECT = "reject", _("Reject")

    is_enabled = models.BooleanField(default=True, help_text=_("Accept new referrals at sign-up."))
    referrer_points = models.PositiveIntegerField(
        default=500, help_text=_("Points for the member who shared the code, once the friend qualifies.")
    )
    friend_points = models.PositiveIntegerField(
        default=250, help_text=_("Points for the friend on their first qualifying purchase.")
    )
    referrer_reward = models.ForeignKey(
        "rewards.Reward",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("A catalogue reward (voucher or partner code) given to the referrer as well as the points."),
    )
    friend_reward = models.ForeignKey(
        "rewards.Reward",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("A catalogue reward (voucher or partner code) given to the friend as well as the points."),
    )
    min_purchase_amount = models.DecimalField(
        **MONEY,
        default=Decimal("10.00"),
        validators=[MinValueValidator(Decimal("0"))],
        help_text=_("A qualifying purchase must be at least this much (after refunds)."),
    )
    qualify_within_days = models.PositiveSmallIntegerField(
        default=30, help_text=_("The friend must make the qualifying purchase within this many days of joining.")
    )
    max_per_referrer_per_month = models.PositiveIntegerField(
        null=True, blank=True, default=10, help_text=_("Qualified referrals per referrer per month; empty: no cap.")
    )
    max_per_referrer_total = models.PositiveIntegerField(
        null=True, blank=True, default=50, help_text=_("Qualified referrals per referrer in total; empty: no cap.")
    )
    cap_action = models.CharField(
        max_length=10,
        choices=CapAction.choices,
        default=CapAction.HOLD,
        help_text=_("What happens to a referral over a cap."),
    )
    velocity_max_per_hour = models.PositiveSmallIntegerField(
        default=5, help_text=_("Sign-ups on one code within an hour before further ones are held for review.")
    )
    check_self_referral = models.BooleanField(
        default=True, help_text=_("Refuse referrals with the referrer's email (normalised), card number or phone.")
    )
    check_disposable_email = models.BooleanField(
        default=True, help_text=_("Refuse friends with a disposable email domain.")
    )
    check_velocity = models.BooleanField(default=True, help_text=_("Hold bursts of sign-ups on one code."))
    check_caps = models.BooleanField(default=True, help_text=_("Apply the monthly and total caps."))
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("referral program")
        verbose_name_plural = _("referral program")
        constraints = [
            models.CheckConstraint(condition=Q(pk=1), name="referral_program_singleton"),
            models.CheckConstraint(condition=Q(min_purchase_amount__gte=0), name="referral_min_purchase_non_negative"),
        ]

    def __str__(self):
        return str(_("Referral program"))

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)
        referral_program_cache_clear()


class ReferralCode(models.Model):
    """A member's personal code, short and free of look-alike characters (no 0/O, 1/I/L)."""

    member = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="referral_code")
    code = models.CharField(max_length=16, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["code"]
        constraints = [models.CheckConstraint(condition=~Q(code=""), name="referral_code_not_empty")]

    def __str__(self):
        return self.code


class Referral(models.Model):
    """One friend brought in by one referrer."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting for a first purchase")
        QUALIFIED = "qualified", _("Qualified (rewarded)")
        HELD = "held", _("Held for review")
        REJECTED = "rejected", _("Rejected")
        CLAWED_BACK = "clawed_back", _("Clawed back")
        EXPIRED = "expired", _("Expired")

    referrer = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="referrals_made")
    friend = models.OneToOneField(Member, on_delete=models.PROTECT, related_name="referred_by")
    code = models.ForeignKey(ReferralCode, on_delete=models.PROTECT, related_name="referrals")
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    reason = models.CharField(max_length=255, blank=True, help_text=_("Why it is held, rejected or clawed back."))
    qualifying_purchase = models.ForeignKey(
        Purchase, null=True, blank=True, on_delete=models.PROTECT, related_name="qualified_referrals"
    )
    referrer_points = models.BigIntegerField(default=0, help_text=_("Points paid to the referrer."))
    friend_points = models.BigIntegerField(default=0, help_text=_("Points paid to the friend."))
    signup_ip = models.GenericIPAddressField(null=True, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    qualified_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(referrer=F("friend")), name="referral_not_self"),
            models.CheckConstraint(
                condition=~Q(state="qualified")
                | (Q(qualifying_purchase__isnull=False) & Q(qualified_at__isnull=False)),
                name="referral_qualified_has_purchase",
            ),
            models.CheckConstraint(
                condition=Q(referrer_points__gte=0) & Q(friend_points__gte=0), name="referral_points_non_negative"
            ),
        ]
        indexes = [
            models.Index(fields=["referrer", "-created_at"], name="referral_referrer_recent_idx"),
            models.Index(fields=["code", "created_at"], name="referral_code_velocity_idx"),
            models.Index(fields=["referrer", "qualified_at"], name="referral_referrer_cap_idx"),
            models.Index(fields=["state", "created_at"], name="referral_state_idx"),
        ]

    def __str__(self):
        # Names, as staff know the people; lists select the users so this costs no query per row.
        return f"{self.referrer.display_name} → {self.friend.display_name} ({self.get_state_display()})"

    @property
    def referrer_points_kept(self) -> int:
        """What the referrer has from this referral now (nothing once clawed back)."""
        return self.referrer_points if self.state == self.State.QUALIFIED else 0


class HeldReferral(Referral):
    """The staff review queue: referrals held by a fraud rule (an admin view of ``Referral``)."""

    class Meta:
        proxy = True
        verbose_name = _("held referral")
        verbose_name_plural = _("held referrals")


class ReferralEvent(models.Model):
    """What happened to a referral, and why: each fraud rule's outcome and each change of state."""

    class Rule(models.TextChoices):
        SELF_REFERRAL = "self_referral", _("Self-referral")
        DISPOSABLE_EMAIL = "disposable_email", _("Disposable email")
        VELOCITY = "velocity", _("Velocity")
        MONTHLY_CAP = "monthly_cap", _("Monthly cap")
        TOTAL_CAP = "total_cap", _("Total cap")
        QUALIFICATION = "qualification", _("Qualification")
        REVIEW = "review", _("Staff review")
        REFUND = "refund", _("Refund")
        EXPIRY = "expiry", _("Expiry")

    class Outcome(models.TextChoices):
        PASSED = "passed", _("Passed")
        HELD = "held", _("Held")
        REJECTED = "rejected", _("Rejected")
        QUALIFIED = "qualified", _("Qualified")
        APPROVED = "approved", _("Approved")
        CLAWED_BACK = "clawed_back", _("Clawed back")
        KEPT = "kept", _("Kept")
        EXPIRED = "expired", _("Expired")
        NOTED = "noted", _("Noted")

    referral = models.ForeignKey(Referral, on_delete=models.CASCADE, related_name="events")
    rule = models.CharField(max_length=20, choices=Rule.choices)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    reason = models.CharField(max_length=255, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text=_("Staff member who decided; empty for the system."),
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["referral", "created_at"], name="referral_event_idx")]

    def __str__(self):
        return f"{self.referral_id} {self.rule}: {self.outcome}"


class DisposableEmailDomain(models.Model):
    """An email domain that hands out throwaway addresses; friends signing up with one are refused."""

    domain = models.CharField(max_length=253, unique=True, help_text=_("e.g. mailinator.com (subdomains match too)."))
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["domain"]
        constraints = [
            models.CheckConstraint(condition=Q(domain=Lower("domain")), name="disposable_domain_lowercase"),
        ]

    def __str__(self):
        return self.domain

    def save(self, *args, **kwargs):
        self.domain = self.normalise(self.domain)
        super().save(*args, **kwargs)

    def clean(self):
        # Normalised before the uniqueness and lower-case checks run, so " @Spam.Example " is accepted as typed.
        self.domain = self.normalise(self.domain)

    @staticmethod
    def normalise(domain: str) -> str:
        return (domain or "").strip().lower().lstrip("@").rstrip(".")
