"""Statement bounds for the till's hot paths (issue 14). No timings here: only what each request sends.

A purchase is one transaction: the Idempotency-Key's claim and stored answer ride in the purchase's own
transaction (``integrations.api.base.idempotent``), and the response is built from what the service returned.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from integrations.models import IdempotencyRecord
from tests.integrations.conftest import post, purchase_body

pytestmark = pytest.mark.django_db

URL = "/api/v1/purchases/"


def _statements(run):
    with CaptureQueriesContext(connection) as captured:
        response = run()
    return response, [query["sql"] for query in captured.captured_queries]


def test_a_purchase_is_one_transaction_with_its_idempotency_record(api, member):
    post(api, URL, purchase_body(member, external_id="warm"), key="warm")  # caches: settings, rules, the key
    response, statements = _statements(lambda: post(api, URL, purchase_body(member), key="k-1"))
    assert response.status_code == 201
    assert len(response.json()["lines"]) == 2
    writes = [sql for sql in statements if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "WITH"))]
    # The purchase's own writes and the stored answer; no separate claim, no completion UPDATE.
    assert not any(sql.lstrip().upper().startswith("UPDATE") and "idempotency" in sql for sql in writes)
    assert not any("purchaseline" in sql and sql.lstrip().upper().startswith("SELECT") for sql in statements)
    if connection.vendor == "postgresql":
        # No savepoint inside the request's own transaction (purchase_record(savepoint=False)). The test runs in a
        # transaction of its own, which makes the request's transaction itself one savepoint: its SAVEPOINT and
        # RELEASE are the first and the last statement.
        assert not [sql for sql in statements[1:-1] if "SAVEPOINT" in sql.upper()], statements
        assert len(statements) <= 9, (len(statements), statements)
    else:
        assert len(statements) <= 24, statements
    assert IdempotencyRecord.objects.get(key="k-1").state == IdempotencyRecord.State.COMPLETED


def test_a_replay_reads_the_stored_answer_and_writes_nothing(api, member):
    first = post(api, URL, purchase_body(member), key="k-1")
    response, statements = _statements(lambda: post(api, URL, purchase_body(member), key="k-1"))
    assert response.status_code == 201 and response["Idempotent-Replayed"] == "true"
    assert response.json() == first.json()
    assert not [sql for sql in statements if sql.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]


def test_a_member_read_needs_no_more_than_three_statements(api, member):
    url = f"/api/v1/members/{member.member_number}/"
    api.get(url)  # warm
    response, statements = _statements(lambda: api.get(url))
    assert response.status_code == 200
    assert len(statements) <= 3, (len(statements), statements)
