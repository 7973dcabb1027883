"""Health checks of reused database connections only after they sat idle (``CONN_HEALTH_CHECK_IDLE_SECONDS``).

Django's ``CONN_HEALTH_CHECKS`` sends a ``SELECT 1`` before the first query of every request on a reused
connection, so that one which died while idle (a database restart, a failover, a pooler closing it) is replaced
instead of failing the request. Under load every worker's connection served a request a few milliseconds ago,
without an error, and the check is one more round trip per request for nothing. A connection that ended its last
request cleanly within the last ``CONN_HEALTH_CHECK_IDLE_SECONDS`` (default 1 s) skips it; one idle for longer is
checked as before. If the database dies inside that second, the next request on the connection fails like any
request caught mid-way by the outage (503, ``Retry-After``; nothing is recorded), and Django closes the
connection, so the one after reconnects.
"""

import time

from django.conf import settings
from django.db import connections


def _idle_limit() -> float:
    return getattr(settings, "CONN_HEALTH_CHECK_IDLE_SECONDS", 1.0)


def request_began(**signal_kwargs) -> None:
    """After Django's own ``close_old_connections``: mark recently healthy connections as checked."""
    now = time.monotonic()
    for connection in connections.all(initialized_only=True):
        healthy_at = getattr(connection, "loyalty_healthy_at", None)
        if (
            connection.connection is not None
            and connection.health_check_enabled
            and healthy_at is not None
            and now - healthy_at < _idle_limit()
        ):
            connection.health_check_done = True


def request_ended(**signal_kwargs) -> None:
    """After Django's own ``close_old_connections``: remember which connections ended the request healthy."""
    now = time.monotonic()
    for connection in connections.all(initialized_only=True):
        if connection.connection is not None and not connection.errors_occurred:
            connection.loyalty_healthy_at = now
        else:
            connection.loyalty_healthy_at = None
