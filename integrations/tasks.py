"""Celery tasks of the integration platform: webhook sending with backoff, the sweeper that re-queues deliveries
whose task was lost, and the idempotency-key purge.

Loaded from ``IntegrationsConfig.ready()`` so both web processes and workers register them.
"""

from celery import shared_task
from django.db import InterfaceError, OperationalError

from .services import idempotency_records_purge, webhook_deliver, webhook_deliveries_due

#: A database or broker blip: the delivery task tries again (1, 2, 4 … 32 s apart) this many times, then leaves
#: the delivery to the sweeper, which finds every pending delivery that is overdue.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
TRANSIENT_RETRIES = 6


@shared_task(acks_late=True)
def webhook_deliver_task(delivery_id: int, attempt: int = 0, transient: int = 0) -> bool:
    """Send one delivery; on failure send it again after 2, 4, 8 … seconds, ``WEBHOOK_MAX_ATTEMPTS`` in all.

    The next attempt is a new task message with a countdown rather than ``self.retry()``, so it behaves the same
    with a broker and in eager mode (development and tests), where Celery's retry would raise instead. So is a
    transient error (the database or broker unreachable): not the endpoint's fault, it uses none of its attempts;
    after ``TRANSIENT_RETRIES`` of them in a row the error is raised and the sweeper takes over. (The worker
    replaces a connection the outage broke before the next task: Celery's Django fix-up.) ``attempt`` is
    informational; the stored count decides.
    """
    try:
        outcome = webhook_deliver(delivery_id=delivery_id)
        if not outcome.give_up:
            webhook_deliver_task.apply_async(
                args=[delivery_id], kwargs={"attempt": outcome.attempts}, countdown=outcome.retry_in
            )
    except TRANSIENT_ERRORS:
        if transient >= TRANSIENT_RETRIES:
            raise
        webhook_deliver_task.apply_async(
            args=[delivery_id], kwargs={"attempt": attempt, "transient": transient + 1}, countdown=2**transient
        )
        return False
    return outcome.delivered


@shared_task(acks_late=True)
def webhook_deliveries_sweep() -> int:
    """Every minute (``CELERY_BEAT_SCHEDULE``): queue again each pending delivery whose attempt is overdue, because
    its task was lost (a worker killed, the database or broker down when it ran or was to be queued)."""
    due = webhook_deliveries_due()
    for delivery_id, attempts in due:
        webhook_deliver_task.apply_async(args=[delivery_id], kwargs={"attempt": attempts})
    return len(due)


@shared_task
def purge_idempotency_records() -> int:
    return idempotency_records_purge()
