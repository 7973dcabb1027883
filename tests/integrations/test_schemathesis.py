"""Property-based run of the whole API against its own OpenAPI schema (schemathesis, in-process WSGI).

Every operation gets a few generated requests (valid and invalid) with a key holding every scope; the run
asserts no 5xx, and that statuses, content types, headers and bodies match what the schema documents.
"""

from decimal import Decimal

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from integrations.services import api_key_create
from loyalty_site.wsgi import application
from members.services.purchases import PurchaseLineInput, purchase_record
from tests.factories import MemberFactory
from tests.integrations.conftest import ALL_SCOPES

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# Generating the schema touches no database, so it can load at collection time.
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
#: Real identifiers from the test's data, so that generated requests also reach the happy paths.
KNOWN: dict = {}


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    if not path_parameters:
        return st.just(path_parameters)
    real = dict(path_parameters)
    if "member_number" in real:
        real["member_number"] = KNOWN["member_number"]
    if "external_id" in real:
        real["external_id"] = KNOWN["external_id"]
    return st.sampled_from([path_parameters, real])


@schema.hook
def flatmap_body(context, body):
    if not isinstance(body, dict) or "member" not in body:
        return st.just(body)
    real = {**body, "member": KNOWN["email"], "currency": "EUR", "occurred_at": timezone.now().isoformat()}
    return st.sampled_from([body, real])


@pytest.fixture
def keep_test_connection():
    """Requests go straight to the WSGI app, not Django's test client, so stop Django from closing the test's
    database connection (and its transaction) at the start and end of each request, as the test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_headers(db, keep_test_connection):
    member = MemberFactory(email="fuzz@example.com")
    api_key, raw_key = api_key_create(name="schemathesis", scopes=ALL_SCOPES)
    purchase_record(
        member=member,
        external_id="FUZZ-1",
        lines=[PurchaseLineInput(sku="A", quantity=3, unit_price=Decimal("5.00"))],
        channel="in_store",
        occurred_at=timezone.now(),
        currency="EUR",
        source=api_key.source,
    )
    KNOWN.update(member_number=member.member_number, email="fuzz@example.com", external_id="FUZZ-1")
    return {"Authorization": f"Api-Key {raw_key}"}


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_matches_its_schema(case, api_headers):
    case.call_and_validate(headers=api_headers, checks=CHECKS)
