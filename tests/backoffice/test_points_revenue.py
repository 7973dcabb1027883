"""IFRS 15 figures for points through the services, the ledger and the staff liability page.

The standard's Illustrative Example 22 (IE267–IE270), run as real purchases and redemptions: CU100,000 of sales
earn 10,000 points worth CU1 each, 9,500 expected to be redeemed (rate 0.95); 4,500 redeemed in year 1; in year 2
the estimate becomes 9,700 (0.97) and 8,500 have been redeemed in total. The standard's figures, to the unit:
allocation 91,324 goods / 8,676 points; year 1 revenue 4,110 and contract liability 4,566; year 2 revenue 3,493
and contract liability 1,073.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backoffice.accounting import points_revenue_for, pool_at
from backoffice.ifrs15 import UNIT
from backoffice.models import AccountingPeriod, RedemptionRateEstimate, StaffAuditLog
from backoffice.periods import Period
from backoffice.services.accounting import (
    EstimateInvalid,
    PeriodNotClosable,
    PeriodNotReopenable,
    PermissionMissing,
    accounting_period_close,
    accounting_period_reopen,
    redemption_estimate_set,
)
from members.models import LedgerEntry, ProgramSettings, Tier
from members.services.purchases import PurchaseLineInput, purchase_record, purchase_refund
from tests.backoffice.conftest import aware, buy, post

pytestmark = pytest.mark.django_db
Kind = LedgerEntry.Kind
D = Decimal
QUERY_BOUND = 25  # 21 on SQLite: session, user, permissions, the face-value figures and the IFRS pool
YEAR1 = Period(start=date(2024, 1, 1), end=date(2024, 12, 31))
YEAR2 = Period(start=date(2025, 1, 1), end=date(2025, 12, 31))


@pytest.fixture
def ie22_program(db):
    # One point per CU10 spent whatever the tier, a point worth CU1 at redemption, points spendable at once.
    ProgramSettings.objects.update_or_create(
        pk=1, defaults={"point_value": D("1"), "base_rate": D("0.1"), "pending_days": 0, "currency": "EUR"}
    )
    Tier.objects.update(earn_multiplier=D("1"))
    cache.clear()


def _year1(member, manager):
    redemption_estimate_set(
        rate=D("0.95"), effective_from=date(2024, 1, 1), reason="IE22: 9,500 of 10,000 expected", actor=manager
    )
    for number in range(10):
        buy(member, f"ie22-{number}", aware(2024, 3, 1 + number, 12), "10000.00")
    post(member, Kind.REDEEM, points=-4500, when=aware(2024, 9, 1, 12))


def _units(*amounts):
    return [amount.quantize(UNIT) for amount in amounts]


def test_illustrative_example_22_through_the_ledger(ie22_program, member, manager):
    _year1(member, manager)
    year1 = points_revenue_for(YEAR1)
    assert year1.sales == D("100000.00") and year1.points_issued == 10_000 and year1.points_redeemed == 4_500
    assert _units(year1.allocated_to_goods, year1.allocated) == [D("91324"), D("8676")]
    assert (year1.allocated, year1.recognised, year1.closing.liability) == (D("8675.80"), D("4109.59"), D("4566.21"))
    assert _units(year1.recognised, year1.closing.liability) == [D("4110"), D("4566")]
    assert year1.reconciles and year1.opening.liability == 0

    accounting_period_close(start=YEAR1.start, end=YEAR1.end, actor=manager)
    redemption_estimate_set(
        rate=D("0.97"), effective_from=date(2025, 12, 31), reason="IE22: now 9,700 expected", actor=manager
    )
    post(member, Kind.REDEEM, points=-4000, when=aware(2025, 6, 1, 12))
    year2 = points_revenue_for(YEAR2)
    assert year2.opening.liability == D("4566.21") and year2.allocated == 0
    assert year2.points_redeemed == 4_000 and year2.closing.expected == D("9700")
    assert (year2.recognised, year2.closing.liability) == (D("3492.92"), D("1073.29"))
    assert _units(year2.recognised, year2.closing.liability) == [D("3493"), D("1073")]
    assert year2.reconciles and year2.closing_points_unredeemed == 1_500


def test_a_closed_period_keeps_its_figures_and_late_rows_count_in_the_next(ie22_program, member, manager):
    _year1(member, manager)
    accounting_period_close(start=YEAR1.start, end=YEAR1.end, actor=manager, today=date(2025, 1, 5))
    closed = points_revenue_for(YEAR1)
    # A till sends a 2024 purchase late, and someone back-dates a redemption into 2024.
    buy(member, "late", aware(2024, 12, 30, 12), "1000.00")
    post(member, Kind.REDEEM, points=-100, when=aware(2024, 12, 30, 13))
    again = points_revenue_for(YEAR1)
    assert again.closed is not None and (again.allocated, again.recognised, again.closing.liability) == (
        closed.allocated,
        closed.recognised,
        closed.closing.liability,
    )
    year2 = points_revenue_for(YEAR2)
    assert year2.opening.liability == closed.closing.liability
    assert year2.sales == D("1000.00") and year2.points_issued == 100 and year2.points_redeemed == 100
    assert year2.reconciles

    # Reopened, the year follows the ledger again, late rows included; the old figures stay on the row.
    period = AccountingPeriod.objects.get()
    accounting_period_reopen(period=period, reason="Late till upload from store 12", actor=manager)
    reopened = points_revenue_for(YEAR1)
    assert reopened.closed is None and reopened.sales == D("101000.00") and reopened.points_redeemed == 4_600
    period.refresh_from_db()
    assert period.status == AccountingPeriod.Status.REOPENED and period.figures["closing"]["redeemed"] == 4_500
    audit = StaffAuditLog.objects.filter(action=StaffAuditLog.Action.PERIOD_REOPENED).get()
    assert audit.actor == manager and audit.reason == "Late till upload from store 12"
    assert audit.before["figures"]["closing"]["redeemed"] == 4_500
    accounting_period_close(start=YEAR1.start, end=YEAR1.end, actor=manager, today=date(2025, 1, 6))
    assert AccountingPeriod.objects.count() == 2
    assert points_revenue_for(YEAR1).sales == D("101000.00")


def test_period_boundaries_are_program_time_zone_midnights(ie22_program, member, manager):
    # 00:30 on 1 January in Amsterdam is still 31 December in UTC: it belongs to year 2.
    buy(member, "new-year", aware(2025, 1, 1, 0, 30), "100.00")
    buy(member, "old-year", aware(2024, 12, 31, 23, 30), "50.00")
    assert points_revenue_for(YEAR1).sales == D("50.00")
    assert points_revenue_for(YEAR2).sales == D("100.00")


def test_closing_rules(ie22_program, member, manager, auditor, support):
    with pytest.raises(PeriodNotClosable):
        accounting_period_close(start=date(2026, 1, 1), end=date(2026, 12, 31), actor=manager, today=date(2026, 6, 1))
    accounting_period_close(start=YEAR1.start, end=YEAR1.end, actor=manager, today=date(2025, 2, 1))
    with pytest.raises(PeriodNotClosable) as gap:
        accounting_period_close(start=date(2025, 2, 1), end=date(2025, 2, 28), actor=manager, today=date(2025, 3, 1))
    assert gap.value.field == "start"
    for nobody in (auditor, support):
        with pytest.raises(PermissionMissing):
            accounting_period_close(start=YEAR2.start, end=YEAR2.end, actor=nobody, today=date(2026, 1, 2))
        with pytest.raises(PermissionMissing):
            accounting_period_reopen(period=AccountingPeriod.objects.get(), reason="x", actor=nobody)
    assert AccountingPeriod.objects.get().status == AccountingPeriod.Status.CLOSED
    accounting_period_close(start=YEAR2.start, end=YEAR2.end, actor=manager, today=date(2026, 1, 2))
    with pytest.raises(PeriodNotReopenable):  # not the latest closed one
        accounting_period_reopen(period=AccountingPeriod.objects.get(start=YEAR1.start), reason="x", actor=manager)
    with pytest.raises(PeriodNotReopenable):  # no reason
        accounting_period_reopen(period=AccountingPeriod.objects.get(start=YEAR2.start), reason=" ", actor=manager)


def test_estimates_keep_their_history_and_are_audited(ie22_program, manager, marketer):
    first = redemption_estimate_set(rate=D("0.9"), effective_from=date(2024, 1, 1), reason="Launch", actor=manager)
    redemption_estimate_set(rate=D("0.8"), effective_from=date(2024, 7, 1), reason="Fewer redeem", actor=manager)
    assert RedemptionRateEstimate.objects.count() == 2
    assert pool_at(date(2024, 6, 30)).redemption_rate == D("0.9")
    assert pool_at(date(2024, 7, 1)).redemption_rate == D("0.8")
    with pytest.raises(ValueError):
        first.save()
    with pytest.raises(PermissionMissing):
        redemption_estimate_set(rate=D("0.5"), effective_from=date(2024, 8, 1), reason="x", actor=marketer)
    with pytest.raises(EstimateInvalid):
        redemption_estimate_set(rate=D("1.5"), effective_from=date(2024, 8, 1), reason="x", actor=manager)
    with pytest.raises(EstimateInvalid):
        redemption_estimate_set(rate=D("0.5"), effective_from=date(2024, 8, 1), reason="", actor=manager)
    accounting_period_close(start=YEAR1.start, end=YEAR1.end, actor=manager, today=date(2025, 1, 2))
    with pytest.raises(EstimateInvalid) as inside_closed:
        redemption_estimate_set(rate=D("0.5"), effective_from=date(2024, 12, 1), reason="Too late", actor=manager)
    assert inside_closed.value.field == "effective_from"
    audit = StaffAuditLog.objects.filter(action=StaffAuditLog.Action.ESTIMATE_SET).order_by("id")
    assert [row.reason for row in audit] == ["Launch", "Fewer redeem"]


def test_an_estimate_change_is_caught_up_in_the_period_it_takes_effect(ie22_program, member, manager):
    _year1(member, manager)
    # Lowering the estimate in year 2 without new redemptions: revenue catches up on the same 4,500 points.
    redemption_estimate_set(rate=D("0.50"), effective_from=date(2025, 3, 1), reason="Expiry wave", actor=manager)
    year2 = points_revenue_for(YEAR2)
    assert year2.points_redeemed == 0 and year2.allocated == 0
    assert year2.recognised == D("7808.22") - D("4109.59")  # 4,500 ÷ 5,000 × 8,675.80 − year 1
    assert year2.reconciles


def test_points_without_a_sale_are_added_at_their_standalone_price(ie22_program, member, manager):
    redemption_estimate_set(rate=D("0.80"), effective_from=date(2024, 1, 1), reason="Start", actor=manager)
    post(member, Kind.REFERRAL, points=500, when=aware(2024, 5, 1, 12))
    post(member, Kind.ADJUST, points=-100, when=aware(2024, 5, 2, 12))
    report = points_revenue_for(YEAR1)
    assert report.sales == 0 and report.allocated_from_sales == 0
    assert report.free_points_issued == 400 and report.allocated_free == D("320.00")  # 400 × 1 × 0.80


def test_liability_page_and_csv_show_the_ifrs_figures(ie22_program, client, member, manager, auditor):
    _year1(member, manager)
    client.force_login(auditor)
    query = {"as_of": "2024-12-31", "start": "2024-01-01", "end": "2024-12-31"}
    response = client.get(reverse("staff:liability"), query)
    body = response.content.decode()
    assert response.status_code == 200
    assert 'id="ifrs-allocated">8675.80' in body and 'id="ifrs-recognised">4109.59' in body
    assert 'id="ifrs-closing">4566.21' in body and 'id="ifrs-points-redeemed">4,500' in body
    assert "in the ratio of their stand-alone selling prices" in body
    assert "Method: IFRS 15 / ASC 606" in body and "Open period" in body
    assert 'id="outstanding">5,500' in body  # the existing face-value figures are still there
    assert "Close period" not in body and "Record estimate" not in body  # an auditor reads, changes nothing
    csv_text = b"".join(client.get(reverse("staff:liability_csv"), query).streaming_content).decode()
    lines = csv_text.splitlines()
    assert "liability,outstanding_points,5500" in lines  # the old rows are unchanged
    assert "ifrs15_points,allocated_to_points_EUR,8675.80" in lines
    assert "ifrs15_points,allocated_to_goods_EUR,91324.20" in lines
    assert "ifrs15_points,revenue_recognised_EUR,4109.59" in lines
    assert "ifrs15_points,closing_contract_liability_EUR,4566.21" in lines
    assert "ifrs15_points,points_redeemed,4500" in lines and "ifrs15_points,reconciles,yes" in lines
    assert any(line.startswith("ifrs15_points,method,") and "stand-alone" in line for line in lines)


def test_staff_close_and_reopen_from_the_page(ie22_program, client, member, manager, auditor, marketer):
    _year1(member, manager)
    for nobody in (auditor, marketer):
        client.force_login(nobody)
        assert (
            client.post(
                reverse("staff:liability_period_close"), {"start": "2024-01-01", "end": "2024-12-31"}
            ).status_code
            == 403
        )
        assert (
            client.post(
                reverse("staff:liability_estimate"), {"rate": "0.5", "effective_from": "2025-01-01", "reason": "x"}
            ).status_code
            == 403
        )
    assert not AccountingPeriod.objects.exists()
    client.force_login(manager)
    response = client.post(reverse("staff:liability_period_close"), {"start": "2024-01-01", "end": "2024-12-31"})
    assert response.status_code == 302
    period = AccountingPeriod.objects.get()
    page = client.get(reverse("staff:liability"), {"as_of": "2024-12-31", "start": "2024-01-01", "end": "2024-12-31"})
    assert "Closed period" in page.content.decode() and "Reopen" in page.content.decode()
    # The close form suggests the next month after the closed year.
    assert 'name="start" value="2025-01-01"' in page.content.decode()
    assert 'name="end" value="2025-01-31"' in page.content.decode()
    bad = client.post(reverse("staff:liability_period_close"), {"start": "2024-06-01", "end": "2024-06-30"})
    assert bad.status_code == 400 and "day after the last closed one" in bad.content.decode()
    client.force_login(auditor)
    assert client.post(reverse("staff:liability_period_reopen", args=[period.pk]), {"reason": "x"}).status_code == 403
    client.force_login(manager)
    assert client.post(reverse("staff:liability_period_reopen", args=[period.pk]), {"reason": ""}).status_code == 400
    response = client.post(reverse("staff:liability_period_reopen", args=[period.pk]), {"reason": "Late upload"})
    assert response.status_code == 302
    period.refresh_from_db()
    assert period.status == AccountingPeriod.Status.REOPENED and period.reopened_by == manager


def test_liability_page_query_count_does_not_grow(ie22_program, client, member, manager, auditor):
    _year1(member, manager)
    accounting_period_close(start=YEAR1.start, end=YEAR1.end, actor=manager, today=date(2025, 1, 2))
    client.force_login(auditor)
    query = {"as_of": "2025-12-31", "start": "2025-01-01", "end": "2025-12-31"}

    def page_queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("staff:liability"), query).status_code == 200
        return len(captured)

    client.get(reverse("staff:liability"), query)  # warm the session and the program cache
    before = page_queries()
    for month in range(1, 7):
        redemption_estimate_set(rate=D("0.9"), effective_from=date(2025, month, 1), reason="m", actor=manager)
        buy(member, f"q{month}", aware(2025, month, 2, 12), "10.00")
    accounting_period_close(start=YEAR2.start, end=date(2025, 1, 31), actor=manager, today=date(2025, 2, 2))
    after = page_queries()
    assert after == before <= QUERY_BOUND


def test_a_refund_takes_its_price_and_points_out_of_the_pool(ie22_program, member, manager):
    redemption_estimate_set(rate=D("0.95"), effective_from=date(2024, 1, 1), reason="Start", actor=manager)
    sale = buy(member, "r1", aware(2024, 3, 1, 12), "1000.00").purchase
    buy(member, "r2", aware(2024, 3, 2, 12), "1000.00")
    purchase_refund(purchase=sale, refund_id="back")  # refunds are booked when they are made: today
    year1 = points_revenue_for(YEAR1)
    year2 = points_revenue_for(Period(start=YEAR2.start, end=timezone.localdate()))
    assert (year1.sales, year1.sale_points_issued) == (D("2000.00"), 200)
    assert year1.allocated == D("173.52")  # 2,000 × 190 ÷ 2,190
    # The refund, in the period it happens: its price and its 100 points leave, at the year-2 ratio.
    assert (year2.sales, year2.sale_points_issued, year2.closing.issued) == (D("-1000.00"), -100, 100)
    assert year2.allocated == D("-86.76")  # −1,000 × −95 ÷ −1,095
    assert year2.reconciles


def test_a_late_till_keeps_the_sale_and_its_points_together(ie22_program, member, manager):
    redemption_estimate_set(rate=D("0.95"), effective_from=date(2024, 1, 1), reason="Start", actor=manager)
    # Sold on 30 December, reported (and its points posted) on 3 January.
    purchase_record(
        member=member,
        external_id="late-till",
        lines=[PurchaseLineInput(sku="SKU", quantity=1, unit_price=D("1000.00"))],
        channel="in_store",
        occurred_at=aware(2024, 12, 30, 12),
        currency="EUR",
        now=aware(2025, 1, 3, 9),
        backfill=True,
    )
    assert LedgerEntry.objects.get(kind=Kind.EARN).created_at == aware(2025, 1, 3, 9)
    year1 = points_revenue_for(YEAR1)
    assert (year1.sales, year1.sale_points_issued, year1.allocated) == (D("1000.00"), 100, D("86.76"))


def test_the_liability_page_charts_liability_and_breakage_of_the_closed_periods(ie22_program, member, manager, client):
    _year1(member, manager)
    accounting_period_close(start=YEAR1.start, end=YEAR1.end, actor=manager, today=date(2025, 1, 5))
    client.force_login(manager)
    body = client.get(reverse("staff:liability"), {"as_of": "2024-12-31"}).content.decode()
    chart = body.split('id="liability-history"')[1].split("</div>")[0]
    # Example 22's first year: CU 4,566.21 of liability at its end, 5 % of the points expected never to be redeemed.
    assert 'aria-label="Dec 2024: 4566.21"' in chart and 'aria-label="Dec 2024: 5"' in chart
