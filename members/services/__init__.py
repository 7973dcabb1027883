"""Every write of the members app. Views, admin, API, tasks and other apps call these, nothing else."""

from .enrollment import member_close, member_enroll, member_register, member_update_profile
from .ledger import account_lock, ledger_post, points_adjust, points_reverse, points_transfer

__all__ = [
    "account_lock",
    "ledger_post",
    "member_close",
    "member_enroll",
    "member_register",
    "member_update_profile",
    "points_adjust",
    "points_reverse",
    "points_transfer",
]
