"""Points for what members do besides buying: recording an action, and staff approving or rejecting it.

Every occurrence is recorded under the member's account lock (:func:`members.services.ledger.account_lock`), so
one member's concurrent reports serialise and the limits (``members.action_rules``) cannot be raced. Credited
points are one ``ACTION`` ledger entry whose source is the occurrence; its idempotency key derives from the
occurrence, so an approval retried posts once. ``action.recorded`` (and ``action.reviewed``) are emitted in the
same transaction, from the stored rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import action_rules, audit, hooks
from ..exceptions import ActionNotAvailable, ActionReviewNotAllowed, ExternalIdTaken, OwnAccountNotAllowed
from ..models import ActionOccurrence, EarningAction, LedgerEntry, Member, PointsAccount
from .ledger import account_lock, ledger_post

ACTION_RECORDED = "action.recorded"
ACTION_REVIEWED = "action.reviewed"


@dataclass
class ActionResult:
    occurrence: ActionOccurrence
    balance: int
    limits: list[action_rules.LimitLeft] = field(default_factory=list)
    replayed: bool = False

    @property
    def status(self) -> str:
        return self.occurrence.status

    @property
    def points(self) -> int:
        return self.occurrence.points

    @property
    def limit_remaining(self) -> int | None:
        return action_rules.limit_remaining(self.limits)


def earning_action_save(*, action: EarningAction, actor) -> EarningAction:
    """Create or change an earning action (audited like every program rule)."""
    return audit.rule_save(action, actor=actor)


def earning_action_delete(*, action: EarningAction, actor) -> None:
    """Delete an earning action that nobody has done yet (recorded occurrences protect it: switch it off)."""
    audit.rule_delete(action, actor=actor)


def _describe(occurrence: ActionOccurrence) -> str:
    action = occurrence.action
    if action.per_unit:
        return f"{action.name}: {occurrence.quantity} × {action.unit_name}"
    return action.name


def _credit(*, account: PointsAccount, occurrence: ActionOccurrence, actor=None, now: datetime) -> LedgerEntry:
    return ledger_post(
        account=account,
        kind=LedgerEntry.Kind.ACTION,
        points=occurrence.points,
        idempotency_key=f"action:{occurrence.pk}",
        description=_describe(occurrence),
        source=occurrence,
        actor=actor,
        now=now,
        new_key=True,  # the occurrence was inserted, or moved out of review, under this lock just now
    )


def action_payload(occurrence: ActionOccurrence, *, balance: int) -> dict:
    """The ``action.recorded`` / ``action.reviewed`` data, from the stored occurrence."""
    return {
        "member_number": occurrence.member.member_number,
        "occurrence_id": occurrence.pk,
        "action": occurrence.action.code,
        "external_id": occurrence.external_id,
        "source": occurrence.source,
        "status": occurrence.status,
        "quantity": occurrence.quantity,
        "points": occurrence.points if occurrence.status == ActionOccurrence.Status.CREDITED else 0,
        "balance": balance,
        "occurred_at": occurrence.occurred_at,
        "reference": occurrence.reference,
        "recorded_at": occurrence.created_at,
        "reviewed_at": occurrence.reviewed_at,
        "review_reason": occurrence.review_reason,
    }


def _result(occurrence: ActionOccurrence, *, member_id: int, replayed: bool) -> ActionResult:
    """The stored occurrence with the account's balance and what is left of each limit, read after the writes."""
    balance = PointsAccount.objects.values_list("balance", flat=True).get(pk=member_id)
    used = action_rules.units_used(member_id=member_id, action=occurrence.action, moment=occurrence.occurred_at)
    return ActionResult(
        occurrence=occurrence,
        balance=balance,
        limits=action_rules.limits_left(occurrence.action, used),
        replayed=replayed,
    )


