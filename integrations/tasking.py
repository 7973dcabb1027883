"""Queueing a Celery task once the current transaction commits, by the task's registered name.

A service that starts background work names the task instead of importing it: the task module imports the
service it runs, so an import back would make a cycle. The name is the task's module path
(``backoffice.tasks.import_job_run_task``), checked when the message is sent; tests assert each one resolves.
"""

from celery import current_app
from django.db import transaction


def task_enqueue_on_commit(task_name: str, *args, robust: bool = False, **kwargs) -> None:
    """Send ``task_name(*args, **kwargs)`` after commit (at once outside a transaction). With ``robust``, a broker
    that cannot be reached is logged instead of raised, so the committed change stands either way."""
    transaction.on_commit(lambda: current_app.tasks[task_name].delay(*args, **kwargs), robust=robust)
