"""Creating, editing and moving campaigns through their lifecycle, every change recorded with who made it.

draft → scheduled → active ⇄ paused → ended; draft or scheduled → active (launch now); scheduled → draft
(unschedule). Rules are frozen once a campaign leaves draft: copy it to change them.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.db import transaction
from django.template import Template, TemplateSyntaxError
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.tasking import task_enqueue_on_commit
from members import audit

from ..engine import campaigns_cache_invalidate
from ..exceptions import CampaignLocked, InvalidCampaign, InvalidTransition
from ..models import Campaign, CampaignChange

Status = Campaign.Status
Kind = Campaign.Kind
Trigger = Campaign.Trigger

#: action → (statuses it may start from, status it leads to)
TRANSITIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "schedule": ((Status.DRAFT,), Status.SCHEDULED),
    "unschedule": ((Status.SCHEDULED,), Status.DRAFT),
    "launch": ((Status.DRAFT, Status.SCHEDULED), Status.ACTIVE),
    "pause": ((Status.ACTIVE,), Status.PAUSED),
    "resume": ((Status.PAUSED,), Status.ACTIVE),
    "end": ((Status.SCHEDULED, Status.ACTIVE, Status.PAUSED), Status.ENDED),
}
LIST_FIELDS = ("categories", "skus", "channels", "stores")


def _jsonable(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if hasattr(value, "pk"):
        return value.pk
    return value


def _clean_list(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = value.split(",")
    return sorted({str(item).strip() for item in value if str(item).strip()})


def campaign_check(campaign: Campaign, *, complete: bool) -> None:
    """Raise :class:`InvalidCampaign` for rules that cannot work; with ``complete`` also for missing settings."""
    if campaign.starts_at and campaign.ends_at and campaign.ends_at <= campaign.starts_at:
        raise InvalidCampaign(_("The campaign must end after it starts."), field="ends_at")
    if campaign.multiplier < 1:
        raise InvalidCampaign(_("A multiplier below 1 would take points away."), field="multiplier")
    if not 0 <= campaign.holdout_percent <= 50:
        raise InvalidCampaign(_("The holdout group can be 0 to 50 percent of the audience."), field="holdout_percent")
    for field in ("email_subject", "email_body"):
        try:
            Template(getattr(campaign, field))
        except TemplateSyntaxError as error:
            raise InvalidCampaign(_("Template error: %(error)s") % {"error": error}, field=field) from error
    if not complete:
        return
    kind = campaign.kind
    if kind == Kind.MULTIPLIER and campaign.multiplier <= 1:
        raise InvalidCampaign(_("Set a multiplier above 1."), field="multiplier")
    if kind in (Kind.FIXED_BONUS, Kind.MANUAL_BONUS) and not campaign.bonus_points:
        raise InvalidCampaign(_("Set the bonus points."), field="bonus_points")
    if kind == Kind.BIRTHDAY and not campaign.bonus_points and campaign.reward_id is None:
        raise InvalidCampaign(_("Set the bonus points, a reward, or both."), field="bonus_points")
    if campaign.reward_id is not None:
        if kind != Kind.BIRTHDAY:
            raise InvalidCampaign(_("Only birthday campaigns give a reward."), field="reward")
        if campaign.reward.kind == campaign.reward.Kind.DONATION or campaign.reward.requires_shipping:
            raise InvalidCampaign(
                _("Choose a voucher or partner reward; it is given without an address."), field="reward"
            )
    if kind == Kind.FIXED_BONUS:
        trigger = campaign.trigger
        if not trigger:
            raise InvalidCampaign(_("Choose what triggers the bonus."), field="trigger")
        if trigger == Trigger.SPEND_OVER and campaign.threshold_spend is None:
            raise InvalidCampaign(_("Set the spend threshold."), field="threshold_spend")
        if trigger == Trigger.PRODUCT and not campaign.skus:
            raise InvalidCampaign(_("List the products (SKUs) that trigger the bonus."), field="skus")
        if trigger == Trigger.CATEGORY and not campaign.categories:
            raise InvalidCampaign(_("List the categories that trigger the bonus."), field="categories")
        if trigger == Trigger.NTH_PURCHASE and not (campaign.trigger_count and campaign.trigger_period):
            raise InvalidCampaign(_("Set N and the period for the Nth purchase."), field="trigger_count")
    if kind == Kind.WINBACK:
        if not campaign.audience_days:
            raise InvalidCampaign(_("Set how many days without a purchase count as lapsed."), field="audience_days")
        if (campaign.bonus_points or campaign.multiplier > 1) and not campaign.offer_days:
            raise InvalidCampaign(_("Set how many days the win-back offer lasts."), field="offer_days")
    if kind == Kind.TIER_NEAR and not campaign.tier_gap:
        raise InvalidCampaign(_("Set how close to the next tier members must be."), field="tier_gap")
    if kind in Campaign.EMAIL_KINDS and not (campaign.email_subject.strip() and campaign.email_body.strip()):
        raise InvalidCampaign(_("Write the email's subject and body."), field="email_body")


def _record(campaign: Campaign, *, actor, action: str, from_status="", to_status="", changes=None, now=None):
    return CampaignChange.objects.create(
        campaign=campaign,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=to_status,
        changes=changes or {},
        created_at=now or timezone.now(),
    )


@transaction.atomic
def campaign_create(*, actor, name: str, kind: str, **fields) -> Campaign:
    """A new draft campaign. Its rules can be edited freely until it is scheduled or launched."""
    if kind not in Kind.values:
        raise InvalidCampaign(_("Unknown campaign kind."), field="kind")
    for field in LIST_FIELDS:
        if field in fields:
            fields[field] = _clean_list(fields[field])
    unknown = set(fields) - set(Campaign.RULE_FIELDS) - {"description", "budget_points", "reward_note"}
    if unknown:
        raise InvalidCampaign(_("Unknown fields: %(fields)s") % {"fields": ", ".join(sorted(unknown))})
    campaign = Campaign(name=name.strip(), kind=kind, created_by=actor, status=Status.DRAFT, **fields)
    if not campaign.name:
        raise InvalidCampaign(_("Give the campaign a name."), field="name")
    campaign_check(campaign, complete=False)
    campaign.save()
    _record(campaign, actor=actor, action="create", to_status=Status.DRAFT)
    return campaign


@transaction.atomic
def campaign_update(*, campaign: Campaign, actor, **changes) -> Campaign:
    """Edit a campaign. Drafts change freely; a launched campaign only its name, description and budget.

    Raises :class:`CampaignLocked` naming the rule fields that cannot change any more.
    """
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    for field in LIST_FIELDS:
        if field in changes:
            changes[field] = _clean_list(changes[field])
    allowed = set(Campaign.RULE_FIELDS) | set(Campaign.LIVE_EDITABLE_FIELDS) | {"reward_note"}
    unknown = set(changes) - allowed
    if unknown:
        raise InvalidCampaign(_("Unknown fields: %(fields)s") % {"fields": ", ".join(sorted(unknown))})
    diff = {}
    for field, value in changes.items():
        before = getattr(campaign, field)
        if field == "segment":
            before = campaign.segment_id
            value_id = getattr(value, "pk", value)
            if before != value_id:
                diff[field] = [before, value_id]
            continue
        if before != value:
            diff[field] = [_jsonable(before), _jsonable(value)]
    if not diff:
        return campaign
    if not campaign.is_draft:
        locked = sorted(set(diff) - set(Campaign.LIVE_EDITABLE_FIELDS))
        if locked:
            raise CampaignLocked(fields=", ".join(locked))
        budget = changes.get("budget_points", campaign.budget_points)
        if "budget_points" in diff and budget is not None and budget < campaign.points_awarded:
            raise InvalidCampaign(
                _("The budget cannot go below the %(points)s points already awarded.")
                % {"points": campaign.points_awarded},
                field="budget_points",
            )
    for field, value in changes.items():
        setattr(campaign, field, value)
    if "name" in changes:
        campaign.name = campaign.name.strip()
        if not campaign.name:
            raise InvalidCampaign(_("Give the campaign a name."), field="name")
    campaign_check(campaign, complete=False)
    if "budget_points" in diff:
        campaign.budget_exhausted_at = None if not campaign.budget_exhausted else campaign.budget_exhausted_at
    campaign.save()
    _record(campaign, actor=actor, action="update", changes=diff)
    transaction.on_commit(campaigns_cache_invalidate)
    return campaign


def _transition(campaign: Campaign, *, actor, action: str, now: datetime | None = None, **updates) -> Campaign:
    allowed_from, to_status = TRANSITIONS[action]
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in allowed_from:
        raise InvalidTransition(status=campaign.get_status_display().lower(), action=_past(action))
    from_status = campaign.status
    campaign.status = to_status
    for field, value in updates.items():
        setattr(campaign, field, value)
    campaign.save()
    _record(campaign, actor=actor, action=action, from_status=from_status, to_status=to_status, now=now)
    transaction.on_commit(campaigns_cache_invalidate)
    return campaign


def _past(action: str) -> str:
    return {
        "schedule": _("scheduled"),
        "unschedule": _("unscheduled"),
        "launch": _("launched"),
        "pause": _("paused"),
        "resume": _("resumed"),
        "end": _("ended"),
    }[action]


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, actor, now: datetime | None = None) -> Campaign:
    """Draft → scheduled: it starts by itself at ``starts_at`` (which must be in the future)."""
    now = now or timezone.now()
    campaign_check(campaign, complete=True)
    if campaign.starts_at is None or campaign.starts_at <= now:
        raise InvalidCampaign(_("Set a start in the future, or launch it now."), field="starts_at")
    return _transition(campaign, actor=actor, action="schedule", now=now)


@transaction.atomic
def campaign_unschedule(*, campaign: Campaign, actor) -> Campaign:
    """Scheduled → draft, to edit it before it starts."""
    return _transition(campaign, actor=actor, action="unschedule")


@transaction.atomic
def campaign_launch(*, campaign: Campaign, actor, now: datetime | None = None) -> Campaign:
    """Draft or scheduled → active now. Birthday, bonus and email jobs start after commit."""
    now = now or timezone.now()
    current = Campaign.objects.get(pk=campaign.pk)
    campaign_check(current, complete=True)
    if current.ends_at is not None and current.ends_at <= now:
        raise InvalidCampaign(_("The campaign's end is already past."), field="ends_at")
    starts_at = current.starts_at if current.starts_at is not None and current.starts_at <= now else now
    campaign = _transition(current, actor=actor, action="launch", now=now, starts_at=starts_at, launched_at=now)
    _start_jobs(campaign)
    return campaign


def _start_jobs(campaign: Campaign) -> None:
    if campaign.kind == Kind.MANUAL_BONUS:
        task_enqueue_on_commit("campaigns.tasks.campaign_manual_bonus", campaign.pk)
    elif campaign.kind == Kind.BIRTHDAY:
        task_enqueue_on_commit("campaigns.tasks.campaign_birthday", campaign.pk)
    elif campaign.kind in Campaign.EMAIL_KINDS:
        task_enqueue_on_commit("campaigns.tasks.campaign_emails", campaign.pk)


@transaction.atomic
def campaign_pause(*, campaign: Campaign, actor) -> Campaign:
    """Active → paused: no bonuses are awarded until it is resumed."""
    return _transition(campaign, actor=actor, action="pause")


@transaction.atomic
def campaign_resume(*, campaign: Campaign, actor, now: datetime | None = None) -> Campaign:
    """Paused → active, unless its end has passed meanwhile."""
    now = now or timezone.now()
    current = Campaign.objects.get(pk=campaign.pk)
    if current.status == Status.PAUSED and current.ends_at is not None and current.ends_at <= now:
        raise InvalidCampaign(_("The campaign's end has passed; end it or copy it."), field="ends_at")
    return _transition(current, actor=actor, action="resume", now=now)


@transaction.atomic
def campaign_end(*, campaign: Campaign, actor, now: datetime | None = None) -> Campaign:
    """Scheduled, active or paused → ended, for good. A running window is closed at ``now``."""
    now = now or timezone.now()
    current = Campaign.objects.get(pk=campaign.pk)
    updates = {"ended_at": now}
    started = current.starts_at is not None and current.starts_at < now
    if started and (current.ends_at is None or current.ends_at > now):
        updates["ends_at"] = now
    return _transition(current, actor=actor, action="end", now=now, **updates)


@transaction.atomic
def campaign_copy(*, campaign: Campaign, actor, name: str = "") -> Campaign:
    """A new draft with the same rules (the way to change a launched campaign)."""
    fields = {field: getattr(campaign, field) for field in Campaign.RULE_FIELDS if field != "kind"}
    fields.update(description=campaign.description, budget_points=campaign.budget_points)
    fields["reward_note"] = campaign.reward_note
    copy = campaign_create(
        actor=actor, name=name or _("Copy of %(name)s") % {"name": campaign.name}, kind=campaign.kind, **fields
    )
    copy.copied_from = campaign
    copy.save(update_fields=["copied_from"])
    _record(campaign, actor=actor, action="copy", changes={"copy": [None, copy.pk]})
    return copy


def campaigns_advance(*, now: datetime | None = None) -> dict[str, int]:
    """The scheduler (Celery beat, every minute): start scheduled campaigns whose start has come and end running
    ones whose end has passed. Each campaign moves in its own short transaction, skipping rows another worker
    holds, so overlapping runs do not collide.
    """
    now = now or timezone.now()
    counts = {"started": 0, "ended": 0}
    due_start = list(
        Campaign.objects.filter(status=Status.SCHEDULED, starts_at__lte=now).values_list("pk", flat=True)[:500]
    )
    for pk in due_start:
        with transaction.atomic():
            campaign = Campaign.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if campaign is None or campaign.status != Status.SCHEDULED:
                continue
            if campaign.ends_at is not None and campaign.ends_at <= now:
                _transition(campaign, actor=None, action="end", now=now, ended_at=now)
                counts["ended"] += 1
                continue
            campaign = _transition(campaign, actor=None, action="launch", now=now, launched_at=now)
            _start_jobs(campaign)
            counts["started"] += 1
    due_end = list(
        Campaign.objects.filter(status__in=[Status.ACTIVE, Status.PAUSED], ends_at__lte=now).values_list(
            "pk", flat=True
        )[:500]
    )
    for pk in due_end:
        with transaction.atomic():
            campaign = Campaign.objects.select_for_update(skip_locked=True).filter(pk=pk).first()
            if campaign is None or campaign.status not in (Status.ACTIVE, Status.PAUSED):
                continue
            _transition(campaign, actor=None, action="end", now=now, ended_at=now)
            counts["ended"] += 1
    return counts


@transaction.atomic
def campaign_delete(*, campaign: Campaign, actor) -> None:
    """Delete a draft campaign, with a staff audit row (``members.audit``) that outlives its change history.

    Anything scheduled or launched may have points pointing at it: end it instead.
    """
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if not campaign.is_draft:
        raise CampaignLocked(_("Only a draft campaign can be deleted; end it instead."))
    audit.rule_delete(campaign, actor=actor)
    transaction.on_commit(campaigns_cache_invalidate)
