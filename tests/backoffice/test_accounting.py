"""Liability, breakage and period movements, checked by hand and against the ledger on random data."""

import random
from datetime import UTC, date, timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from backoffice.accounting import MOVEMENT_BUCKETS, OTHER_KINDS, liability_as_of, movements_for
from backoffice.periods import Period, day_start
from members.exceptions import InsufficientPoints
from members.models import LedgerEntry, PointsAccount, ProgramSettings
from tests.backoffice.conftest import aware, post
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
Kind = LedgerEntry.Kind


def test_liability_with_history_uses_expired_over_expired_plus_redeemed(member):
    post(member, Kind.IMPORT, points=1100, when=aware(2025, 3, 1, 12))
    post(member, Kind.REDEEM, points=-30, when=aware(2025, 3, 2, 12))
    post(member, Kind.EXPIRE, points=-10, when=aware(2025, 3, 3, 12))
    post(member, Kind.EARN, pending=40, when=aware(2025, 3, 4, 12))
    post(member, Kind.ADJUST, points=500, when=aware(2025, 3, 10, 12))  # after the report date
    liability = liability_as_of(date(2025, 3, 4))
    assert (liability.spendable, liability.pending, liability.outstanding) == (1060, 40, 1100)
    assert liability.value == Decimal("11.00")  # 1100 × 0.01
    assert liability.breakage == Decimal("0.2500")  # 10 ÷ (10 + 30)
    assert liability.expected_breakage_value == Decimal("2.75")
    assert liability.deferred_revenue == Decimal("8.25")
    assert "10 ÷ (10 + 30)" in liability.breakage_method
    assert liability_as_of(date(2025, 3, 3)).outstanding == 1060  # the pending earn is on the 4th


def test_liability_without_history_states_zero_breakage(member):
    ProgramSettings.objects.filter(pk=1).update(point_value=Decimal("0.0250"))
    post(member, Kind.IMPORT, points=400, when=aware(2025, 3, 1, 12))
    liability = liability_as_of(date(2025, 3, 31))
    assert liability.breakage == 0 and "no history" in liability.breakage_method
    assert liability.value == liability.deferred_revenue == Decimal("10.00")


def test_old_expiries_fall_out_of_the_breakage_window(member):
    post(member, Kind.IMPORT, points=100, when=aware(2020, 1, 1, 12))
    post(member, Kind.EXPIRE, points=-50, when=aware(2020, 6, 1, 12))
    assert liability_as_of(date(2025, 1, 1)).breakage == 0


def _python_sum(entries, kinds=None, start=None, end=None):
    return sum(
        e.points + e.pending_delta
        for e in entries
        if (kinds is None or e.kind in kinds) and (start is None or e.created_at >= start) and e.created_at < end
    )


def test_period_movements_reconcile_with_the_ledger_on_random_data(db):
    rng = random.Random(20260101)
    members = [MemberFactory() for _ in range(4)]
    moment = aware(2024, 1, 1, 0)
    credit_kinds = [Kind.EARN, Kind.BONUS, Kind.REFERRAL, Kind.IMPORT, Kind.ADJUST, Kind.TRANSFER_IN]
    debit_kinds = [Kind.REDEEM, Kind.EXPIRE, Kind.ADJUST, Kind.DONATION, Kind.TRANSFER_OUT, Kind.FORFEIT]
    for number in range(250):
        moment += timedelta(hours=rng.randint(1, 20))
        member = rng.choice(members)
        roll = rng.random()
        key = f"rnd:{number}"
        try:
            if roll < 0.45:
                post(member, rng.choice(credit_kinds), points=rng.randint(1, 300), when=moment, key=key)
            elif roll < 0.6:
                post(member, Kind.EARN, pending=rng.randint(1, 200), when=moment, key=key)
            elif roll < 0.7:
                post(member, Kind.CLAWBACK, pending=-rng.randint(1, 80), when=moment, key=key)
            else:
                post(member, rng.choice(debit_kinds), points=-rng.randint(1, 250), when=moment, key=key)
        except InsufficientPoints:
            continue
    entries = list(LedgerEntry.objects.all())
    assert len(entries) > 150
    first_day, last_day = date(2024, 1, 1), moment.date()
    for _ in range(25):
        start = first_day + timedelta(days=rng.randint(-5, (last_day - first_day).days))
        end = start + timedelta(days=rng.randint(0, 60))
        period = Period(start=start, end=end)
        movements = movements_for(period)
        assert movements.reconciles
        assert movements.opening == _python_sum(entries, end=period.start_at)
        assert movements.closing == _python_sum(entries, end=period.end_at)
        for key, _label, kinds in MOVEMENT_BUCKETS:
            assert movements.get(key) == _python_sum(entries, kinds, period.start_at, period.end_at), key
        assert movements.get("other") == _python_sum(entries, OTHER_KINDS, period.start_at, period.end_at)
        assert liability_as_of(end).outstanding == movements.closing
    everything = movements_for(Period(start=first_day, end=last_day + timedelta(days=1)))
    totals = PointsAccount.objects.aggregate(balance=Sum("balance"), pending=Sum("pending"))
    assert everything.opening == 0
    assert everything.closing == totals["balance"] + totals["pending"]


