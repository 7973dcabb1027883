"""Prepared statements on PostgreSQL: the till's repeated statements are parsed and planned once per connection
(issue 14), and never where PgBouncer's transaction pooling would hand them to another client's session."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from tests.integrations.conftest import post, purchase_body

ROOT = Path(__file__).resolve().parents[2]


def _database_settings(**environ) -> dict:
    """The settings module's database choices for an environment, read in a fresh interpreter."""
    chosen_by_ci = ("DATABASE_POOLER", "PGBOUNCER_TRANSACTION_POOLING", "DATABASE_PREPARE_THRESHOLD")
    env = {key: value for key, value in os.environ.items() if key not in chosen_by_ci}
    env.update({"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/anything", **environ})
    code = (
        "import json; from loyalty_site import settings as s; "
        "print(json.dumps({'threshold': getattr(s, 'DATABASE_PREPARE_THRESHOLD', None), "
        "'options': s.DATABASES['default'].get('OPTIONS', {})}))"
    )
    output = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True)
    assert output.returncode == 0, output.stderr
    return json.loads(output.stdout.strip().splitlines()[-1])


def test_postgresql_prepares_repeated_statements_by_default():
    chosen = _database_settings()
    assert chosen["threshold"] == 5
    assert chosen["options"] == {"server_side_binding": True, "prepare_threshold": 5}


@pytest.mark.parametrize("pooler", [{"DATABASE_POOLER": "pgbouncer"}, {"PGBOUNCER_TRANSACTION_POOLING": "true"}])
def test_behind_pgbouncer_statements_are_bound_client_side_and_never_prepared(pooler):
    chosen = _database_settings(**pooler)
    assert chosen["threshold"] == 0
    assert "server_side_binding" not in chosen["options"]
    assert "prepare_threshold" not in chosen["options"]


def test_the_threshold_is_a_setting_and_zero_turns_preparing_off():
    assert _database_settings(DATABASE_PREPARE_THRESHOLD="2")["options"]["prepare_threshold"] == 2
    # PgBouncer 1.21+ with max_prepared_statements carries them: asking explicitly wins over the pooling default.
    behind = _database_settings(PGBOUNCER_TRANSACTION_POOLING="true", DATABASE_PREPARE_THRESHOLD="3")
    assert behind["options"] == {"server_side_binding": True, "prepare_threshold": 3}
    assert "server_side_binding" not in _database_settings(DATABASE_PREPARE_THRESHOLD="0")["options"]


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_member_read_is_prepared_on_its_connection_after_the_threshold(api, member, settings):
    """What PostgreSQL itself lists for this session: the look-up a till repeats is prepared once the threshold
    is reached, in this suite's mode (direct: prepared; through PgBouncer: nothing left in the session)."""
    threshold = settings.DATABASE_PREPARE_THRESHOLD
    for _ in range(max(threshold, 1) + 1):
        response = api.get(f"/api/v1/members/{member.member_number}/")
        assert response.status_code == 200
        assert response.json()["member_number"] == member.member_number
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%members_member%"])
        prepared = [row[0] for row in cursor.fetchall()]
    if threshold:
        assert any("member_number" in statement for statement in prepared), prepared
    else:
        assert prepared == []


@pytest.mark.postgres
@pytest.mark.django_db
def test_every_statement_of_a_purchase_is_prepared_once_warm(api, member, settings):
    """The earn's statements keep one text and take new parameters, so each is prepared: a change that puts
    values into the SQL itself would make PostgreSQL plan it on every purchase again."""
    threshold = settings.DATABASE_PREPARE_THRESHOLD
    for number in range(max(threshold, 1) + 1):
        response = post(api, "/api/v1/purchases/", purchase_body(member, external_id=f"P-{number}"), key=f"k-{number}")
        assert response.status_code == 201, response.content
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = " ".join(row[0] for row in cursor.fetchall())
    expected = [
        "pg_try_advisory_xact_lock",  # the Idempotency-Key's claim with any stored answer
        'INSERT INTO "members_purchase"',  # the purchase with its lines
        'INSERT INTO "members_ledgerentry"',  # the entry with its lot and balances
        "INSERT INTO members_qualifyingactivity",  # the qualifying month
        "INSERT INTO members_idempotencyrecord",  # the stored answer
        "FOR UPDATE",  # the account lock
    ]
    if threshold:
        assert [part for part in expected if part not in prepared] == []
    else:
        assert prepared == ""
