import os

import pytest
from django.core.cache import cache
from django.db import connection

from integrations.cache import config_local_clear

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(config, items):
    """The fault-injection suite (marked ``faults``) runs only under ``make test-faults``, which starts the private
    PostgreSQL cluster it stops and starts (tests/faults/run.py); plain ``make test`` leaves it out.

    Every transactional test restores the database's migration-created rows (tiers, program settings, content
    types, staff groups) after its flush.

    Mixing the two kinds breaks both: a plain transactional flush re-creates content types with new ids, which the
    next serialized-rollback test then fails to reload; and without the reload, later tests find no tiers.
    """
    if os.environ.get("LOYALTY_FAULTS") != "1":
        faults = [item for item in items if item.get_closest_marker("faults")]
        if faults:
            config.hook.pytest_deselected(items=faults)
            items[:] = [item for item in items if not item.get_closest_marker("faults")]
    for item in items:
        marker = item.get_closest_marker("django_db")
        if marker is not None and marker.kwargs.get("transaction") and not marker.kwargs.get("serialized_rollback"):
            item.add_marker(
                pytest.mark.django_db(*marker.args, **{**marker.kwargs, "serialized_rollback": True}), append=False
            )


def pytest_runtest_setup(item):
    """PostgreSQL-only tests skip on a laptop's SQLite but fail in CI, where PostgreSQL must be present."""
    if not item.get_closest_marker("postgres"):
        return
    from django.conf import settings

    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        return
    if IN_CI:
        pytest.fail("This test needs PostgreSQL: CI=true but DATABASE_URL does not point at PostgreSQL.")
    pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...); it runs in CI")


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Program settings and tiers are cached; each test starts from what its database says."""
    cache.clear()
    config_local_clear()
    yield
    cache.clear()
    config_local_clear()


@pytest.fixture(autouse=True)
def _fresh_content_types():
    """Transactional tests flush the tables, and serialized-rollback ones leave django_content_type empty until
    the next such test reloads it; ContentType's process-wide cache would then hand out ids that no longer exist."""
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()
    yield
    ContentType.objects.clear_cache()


@pytest.fixture(autouse=True)
def _outbox_and_fast_hashing(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"


@pytest.fixture
def emitted_events():
    """Every ``members.hooks.emit(event, payload)`` during the test, as ``(event, payload)`` pairs."""
    from members import hooks

    seen: list[tuple[str, dict]] = []

    def record(event, payload, owner=""):
        seen.append((event, payload))

    hooks.register(hooks.points_changed, record)
    yield seen
    hooks.points_changed.remove(record)


def pytest_configure(config):
    """Through PgBouncer, the pool still holds server connections to the test database when the run ends, and
    PostgreSQL refuses to drop a database others are connected to: end those connections first."""
    if os.environ.get("DATABASE_POOLER") != "pgbouncer":
        return
    from django.db.backends.postgresql.creation import DatabaseCreation

    destroy = DatabaseCreation._destroy_test_db

    def destroy_after_disconnecting(self, test_database_name, verbosity):
        with self._nodb_cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [test_database_name],
            )
        return destroy(self, test_database_name, verbosity)

    DatabaseCreation._destroy_test_db = destroy_after_disconnecting
