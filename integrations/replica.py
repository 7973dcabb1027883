"""Reads that may come from a read replica: the staff console's analytics, exports and liability reports.

``DATABASE_REPLICA_URL`` adds the ``replica`` database alias (settings). Nothing is routed there implicitly:
code that can live with replication lag asks for it, around the selector calls only —

    with reads_from_replica():
        dashboard = analytics.dashboard_get(period)

or, for a streamed export, ``rows_from_replica(rows)``, which holds the routing only while it fetches each row.
Inside, ``ReplicaRouter`` sends ORM reads to the replica and raw SQL asks ``read_alias()`` for its connection.
Writes always go to ``default`` (an audit row written by an export view included), migrations run only there,
and the session, user, permission and content-type reads of the request stay on the primary (a login just
made must not be lost to lag). Without a replica configured every read stays on ``default``.
"""

import contextvars
from contextlib import contextmanager

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

REPLICA = "replica"

_replica_reads: contextvars.ContextVar[bool] = contextvars.ContextVar("replica_reads", default=False)

#: Apps whose reads never go to the replica, whatever the context: authentication and sessions.
PRIMARY_ONLY_APPS = frozenset({"auth", "sessions", "contenttypes", "admin", "account", "mfa"})


def replica_configured() -> bool:
    return REPLICA in settings.DATABASES


def read_alias() -> str:
    """The alias a read should use now: ``replica`` inside ``reads_from_replica()`` when one is configured."""
    return REPLICA if _replica_reads.get() and replica_configured() else DEFAULT_DB_ALIAS


@contextmanager
def reads_from_replica():
    token = _replica_reads.set(True)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def rows_from_replica(rows):
    """Iterate ``rows`` (a generator running queries) with its reads on the replica, and only while fetching."""
    iterator = iter(rows)
    while True:
        with reads_from_replica():
            try:
                row = next(iterator)
            except StopIteration:
                return
        yield row


def data_as_of():
    """When the data read from ``read_alias()`` was current: the replica's last replayed commit, else now.

    On a primary (or a test mirror) PostgreSQL answers NULL and the figure is now.
    """
    alias = read_alias()
    connection = connections[alias]
    if alias == DEFAULT_DB_ALIAS or connection.vendor != "postgresql":
        return timezone.now()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_last_xact_replay_timestamp()")
        (replayed,) = cursor.fetchone()
    return replayed or timezone.now()


class ReplicaRouter:
    """Reads inside ``reads_from_replica()`` go to the replica; every write and every migration to ``default``."""

    def db_for_read(self, model, **hints):
        if model._meta.app_label in PRIMARY_ONLY_APPS or model._meta.label == settings.AUTH_USER_MODEL:
            return DEFAULT_DB_ALIAS
        return read_alias()

    def db_for_write(self, model, **hints):
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1, obj2, **hints):
        return True  # both aliases hold the same data

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == DEFAULT_DB_ALIAS
