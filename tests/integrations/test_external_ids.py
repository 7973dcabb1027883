"""Every external id a purchase is recorded with can be refunded through its URL (issue 16, item 10).

An id with "/" used to be accepted, and its refund URL (``/api/v1/purchases/{external_id}/refunds/``) never
reached the purchase. Such ids are refused when the purchase is recorded, by the API, by ``purchase_record`` and
by the staff CSV import; every other id is refundable, percent-encoded in the URL.
"""

from decimal import Decimal
from urllib.parse import quote

import pytest
from django.utils import timezone

from members.exceptions import InvalidPurchase
from members.models import LedgerEntry, Purchase
from members.purchase_rules import purchase_errors
from members.services.purchases import PurchaseLineInput, purchase_record
from tests.integrations.conftest import post, purchase_body

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("external_id", ["till-7/000123", "/", "a/", "2026/01/15-42"])
def test_an_external_id_with_a_slash_is_refused_with_a_field_error_and_nothing_is_written(api, member, external_id):
    response = post(api, "/api/v1/purchases/", purchase_body(member, external_id=external_id))
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "external_id": ['An external id cannot contain "/": it is part of the refund URL.']
    }
    assert not Purchase.objects.exists() and not LedgerEntry.objects.exists()


@pytest.mark.parametrize(
    "external_id",
    ["till 7 #000123", "a?b=c&d", "100%", "a%2Fb", "kassa-ü-€", "a\\b", "a.b", "..x", "a;b,c", "[1]"],
)
def test_every_accepted_external_id_can_be_refunded_through_its_url(api, member, external_id):
    assert post(api, "/api/v1/purchases/", purchase_body(member, external_id=external_id)).status_code == 201
    response = post(api, f"/api/v1/purchases/{quote(external_id, safe='')}/refunds/", {}, key="refund-1")
    assert response.status_code == 201, response.content
    assert response.json()["external_id"] == external_id
    assert response.json()["amount"] == "11.25"


def test_the_service_and_the_import_rules_refuse_it_too(member):
    with pytest.raises(InvalidPurchase) as refusal:
        purchase_record(
            member=member,
            external_id="a/b",
            lines=[PurchaseLineInput(sku="A", quantity=1, unit_price=Decimal("1.00"))],
            channel="in_store",
            occurred_at=timezone.now(),
            currency="EUR",
        )
    assert refusal.value.field == "external_id"
    assert not Purchase.objects.exists()
    lines = [PurchaseLineInput(sku="A", quantity=1, unit_price=Decimal("1.00"))]
    assert [error.field for error in purchase_errors(lines=lines, external_id="a/b")] == ["external_id"]
    assert purchase_errors(lines=lines, external_id="a b") == []
