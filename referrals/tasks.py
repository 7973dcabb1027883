from celery import shared_task

from .services import referrals_expire_overdue


@shared_task
def expire_referrals() -> int:
    """Expire referrals whose friend did not make a qualifying purchase in time (run daily)."""
    return referrals_expire_overdue()
