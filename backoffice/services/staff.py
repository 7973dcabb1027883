"""Writes of the staff console: the audit trail, point adjustments with two-person approval, and imports.

Every staff action that moves points or changes program rules leaves a :class:`~backoffice.models.StaffAuditLog`
row in the same transaction as the change itself. The console's own writes call :func:`audit_record`. The other
apps' services (program rules, reversals, closures) cannot import the console: they announce their changes
through ``members.hooks.rule_changed`` / ``account_action_recorded`` (see :mod:`members.audit`), inside their
transaction, and :func:`program_rule_change_record` / :func:`account_action_record`, registered by
``BackofficeConfig.ready()``, write the row there.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from backoffice.models import AdjustmentRequest, ImportJob, StaffAuditLog, StaffSettings
from integrations.tasking import task_enqueue_on_commit
from members import audit
from members.exceptions import AdjustmentNotAllowed, LoyaltyError, OwnAccountNotAllowed
from members.models import LedgerEntry, Member
from members.services.ledger import points_adjust

Action = StaffAuditLog.Action


class PermissionMissing(LoyaltyError):
    code = "permission_missing"
    default_message = gettext_lazy("You do not have permission to do this.")


class SelfApprovalNotAllowed(LoyaltyError):
    code = "self_approval"
    default_message = gettext_lazy("A second person must approve this adjustment; you cannot approve your own.")


class AdjustmentAlreadyDecided(LoyaltyError):
    code = "adjustment_decided"
    default_message = gettext_lazy("This adjustment request was already decided.")


def _require(actor, permission: str) -> None:
    if actor is None or not actor.has_perm(permission):
        raise PermissionMissing()


def audit_record(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    member: Member | None = None,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    object_repr: str = "",
) -> StaffAuditLog:
    """Append one audit entry. Call it inside the transaction of the change it records."""
    object_type = object_id = ""
    if obj is not None:
        object_type = obj._meta.label_lower
        object_id = str(obj.pk) if obj.pk is not None else ""
        object_repr = object_repr or str(obj)
    return StaffAuditLog.objects.create(
        actor=actor if getattr(actor, "pk", None) else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr[:200],
        member=member,
        before=before,
        after=after,
        reason=reason or "",
    )


_RULE_ACTIONS = {
    audit.RULE_CREATED: Action.RULE_CREATED,
    audit.RULE_CHANGED: Action.RULE_CHANGED,
    audit.RULE_DELETED: Action.RULE_DELETED,
}
_ACCOUNT_ACTIONS = {audit.POINTS_REVERSED: Action.POINTS_REVERSED, audit.MEMBER_CLOSED: Action.MEMBER_CLOSED}
_ACCOUNT_ACTIONS |= {audit.ACTION_APPROVED: Action.ACTION_APPROVED, audit.ACTION_REJECTED: Action.ACTION_REJECTED}


def program_rule_change_record(
    *, actor, obj: models.Model, before: dict | None, after: dict | None, action: str, reason: str = ""
) -> StaffAuditLog | None:
    """Record a create/change/delete of a program rule: the ``members.hooks.rule_changed`` hook.

    ``before``/``after`` are :func:`members.audit.snapshot` dicts of the row as stored (None for the side that
    does not exist). A change keeps only the fields that differ; one that changed nothing records nothing.
    """
    if action == audit.RULE_CHANGED:
        changed = sorted(key for key in {*before, *after} if before.get(key) != after.get(key))
        if not changed:
            return None
        before = {key: before.get(key) for key in changed}
        after = {key: after.get(key) for key in changed}
    return audit_record(actor=actor, action=_RULE_ACTIONS[action], obj=obj, before=before, after=after, reason=reason)


def account_action_record(
    *,
    actor,
    action: str,
    obj: models.Model,
    member: Member,
    before: dict | None,
    after: dict | None,
    reason: str,
    object_repr: str,
) -> StaffAuditLog:
    """Record a correction or closure of a member's account: the ``members.hooks.account_action_recorded`` hook."""
    return audit_record(
        actor=actor,
        action=_ACCOUNT_ACTIONS[action],
        obj=obj,
        member=member,
        before=before,
        after=after,
        reason=reason,
        object_repr=object_repr,
    )


@dataclass
class AdjustmentOutcome:
    """What a staff adjustment did: posted at once (``entry``) or queued for approval (``request``)."""

    entry: LedgerEntry | None = None
    request: AdjustmentRequest | None = None

    @property
    def needs_approval(self) -> bool:
        return self.request is not None and self.entry is None


def staff_settings_get() -> StaffSettings:
    return StaffSettings.load()