def test_liability_page_and_csv(client, auditor, member):
    post(member, Kind.IMPORT, points=1000, when=aware(2025, 3, 1, 12))
    post(member, Kind.REDEEM, points=-250, when=aware(2025, 3, 15, 12))
    client.force_login(auditor)
    query = {"as_of": "2025-03-31", "start": "2025-03-01", "end": "2025-03-31"}
    response = client.get(reverse("staff:liability"), query)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="outstanding">750' in body and 'id="opening">0' in body and 'id="closing">750' in body
    assert 'id="movement-redeemed">-250' in body and "Breakage =" in body
    csv_text = b"".join(client.get(reverse("staff:liability_csv"), query).streaming_content).decode()
    lines = csv_text.splitlines()
    assert lines[0] == "section,item,value"
    assert "liability,outstanding_points,750" in lines
    assert "liability,breakage_rate,0.0000" in lines  # redemptions only: nothing expired
    assert "liability,deferred_revenue_EUR,7.50" in lines
    assert "movements,issued,1000" in lines and "movements,closing_balance,750" in lines


def test_liability_page_rejects_bad_dates(client, auditor):
    client.force_login(auditor)
    response = client.get(
        reverse("staff:liability"), {"as_of": "31/03/2025", "start": "2025-03-01", "end": "2025-03-31"}
    )
    assert response.status_code == 400 and "errorlist" in response.content.decode()


def test_period_boundaries_are_local_midnights():
    period = Period(start=date(2025, 3, 30), end=date(2025, 3, 30))  # the clocks go forward in Amsterdam
    assert period.end_at.astimezone(UTC) - period.start_at.astimezone(UTC) == timedelta(hours=23)
    assert period.start_at == day_start(date(2025, 3, 30))


def test_liability_report_defers_subscription_fees_over_their_period(client, auditor, db):
    from datetime import timedelta

    from django.utils import timezone

    from backoffice.periods import day_start
    from members.subscriptions.models import MembershipPlan
    from members.subscriptions.services import subscription_start
    from tests.factories import MemberFactory

    plan = MembershipPlan.objects.create(name="Yearly", slug="yearly", price=Decimal("120.00"), period="year")
    today = timezone.localdate()
    subscription_start(member=MemberFactory(), plan=plan, external_id="y", source="k", started_at=day_start(today))
    client.force_login(auditor)
    response = client.get(reverse("staff:liability"), {"as_of": today.isoformat()})
    body = response.content.decode()
    period_days = (day_start(today).replace(year=today.year + 1) - day_start(today)).days
    expected = (Decimal("120.00") * (period_days - 1) / period_days).quantize(Decimal("0.01"))
    assert f'id="subscription-fees-deferred">{expected} EUR' in body
    next_year = (today + timedelta(days=400)).isoformat()
    later = client.get(reverse("staff:liability"), {"as_of": next_year}).content.decode()
    assert "No subscription fees deferred." in later


def test_points_paid_at_a_till_count_as_redeemed_net_of_a_voided_payment(member):
    from members.services.point_payments import point_payment_cancel, point_payment_make

    today = timezone.localdate()
    post(member, LedgerEntry.Kind.EARN, points=500, key="earned")
    point_payment_make(member=member, points=120, external_id="pay-1", source="test")
    voided = point_payment_make(member=member, points=50, external_id="pay-2", source="test")
    point_payment_cancel(payment=voided)
    movements = movements_for(Period(start=today - timedelta(days=1), end=today + timedelta(days=1)))
    assert movements.get("redeemed") == -120  # 120 + 50 paid, 50 given back by the void
    assert movements.get("other") == 0 and movements.reconciles
