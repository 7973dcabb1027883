"""Models of the staff console: audit trail, two-person point adjustments, CSV imports, console settings, and the
daily roll-ups behind the analytics and points-accounting reports.

The tables keep the names they had when these models lived in the ``members`` app (they were moved by migration
state only, no data copied). The roll-ups are filled by ``backoffice.services.rollups.analytics_rollup`` with
set-based upserts; the reports sum the rolled-up days and add a live query for whatever the roll-ups do not hold
yet (see ``RollupState``). A day is a local calendar day in ``RollupState.time_zone`` (the project's
``TIME_ZONE``), the same days ``backoffice.periods.day_start`` draws.
"""

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

BIG_MONEY = {"max_digits": 16, "decimal_places": 2}


class StaffSettings(models.Model):
    """Console-wide settings, one row (pk=1). Also carries the console's custom permissions."""

    support_adjustment_limit = models.PositiveIntegerField(
        default=500,
        help_text=_(
            "Largest point adjustment (credit or debit) one person may post alone; larger ones need a second "
            "person's approval."
        ),
    )
    support_daily_limit = models.PositiveIntegerField(
        default=2000,
        help_text=_(
            "Points (credits and debits added up) one person may adjust alone per day, in the program's time zone; "
            "past it, every further adjustment that day needs a second person's approval."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "members_staffsettings"
        verbose_name = _("staff console settings")
        verbose_name_plural = _("staff console settings")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="staff_settings_singleton")]
        permissions = [
            ("adjust_points", _("Can adjust member points (within the support limit)")),
            ("approve_adjustment", _("Can approve point adjustments over the support limit")),
            ("view_reports", _("Can view analytics and points accounting reports")),
            ("export_data", _("Can export data as CSV")),
            ("import_data", _("Can import members, purchases and codes from CSV")),
            ("set_redemption_estimate", _("Can set the expected redemption rate of points (IFRS 15)")),
            ("close_accounting_period", _("Can close an accounting period of the points liability report")),
            ("reopen_accounting_period", _("Can reopen a closed accounting period of the points liability report")),
        ]

    def __str__(self):
        return str(_("Staff console settings"))

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "StaffSettings":
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj


