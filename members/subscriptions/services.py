"""Every write of paid membership: the subscription lifecycle, plans, savings and the daily job.

Lock order: the subscription row, then (in the ``subscription_changed`` hooks: rewards granting a period's reward)
the member's points account. Purchases and redemptions never lock a subscription, so nothing waits in a cycle.
Two starts for one member at once are told apart by the partial unique index (one live subscription per member). Every
change records one :class:`SubscriptionEvent` and announces itself (webhook, ``hooks.subscription_changed``) inside
its transaction, from the row as stored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import audit, hooks
from ..calculators import PLAN_MULTIPLIER_STEP
from ..exceptions import AccountClosed
from ..models import Member
from ..months import add_months
from ..selectors import program_settings_get
from . import webhooks
from .exceptions import (
    ExternalIdTaken,
    InvalidSubscriptionChange,
    PlanNotAvailable,
    SubscriptionEnded,
    SubscriptionExists,
    TrialNotAvailable,
)
from .models import LIVE_STATUSES, MembershipPlan, Subscription, SubscriptionEvent, SubscriptionSaving
from .selectors import subscription_live, subscriptions_in_period, subscriptions_lapsed

#: How far in the future a reported start may lie (clock skew between the shop and this platform).
START_SKEW = timedelta(minutes=5)


def period_after(plan: MembershipPlan, start: datetime) -> datetime:
    """The end of one billing period of ``plan`` that starts at ``start`` (calendar months, clamped)."""
    local = timezone.localtime(start)
    return add_months(local, 12 if plan.period == MembershipPlan.Period.YEAR else 1)


def _event(
    subscription: Subscription,
    kind: str,
    *,
    now: datetime,
    amount: Decimal | None = None,
    period: tuple[datetime, datetime] | None = None,
    actor: str = "api",
    plan: MembershipPlan | None = None,
) -> SubscriptionEvent:
    """One history row; ``plan`` is the plan it concerns (the subscription's own unless a change names another)."""
    return SubscriptionEvent.objects.create(
        subscription=subscription,
        kind=kind,
        plan_id=plan.pk if plan is not None else subscription.plan_id,
        status=subscription.status,
        amount=amount,
        currency=subscription.plan.currency if amount is not None else "",
        period_start=period[0] if period else None,
        period_end=period[1] if period else None,
        actor=actor,
        occurred_at=now,
    )


def _announce(subscription: Subscription, event: str, *, now: datetime) -> None:
    """Tell webhooks and the other apps (rewards grants a period's reward) about a change, from the stored row."""
    stored = Subscription.objects.select_related("plan", "pending_plan", "member").get(pk=subscription.pk)
    for hook in hooks.subscription_changed:
        hook(subscription=stored, event=event, now=now)
    webhooks.announce(event, stored, now=now)


def _locked(subscription: Subscription) -> Subscription:
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan", "pending_plan")
        .get(pk=subscription.pk)
    )


def _usable_plan(plan: MembershipPlan) -> MembershipPlan:
    plan = MembershipPlan.objects.filter(pk=plan.pk).first()
    if plan is None or not plan.is_active:
        raise PlanNotAvailable()
    return plan


