import logging
import os
import time

from celery import Celery, signals

from integrations import logs, metrics

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_site.settings")

app = Celery("loyalty_site")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="loyalty_site.ping")
def ping() -> str:
    """Round-trip check used by the health tests and operators (`celery call loyalty_site.ping`)."""
    return "pong"


# --- Request ids, task log lines and failure counts ----------------------------------------------------------------
# The request id of the request (or task) that queues a task travels in the message's headers, and is the
# worker's current request id while the task runs, so its log lines carry it too.

_task_started: dict[str, float] = {}
task_logger = logging.getLogger("loyalty.task")


@signals.before_task_publish.connect
def request_id_to_headers(headers=None, **kwargs):
    request_id = logs.request_id_var.get()
    if headers is not None and request_id and "x_request_id" not in headers:
        headers["x_request_id"] = request_id


@signals.task_prerun.connect
def request_id_from_headers(task_id=None, task=None, **kwargs):
    incoming = getattr(task.request, "x_request_id", None) if task is not None else None
    headers = getattr(task.request, "headers", None) or {} if task is not None else {}
    incoming = incoming or headers.get("x_request_id")
    if incoming and not task.request.is_eager:
        logs.request_id_var.set(logs.request_id_new(incoming))
    _task_started[task_id] = time.perf_counter()


@signals.task_postrun.connect
def task_log_line(task_id=None, task=None, state=None, **kwargs):
    started = _task_started.pop(task_id, None)
    task_logger.info(
        "task",
        extra={
            "task": getattr(task, "name", ""),
            "task_id": task_id,
            "state": state,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2) if started else None,
        },
    )
    if task is not None and not task.request.is_eager:
        logs.request_id_var.set("")


@signals.task_failure.connect
def task_failure_count(sender=None, **kwargs):
    metrics.TASK_FAILURES.labels(task=getattr(sender, "name", "unknown")).inc()
