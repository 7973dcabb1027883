"""Celery tasks of the integration platform: webhook sending with backoff, and the idempotency-key purge.

Loaded from ``IntegrationsConfig.ready()`` so both web processes and workers register them.
"""

from celery import shared_task

from .services import WEBHOOK_MAX_ATTEMPTS, idempotency_records_purge, webhook_deliver


@shared_task(acks_late=True)
def webhook_deliver_task(delivery_id: int, attempt: int = 0) -> bool:
    """Send one delivery; on failure send it again after 2, 4, 8 … seconds, ``WEBHOOK_MAX_ATTEMPTS`` in all.

    The next attempt is a new task message with a countdown rather than ``self.retry()``, so it behaves the same
    with a broker and in eager mode (development and tests), where Celery's retry would raise instead.
    """
    countdown = 2 ** (attempt + 1)
    final = attempt + 1 >= WEBHOOK_MAX_ATTEMPTS
    outcome = webhook_deliver(delivery_id=delivery_id, final_attempt=final, retry_in=countdown)
    if not outcome.give_up:
        webhook_deliver_task.apply_async(args=[delivery_id], kwargs={"attempt": attempt + 1}, countdown=countdown)
    return outcome.delivered


@shared_task
def purge_idempotency_records() -> int:
    return idempotency_records_purge()