def subscription_start(
    *,
    member: Member,
    plan: MembershipPlan,
    external_id: str,
    source: str,
    paid_amount: Decimal | None = None,
    trial: bool = False,
    started_at: datetime | None = None,
    now: datetime | None = None,
) -> Subscription:
    """Start ``member``'s subscription to ``plan``, paid or as a free trial, in one transaction.

    Guarantees:
    - One live subscription per member: a second raises :class:`SubscriptionExists` (409), also under
      concurrency (a partial unique index decides between two racing starts). A live subscription whose
      benefits already ran out is ended first (the daily job would have).
    - An inactive plan raises :class:`PlanNotAvailable`; a trial needs the plan's ``trial_days`` and a member who
      never had one (:class:`TrialNotAvailable`). ``external_id`` is unique per ``source``.
    - A paid start records the fee (``paid_amount``, default the plan's price) for its first period; a trial
      records none and lasts ``trial_days``.
    - Emits ``subscription.started``.
    """
    now = now or timezone.now()
    started_at = started_at or now
    if started_at > now + START_SKEW:
        raise InvalidSubscriptionChange(_("A subscription cannot start in the future."), field="started_at")
    with transaction.atomic():
        status = Member.objects.filter(pk=member.pk).values_list("status", flat=True).first()
        if status != Member.Status.ACTIVE:
            raise AccountClosed()
        plan = _usable_plan(plan)
        if Subscription.objects.filter(source=source, external_id=external_id).exists():
            raise ExternalIdTaken()
        for existing in Subscription.objects.select_for_update().filter(member_id=member.pk, status__in=LIVE_STATUSES):
            if existing.benefits_until is not None and existing.benefits_until > now:
                raise SubscriptionExists()
            _end(existing, now=now, actor="api")
        if trial:
            had_trial = Subscription.objects.filter(member_id=member.pk, trial_ends_at__isnull=False).exists()
            if plan.trial_days == 0 or had_trial:
                raise TrialNotAvailable()
            period_end = started_at + timedelta(days=plan.trial_days)
        else:
            period_end = period_after(plan, started_at)
        if period_end <= now:
            raise InvalidSubscriptionChange(
                _("A subscription starting then would already have ended."), field="started_at"
            )
        try:
            with transaction.atomic():
                subscription = Subscription.objects.create(
                    member_id=member.pk,
                    plan=plan,
                    status=Subscription.Status.TRIALING if trial else Subscription.Status.ACTIVE,
                    source=source,
                    external_id=external_id,
                    started_at=started_at,
                    trial_ends_at=period_end if trial else None,
                    current_period_start=started_at,
                    current_period_end=period_end,
                    created_at=now,
                )
        except IntegrityError:
            raise SubscriptionExists() from None
        if trial:
            _event(subscription, SubscriptionEvent.Kind.TRIAL_STARTED, now=now, period=(started_at, period_end))
        else:
            amount = plan.price if paid_amount is None else paid_amount
            _event(
                subscription, SubscriptionEvent.Kind.STARTED, now=now, amount=amount, period=(started_at, period_end)
            )
        _announce(subscription, webhooks.STARTED, now=now)
    return Subscription.objects.select_related("plan", "pending_plan", "member").get(pk=subscription.pk)


def subscription_renew(
    *,
    subscription: Subscription,
    paid_amount: Decimal,
    period_end: datetime | None = None,
    now: datetime | None = None,
) -> tuple[Subscription, bool]:
    """Record a paid renewal: the next period starts where the current one ends. Returns the subscription and
    whether anything changed.

    - The same renewal twice changes nothing: a renewal whose ``period_end`` is not later than the current one, or
      (without ``period_end``) one arriving while the subscription is already paid more than half a period ahead,
      is the one already recorded.
    - A trial converts to active; a past-due subscription recovers (``recovered``) within its grace; a cancellation
      at period end is withdrawn (the customer paid again); a downgrade waiting for the period end takes effect.
    - An ended subscription raises :class:`SubscriptionEnded` (422), as does a past-due one whose grace ran out.
    - Emits ``subscription.renewed``.
    """
    now = now or timezone.now()
    with transaction.atomic():
        subscription = _locked(subscription)
        if not subscription.is_live or (subscription.benefits_until is not None and subscription.benefits_until <= now):
            raise SubscriptionEnded()
        plan = subscription.pending_plan or subscription.plan
        start = subscription.current_period_end
        if period_end is not None:
            if period_end <= subscription.current_period_end:
                return subscription, False
            if period_end <= now:
                raise InvalidSubscriptionChange(_("The renewed period must end in the future."), field="period_end")
        else:
            paid_ahead = subscription.current_period_end - now
            period_length = subscription.current_period_end - subscription.current_period_start
            # A trial's end or a failed payment's retry is always the renewal the shop is reporting.
            catching_up = subscription.status in (Subscription.Status.TRIALING, Subscription.Status.PAST_DUE)
            if not catching_up and paid_ahead * 2 > period_length:
                return subscription, False
            period_end = period_after(plan, start)
            while period_end <= now:  # a renewal long after the period end pays from now on
                start, period_end = now, period_after(plan, now)
        was = subscription.status
        subscription.plan = plan
        subscription.pending_plan = None
        subscription.status = Subscription.Status.ACTIVE
        subscription.current_period_start = start
        subscription.current_period_end = period_end
        subscription.cancel_at_period_end = False
        subscription.past_due_since = None
        subscription.grace_until = None
        subscription.save()
        kind = (
            SubscriptionEvent.Kind.RECOVERED if was == Subscription.Status.PAST_DUE else SubscriptionEvent.Kind.RENEWED
        )
        _event(subscription, kind, now=now, amount=paid_amount, period=(start, period_end))
        _announce(subscription, webhooks.RENEWED, now=now)
    return subscription, True


