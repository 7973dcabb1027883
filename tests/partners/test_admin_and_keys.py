"""Staff set partners up in the admin (rates are added, never edited) and give them keys: in the admin or with
``create_api_key --owner``. The platform stores an opaque owner label; members interprets it."""

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from integrations.models import APIKey
from members.models import Partner, PartnerRate
from members.services.partners import PartnerRateNotAllowed, partner_rate_add
from tests.factories import MemberFactory, SuperUserFactory, buy, partner_factory

pytestmark = pytest.mark.django_db


def test_create_api_key_gives_a_key_to_a_partner_and_refuses_unknown_owners():
    cafe = partner_factory(name="Cafe Noir", slug="cafe-noir")
    out = io.StringIO()
    call_command(
        "create_api_key",
        "Cafe tills",
        "--scopes",
        "purchases:write",
        "--owner",
        cafe.owner_label,
        stdout=out,
        stderr=io.StringIO(),
    )
    assert APIKey.objects.get(name="Cafe tills").owner == f"partner:{cafe.pk}"
    with pytest.raises(CommandError):
        call_command(
            "create_api_key",
            "X",
            "--scopes",
            "purchases:write",
            "--owner",
            "partner:999999",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )


def test_the_key_form_offers_the_partners(client):
    cafe = partner_factory(name="Cafe Noir", slug="cafe-noir")
    client.force_login(SuperUserFactory())
    body = client.get(reverse("admin:integrations_apikey_add")).content.decode()
    assert f'value="{cafe.owner_label}"' in body and "Program operator" in body
    response = client.post(
        reverse("admin:integrations_apikey_add"),
        {"name": "Cafe tills", "owner": cafe.owner_label, "scopes": ["purchases:write"]},
    )
    assert response.status_code == 302
    assert APIKey.objects.get(name="Cafe tills").owner == cafe.owner_label


def test_the_partner_admin_page_adds_a_rate_from_now_on(client):
    cafe = partner_factory(name="Cafe Noir", slug="cafe-noir")
    client.force_login(SuperUserFactory())
    url = reverse("admin:members_partner_change", args=[cafe.pk])
    assert client.get(url).status_code == 200
    first = cafe.rates.get()
    starts = timezone.localtime(timezone.now() + timedelta(days=3))
    form = {
        "name": "Cafe Noir",
        "slug": "cafe-noir",
        "status": "active",
        "sort_order": "100",
        "categories": "[]",
        "counts_toward_tiers": "on",
        "stores-TOTAL_FORMS": "0",
        "stores-INITIAL_FORMS": "0",
        "earning_rules-TOTAL_FORMS": "0",
        "earning_rules-INITIAL_FORMS": "0",
        "rates-TOTAL_FORMS": "2",
        "rates-INITIAL_FORMS": "1",
        "rates-0-id": str(first.pk),
        "rates-0-partner": str(cafe.pk),
        "rates-1-partner": str(cafe.pk),
        "rates-1-effective_from_0": starts.strftime("%Y-%m-%d"),
        "rates-1-effective_from_1": starts.strftime("%H:%M:%S"),
        "rates-1-price_per_point_issued": "0.02",
        "rates-1-reimbursement_per_point_redeemed": "0.01",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert [rate.price_per_point_issued for rate in cafe.rates.order_by("effective_from")] == [
        first.price_per_point_issued,
        Decimal("0.02"),
    ]


def test_a_rate_cannot_start_in_the_past_once_points_moved_at_the_partner():
    cafe = partner_factory(name="Cafe Noir", slug="cafe-noir")
    buy(MemberFactory(), "10.00", partner=cafe)
    with pytest.raises(PartnerRateNotAllowed):
        partner_rate_add(
            partner=cafe,
            effective_from=timezone.now() - timedelta(days=2),
            price_per_point_issued=Decimal("0.02"),
            reimbursement_per_point_redeemed=Decimal("0.01"),
        )
    later = partner_rate_add(
        partner=cafe,
        effective_from=timezone.now() + timedelta(days=1),
        price_per_point_issued=Decimal("0.02"),
        reimbursement_per_point_redeemed=Decimal("0.01"),
    )
    assert PartnerRate.objects.filter(partner=cafe).count() == 2 and later.pk


def test_a_new_partner_may_have_a_rate_from_the_past():
    fresh = Partner.objects.create(name="Fresh", slug="fresh")
    rate = partner_rate_add(
        partner=fresh,
        effective_from=timezone.now() - timedelta(days=30),
        price_per_point_issued=Decimal("0.01"),
        reimbursement_per_point_redeemed=Decimal("0.01"),
    )
    assert rate.pk
