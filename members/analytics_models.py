"""Daily roll-ups behind the staff analytics and points-accounting reports, and how far they reach.

The nightly job ``members.staff.rollups.analytics_rollup`` fills them with set-based upserts; the reports sum the
rolled-up days and add a live query for whatever the roll-ups do not hold yet (see ``RollupState``). A day is a
local calendar day in ``RollupState.time_zone`` (the project's ``TIME_ZONE``), the same days ``periods.day_start``
draws. They live in the ``members`` app like the staff models and are imported at the end of ``members/models.py``.
"""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

__all__ = ["DailyActivity", "DailyPoints", "DailyTierMovement", "RollupState"]

BIG_MONEY = {"max_digits": 16, "decimal_places": 2}


class DailyPoints(models.Model):
    """Ledger entries of one day and kind: the sums of ``points`` and ``pending_delta``, and how many."""

    day = models.DateField()
    kind = models.CharField(max_length=16)
    points = models.BigIntegerField(default=0)
    pending_delta = models.BigIntegerField(default=0)
    entries = models.BigIntegerField(default=0)

    class Meta:
        app_label = "members"
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
        app_label = "members"
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
        app_label = "members"
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
        app_label = "members"
        verbose_name = _("analytics roll-up state")
        verbose_name_plural = _("analytics roll-up state")
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="rollup_state_singleton")]

    def __str__(self):
        if self.rolled_through is None:
            return str(_("Analytics roll-ups: not run yet"))
        return str(_("Analytics roll-ups through %(day)s") % {"day": self.rolled_through})
