"""System checks of the platform's background work (``manage.py check``; also run by ``loyalty_site.wsgi`` at boot).

In production every task must go through a broker to a worker. Without one, tasks run eagerly inside the request
that queued them, so a hanging webhook endpoint holds a purchase's response (and its web worker) for as long as
it hangs. And a broker's visibility timeout shorter than a task's time limit hands a still-running task to a second
worker.
"""

from django.conf import settings
from django.core import checks

TAG = "loyalty"


@checks.register(TAG, checks.Tags.compatibility)
def broker_required_in_production(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if not getattr(settings, "PRODUCTION", False):
        return []
    errors = []
    if not getattr(settings, "CELERY_BROKER_URL", ""):
        errors.append(
            checks.Error(
                "CELERY_BROKER_URL is not set: with DJANGO_ENV=production every task needs a broker.",
                hint="Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) and run a worker (docs/operations.md).",
                id="loyalty.E001",
            )
        )
    if getattr(settings, "CELERY_TASK_ALWAYS_EAGER", False):
        errors.append(
            checks.Error(
                "CELERY_TASK_ALWAYS_EAGER is on: tasks (webhook deliveries, e-mails) would run inside requests.",
                hint="Unset CELERY_TASK_ALWAYS_EAGER in production.",
                id="loyalty.E002",
            )
        )
    return errors


@checks.register(TAG)
def visibility_timeout_covers_the_longest_task(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    if not getattr(settings, "CELERY_BROKER_URL", ""):
        return []
    timeout = (getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}).get("visibility_timeout")
    longest = getattr(settings, "CELERY_TASK_TIME_LIMIT", None)
    if timeout is None or longest is None or timeout > longest:
        return []
    return [
        checks.Warning(
            f"The broker's visibility timeout ({timeout} s) is not longer than the longest task ({longest} s): "
            "a task still running when it passes is handed to a second worker.",
            hint="Leave CELERY_VISIBILITY_TIMEOUT unset (it follows CELERY_TASK_TIME_LIMIT) or raise it.",
            id="loyalty.W001",
        )
    ]


def serious_problems() -> list[checks.CheckMessage]:
    """This module's errors (``loyalty_site.wsgi`` refuses to serve while there are any)."""
    return [message for message in checks.run_checks(tags=[TAG]) if message.is_serious()]
