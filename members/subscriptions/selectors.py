"""Reads of paid membership: plans, a member's subscription and benefits, savings, and the staff's figures.

Benefits are decided by the clock (:meth:`Subscription.benefits_at`), not by whether the daily job has run yet, so
they stop exactly at the period end or the end of the grace. Each function runs a fixed number of queries.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from integrations.cache import config_cached

from .. import hooks
from ..compiled import CompiledQuery
from .cache import PLANS_CACHE_KEY
from .models import LIVE_STATUSES, MembershipPlan, Subscription, SubscriptionEvent, SubscriptionSaving

ZERO = Decimal("0")
CENT = Decimal("0.01")


def plans_list() -> list[MembershipPlan]:
    """Every plan, active or not (cached; invalidated when a plan is saved)."""
    return config_cached(
        PLANS_CACHE_KEY, lambda: list(MembershipPlan.objects.order_by("sort_order", "price", "name")), 300
    )


def plans_active() -> list[MembershipPlan]:
    return [plan for plan in plans_list() if plan.is_active]


def plan_get_active(*, slug: str) -> MembershipPlan | None:
    return next((plan for plan in plans_active() if plan.slug == slug), None)


def plan_benefits(plan: MembershipPlan) -> dict:
    """What a plan adds over the free program, as the API and the member page state it. Benefits other apps give
    (period rewards, members-only rewards) come from ``hooks.plan_benefits`` (one query per provider for all plans,
    see :func:`plans_benefits`)."""
    return {
        "earn_multiplier": plan.earn_multiplier,
        "multiplier_combination": plan.multiplier_combination,
        "free_shipping": plan.free_shipping,
        "early_access_days": plan.early_access_days,
        "trial_days": plan.trial_days,
        "grace_days": plan.grace_days,
    }


def plans_benefits(plans: list[MembershipPlan]) -> dict[int, dict]:
    """:func:`plan_benefits` for each plan, merged with what every ``plan_benefits`` provider adds."""
    benefits = {plan.pk: plan_benefits(plan) for plan in plans}
    for provider in hooks.plan_benefits:
        for plan_id, extra in provider([plan.pk for plan in plans]).items():
            if plan_id in benefits:
                benefits[plan_id].update(extra)
    return benefits


def subscription_live(*, member_id: int) -> Subscription | None:
    """The member's live (trialing, active or past-due) subscription with its plan, benefits or not: one query."""
    return _subscription_live.first(member_id)


# Asked on every purchase of a program with paid membership, compiled once per connection (members.compiled).
_subscription_live = CompiledQuery(
    lambda member_id: Subscription.objects.select_related("plan", "pending_plan").filter(
        member_id=member_id, status__in=LIVE_STATUSES
    ),
    int,
)


def subscription_latest(*, member_id: int) -> Subscription | None:
    """The member's live subscription, else their most recent one: one query."""
    return _subscription_latest.first(member_id)


_subscription_latest = CompiledQuery(
    lambda member_id: (
        Subscription.objects.select_related("plan", "pending_plan")
        .filter(member_id=member_id)
        .order_by("-started_at", "-id")
    ),
    int,
)


def subscription_get(*, source: str, external_id: str) -> Subscription | None:
    return (
        Subscription.objects.select_related("plan", "pending_plan", "member")
        .filter(source=source, external_id=external_id)
        .first()
    )


def member_plan(*, member_id: int, at: datetime | None = None) -> MembershipPlan | None:
    """The plan whose benefits ``member`` has at ``at`` (now), or None: one query."""
    at = at or timezone.now()
    if not plans_list():  # a program without paid membership pays no query for it (the list is cached)
        return None
    subscription = subscription_live(member_id=member_id)
    if subscription is None or not subscription.benefits_at(at):
        return None
    return subscription.plan


def never_subscribed(member) -> bool:
    """True when ``member`` was loaded with ``has_subscriptions`` (the till's and the member pages' look-ups) and
    has never had a subscription: nothing about a plan needs asking then. False when unknown."""
    return member.__dict__.get("has_subscriptions") is False


def member_plan_now(member) -> MembershipPlan | None:
    """:func:`member_plan` now, remembered on the ``member`` instance, so the several parts of one page that ask
    (the dashboard's badge and its reward suggestions) cost one query between them."""
    if "_membership_plan_now" not in member.__dict__:
        plan = None if never_subscribed(member) else member_plan(member_id=member.pk)
        member.__dict__["_membership_plan_now"] = plan
    return member.__dict__["_membership_plan_now"]


def earning_plan(*, member_id: int | None, at: datetime, member=None) -> MembershipPlan | None:
    """The plan that scales a purchase's points, for the earning engine. No query at all when no plan has a
    multiplier (the common case while a program has no paid membership), for an anonymous basket, or for a
    ``member`` loaded as the till loads them who never had a subscription (``has_subscriptions``)."""
    if member_id is None or not any(plan.earn_multiplier != 1 for plan in plans_list()):
        return None
    if member is not None and never_subscribed(member):
        return None
    plan = member_plan(member_id=member_id, at=at)
    return plan if plan is not None and plan.earn_multiplier != 1 else None


