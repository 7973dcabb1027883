"""The staff console's partner settlement: summary with the reconciliation, statement page and CSV, closing a
month (only with the permission), and the liability report's issuing-partner filter."""

from datetime import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from backoffice.models import SettlementStatement
from tests.factories import MemberFactory, buy, partner_factory

pytestmark = pytest.mark.django_db


def on(month, day, hour=12):
    return datetime(2026, month, day, hour, tzinfo=timezone.get_current_timezone())


@pytest.fixture
def activity():
    cafe = partner_factory(name="Cafe Noir", slug="cafe-noir", rate_from=on(1, 1, 0), price="0.01")
    cinema = partner_factory(name="Cinema Lux", slug="cinema-lux", rate_from=on(1, 1, 0), price="0.02")
    member = MemberFactory()
    buy(member, "30.00", partner=cafe, now=on(10, 3))
    buy(member, "20.00", partner=cinema, now=on(10, 4))
    buy(member, "7.00", now=on(10, 5))
    return cafe, cinema


def test_the_summary_lists_every_partner_and_reconciles_with_the_ledger(client, auditor, activity):
    client.force_login(auditor)
    response = client.get(reverse("staff:partner_settlements"), {"month": "2026-10"})
    body = response.content.decode()
    assert response.status_code == 200
    assert "Cafe Noir" in body and "Cinema Lux" in body
    assert 'id="partner-issued">50' in body and 'id="operator-issued">7' in body and 'id="all-issued">57' in body
    assert "It reconciles." in body


def test_the_statement_page_and_csv(client, auditor, activity):
    client.force_login(auditor)
    url = reverse("staff:partner_statement", args=["cafe-noir", "2026-10"])
    body = client.get(url).content.decode()
    assert 'id="points-issued">30' in body and 'id="amount-issued">0.30 EUR' in body
    assert "Close this month" not in body  # auditors read, they do not close
    csv_url = reverse("staff:partner_statement_csv", args=["cafe-noir", "2026-10"])
    lines = b"".join(client.get(csv_url).streaming_content).decode().splitlines()
    assert lines[0] == "kind,ref_id,moved_at,points,rate,amount,late"
    assert lines[1].startswith("issued,") and ",30,0.010000,0.300000," in lines[1]
    assert "total,net_EUR_partner_pays,,,,0.30," in lines


def test_unknown_partner_or_month_is_404(client, auditor, activity):
    client.force_login(auditor)
    assert client.get(reverse("staff:partner_statement", args=["nobody", "2026-10"])).status_code == 404
    assert client.get(reverse("staff:partner_statement", args=["cafe-noir", "October"])).status_code == 404


def test_a_program_manager_closes_a_month_and_an_auditor_cannot(client, auditor, manager, activity):
    url = reverse("staff:partner_statement_close", args=["cafe-noir", "2026-10"])
    client.force_login(auditor)
    assert client.post(url).status_code == 403
    assert not SettlementStatement.objects.exists()
    client.force_login(manager)
    response = client.post(url)
    assert response.status_code == 302
    statement = SettlementStatement.objects.get()
    assert (statement.points_issued, statement.amount_issued, statement.closed_by) == (30, Decimal("0.30"), manager)
    body = client.get(reverse("staff:partner_statement", args=["cafe-noir", "2026-10"])).content.decode()
    assert "This statement is frozen" in body


def test_the_liability_report_filters_movements_by_issuing_partner(client, auditor, activity):
    client.force_login(auditor)
    query = {"as_of": "2026-10-31", "start": "2026-10-01", "end": "2026-10-31"}
    everything = client.get(reverse("staff:liability"), query).content.decode()
    assert 'id="movement-issued">57' in everything
    at_cafe = client.get(reverse("staff:liability"), {**query, "partner": "cafe-noir"}).content.decode()
    assert 'id="movement-issued">30' in at_cafe and 'id="issuing-partner-note"' in at_cafe
    csv_text = b"".join(
        client.get(reverse("staff:liability_csv"), {**query, "partner": "cinema-lux"}).streaming_content
    ).decode()
    assert "movements,issued,20" in csv_text.splitlines()


def test_closed_statements_are_listed_read_only_in_the_admin(client, auditor, manager, activity):
    client.force_login(manager)
    client.post(reverse("staff:partner_statement_close", args=["cinema-lux", "2026-10"]))
    client.force_login(auditor)
    body = client.get(reverse("admin:backoffice_settlementstatement_changelist")).content.decode()
    assert "Cinema Lux" in body and reverse("staff:partner_statement", args=["cinema-lux", "2026-10"]) in body
    assert client.get(reverse("admin:backoffice_settlementstatement_add")).status_code == 403
