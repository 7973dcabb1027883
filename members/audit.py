"""What the services tell the staff audit trail, without knowing where it is kept.

The audit log (``backoffice.models.StaffAuditLog``) belongs to the staff console, which every feature app is
forbidden to import. So the services that change program rules or correct a member's account announce the change
through the ``rule_changed`` and ``account_action_recorded`` registries of :mod:`members.hooks`, and the console
registers the writer of the audit row from its ``AppConfig.ready()``. The services call these helpers inside
their own ``transaction.atomic()`` block, after the change is written (before it, for a delete), so the change
and its audit row commit together or not at all: an audit write that fails rolls the change back.

- :func:`rule_save` / :func:`rule_delete`: create, change or delete a program-rule row (program settings, tiers,
  earning rules, rewards, referral program, disposable domains, segments, campaigns, staff settings). ``before``
  and ``after`` are :func:`snapshot` dicts as the database stores them; a save that changed nothing announces
  nothing.
- :func:`account_action_announce`: a ledger reversal, a member closure, ...: ``action`` names it (one of the
  :data:`ACCOUNT_ACTIONS`), ``before``/``after`` hold the figures that moved, never personal data.

A service called without an actor (seed data, scripts) still announces its change, with ``actor=None``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction

from . import hooks

RULE_CREATED = "created"
RULE_CHANGED = "changed"
RULE_DELETED = "deleted"

POINTS_REVERSED = "points_reversed"
MEMBER_CLOSED = "member_closed"
ACCOUNT_ACTIONS = (POINTS_REVERSED, MEMBER_CLOSED)
ACTION_APPROVED = "action_approved"
ACTION_REJECTED = "action_rejected"
ACCOUNT_ACTIONS += (ACTION_APPROVED, ACTION_REJECTED)


def snapshot(obj: models.Model | None) -> dict | None:
    """A JSON-safe dict of a row's concrete fields and many-to-many ids (sorted), for before/after.

    ``auto_now`` timestamps are left out: they change on every save and would make every save look like a change.
    """
    if obj is None:
        return None
    data = {}
    for field in obj._meta.concrete_fields:
        if getattr(field, "auto_now", False):
            continue
        value = field.value_from_object(obj)
        if isinstance(field, models.FileField):
            value = value.name or ""
        data[field.name] = value
    if obj.pk is not None:
        for field in obj._meta.many_to_many:
            data[field.name] = sorted(getattr(obj, field.attname).values_list("pk", flat=True))
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def stored_snapshot(obj: models.Model) -> dict | None:
    """:func:`snapshot` of the row as the database has it now (None if there is none)."""
    if obj.pk is None:
        return None
    return snapshot(type(obj)._default_manager.filter(pk=obj.pk).first())


def rule_change_announce(*, actor, obj: models.Model, before: dict | None, after: dict | None, action: str) -> None:
    """Tell every ``rule_changed`` hook. Call inside the transaction of the change."""
    if action == RULE_CHANGED and before == after:
        return
    for hook in hooks.rule_changed:
        hook(actor=actor, obj=obj, before=before, after=after, action=action)


def rule_save(obj: models.Model, *, actor, save: Callable[[], object] | None = None) -> models.Model:
    """Save a program-rule row (``save()`` or ``obj.save``) and announce it, in one transaction.

    ``save`` also writes what the row's own ``save()`` does not, e.g. its many-to-many fields.
    """
    with transaction.atomic():
        before = None if obj._state.adding else stored_snapshot(obj)
        (save or obj.save)()
        rule_change_announce(
            actor=actor,
            obj=obj,
            before=before,
            after=stored_snapshot(obj),
            action=RULE_CREATED if before is None else RULE_CHANGED,
        )
    return obj


def rule_delete(obj: models.Model, *, actor) -> None:
    """Announce and delete a program-rule row (through its own ``delete()``), in one transaction."""
    with transaction.atomic():
        rule_change_announce(actor=actor, obj=obj, before=stored_snapshot(obj), after=None, action=RULE_DELETED)
        obj.delete()


def account_action_announce(
    *,
    actor,
    action: str,
    obj: models.Model,
    member,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    object_repr: str = "",
) -> None:
    """Tell every ``account_action_recorded`` hook. Call inside the transaction of the change."""
    if action not in ACCOUNT_ACTIONS:
        raise ValueError(f"Unknown account action {action!r}.")
    for hook in hooks.account_action_recorded:
        hook(
            actor=actor,
            action=action,
            obj=obj,
            member=member,
            before=before,
            after=after,
            reason=reason,
            object_repr=object_repr,
        )