def subscription_payment_failed(
    *, subscription: Subscription, now: datetime | None = None
) -> tuple[Subscription, bool]:
    """The shop could not charge the renewal: past-due, with benefits until the plan's ``grace_days`` after the
    period end (or after now, when the charge failed early). A second report while past-due changes nothing; a
    report after that grace would have ended raises :class:`SubscriptionEnded`. Emits ``subscription.past_due``."""
    now = now or timezone.now()
    with transaction.atomic():
        subscription = _locked(subscription)
        # The charge usually fails at the period end, and its report may come a little after: it is accepted
        # until the grace such a failure would have had is over.
        last_chance = subscription.current_period_end + timedelta(days=subscription.plan.grace_days)
        if not subscription.is_live or last_chance <= now:
            raise SubscriptionEnded()
        if subscription.status == Subscription.Status.PAST_DUE:
            return subscription, False
        subscription.status = Subscription.Status.PAST_DUE
        subscription.past_due_since = now
        subscription.grace_until = max(now, subscription.current_period_end) + timedelta(
            days=subscription.plan.grace_days
        )
        subscription.save()
        _event(subscription, SubscriptionEvent.Kind.PAYMENT_FAILED, now=now)
        _announce(subscription, webhooks.PAST_DUE, now=now)
    return subscription, True


def subscription_cancel(
    *, subscription: Subscription, at_period_end: bool, actor: str = "api", now: datetime | None = None
) -> tuple[Subscription, bool]:
    """Cancel now (benefits stop at once) or at the period end (they last until then; a renewal withdraws it).

    A member may cancel their own subscription at period end from the site (``actor="member"``). Cancelling what
    is already cancelled the same way changes nothing; an ended subscription raises :class:`SubscriptionEnded`.
    Emits ``subscription.cancelled``.
    """
    now = now or timezone.now()
    with transaction.atomic():
        subscription = _locked(subscription)
        if not subscription.is_live:
            raise SubscriptionEnded()
        if at_period_end:
            if subscription.cancel_at_period_end:
                return subscription, False
            subscription.cancel_at_period_end = True
            subscription.save(update_fields=["cancel_at_period_end", "updated_at"])
            _event(subscription, SubscriptionEvent.Kind.CANCEL_SCHEDULED, now=now, actor=actor)
        else:
            subscription.status = Subscription.Status.CANCELLED
            subscription.cancelled_at = now
            subscription.ended_at = now
            subscription.save()
            _event(subscription, SubscriptionEvent.Kind.CANCELLED, now=now, actor=actor)
        _announce(subscription, webhooks.CANCELLED, now=now)
    return subscription, True


def subscription_plan_change(
    *, subscription: Subscription, plan: MembershipPlan, now: datetime | None = None
) -> tuple[Subscription, bool]:
    """Move to another plan: an upgrade (a higher monthly price) applies now, for the rest of the period (the shop
    charges the difference); a downgrade waits for the next renewal (``pending_plan``). Changing back to the current
    plan withdraws a waiting downgrade. An inactive plan raises :class:`PlanNotAvailable`."""
    now = now or timezone.now()
    with transaction.atomic():
        subscription = _locked(subscription)
        if not subscription.is_live or (subscription.benefits_until is not None and subscription.benefits_until <= now):
            raise SubscriptionEnded()
        plan = _usable_plan(plan)
        if plan.pk == subscription.plan_id:
            if subscription.pending_plan_id is None:
                return subscription, False
            subscription.pending_plan = None
            subscription.save(update_fields=["pending_plan", "updated_at"])
            _event(subscription, SubscriptionEvent.Kind.PLAN_CHANGE_SCHEDULED, now=now)
            return subscription, True
        if plan.monthly_price >= subscription.plan.monthly_price:
            subscription.plan = plan
            subscription.pending_plan = None
            subscription.save(update_fields=["plan", "pending_plan", "updated_at"])
            _event(subscription, SubscriptionEvent.Kind.PLAN_CHANGED, now=now)
        else:
            if subscription.pending_plan_id == plan.pk:
                return subscription, False
            subscription.pending_plan = plan
            subscription.save(update_fields=["pending_plan", "updated_at"])
            _event(subscription, SubscriptionEvent.Kind.PLAN_CHANGE_SCHEDULED, now=now, plan=plan)
    return Subscription.objects.select_related("plan", "pending_plan", "member").get(pk=subscription.pk), True


def _end(subscription: Subscription, *, now: datetime, actor: str) -> None:
    """End a live subscription whose benefits ran out (``subscription`` is locked)."""
    ended_at = subscription.benefits_until or now
    subscription.status = (
        Subscription.Status.CANCELLED if subscription.cancel_at_period_end else Subscription.Status.EXPIRED
    )
    subscription.ended_at = min(ended_at, now)
    subscription.save()
    _event(subscription, SubscriptionEvent.Kind.EXPIRED, now=now, actor=actor)
    _announce(subscription, webhooks.EXPIRED, now=now)


