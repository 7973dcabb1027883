"""Demo points accounting for `make run`: an expected redemption rate with its reason, and last month closed.
Idempotent: nothing is added once an estimate (or a closed period) exists. Run by ``seed_demo`` after the other
apps' demo data, so the month it closes holds their purchases and redemptions."""

from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from members.demo import DEMO_STAFF_EMAIL
from members.models import User

from .models import AccountingPeriod, RedemptionRateEstimate
from .services.accounting import accounting_period_close, redemption_estimate_set


def seed(*, stdout=None) -> None:
    staff = User.objects.get(email=DEMO_STAFF_EMAIL)
    today = timezone.localdate()
    first_of_month = today.replace(day=1)
    last_month_end = first_of_month - timedelta(days=1)
    last_month_start = last_month_end.replace(day=1)
    if not RedemptionRateEstimate.objects.exists():
        redemption_estimate_set(
            rate=Decimal("0.8500"),
            effective_from=date(2000, 1, 1),
            reason="Opening estimate: comparable programmes see about 85 % of points redeemed before they expire.",
            actor=staff,
        )
    if not AccountingPeriod.objects.exists():
        accounting_period_close(start=last_month_start, end=last_month_end, actor=staff, today=today)
    if stdout:
        stdout.write("  Points accounting: an 85 % expected redemption rate; last month closed.")
