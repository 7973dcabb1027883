"""Property-based run of the whole API against its own OpenAPI schema (schemathesis, in-process WSGI).

Every operation (``test_every_operation_is_covered`` keeps the list whole) gets the coverage phase's boundary cases
(empty, over-long, null, arrays, NUL, each constraint just inside and just outside) and a bounded, derandomized
number of generated requests, valid and invalid, with a key holding every scope. The run asserts no 5xx; that
statuses, content types, headers and bodies match what the schema documents; that a request the schema calls
invalid is refused (``negative_data_rejection``); and that one the schema calls valid is not refused as invalid
input (``schema_valid_input_is_not_a_400``), save for the few rules no schema can state, listed in
``RULES_BEYOND_THE_SCHEMA``.
"""

import re
from decimal import Decimal

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from integrations.services import api_key_create
from loyalty_site.wsgi import application
from members.services.purchases import PurchaseLineInput, purchase_record
from tests.factories import MemberFactory
from tests.integrations.conftest import ALL_SCOPES

#: 400s a schema-valid request may still get, because they depend on the data, the clock or several fields at
#: once: ``(field, message)`` as regular expressions. Anything else the schema allows must not be a 400.
RULES_BEYOND_THE_SCHEMA = [
    ("member", r"No member with this member number, card number or email\."),  # which members exist
    ("non_field_errors", r"Give exactly one of card_number or email\."),  # one of two query parameters
    ("occurred_at", r"The purchase date is in the future\.|The purchase is too old to be sent through the API\."),
    ("total", r"The total cannot be more than the lines add up to .*"),  # compared with the lines
    ("lines", r"The basket's total is too large\."),  # the lines' sum
    ("birthday", r"The birthday is in the future\.|The birthday is more than \d+ years ago\."),  # the clock
    ("purchase_external_id", r"No purchase with this id from this integration\."),  # which purchases exist
    (r"lines\.\d+", r"Give a line_number or a sku\."),  # one of two fields
    ("reward", r"No reward with this slug\."),  # which rewards exist
    ("occurred_at", r"This is in the future\.|Actions older than a year cannot be recorded\."),  # the clock
    ("purchase", r"No purchase of this member with this external id from this integration\."),  # which exist
    (r"discounts\.\d+\.amount", r"A discount must be more than 0\."),  # a positive decimal string
    # How a discount relates to the lines and to the other fields of the purchase:
    (
        r"discounts\.\d+\.line_number",
        r"A line discount needs the line_number it is on\.|The purchase has no line \d+ \(lines count from 1\)\.|"
        r"An order discount is on the whole purchase: leave line_number out\.",
    ),
    (r"discounts(\.\d+\.amount)?", r"Line \d+'s discounts come to more than the line .*|The discounts come to .*"),
    ("total", r"The total must be the lines \(.*\) less the discounts \(.*\): .*"),
    # The program's own limits against typos (staff settings, not the schema's):
    (r"lines(\.\d+\.unit_price)?|total", r".*more than the program accepts for (one line|a purchase|one purchase).*"),
]


class SchemaValidInputRefused(Failure):
    kind_title = "Schema-valid request answered 400"


def _beyond_the_schema(field: str, messages: list[str]) -> bool:
    return all(
        any(re.fullmatch(name, field) and re.fullmatch(text, message) for name, text in RULES_BEYOND_THE_SCHEMA)
        for message in messages
    )


@schemathesis.check
def schema_valid_input_is_not_a_400(ctx, response, case):
    """Like schemathesis's ``positive_data_acceptance``, but business refusals (422: no points, the same key for
    another request) are answers, not disagreements, and the rules in ``RULES_BEYOND_THE_SCHEMA`` may refuse."""
    if case.meta is None or not case.meta.generation.mode.is_positive or response.status_code != 400:
        return None
    fields = response.json()["error"]["fields"]
    if fields and all(_beyond_the_schema(field, messages) for field, messages in fields.items()):
        return None
    raise SchemaValidInputRefused(
        operation=case.operation.label,
        message=f"The schema allows this request but validation refused it: {fields or response.json()['error']}",
    )


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    schema_valid_input_is_not_a_400,
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
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_matches_its_schema(case, api_headers):
    case.call_and_validate(headers=api_headers, checks=CHECKS)


def test_every_operation_is_covered():
    """The run above is the whole API: every route under /api/v1/ is in the schema it reads."""
    from django.urls import get_resolver

    operations = {result.ok().path for result in schema.get_all_operations()}
    routes = set()

    def walk(patterns, prefix=""):
        for pattern in patterns:
            text = prefix + str(pattern.pattern)
            if hasattr(pattern, "url_patterns"):
                walk(pattern.url_patterns, text)
            elif text.startswith("api/v1/"):
                routes.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", text))

    walk(get_resolver().url_patterns)
    assert routes and routes == operations