def subscriptions_expire_due(*, now: datetime | None = None, chunk_size: int = 500) -> int:
    """End every live subscription whose benefits have run out (period over without a renewal, grace over after
    a failed payment, a cancellation at period end reached). Idempotent: a re-run finds nothing left.

    Chunked by id, each chunk in its own transaction with its rows locked and re-checked (a renewal that arrived
    meanwhile keeps its subscription). Returns how many ended.
    """
    now = now or timezone.now()
    ended, last_id = 0, 0
    while True:
        ids = list(
            subscriptions_lapsed(now=now)
            .filter(pk__gt=last_id)
            .order_by("pk")
            .values_list("pk", flat=True)[:chunk_size]
        )
        if not ids:
            return ended
        last_id = ids[-1]
        with transaction.atomic():
            for subscription in subscriptions_lapsed(now=now).filter(pk__in=ids).select_for_update().order_by("pk"):
                subscription = Subscription.objects.select_related("plan").get(pk=subscription.pk)
                _end(subscription, now=now, actor="job")
                ended += 1


def subscription_period_rewards_grant(*, now: datetime | None = None, chunk_size: int = 500) -> int:
    """Give every subscription with benefits its current period's reward, once per subscription and period.

    The rewards app does the granting (``hooks.subscription_period_due``, idempotent on the subscription and the
    period start), so a re-run of the job grants nothing twice. One provider failing for one subscription (a
    reward out of stock) is logged and does not stop the others. Returns how many rewards were granted.
    """
    now = now or timezone.now()
    if not hooks.subscription_period_due:
        return 0
    granted, last_id = 0, 0
    while True:  # keyset chunks, so memory stays bounded however many subscribers there are
        subscriptions = list(subscriptions_in_period(now=now).filter(pk__gt=last_id).order_by("pk")[:chunk_size])
        if not subscriptions:
            return granted
        last_id = subscriptions[-1].pk
        for provider in hooks.subscription_period_due:
            granted += provider(subscriptions=subscriptions, now=now)


def subscription_saving_record(
    *,
    subscription_id: int,
    member_id: int,
    kind: str,
    amount: Decimal,
    currency: str,
    reference: str,
    points: int = 0,
    now: datetime | None = None,
) -> bool:
    """Record value a subscriber got back (for "you saved …"), once per ``reference``. True if recorded now."""
    if amount <= 0:
        return False
    _saving, created = SubscriptionSaving.objects.get_or_create(
        reference=reference,
        defaults={
            "subscription_id": subscription_id,
            "member_id": member_id,
            "kind": kind,
            "amount": amount,
            "currency": currency,
            "points": points,
            "occurred_at": now or timezone.now(),
        },
    )
    return created


def on_purchase_recorded(result) -> None:
    """``hooks.purchase_recorded``: the points a plan's multiplier added to a purchase, at the program's point value,
    become a saving of the subscription (once per purchase). Costs no query for a purchase without a plan step."""
    earning = result.earning
    if earning is None or result.replayed:
        return
    step = next((step for step in earning.steps if step.kind == PLAN_MULTIPLIER_STEP), None)
    if step is None or step.points <= 0:
        return
    purchase = result.purchase
    subscription = subscription_live(member_id=purchase.member_id)
    if subscription is None:
        return
    program = program_settings_get()
    points = int(step.points)
    subscription_saving_record(
        subscription_id=subscription.pk,
        member_id=purchase.member_id,
        kind=SubscriptionSaving.Kind.EXTRA_POINTS,
        amount=(Decimal(points) * program.point_value).quantize(Decimal("0.01")),
        currency=program.currency,
        points=points,
        reference=f"purchase:{purchase.pk}:extra-points",
        now=purchase.occurred_at,
    )


def subscription_shipping_saved(
    *, subscription: Subscription, amount: Decimal, reference: str, now: datetime | None = None
) -> bool:
    """The shop reports the shipping fee a subscriber did not pay (free shipping), once per ``reference``."""
    if not subscription.plan.free_shipping:
        raise InvalidSubscriptionChange(_("This plan has no free shipping."), field="amount")
    return subscription_saving_record(
        subscription_id=subscription.pk,
        member_id=subscription.member_id,
        kind=SubscriptionSaving.Kind.FREE_SHIPPING,
        amount=amount,
        currency=subscription.plan.currency,
        reference=f"shipping:{subscription.source}:{reference}",
        now=now,
    )


def on_member_closed(member, *, former_email: str = "") -> None:
    """``hooks.member_closed``: a closed membership ends its live subscription at once (the shop hears
    ``subscription.cancelled`` and stops charging); the history stays."""
    for subscription in Subscription.objects.filter(member_id=member.pk, status__in=LIVE_STATUSES):
        subscription_cancel(subscription=subscription, at_period_end=False, actor="member")


def membership_plan_save(*, plan: MembershipPlan, actor) -> MembershipPlan:
    """Create or change a plan (the admin), with its audit record in the same transaction."""
    return audit.rule_save(plan, actor=actor)
