"""Celery tasks of the integration API: webhook sending with backoff, and the idempotency-key purge.

Loaded from ``MembersConfig.ready()`` so both web processes and workers register them.
"""

from celery import shared_task

from ..services.integrations import WEBHOOK_MAX_ATTEMPTS, idempotency_records_purge, webhook_deliver


@shared_task(bind=True, max_retries=WEBHOOK_MAX_ATTEMPTS - 1, acks_late=True)
def webhook_deliver_task(self, delivery_id: int) -> bool:
    """Send one delivery; on failure retry after 2, 4, 8 … seconds until ``WEBHOOK_MAX_ATTEMPTS`` attempts."""
    attempt = self.request.retries
    countdown = 2 ** (attempt + 1)
    outcome = webhook_deliver(delivery_id=delivery_id, final_attempt=attempt >= self.max_retries, retry_in=countdown)
    if not outcome.give_up:
        raise self.retry(countdown=countdown)
    return outcome.delivered


@shared_task
def purge_idempotency_records() -> int:
    return idempotency_records_purge()