@transaction.atomic
def staff_points_adjust(*, member: Member, points: int, reason: str, actor, idempotency_key: str) -> AdjustmentOutcome:
    """Adjust a member's points as a staff member.

    Posts at once through :func:`members.services.points_adjust` only when all of these hold: the member is not
    the staff member themself, the adjustment is within the support limit (``support_adjustment_limit``, on the
    absolute value), and with it the actor's direct adjustments today stay within ``support_daily_limit``
    (absolute values added up, the program's calendar day). Otherwise an :class:`AdjustmentRequest` is created and
    waits for a second person, who may not be the requester nor the member. Either way the action is audited.
    Idempotent on ``idempotency_key``.

    Locking: the actor's user row, so two adjustments by one person at once cannot both fit under the daily limit;
    then the member's account (inside ``points_adjust``).
    """
    _require(actor, "backoffice.adjust_points")
    reason = (reason or "").strip()
    if not reason:
        raise AdjustmentNotAllowed(_("A reason is required for every adjustment."), field="reason")
    if points == 0:
        raise AdjustmentNotAllowed(_("An adjustment must add or remove at least one point."), field="points")
    settings_row = staff_settings_get()
    get_user_model().objects.select_for_update().filter(pk=actor.pk).first()
    replay = LedgerEntry.objects.filter(idempotency_key=f"staff-adjust:{idempotency_key}").first()
    needs_second_person = replay is None and (
        member.user_id == actor.pk
        or abs(points) > settings_row.support_adjustment_limit
        or adjusted_today(actor=actor) + abs(points) > settings_row.support_daily_limit
    )
    if needs_second_person:
        return AdjustmentOutcome(
            request=adjustment_request_create(
                member=member, points=points, reason=reason, actor=actor, idempotency_key=idempotency_key
            )
        )
    key = f"staff-adjust:{idempotency_key}"
    entry = points_adjust(member=member, points=points, reason=reason, actor=actor, idempotency_key=key)
    if not entry.replayed:
        audit_record(
            actor=actor,
            action=Action.POINTS_ADJUSTED,
            obj=entry,
            member=member,
            after={"points": entry.points, "balance_after": entry.balance_after, "idempotency_key": key},
            reason=reason,
        )
    return AdjustmentOutcome(entry=entry)


def adjusted_today(*, actor, now=None) -> int:
    """Points ``actor`` adjusted directly (without approval) on the program's calendar day of ``now``, credits and
    debits added up as absolute values."""
    day_start = timezone.localtime(now or timezone.now()).replace(hour=0, minute=0, second=0, microsecond=0)
    entries = LedgerEntry.objects.filter(
        kind=LedgerEntry.Kind.ADJUST,
        actor=actor,
        created_at__gte=day_start,
        created_at__lt=day_start + timedelta(days=1),
        idempotency_key__startswith="staff-adjust:",
    )
    return sum(abs(points) for points in entries.values_list("points", flat=True))


@transaction.atomic
def adjustment_request_create(
    *, member: Member, points: int, reason: str, actor, idempotency_key: str
) -> AdjustmentRequest:
    """Queue an adjustment for a second person's approval. Idempotent on ``idempotency_key``."""
    _require(actor, "backoffice.adjust_points")
    reason = (reason or "").strip()
    if not reason:
        raise AdjustmentNotAllowed(_("A reason is required for every adjustment."), field="reason")
    if points == 0:
        raise AdjustmentNotAllowed(_("An adjustment must add or remove at least one point."), field="points")
    key = f"adjustment-request:{idempotency_key}"
    request, created = AdjustmentRequest.objects.get_or_create(
        idempotency_key=key,
        defaults={"member": member, "points": points, "reason": reason, "requested_by": actor},
    )
    if not created and (request.member_id != member.pk or request.points != points):
        from members.exceptions import DuplicateRequest

        raise DuplicateRequest()
    if created:
        audit_record(
            actor=actor,
            action=Action.ADJUSTMENT_REQUESTED,
            obj=request,
            member=member,
            after={"points": points, "status": request.status},
            reason=reason,
        )
    return request


def _lock_pending(request: AdjustmentRequest) -> AdjustmentRequest:
    locked = AdjustmentRequest.objects.select_for_update().select_related("member").get(pk=request.pk)
    if locked.status != AdjustmentRequest.Status.PENDING:
        raise AdjustmentAlreadyDecided()
    return locked


@transaction.atomic
def adjustment_approve(*, request: AdjustmentRequest, actor, note: str = "") -> AdjustmentRequest:
    """Approve a pending request and post it. The approver needs ``approve_adjustment`` and must not be the
    requester. The ledger entry's idempotency key derives from the request id, so it posts at most once."""
    _require(actor, "backoffice.approve_adjustment")
    request = _lock_pending(request)
    if request.requested_by_id == actor.pk:
        raise SelfApprovalNotAllowed()
    if request.member.user_id == actor.pk:
        raise OwnAccountNotAllowed()
    entry = points_adjust(
        member=request.member,
        points=request.points,
        reason=request.reason,
        actor=actor,
        idempotency_key=f"adjustment-request:{request.pk}",
    )
    request.status = AdjustmentRequest.Status.APPROVED
    request.decided_by = actor
    request.decided_at = timezone.now()
    request.decision_note = (note or "").strip()
    request.entry = entry
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "entry"])
    audit_record(
        actor=actor,
        action=Action.ADJUSTMENT_APPROVED,
        obj=request,
        member=request.member,
        before={"status": AdjustmentRequest.Status.PENDING},
        after={"status": request.status, "entry_id": entry.pk, "balance_after": entry.balance_after},
        reason=request.decision_note,
    )
    return request