def subscription_payload(subscription: Subscription | None, *, now: datetime | None = None) -> dict | None:
    """The member's subscription as the members API and webhooks state it (from the stored row)."""
    if subscription is None:
        return None
    now = now or timezone.now()
    plan = subscription.plan
    benefits = subscription.benefits_at(now)
    return {
        "external_id": subscription.external_id,
        "plan": plan.slug,
        "plan_name": plan.name,
        "status": subscription.status,
        "current_period_start": subscription.current_period_start,
        "current_period_end": subscription.current_period_end,
        "trial_ends_at": subscription.trial_ends_at,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "grace_until": subscription.grace_until,
        "ended_at": subscription.ended_at,
        "pending_plan": subscription.pending_plan.slug if subscription.pending_plan_id else None,
        "benefits_active": benefits,
        "benefits": plan_benefits(plan) if benefits else None,
        "free_shipping": bool(benefits and plan.free_shipping),
    }


def subscription_events(*, subscription_id: int, limit: int = 50) -> list[SubscriptionEvent]:
    return list(
        SubscriptionEvent.objects.filter(subscription_id=subscription_id)
        .select_related("plan")
        .order_by("-occurred_at", "-id")[:limit]
    )


def member_subscription_history(*, member_id: int, limit: int = 50) -> list[SubscriptionEvent]:
    """Every event of every subscription of the member, newest first: one query."""
    return list(
        SubscriptionEvent.objects.filter(subscription__member_id=member_id)
        .select_related("plan")
        .order_by("-occurred_at", "-id")[:limit]
    )


@dataclass(frozen=True)
class Savings:
    period: Decimal
    year: Decimal
    by_kind_year: dict[str, Decimal]
    fees_year: Decimal


def member_savings(*, member_id: int, period_start: datetime | None, now: datetime | None = None) -> Savings:
    """What the member got back from paid membership this period and this calendar year, in money, beside the fees
    paid this year: two queries."""
    now = now or timezone.now()
    year_start = timezone.localtime(now).replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    rows = (
        SubscriptionSaving.objects.filter(member_id=member_id, occurred_at__gte=min(year_start, period_start or now))
        .values("kind")
        .annotate(
            year=Sum("amount", filter=Q(occurred_at__gte=year_start)),
            period=Sum("amount", filter=Q(occurred_at__gte=period_start or now)),
        )
    )
    by_kind = {row["kind"]: row["year"] or ZERO for row in rows}
    period_total = sum((row["period"] or ZERO for row in rows), ZERO)
    fees = SubscriptionEvent.objects.filter(
        subscription__member_id=member_id, kind__in=SubscriptionEvent.PAYMENT_KINDS, occurred_at__gte=year_start
    ).aggregate(total=Sum("amount"))["total"]
    return Savings(
        period=period_total,
        year=sum(by_kind.values(), ZERO),
        by_kind_year=by_kind,
        fees_year=fees or ZERO,
    )


# --- Staff figures ------------------------------------------------------------------------------------------------


def _live_at(moment: datetime) -> Q:
    """Subscriptions whose benefits were running at ``moment``, reconstructed from their stored dates."""
    return Q(started_at__lte=moment) & (Q(ended_at__isnull=True) | Q(ended_at__gt=moment))


def subscription_figures(*, start_at: datetime, end_at: datetime) -> dict:
    """The analytics dashboard's paid-membership figures for ``[start_at, end_at)``: subscribers now, trials and
    their conversion, MRR, churn over the period and revenue per plan. Four queries (and the cached plans), whatever
    the numbers."""
    counts = dict.fromkeys(LIVE_STATUSES, 0)
    mrr_by_plan: dict[int, Decimal] = defaultdict(lambda: ZERO)
    plans = {plan.pk: plan for plan in plans_list()}
    for row in (
        Subscription.objects.filter(status__in=LIVE_STATUSES)
        .order_by()
        .values("plan_id", "status")
        .annotate(n=Count("pk"))
    ):
        counts[row["status"]] += row["n"]
        plan = plans.get(row["plan_id"])
        if plan is not None and row["status"] != Subscription.Status.TRIALING:
            mrr_by_plan[plan.pk] += plan.monthly_price * row["n"]
    trials = SubscriptionEvent.objects.filter(
        kind=SubscriptionEvent.Kind.TRIAL_STARTED, occurred_at__gte=start_at, occurred_at__lt=end_at
    ).values("subscription_id")
    trial_stats = Subscription.objects.filter(pk__in=trials).aggregate(
        started=Count("pk", distinct=True),
        converted=Count(
            "pk",
            filter=Q(events__kind__in=[SubscriptionEvent.Kind.RENEWED, SubscriptionEvent.Kind.RECOVERED]),
            distinct=True,
        ),
        still_trialing=Count("pk", filter=Q(status=Subscription.Status.TRIALING), distinct=True),
    )
    churn = Subscription.objects.aggregate(
        at_start=Count("pk", filter=_live_at(start_at)),
        ended=Count("pk", filter=Q(started_at__lte=start_at, ended_at__gt=start_at, ended_at__lte=end_at)),
    )
    revenue_rows = list(
        SubscriptionEvent.objects.filter(
            kind__in=SubscriptionEvent.PAYMENT_KINDS, occurred_at__gte=start_at, occurred_at__lt=end_at
        )
        .order_by()
        .values("plan_id", "currency")
        .annotate(revenue=Sum("amount"), payments=Count("pk"))
    )
    decided = trial_stats["started"] - trial_stats["still_trialing"]
    return {
        "active": counts["active"],
        "trialing": counts["trialing"],
        "past_due": counts["past_due"],
        "subscribers": sum(counts.values()),
        "mrr": sum(mrr_by_plan.values(), ZERO),
        "trials_started": trial_stats["started"],
        "trials_converted": trial_stats["converted"],
        "trial_conversion": (
            (Decimal(trial_stats["converted"]) * 100 / decided).quantize(Decimal("0.1")) if decided else None
        ),
        "churned": churn["ended"],
        "subscribers_at_start": churn["at_start"],
        "churn_rate": (
            (Decimal(churn["ended"]) * 100 / churn["at_start"]).quantize(Decimal("0.1")) if churn["at_start"] else None
        ),
        "plans": [
            {
                "plan": plans[row["plan_id"]].name if row["plan_id"] in plans else str(row["plan_id"]),
                "currency": row["currency"],
                "revenue": (row["revenue"] or ZERO).quantize(CENT),
                "payments": row["payments"],
                "mrr": mrr_by_plan.get(row["plan_id"], ZERO),
            }
            for row in sorted(revenue_rows, key=lambda r: -(r["revenue"] or ZERO))
        ],
    }


