"""``/health/live`` and ``/health/ready`` for load balancers and orchestrators: JSON, no authentication, cheap.

A small view here rather than django-health-check: that package is an installed app with its own URLs, templates
and a plugin per backend, and its default checks (storage writes, disk and memory) cost more than a probe that
runs every few seconds on every node should; the four checks below are a dozen lines, answer in one round trip
each, and say in the body which one failed.

- live: the process answers (no I/O at all). A failure means restart the process.
- ready: the database answers ``SELECT 1``, the cache stores and reads a key, the Celery broker accepts a
  connection (skipped when tasks run eagerly, i.e. no broker is configured), and no migration is unapplied. A
  failure means take the node out of the load balancer; 503 with the failing check's name.
  "Migrations applied" is checked once per process until it is true, then remembered: migrations only ever get
  applied, never unapplied, while a release is running.
"""

import time

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

_migrations_applied = False


def _database() -> None:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")


def _cache() -> None:
    cache.set("health:ready", "ok", timeout=30)
    if cache.get("health:ready") != "ok":
        raise RuntimeError("cache did not return what was stored")


def _broker() -> str:
    from django.conf import settings

    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False) or not getattr(settings, "CELERY_BROKER_URL", ""):
        return "skipped"
    from loyalty_site.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)
    return "ok"


def _migrations() -> None:
    global _migrations_applied
    if _migrations_applied:
        return
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise RuntimeError(f"{len(plan)} migration(s) not applied")
    _migrations_applied = True


CHECKS = {"database": _database, "cache": _cache, "broker": _broker, "migrations": _migrations}


@never_cache
@require_safe
def live(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
def ready(request):
    checks, failed = {}, []
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            outcome = check() or "ok"
        except Exception as error:  # a probe reports every failure, never raises
            outcome = "failed"
            failed.append(name)
            checks[name] = {"status": outcome, "error": type(error).__name__}
        else:
            checks[name] = {"status": outcome}
        checks[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    body = {"status": "failed" if failed else "ok", "failed": failed, "checks": checks}
    return JsonResponse(body, status=503 if failed else 200)
