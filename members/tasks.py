"""Scheduled jobs of the points ledger (see CELERY_BEAT_SCHEDULE). Each task only calls a service.

The services are idempotent and chunked, so a task that dies half-way is simply run again (``acks_late``: a
worker lost mid-run leaves the message on the queue).
"""

from celery import shared_task
from django.conf import settings

from .services import batch, feedback, tier_news
from .subscriptions import services as subscriptions


@shared_task(acks_late=True)
def release_pending_points() -> int:
    return batch.points_release_pending()


@shared_task(acks_late=True)
def expire_points() -> int:
    expired = batch.points_expire_due(batch_size=settings.POINTS_EXPIRY_BATCH_ACCOUNTS)
    batch.expiry_run_mark(points=expired)
    return expired


@shared_task(acks_late=True)
def send_expiry_reminders() -> int:
    return batch.expiry_reminders_send()


@shared_task(acks_late=True)
def evaluate_tiers() -> int:
    return batch.tiers_evaluate()


@shared_task(acks_late=True)
def send_tier_news(member_ids: list[int]) -> int:
    return tier_news.tier_news_email(member_ids=member_ids)


@shared_task(acks_late=True)
def send_feedback_requests() -> int:
    """Hourly: ask about yesterday's purchases (the program's delay), one request per member per interval."""
    return feedback.feedback_emails_send(request_ids=feedback.feedback_requests_create())


def subscriptions_daily() -> dict:
    """End lapsed subscriptions, then give each running one its period's reward (both idempotent)."""
    ended = subscriptions.subscriptions_expire_due()
    granted = subscriptions.subscription_period_rewards_grant()
    return {"ended": ended, "rewards_granted": granted}
