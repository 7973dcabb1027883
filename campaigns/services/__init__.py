"""Every write of the campaigns app. Admin actions, views and tasks call these, nothing else."""

from .bonuses import campaign_birthday_run, campaign_manual_bonus_run, campaigns_birthday_run_all
from .emails import campaign_email_preview, campaign_emails_send, campaigns_emails_send_all, member_unsubscribe
from .lifecycle import (
    TRANSITIONS,
    campaign_copy,
    campaign_create,
    campaign_delete,
    campaign_end,
    campaign_launch,
    campaign_pause,
    campaign_resume,
    campaign_schedule,
    campaign_unschedule,
    campaign_update,
    campaigns_advance,
)
from .refunds import campaign_refund_record
from .segments import segment_delete, segment_list_upload, segment_save

__all__ = [
    "TRANSITIONS",
    "campaign_birthday_run",
    "campaign_copy",
    "campaign_create",
    "campaign_delete",
    "campaign_email_preview",
    "campaign_emails_send",
    "campaign_end",
    "campaign_launch",
    "campaign_manual_bonus_run",
    "campaign_pause",
    "campaign_refund_record",
    "campaign_resume",
    "campaign_schedule",
    "campaign_unschedule",
    "campaign_update",
    "campaigns_advance",
    "campaigns_birthday_run_all",
    "campaigns_emails_send_all",
    "member_unsubscribe",
    "segment_delete",
    "segment_list_upload",
    "segment_save",
]
