"""Issue 16, item 18: while the database is unreachable, API writes answer 503 with ``Retry-After`` in the JSON
error shape, and the Idempotency-Key of such a request is free for the retry, which then records the purchase
exactly once."""

import contextlib
import json

import pytest
from django.db import OperationalError, connection

from members.models import LedgerEntry, Purchase
from tests.integrations.conftest import post, purchase_body

pytestmark = pytest.mark.django_db

URL = "/api/v1/purchases/"


@contextlib.contextmanager
def database_down(when=lambda sql: True):
    """Every statement ``when`` picks fails as psycopg fails when the server has gone away."""

    def refuse(execute, sql, params, many, context):
        if when(sql):
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse):
        yield


def _assert_unavailable(response):
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "service_unavailable"
    assert set(response.json()["error"]) >= {"code", "message", "fields"}


def test_a_purchase_during_an_outage_is_503_and_its_retry_records_it_once(api, member):
    with database_down():
        during = post(api, URL, purchase_body(member), key="till-7-0042")
    _assert_unavailable(during)
    assert not Purchase.objects.exists()

    after = post(api, URL, purchase_body(member), key="till-7-0042")
    assert after.status_code == 201, after.json()
    replay = post(api, URL, purchase_body(member), key="till-7-0042")
    assert replay.status_code == 201 and replay["Idempotent-Replayed"] == "true"
    assert Purchase.objects.count() == 1
    assert LedgerEntry.objects.filter(kind=LedgerEntry.Kind.EARN).count() == 1


def test_an_outage_between_the_work_and_its_stored_answer_rolls_both_back(api, member):
    # The purchase's rows are written, then the connection drops as the response is stored: nothing commits.
    with database_down(
        when=lambda sql: "idempotencyrecord" in sql.lower() and sql.lstrip().upper().startswith("INSERT")
    ):
        during = post(api, URL, purchase_body(member), key="k-9")
    _assert_unavailable(during)
    assert not Purchase.objects.exists() and not LedgerEntry.objects.exists()

    after = post(api, URL, purchase_body(member), key="k-9")
    assert after.status_code == 201
    assert Purchase.objects.count() == 1


def test_a_refund_during_an_outage_is_503_too(api, member):
    assert post(api, URL, purchase_body(member), key="buy").status_code == 201
    with database_down():
        during = post(api, f"{URL}T-1/refunds/", {"refund_id": "R-1"}, key="refund")
    _assert_unavailable(during)
    assert post(api, f"{URL}T-1/refunds/", {"refund_id": "R-1"}, key="refund").status_code == 201


def test_the_schema_documents_the_503(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--format", "openapi-json", "--file", str(tmp_path / "schema.json"))
    schema = json.loads((tmp_path / "schema.json").read_text())
    assert "503" in schema["paths"][URL]["post"]["responses"]
