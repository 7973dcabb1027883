"""Writes of the points accounting: expected redemption rate estimates, closing and reopening periods.

Each checks the actor's permission itself (the views check it too), runs in one transaction with its audit row,
and serialises with the others on the accounting settings row, so two people closing at once cannot both win.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from backoffice import accounting
from backoffice.models import AccountingPeriod, AccountingSettings, RedemptionRateEstimate, StaffAuditLog
from backoffice.periods import Period
from backoffice.services.staff import PermissionMissing, _require, audit_record
from members import audit
from members.exceptions import LoyaltyError

Action = StaffAuditLog.Action

__all__ = [
    "EstimateInvalid",
    "PeriodNotClosable",
    "PeriodNotReopenable",
    "PermissionMissing",
    "accounting_period_close",
    "accounting_period_reopen",
    "accounting_settings_save",
    "redemption_estimate_set",
]


class EstimateInvalid(LoyaltyError):
    code = "estimate_invalid"
    default_message = gettext_lazy("This estimate cannot be recorded.")


class PeriodNotClosable(LoyaltyError):
    code = "period_not_closable"
    default_message = gettext_lazy("This period cannot be closed.")


class PeriodNotReopenable(LoyaltyError):
    code = "period_not_reopenable"
    default_message = gettext_lazy("This period cannot be reopened.")


def _serialise() -> None:
    AccountingSettings.load()
    AccountingSettings.objects.select_for_update().get(pk=1)


def _last_closed() -> AccountingPeriod | None:
    return AccountingPeriod.objects.filter(status=AccountingPeriod.Status.CLOSED).order_by("-end").first()


@transaction.atomic
def redemption_estimate_set(*, rate: Decimal, effective_from: date, reason: str, actor) -> RedemptionRateEstimate:
    """Record a new expected redemption rate in force from ``effective_from``. Needs
    ``backoffice.set_redemption_estimate``; the rate is 0–1 and the reason is required. An estimate cannot take
    effect inside a closed period (its figures would no longer be what they were closed with): reopen it first."""
    _require(actor, "backoffice.set_redemption_estimate")
    reason = (reason or "").strip()
    if not reason:
        raise EstimateInvalid(gettext_lazy("Say why the estimate changes."), field="reason")
    if rate is None or not Decimal("0") <= rate <= Decimal("1"):
        raise EstimateInvalid(gettext_lazy("The rate must be between 0 and 1 (e.g. 0.95 for 95 %)."), field="rate")
    _serialise()
    last = _last_closed()
    if last is not None and effective_from <= last.end:
        raise EstimateInvalid(
            gettext_lazy("%(day)s is in the closed period %(period)s: choose a later date or reopen the period."),
            field="effective_from",
            day=effective_from,
            period=str(last),
        )
    estimate = RedemptionRateEstimate.objects.create(
        rate=rate, effective_from=effective_from, reason=reason, created_by=actor
    )
    audit_record(
        actor=actor,
        action=Action.ESTIMATE_SET,
        obj=estimate,
        after={"rate": str(estimate.rate), "effective_from": effective_from.isoformat()},
        reason=reason,
    )
    return estimate


@transaction.atomic
def accounting_period_close(*, start: date, end: date, actor, today: date | None = None) -> AccountingPeriod:
    """Close ``start``..``end`` (program time zone days) with its figures as they stand. Needs
    ``backoffice.close_accounting_period``. The period must be over, and start the day after the last closed period
    ends (the first can start anywhere). Figures count the rows stored when the close began (its marks)."""
    _require(actor, "backoffice.close_accounting_period")
    today = today or timezone.localdate()
    if end < start:
        raise PeriodNotClosable(gettext_lazy("The end date must not be before the start date."), field="end")
    if end >= today:
        raise PeriodNotClosable(gettext_lazy("Only a period that is over can be closed."), field="end")
    _serialise()
    last = _last_closed()
    if last is not None and start != last.end + timedelta(days=1):
        raise PeriodNotClosable(
            gettext_lazy("The next period to close starts on %(day)s, the day after the last closed one ends."),
            field="start",
            day=last.end + timedelta(days=1),
        )
    marks = accounting.current_marks()
    estimates = accounting.redemption_estimates()
    periods = [last] if last else []
    opening = accounting.pool_at(start - timedelta(days=1), estimates=estimates, periods=periods)
    closing = accounting.pool_at(end, upto=marks, estimates=estimates, periods=periods)
    period = AccountingPeriod.objects.create(
        start=start,
        end=end,
        figures={"opening": opening.as_json(), "closing": closing.as_json()},
        ledger_entry_id=marks.ledger_entry_id,
        purchase_id=marks.purchase_id,
        refund_id=marks.refund_id,
        closed_by=actor,
    )
    report = accounting.points_revenue_for(Period(start=start, end=end))
    audit_record(
        actor=actor,
        action=Action.PERIOD_CLOSED,
        obj=period,
        after={
            "start": start.isoformat(),
            "end": end.isoformat(),
            "allocated": str(report.allocated),
            "recognised": str(report.recognised),
            "closing_liability": str(report.closing.liability),
        },
    )
    return period


@transaction.atomic
def accounting_period_reopen(*, period: AccountingPeriod, reason: str, actor) -> AccountingPeriod:
    """Reopen the latest closed period, so its figures follow the ledger again until it is closed anew. Needs
    ``backoffice.reopen_accounting_period`` and a reason. The row stays (status reopened) with the figures it had,
    so what was reported is never lost; a later close makes a new row."""
    _require(actor, "backoffice.reopen_accounting_period")
    reason = (reason or "").strip()
    if not reason:
        raise PeriodNotReopenable(gettext_lazy("Say why the period is reopened."), field="reason")
    _serialise()
    period = AccountingPeriod.objects.select_for_update().get(pk=period.pk)
    last = _last_closed()
    if period.status != AccountingPeriod.Status.CLOSED or last is None or last.pk != period.pk:
        raise PeriodNotReopenable(
            gettext_lazy("Only the latest closed period can be reopened; reopen the later ones first.")
        )
    period.status = AccountingPeriod.Status.REOPENED
    period.reopened_by = actor
    period.reopened_at = timezone.now()
    period.reopen_reason = reason
    period.save(update_fields=["status", "reopened_by", "reopened_at", "reopen_reason"])
    audit_record(
        actor=actor,
        action=Action.PERIOD_REOPENED,
        obj=period,
        before={"status": AccountingPeriod.Status.CLOSED, "figures": period.figures},
        after={"status": AccountingPeriod.Status.REOPENED},
        reason=reason,
    )
    return period


def accounting_settings_save(*, accounting_settings: AccountingSettings, actor) -> AccountingSettings:
    """Save the accounting method as edited by staff, with an audit row in the same transaction."""
    return audit.rule_save(accounting_settings, actor=actor)
