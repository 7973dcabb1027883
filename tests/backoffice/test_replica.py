"""The read replica: the console's reports read from the ``replica`` alias, nothing is ever written there.

The alias is added for the test and mirrors the test database (Django's ``TEST: {"MIRROR": "default"}``: a second
connection to the same database), so its reads see what the tests commit.
"""

import re

import pytest
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.test.utils import CaptureQueriesContext

from backoffice.models import StaffAuditLog
from integrations.replica import REPLICA, ReplicaRouter, read_alias, reads_from_replica, rows_from_replica
from members.models import LedgerEntry, Member
from tests.backoffice.conftest import post

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE|CREATE|ALTER|DROP|TRUNCATE)\b", re.IGNORECASE)


@pytest.fixture(scope="module")
def replica(django_db_setup):
    """Module-scoped, so the alias exists before each test's database access is set up."""
    config = {**connections.settings[DEFAULT_DB_ALIAS], "TEST": {"MIRROR": DEFAULT_DB_ALIAS}}
    settings.DATABASES[REPLICA] = connections.settings[REPLICA] = config
    yield connections[REPLICA]
    connections[REPLICA].close()
    del connections[REPLICA]
    settings.DATABASES.pop(REPLICA, None)
    connections.settings.pop(REPLICA, None)


def test_the_router_never_writes_or_migrates_on_the_replica(replica):
    router = ReplicaRouter()
    assert router.db_for_write(Member) == DEFAULT_DB_ALIAS
    assert router.allow_migrate(DEFAULT_DB_ALIAS, "members") is True
    assert router.allow_migrate(REPLICA, "members") is False
    assert router.db_for_read(Member) == DEFAULT_DB_ALIAS  # not asked for
    with reads_from_replica():
        assert router.db_for_read(Member) == REPLICA and read_alias() == REPLICA
        assert router.db_for_write(Member) == DEFAULT_DB_ALIAS
        # Sessions and users always come from the primary: a login just made must not be lost to lag.
        from django.contrib.auth import get_user_model
        from django.contrib.sessions.models import Session

        assert router.db_for_read(Session) == DEFAULT_DB_ALIAS
        assert router.db_for_read(get_user_model()) == DEFAULT_DB_ALIAS
    assert read_alias() == DEFAULT_DB_ALIAS


def test_without_a_replica_everything_reads_from_default(monkeypatch):
    monkeypatch.setattr("integrations.replica.replica_configured", lambda: False)
    with reads_from_replica():
        assert read_alias() == DEFAULT_DB_ALIAS and ReplicaRouter().db_for_read(Member) == DEFAULT_DB_ALIAS


def test_rows_from_replica_routes_only_while_fetching(replica):
    seen = []

    def rows():
        for _ in range(2):
            seen.append(read_alias())
            yield 1

    for _row in rows_from_replica(rows()):
        assert read_alias() == DEFAULT_DB_ALIAS
    assert seen == [REPLICA, REPLICA]


@pytest.mark.django_db(transaction=True, databases=[DEFAULT_DB_ALIAS, REPLICA])
def test_reports_and_exports_read_from_the_replica_and_write_only_to_default(client, replica, manager, member):
    post(member, LedgerEntry.Kind.EARN, points=120)
    client.force_login(manager)
    with (
        CaptureQueriesContext(replica) as on_replica,
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as on_default,
    ):
        analytics = client.get("/admin/staff/analytics/")
        liability = client.get("/admin/staff/liability/")
        export = client.get("/admin/staff/exports/members.csv")
        csv = b"".join(export.streaming_content).decode()
    assert analytics.status_code == liability.status_code == export.status_code == 200
    assert member.member_number in csv
    assert "Data as of" in analytics.content.decode() and "Data as of" in liability.content.decode()

    replica_sql = [query["sql"] for query in on_replica.captured_queries]
    assert any("members_member" in sql for sql in replica_sql)  # the export's rows
    assert any("members_ledgerentry" in sql for sql in replica_sql)  # the reports' sums
    assert not [sql for sql in replica_sql if WRITE.match(sql)]
    assert not any("django_session" in sql for sql in replica_sql)
    # The export's audit row was written, on the primary.
    assert StaffAuditLog.objects.filter(action=StaffAuditLog.Action.EXPORTED, object_repr="members").exists()
    assert any(WRITE.match(query["sql"]) for query in on_default.captured_queries)
