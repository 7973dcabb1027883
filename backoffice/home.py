"""The staff console's front page (the admin index): today's key figures, read through the reports' own
selectors so they match the analytics and accounting pages. A fixed number of queries, whatever the data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.utils import timezone

from backoffice import accounting
from backoffice.analytics import _points_totals, points_days
from backoffice.models import AdjustmentRequest
from backoffice.periods import Period
from backoffice.rollups import rollup_watermark
from integrations.models import WebhookDelivery
from members.models import Member
from referrals.models import Referral


@dataclass(frozen=True)
class KeyFigures:
    today: date
    month: Period
    members: int
    points_issued: int
    points_redeemed: int
    liability_points: int
    liability_value: Decimal
    currency: str
    held_referrals: int
    pending_approvals: int
    failed_deliveries: int


def key_figures(*, today: date | None = None) -> KeyFigures:
    """Active members now, points issued and redeemed (net, the reports' definition) this month, the points
    liability at the end of today, and the queues that wait for staff."""
    today = today or timezone.localdate()
    month = Period(start=today.replace(day=1), end=today)
    totals = _points_totals(points_days(month, rollup_watermark()))
    liability = accounting.liability_as_of(today)
    return KeyFigures(
        today=today,
        month=month,
        members=Member.objects.filter(status=Member.Status.ACTIVE).count(),
        points_issued=totals["issued"],
        points_redeemed=totals["redeemed"],
        liability_points=liability.outstanding,
        liability_value=liability.value,
        currency=liability.currency,
        held_referrals=Referral.objects.filter(state=Referral.State.HELD).count(),
        pending_approvals=AdjustmentRequest.objects.filter(status=AdjustmentRequest.Status.PENDING).count(),
        failed_deliveries=WebhookDelivery.objects.filter(status=WebhookDelivery.Status.FAILED).count(),
    )
