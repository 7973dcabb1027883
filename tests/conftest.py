import os

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import connection

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


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
    """Program settings and tiers are cached; each test starts from what its database says.

    So are content type ids: a transactional test's flush can empty or renumber django_content_type, and a stale
    id would then break the next test's generic foreign keys (ledger entry sources).
    """
    cache.clear()
    ContentType.objects.clear_cache()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _outbox_and_fast_hashing(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def on_postgres():
    return connection.vendor == "postgresql"