def action_record(
    *,
    member: Member,
    action_code: str,
    external_id: str,
    source: str = "",
    quantity: int = 1,
    occurred_at: datetime | None = None,
    reference: str = "",
    metadata: dict | None = None,
    now: datetime | None = None,
) -> ActionResult:
    """Record that ``member`` did the action ``action_code``, once per ``(source, external_id)``.

    Guarantees:
    - The same ``external_id`` from the same source again returns the first occurrence (``replayed``) and
      changes nothing; from the same source for another member it raises :class:`ExternalIdTaken`.
    - Refuses with :class:`ActionNotAvailable` (unknown, inactive or outside its window at ``occurred_at``, tier
      too low, a quantity the action does not take) or :class:`ActionLimitReached` (a limit of the periods
      containing ``occurred_at``, or the total, would be exceeded); nothing is written.
    - Without approval, credits the points at once (spendable, no return window) through ``ledger_post``;
      with approval, the occurrence waits as ``pending_review`` and its units count against the limits.
    - Emits ``action.recorded`` in the same transaction, built from the stored rows; not on a replay.
    """
    now = now or timezone.now()
    occurred_at = occurred_at or now
    with transaction.atomic():
        account = account_lock(member_id=member.pk)
        existing = (
            ActionOccurrence.objects.select_related("action", "member")
            .filter(source=source, external_id=external_id)
            .first()
        )
        if existing is not None:
            if existing.member_id != member.pk:
                raise ExternalIdTaken(_("This action id was already recorded for another member."))
            return _result(existing, member_id=member.pk, replayed=True)

        action = EarningAction.objects.select_related("min_tier").filter(code=action_code).first()
        if action is None:
            raise ActionNotAvailable(_("There is no action %(code)s.") % {"code": action_code})
        member_now = Member.objects.select_related("tier").get(pk=member.pk)
        used = action_rules.units_used(member_id=member.pk, action=action, moment=occurred_at)
        refusal = action_rules.action_refusal(
            action=action,
            member=member_now,
            tier_rank=member_now.tier.rank if member_now.tier else None,
            quantity=quantity,
            used=used,
            moment=occurred_at,
        )
        if refusal is not None:
            raise refusal
        Status = ActionOccurrence.Status
        status = Status.PENDING_REVIEW if action.requires_approval else Status.CREDITED
        occurrence = ActionOccurrence.objects.create(
            action=action,
            member=member_now,
            source=source,
            external_id=external_id,
            quantity=quantity,
            points=action_rules.action_points(action, quantity),
            status=status,
            occurred_at=occurred_at,
            reference=reference,
            metadata=metadata or {},
            created_at=now,
        )
        if status == ActionOccurrence.Status.CREDITED:
            _credit(account=account, occurrence=occurrence, now=now)
        result = _result(occurrence, member_id=member.pk, replayed=False)
        hooks.emit(ACTION_RECORDED, action_payload(occurrence, balance=result.balance))
    return result


def _review(*, occurrence: ActionOccurrence, actor, approve: bool, reason: str, now: datetime | None):
    now = now or timezone.now()
    if actor is not None and occurrence.member.user_id == actor.pk:
        raise OwnAccountNotAllowed()
    with transaction.atomic():
        account = account_lock(member_id=occurrence.member_id)
        balance_before = account.balance
        # After the account, the occurrence row itself (the lock order): a second reviewer waits here.
        current = ActionOccurrence.objects.select_for_update().select_related("action", "member").get(pk=occurrence.pk)
        if current.status != ActionOccurrence.Status.PENDING_REVIEW:
            raise ActionReviewNotAllowed(
                _("This occurrence was already %(status)s.") % {"status": current.get_status_display().lower()}
            )
        current.status = ActionOccurrence.Status.CREDITED if approve else ActionOccurrence.Status.REJECTED
        current.reviewed_by = actor
        current.reviewed_at = now
        current.review_reason = reason[:255]
        current.save(update_fields=["status", "reviewed_by", "reviewed_at", "review_reason"])
        if approve:
            _credit(account=account, occurrence=current, actor=actor, now=now)
        balance = PointsAccount.objects.values_list("balance", flat=True).get(pk=current.member_id)
        audit.account_action_announce(
            actor=actor,
            action=audit.ACTION_APPROVED if approve else audit.ACTION_REJECTED,
            obj=current,
            member=current.member,
            before={"status": ActionOccurrence.Status.PENDING_REVIEW, "balance": balance_before},
            after={"status": current.status, "points": current.points if approve else 0, "balance": balance},
            reason=current.review_reason,
            object_repr=f"{current.action.code} {current.external_id}",
        )
        hooks.emit(ACTION_REVIEWED, action_payload(current, balance=balance))
    return current


def action_occurrence_approve(
    *, occurrence: ActionOccurrence, actor, reason: str = "", now: datetime | None = None
) -> ActionOccurrence:
    """Approve an occurrence waiting for review and credit its points (once; a second review is refused).

    Nobody approves an occurrence on their own member account (:class:`OwnAccountNotAllowed`).
    """
    return _review(occurrence=occurrence, actor=actor, approve=True, reason=reason, now=now)


def action_occurrence_reject(
    *, occurrence: ActionOccurrence, actor, reason: str, now: datetime | None = None
) -> ActionOccurrence:
    """Reject an occurrence waiting for review, with a reason; it posts nothing and frees its units."""
    if not reason.strip():
        raise ActionReviewNotAllowed(_("Say why the occurrence is rejected."))
    return _review(occurrence=occurrence, actor=actor, approve=False, reason=reason.strip(), now=now)
