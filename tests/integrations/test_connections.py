"""A reused connection skips its health check when it ended a request cleanly a moment ago (issue 14).

Django's test client keeps ``close_old_connections`` out of its requests, so each test plays the request's
signals itself: Django's receiver first, then ours, as they are connected in production.
"""

import pytest
from django.db import close_old_connections, connection

from integrations import connections as health

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def checks(monkeypatch):
    """A persistent connection with health checks on (as on PostgreSQL in production), counting each check."""
    counted = []
    real = connection.is_usable
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", None)
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    connection.close()
    connection.ensure_connection()
    enabled = connection.health_check_enabled
    connection.health_check_enabled = True  # an in-memory SQLite test database is never really reconnected
    monkeypatch.setattr(connection, "is_usable", lambda: counted.append(1) or real())
    yield counted
    connection.health_check_enabled = enabled
    connection.close()


def _request(fail: bool = False) -> None:
    close_old_connections()
    health.request_began()
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    if fail:
        connection.errors_occurred = True  # what a statement that failed on a broken connection leaves behind
    close_old_connections()
    health.request_ended()


def _checks_in_three_requests_after_one(checks) -> int:
    _request()
    before = len(checks)
    for _ in range(3):
        _request()
    return len(checks) - before


def test_a_connection_busy_a_moment_ago_is_not_checked_again(checks, settings):
    settings.CONN_HEALTH_CHECK_IDLE_SECONDS = 60
    assert _checks_in_three_requests_after_one(checks) == 0


def test_with_no_idle_allowance_every_request_checks_its_connection(checks, settings):
    settings.CONN_HEALTH_CHECK_IDLE_SECONDS = 0
    assert _checks_in_three_requests_after_one(checks) == 3


def test_after_a_failed_request_the_connection_is_checked_before_it_serves_again(checks, settings):
    settings.CONN_HEALTH_CHECK_IDLE_SECONDS = 60
    _request()
    before = len(checks)
    _request(fail=True)  # Django checks the connection as that request ends (it closes one that fails)
    _request()
    assert len(checks) == before + 1