class StaffAuditLog(models.Model):
    """One staff action that moved points or changed program rules, or a membership's closure. Append-only."""

    class Action(models.TextChoices):
        POINTS_ADJUSTED = "points_adjusted", _("Points adjusted")
        ADJUSTMENT_REQUESTED = "adjustment_requested", _("Adjustment requested")
        ADJUSTMENT_APPROVED = "adjustment_approved", _("Adjustment approved")
        ADJUSTMENT_REJECTED = "adjustment_rejected", _("Adjustment rejected")
        RULE_CREATED = "rule_created", _("Program rule created")
        RULE_CHANGED = "rule_changed", _("Program rule changed")
        RULE_DELETED = "rule_deleted", _("Program rule deleted")
        IMPORT_STARTED = "import_started", _("Import started")
        IMPORT_RESUMED = "import_resumed", _("Import resumed")
        IMPORT_CANCELLED = "import_cancelled", _("Import cancelled")
        EXPORTED = "exported", _("Data exported")
        POINTS_REVERSED = "points_reversed", _("Ledger entry reversed")
        MEMBER_CLOSED = "member_closed", _("Membership closed")
        ESTIMATE_SET = "estimate_set", _("Expected redemption rate set")
        PERIOD_CLOSED = "period_closed", _("Accounting period closed")
        PERIOD_REOPENED = "period_reopened", _("Accounting period reopened")
        ACTION_APPROVED = "action_approved", _("Earning action approved")
        ACTION_REJECTED = "action_rejected", _("Earning action rejected")

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=24, choices=Action.choices)
    object_type = models.CharField(max_length=100, blank=True, help_text=_("app_label.model of the object."))
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    member = models.ForeignKey(
        "members.Member", null=True, blank=True, on_delete=models.PROTECT, related_name="staff_audit"
    )
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "members_staffauditlog"
        verbose_name = _("staff audit entry")
        verbose_name_plural = _("staff audit log")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["member", "-created_at"], name="staff_audit_member_idx"),
            models.Index(fields=["object_type", "object_id"], name="staff_audit_object_idx"),
            models.Index(fields=["-created_at"], name="staff_audit_recent_idx"),
        ]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.get_action_display()} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("The staff audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("The staff audit log is append-only.")


class AdjustmentRequest(models.Model):
    """A point adjustment over the support limit, waiting for a second person's approval."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved and posted")
        REJECTED = "rejected", _("Rejected")

    member = models.ForeignKey("members.Member", on_delete=models.PROTECT, related_name="adjustment_requests")
    points = models.BigIntegerField(help_text=_("Signed: positive credits, negative debits."))
    reason = models.TextField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    idempotency_key = models.CharField(max_length=200, unique=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.TextField(blank=True)
    entry = models.OneToOneField(
        "members.LedgerEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="adjustment_request"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "members_adjustmentrequest"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(points=0), name="adjustment_request_moves_points"),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="adjustment_request_four_eyes",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(entry__isnull=False),
                name="adjustment_request_approved_has_entry",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "created_at"], name="adjustment_request_status_idx"),
        ]

    def __str__(self):
        return f"{self.points:+d} pts for member {self.member_id} ({self.get_status_display()})"


class ImportJob(models.Model):
    """One CSV import: validated in full first, then written in chunks by a Celery task."""

    class Kind(models.TextChoices):
        MEMBERS = "members", _("Members with opening balances")
        PURCHASES = "purchases", _("Purchases (back-fill)")
        CODES = "codes", _("Partner code pool")

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        VALIDATING = "validating", _("Validating")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    kind = models.CharField(max_length=10, choices=Kind.choices)
    file = models.FileField(upload_to="imports/%Y/%m/")
    file_sha256 = models.CharField(max_length=64, blank=True)
    source_name = models.CharField(
        max_length=50,
        default="till",
        help_text=_("Purchases: the till or system the rows come from (purchase source import:<name>)."),
    )
    dry_run = models.BooleanField(default=True, help_text=_("Check every row and report errors; write nothing."))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_rows = models.PositiveIntegerField(default=0)
    skipped_rows = models.PositiveIntegerField(default=0, help_text=_("Rows already imported (natural keys)."))
    written_rows = models.PositiveIntegerField(
        default=0, help_text=_("Rows of the file written in committed chunks: a resumed job continues after them.")
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text=_("The runner's last sign of life (after each chunk).")
    )
    error_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text=_("[{row, field, message}, …]"))
    message = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "members_importjob"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(processed_rows__lte=F("total_rows")) | Q(total_rows=0),
                name="import_job_progress_in_range",
            ),
        ]

    def __str__(self):
        mode = _("dry run") if self.dry_run else _("import")
        return f"{self.get_kind_display()} {mode} #{self.pk}"

    @property
    def is_running(self) -> bool:
        return self.status in {self.Status.QUEUED, self.Status.VALIDATING, self.Status.RUNNING}

    def is_stuck(self, now=None) -> bool:
        """Queued, validating or importing, and no runner has shown a sign of life for
        ``IMPORT_HEARTBEAT_TIMEOUT`` seconds (its worker was killed, or its message lost)."""
        if not self.is_running:
            return False
        now = now or timezone.now()
        last = self.heartbeat_at or self.started_at or self.created_at
        return last < now - timedelta(seconds=settings.IMPORT_HEARTBEAT_TIMEOUT)

    @property
    def can_resume_after_failure(self) -> bool:
        """A real import that failed for a reason of its own (the database went away), not for rows in error."""
        return self.status == self.Status.FAILED and not self.dry_run and not self.error_count

    @property
    def progress_percent(self) -> int:
        if not self.total_rows:
            return 100 if self.status in {self.Status.DONE, self.Status.FAILED, self.Status.CANCELLED} else 0
        return min(100, self.processed_rows * 100 // self.total_rows)


class DailyPoints(models.Model):
    """Ledger entries of one day and kind: the sums of ``points`` and ``pending_delta``, and how many."""

    day = models.DateField()
    kind = models.CharField(max_length=16)
    points = models.BigIntegerField(default=0)
    pending_delta = models.BigIntegerField(default=0)
    entries = models.BigIntegerField(default=0)

    class Meta:
        db_table = "members_dailypoints"
        verbose_name = _("daily points roll-up")
        verbose_name_plural = _("daily points roll-ups")
        ordering = ["-day", "kind"]
        constraints = [models.UniqueConstraint(fields=["day", "kind"], name="daily_points_day_kind_unique")]

    def __str__(self):
        return f"{self.day} {self.kind}: {self.points:+d} pts, {self.pending_delta:+d} pending ({self.entries})"


class DailyActivity(models.Model):
    """Enrolments (members by ``enrolled_at``), purchases (by ``occurred_at``) and their revenue on one day."""

    day = models.DateField()
    enrolments = models.BigIntegerField(default=0)
    purchases = models.BigIntegerField(default=0)
    revenue = models.DecimalField(**BIG_MONEY, default=0, help_text=_("Sum of the purchases' totals."))

    class Meta:
        db_table = "members_dailyactivity"
        verbose_name = _("daily activity roll-up")
        verbose_name_plural = _("daily activity roll-ups")
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["day"], name="daily_activity_day_unique")]

    def __str__(self):
        return f"{self.day}: {self.enrolments} enrolments, {self.purchases} purchases, {self.revenue}"


class DailyTierMovement(models.Model):
    """Tier history rows of one day by reason and move. Tier ids are plain integers, 0 for "no tier", so the
    unique key has no NULLs (NULLs never conflict, and an upsert on them would insert duplicates)."""

    day = models.DateField()
    reason = models.CharField(max_length=10)
    from_tier_id = models.BigIntegerField(default=0)
    to_tier_id = models.BigIntegerField(default=0)
    members = models.BigIntegerField(default=0)

    class Meta:
        db_table = "members_dailytiermovement"
        verbose_name = _("daily tier movement roll-up")
        verbose_name_plural = _("daily tier movement roll-ups")
        ordering = ["-day", "reason"]
        constraints = [
            models.UniqueConstraint(
                fields=["day", "reason", "from_tier_id", "to_tier_id"], name="daily_tier_movement_unique"
            )
        ]

    def __str__(self):
        return f"{self.day} {self.reason} {self.from_tier_id}→{self.to_tier_id}: {self.members}"


class RollupState(models.Model):
    """How far the roll-ups reach, one row (pk=1).

    Days up to ``rolled_through`` hold exactly the rows whose id is at most the matching ``*_id`` mark. A row with
    a higher id on such a day (a purchase a till sent days late, an entry whose transaction committed after the
    job read the day) is not in the roll-ups yet: the reports add those rows live, and the next run re-rolls their
    day. Roll-ups are only used while ``time_zone`` is the time zone the reports draw their days in.
    """

    rolled_through = models.DateField(null=True, blank=True, help_text=_("Last day rolled up; empty: never run."))
    time_zone = models.CharField(max_length=64, blank=True)
    ledger_entry_id = models.BigIntegerField(default=0)
    purchase_id = models.BigIntegerField(default=0)
    member_id = models.BigIntegerField(default=0)
    tier_history_id = models.BigIntegerField(default=0)
    rolled_at = models.DateTimeField(null=True, blank=True, help_text=_("When the last run finished."))

    class Meta:
        db_table = "members_rollupstate"
        verbose_name = _("analytics roll-up state")
        verbose_name_plural = _("analytics roll-up state")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="rollup_state_singleton")]

    def __str__(self):
        if self.rolled_through is None:
            return str(_("Analytics roll-ups: not run yet"))
        return str(_("Analytics roll-ups through %(day)s") % {"day": self.rolled_through})


class AccountingSettings(models.Model):
    """How the points liability report accounts for points, one row (pk=1). See ``backoffice.ifrs15``."""

    class Method(models.TextChoices):
        RELATIVE_SSP = (
            "relative_ssp",
            _("IFRS 15 / ASC 606: relative stand-alone selling price allocation, revenue as points are redeemed"),
        )

    points_method = models.CharField(
        max_length=20,
        choices=Method.choices,
        default=Method.RELATIVE_SSP,
        help_text=_(
            "A sale's price is split between the goods and the points in the ratio of their stand-alone selling "
            "prices; a point's stand-alone price is its redemption value × the expected redemption rate."
        ),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("accounting settings")
        verbose_name_plural = _("accounting settings")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="accounting_settings_singleton")]

    def __str__(self):
        return str(_("Accounting settings"))

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "AccountingSettings":
        obj, _created = cls.objects.get_or_create(pk=1)
        return obj


class RedemptionRateEstimate(models.Model):
    """Staff's estimate of the share of issued points that will be redeemed, in force from ``effective_from``.

    Never edited or deleted: a new estimate supersedes the one before it, so the history of estimates and their
    reasons stays. On one day the latest recorded estimate wins.
    """

    rate = models.DecimalField(
        max_digits=5,
        decimal_places=4,
        help_text=_("Expected redemption rate, 0–1 (0.9500 = 95 % of issued points are expected to be redeemed)."),
    )
    effective_from = models.DateField(help_text=_("First day (program time zone) the estimate applies to."))
    reason = models.TextField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-effective_from", "-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(rate__gte=0) & Q(rate__lte=1), name="redemption_estimate_rate_0_1"),
            models.CheckConstraint(condition=~Q(reason=""), name="redemption_estimate_has_reason"),
        ]
        indexes = [models.Index(fields=["effective_from", "created_at"], name="redemption_estimate_from_idx")]

    def __str__(self):
        return f"{self.rate} from {self.effective_from}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("Redemption rate estimates are never changed: record a new one.")
        super().save(*args, **kwargs)


class AccountingPeriod(models.Model):
    """A closed (or reopened) reporting period of the points liability report and the figures it was closed with.

    Periods are closed in order, each starting the day after the previous one ends, and only the latest closed
    one can be reopened, so the closing figures of one period are always the opening figures of the next. While
    closed, ``figures`` (the pool at the period's start and end, see ``backoffice.accounting``) are what the report
    shows; the ``*_id`` marks are the highest row ids the figures include, so rows that arrive later but are dated
    inside the period are counted in the next open period instead of changing this one.
    """

    class Status(models.TextChoices):
        CLOSED = "closed", _("Closed")
        REOPENED = "reopened", _("Reopened")

    start = models.DateField()
    end = models.DateField(help_text=_("Inclusive, in the program time zone."))
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CLOSED)
    figures = models.JSONField(default=dict)
    ledger_entry_id = models.BigIntegerField(default=0)
    purchase_id = models.BigIntegerField(default=0)
    refund_id = models.BigIntegerField(default=0)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField(default=timezone.now)
    reopened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reopened_at = models.DateTimeField(null=True, blank=True)
    reopen_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-end", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(end__gte=F("start")), name="accounting_period_end_after_start"),
            models.UniqueConstraint(
                fields=["start"], condition=Q(status="closed"), name="accounting_period_one_closed_per_start"
            ),
            models.CheckConstraint(
                condition=Q(status="closed") | ~Q(reopen_reason=""), name="accounting_period_reopen_has_reason"
            ),
        ]

    def __str__(self):
        return f"{self.start} – {self.end} ({self.get_status_display()})"


class SettlementStatement(models.Model):
    """A partner's settlement for one calendar month (program time zone), frozen when staff close it.

    Its items (``SettlementItem``) are the points that moved at the partner and were settled in it, each with the
    price in force when it moved; an item is settled exactly once (unique per kind and source row), so anything
    recorded for a closed month after it closed lands in the next open statement as a correction. Totals are
    stored with the statement so that it reads the same forever, whatever is recorded later.
    """

    partner = models.ForeignKey("members.Partner", on_delete=models.PROTECT, related_name="settlement_statements")
    month = models.DateField(help_text=_("The first day of the month settled."))
    currency = models.CharField(max_length=3)
    points_issued = models.BigIntegerField(default=0)
    points_clawed_back = models.BigIntegerField(default=0)
    points_redeemed_vouchers = models.BigIntegerField(default=0)
    points_redeemed_payments = models.BigIntegerField(default=0)
    amount_issued = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    amount_clawed_back = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    amount_redeemed = models.DecimalField(max_digits=16, decimal_places=2, default=0)
    net_amount = models.DecimalField(
        max_digits=16, decimal_places=2, default=0, help_text=_("Positive: the partner pays the operator.")
    )
    closed_at = models.DateTimeField(default=timezone.now)
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["partner", "-month"]
        permissions = [("close_settlement", "Can close a partner's settlement month")]
        constraints = [
            models.UniqueConstraint(fields=["partner", "month"], name="settlement_one_per_partner_month"),
            models.CheckConstraint(condition=Q(month__day=1), name="settlement_month_first_day"),
        ]

    def __str__(self):
        return f"{self.partner_id} {self.month:%Y-%m}"


class SettlementItem(models.Model):
    """One movement of points at a partner, frozen in the statement that settled it."""

    class Kind(models.TextChoices):
        ISSUED = "issued", _("Points issued")
        CLAWED_BACK = "clawed_back", _("Refund clawback")
        VOUCHER = "voucher", _("Voucher redeemed")
        POINT_PAYMENT = "point_payment", _("Points paid at the till")

    statement = models.ForeignKey(SettlementStatement, on_delete=models.PROTECT, related_name="items")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    #: The ledger entry (issued, clawbacks, point payments) or voucher it comes from.
    ref_id = models.BigIntegerField()
    moved_at = models.DateTimeField()
    points = models.BigIntegerField()
    rate = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    amount = models.DecimalField(max_digits=20, decimal_places=6)
    late = models.BooleanField(default=False, help_text=_("Moved in an earlier, already closed month."))

    class Meta:
        ordering = ["statement", "moved_at", "id"]
        constraints = [models.UniqueConstraint(fields=["kind", "ref_id"], name="settlement_item_settled_once")]

    def __str__(self):
        return f"{self.kind} {self.ref_id}: {self.points}"