@transaction.atomic
def adjustment_reject(*, request: AdjustmentRequest, actor, note: str = "") -> AdjustmentRequest:
    """Reject a pending request; nothing is posted. Same four-eyes rule as approval."""
    _require(actor, "backoffice.approve_adjustment")
    request = _lock_pending(request)
    if request.requested_by_id == actor.pk:
        raise SelfApprovalNotAllowed()
    request.status = AdjustmentRequest.Status.REJECTED
    request.decided_by = actor
    request.decided_at = timezone.now()
    request.decision_note = (note or "").strip()
    request.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    audit_record(
        actor=actor,
        action=Action.ADJUSTMENT_REJECTED,
        obj=request,
        member=request.member,
        before={"status": AdjustmentRequest.Status.PENDING},
        after={"status": request.status},
        reason=request.decision_note,
    )
    return request


def file_sha256(file) -> str:
    digest = hashlib.sha256()
    file.seek(0)
    for chunk in iter(lambda: file.read(1 << 20), b""):
        digest.update(chunk if isinstance(chunk, bytes) else chunk.encode())
    file.seek(0)
    return digest.hexdigest()


@transaction.atomic
def import_job_create(*, kind: str, file, dry_run: bool, actor, source_name: str = "till") -> ImportJob:
    """Store an uploaded CSV and queue its import (a Celery task that runs after commit)."""
    _require(actor, "backoffice.import_data")
    if kind not in ImportJob.Kind.values:
        raise LoyaltyError(_("Unknown import kind."), field="kind")
    job = ImportJob(kind=kind, dry_run=dry_run, created_by=actor, source_name=(source_name or "till").strip())
    job.file_sha256 = file_sha256(file)
    job.file.save(getattr(file, "name", "import.csv").rsplit("/", 1)[-1], file, save=False)
    job.save()
    audit_record(
        actor=actor,
        action=Action.IMPORT_STARTED,
        obj=job,
        after={"kind": kind, "dry_run": dry_run, "sha256": job.file_sha256},
    )
    task_enqueue_on_commit("members.staff.import_job_run", job.pk)
    return job


class ImportJobNotResumable(LoyaltyError):
    code = "import_not_resumable"


@transaction.atomic
def import_job_resume(*, job: ImportJob, actor) -> ImportJob:
    """Queue a stuck job's task again (its runner silent for ``IMPORT_HEARTBEAT_TIMEOUT``: a killed worker), or a
    real import that failed for a reason of its own (the database went away). It continues after its last committed
    chunk; a failed job is validated again first. Refused for a job that is still alive, done or cancelled."""
    _require(actor, "backoffice.import_data")
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    before = {"status": job.status, "written_rows": job.written_rows}
    if job.can_resume_after_failure:
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.QUEUED, message="", finished_at=None)
    elif not job.is_stuck():
        raise ImportJobNotResumable(_("Only a stuck import, or one that failed without row errors, can be resumed."))
    audit_record(actor=actor, action=Action.IMPORT_RESUMED, obj=job, before=before)
    task_enqueue_on_commit("members.staff.import_job_run", job.pk)
    job.refresh_from_db()
    return job


@transaction.atomic
def import_job_cancel(*, job: ImportJob, actor) -> ImportJob:
    """Cancel a queued or running job. Its runner stops before its next chunk; the chunks already committed stay
    (their rows are real members or purchases, and importing the file again skips them)."""
    _require(actor, "backoffice.import_data")
    job = ImportJob.objects.select_for_update().get(pk=job.pk)
    if not job.is_running:
        raise ImportJobNotResumable(_("Only a queued or running import can be cancelled."))
    before = {"status": job.status, "written_rows": job.written_rows}
    message = _("Cancelled by %(actor)s after %(rows)s rows; the rows written before stay.") % {
        "actor": actor.get_username(),
        "rows": job.written_rows,
    }
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.CANCELLED, message=message, finished_at=timezone.now()
    )
    audit_record(actor=actor, action=Action.IMPORT_CANCELLED, obj=job, before=before)
    job.refresh_from_db()
    return job


def import_job_run(*, job_id: int) -> ImportJob:
    """Run a queued import (called by the task). Validates every row first; writes only if none failed."""
    from backoffice.imports import run_import

    return run_import(job_id=job_id)


def staff_settings_save(*, staff_settings: StaffSettings, actor) -> StaffSettings:
    """Save the console's settings as edited by staff, with an audit row in the same transaction."""
    return audit.rule_save(staff_settings, actor=actor)
