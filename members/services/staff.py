"""Staff corrections of a member's account, each announced to the audit trail in its own transaction.

The ledger services (:mod:`members.services.ledger`) know nothing of audit; these wrap them for the admin and
announce the correction through ``members.hooks.account_action_recorded`` (see :mod:`members.audit`).
"""

from __future__ import annotations

from django.db import transaction

from .. import audit
from ..exceptions import OwnAccountNotAllowed
from ..models import LedgerEntry
from .ledger import account_lock, points_reverse


@transaction.atomic
def points_reverse_by_staff(*, entry: LedgerEntry, reason: str, actor) -> LedgerEntry:
    """Reverse a ledger entry (:func:`~members.services.ledger.points_reverse`) and record who did it and why.

    A replay (the entry was already reversed) returns the first reversal, ``replayed`` set, and records nothing.
    Nobody reverses entries of their own member account (:class:`OwnAccountNotAllowed`).
    """
    if actor is not None and entry.account.member.user_id == actor.pk:
        raise OwnAccountNotAllowed()
    balance = account_lock(member_id=entry.account_id).balance
    reversal = points_reverse(entry=entry, reason=reason, actor=actor)
    if not getattr(reversal, "replayed", False):
        audit.account_action_announce(
            actor=actor,
            action=audit.POINTS_REVERSED,
            obj=reversal,
            member=entry.account.member,
            before={"entry_id": entry.pk, "points": entry.points, "balance": balance},
            after={"points": reversal.points, "owed_delta": reversal.owed_delta, "balance": reversal.balance_after},
            reason=reversal.description,
        )
    return reversal
