"""Issue 16, item 17: production refuses to start without a broker (a system check at error level, also run when
gunicorn loads the WSGI application) and never runs tasks eagerly, inside the request that queued them.
tests/integrations/test_no_outbound_http_in_requests.py shows that the API's writes then make no outbound HTTP."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks

from integrations.checks import TAG, broker_required_in_production

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION_ENV = {
    "DJANGO_ENV": "production",
    "DJANGO_SETTINGS_MODULE": "loyalty_site.settings",
    "SECRET_KEY": "x" * 60,
    "ALLOWED_HOSTS": "loyalty.example.com",
    "DATABASE_URL": "sqlite:////tmp/never-opened.sqlite3",
}


def _run(code: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "DJANGO_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **PRODUCTION_ENV, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_without_a_broker_fails_the_system_check_and_will_not_boot():
    check = _run(
        "import sys, django; from django.core.management import call_command; django.setup();"
        "call_command('check', tags=['loyalty'])"
    )
    assert check.returncode != 0
    assert "loyalty.E001" in check.stderr and "CELERY_BROKER_URL" in check.stderr
    boot = _run("import loyalty_site.wsgi")
    assert boot.returncode != 0
    assert "ImproperlyConfigured" in boot.stderr and "loyalty.E001" in boot.stderr


def test_production_with_a_broker_boots_and_never_runs_tasks_eagerly():
    probe = _run(
        "import loyalty_site.wsgi; from django.conf import settings; print(settings.CELERY_TASK_ALWAYS_EAGER)",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "False"


def test_production_without_a_broker_does_not_fall_back_to_eager_tasks():
    probe = _run("from django.conf import settings; print(settings.CELERY_TASK_ALWAYS_EAGER)")
    assert probe.stdout.strip() == "False", probe.stderr


@pytest.mark.parametrize(
    ("overrides", "ids"),
    [
        ({"PRODUCTION": True, "CELERY_BROKER_URL": "", "CELERY_TASK_ALWAYS_EAGER": False}, ["loyalty.E001"]),
        ({"PRODUCTION": True, "CELERY_BROKER_URL": "redis://r", "CELERY_TASK_ALWAYS_EAGER": True}, ["loyalty.E002"]),
        ({"PRODUCTION": True, "CELERY_BROKER_URL": "redis://r", "CELERY_TASK_ALWAYS_EAGER": False}, []),
        ({"PRODUCTION": False, "CELERY_BROKER_URL": "", "CELERY_TASK_ALWAYS_EAGER": True}, []),
    ],
)
def test_the_check_at_error_level(settings, overrides, ids):
    for name, value in overrides.items():
        setattr(settings, name, value)
    messages = broker_required_in_production()
    assert [message.id for message in messages] == ids
    assert all(message.level == checks.ERROR for message in messages)
    assert [m.id for m in checks.run_checks(tags=[TAG]) if m.is_serious()] == ids
