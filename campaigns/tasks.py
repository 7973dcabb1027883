"""Celery tasks: take ids, call a service. Every service here is idempotent, so a retried task is harmless."""

from celery import shared_task

from .services import (
    campaign_birthday_run,
    campaign_emails_send,
    campaign_manual_bonus_run,
    campaigns_advance,
    campaigns_birthday_run_all,
    campaigns_emails_send_all,
)


@shared_task(name="campaigns.tasks.advance_campaigns")
def advance_campaigns() -> dict:
    """Beat, every minute: start scheduled campaigns and end expired ones."""
    return campaigns_advance()


@shared_task(name="campaigns.tasks.birthday_gifts")
def birthday_gifts() -> int:
    """Beat, daily: birthday gifts of every running birthday campaign."""
    return campaigns_birthday_run_all()


@shared_task(name="campaigns.tasks.send_campaign_emails")
def send_campaign_emails() -> int:
    """Beat, daily: running email campaigns reach members who joined their audience since the last run."""
    return campaigns_emails_send_all()


@shared_task(name="campaigns.tasks.campaign_emails", autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def campaign_emails_task(campaign_id: int) -> int:
    return campaign_emails_send(campaign_id=campaign_id).sent


@shared_task(name="campaigns.tasks.campaign_manual_bonus")
def campaign_manual_bonus_task(campaign_id: int) -> int:
    return campaign_manual_bonus_run(campaign_id=campaign_id)


@shared_task(name="campaigns.tasks.campaign_birthday")
def campaign_birthday_task(campaign_id: int) -> int:
    return campaign_birthday_run(campaign_id=campaign_id)
