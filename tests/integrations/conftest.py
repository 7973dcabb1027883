from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from integrations import registry
from integrations.services import api_key_create
from tests.factories import MemberFactory, TierFactory

ALL_SCOPES = sorted(registry.scopes)


@pytest.fixture
def make_client():
    """``make_client(scopes=[...])`` → an APIClient sending that key, with ``.api_key`` and ``.raw_key``."""

    def make(scopes=None, name="Till"):
        api_key, raw_key = api_key_create(name=name, scopes=ALL_SCOPES if scopes is None else scopes)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
        client.api_key, client.raw_key = api_key, raw_key
        return client

    return make


@pytest.fixture
def api(make_client):
    return make_client()


@pytest.fixture
def tiers():
    return [
        TierFactory(name="Bronze", rank=0, threshold=Decimal("0")),
        TierFactory(name="Silver", rank=1, threshold=Decimal("500"), earn_multiplier=Decimal("1.25")),
    ]


@pytest.fixture
def member(tiers):
    return MemberFactory(email="ada@example.com")


def purchase_body(who, external_id="T-1", **overrides):
    body = {
        "member": who.member_number,
        "external_id": external_id,
        "occurred_at": "2026-01-15T10:00:00+01:00",
        "channel": "in_store",
        "store": "Utrecht",
        "currency": "EUR",
        "lines": [
            {"sku": "COFFEE", "category": "drinks", "quantity": 2, "unit_price": "3.50"},
            {"sku": "CAKE", "category": "food", "quantity": 1, "unit_price": "4.25"},
        ],
    }
    body.update(overrides)
    return body


def post(client, url, body, key="k-1", **extra):
    return client.post(url, body, format="json", HTTP_IDEMPOTENCY_KEY=key, **extra)