def subscription_fees_deferred(*, at: datetime) -> dict:
    """Subscription fees received for time after ``at``: revenue not yet earned (a liability), recognised evenly
    over the period each fee paid for. Per plan and in total. One query over the fees whose period is still
    running (at most a few per live subscription)."""
    deferred: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    received: dict[tuple[str, str], Decimal] = defaultdict(lambda: ZERO)
    rows = SubscriptionEvent.objects.filter(
        kind__in=SubscriptionEvent.PAYMENT_KINDS,
        occurred_at__lte=at,
        period_end__gt=at,
        period_start__isnull=False,
        amount__gt=0,
    ).values_list("plan__name", "currency", "amount", "period_start", "period_end")
    for plan_name, currency, amount, start, end in rows:
        length = (end - start).total_seconds()
        left = (end - max(start, at)).total_seconds()
        share = amount if length <= 0 else (amount * Decimal(left) / Decimal(length)).quantize(CENT)
        deferred[(plan_name, currency)] += share
        received[(plan_name, currency)] += amount
    plans = [
        {"plan": plan, "currency": currency, "received": received[(plan, currency)], "deferred": value}
        for (plan, currency), value in sorted(deferred.items())
    ]
    totals: dict[str, Decimal] = defaultdict(lambda: ZERO)
    for row in plans:
        totals[row["currency"]] += row["deferred"]
    return {"at": at, "plans": plans, "totals": dict(totals)}


def subscriptions_lapsed(*, now: datetime) -> QuerySet[Subscription]:
    """Live subscriptions whose benefits have ended by ``now``: what the daily job ends."""
    return Subscription.objects.filter(
        Q(status__in=[Subscription.Status.TRIALING, Subscription.Status.ACTIVE], current_period_end__lte=now)
        | Q(status=Subscription.Status.PAST_DUE, grace_until__lte=now)
    )


def subscriptions_in_period(*, now: datetime) -> QuerySet[Subscription]:
    """Subscriptions with benefits at ``now``, with their plan: whose current period's reward is owed."""
    return (
        Subscription.objects.filter(started_at__lte=now)
        .filter(
            Q(status__in=[Subscription.Status.TRIALING, Subscription.Status.ACTIVE], current_period_end__gt=now)
            | Q(status=Subscription.Status.PAST_DUE, grace_until__gt=now)
        )
        .select_related("plan", "member")
    )


def member_export(member) -> dict:
    """The member's subscriptions with their history and savings, for their data export (three queries)."""
    subscriptions = list(Subscription.objects.filter(member_id=member.pk).select_related("plan").order_by("pk"))
    events = SubscriptionEvent.objects.filter(subscription__member_id=member.pk).select_related("plan")
    savings = SubscriptionSaving.objects.filter(member_id=member.pk).order_by("occurred_at", "pk")
    return {
        "subscriptions": [
            {
                "plan": subscription.plan.name,
                "status": subscription.status,
                "started_at": subscription.started_at,
                "current_period_end": subscription.current_period_end,
                "ended_at": subscription.ended_at,
            }
            for subscription in subscriptions
        ],
        "subscription_events": [
            {"at": event.occurred_at, "kind": event.kind, "plan": event.plan.name, "amount": event.amount}
            for event in events.order_by("occurred_at", "pk")
        ],
        "subscription_savings": [
            {"at": saving.occurred_at, "kind": saving.kind, "amount": saving.amount, "points": saving.points}
            for saving in savings
        ],
    }
