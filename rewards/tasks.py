"""Celery tasks of the rewards app: thin wrappers that call a service."""

from celery import shared_task

from .services import vouchers_expire_due


@shared_task(name="rewards.tasks.expire_vouchers")
def expire_vouchers() -> int:
    """Expire vouchers whose time is up (and refund their points if the program says so)."""
    return vouchers_expire_due()
