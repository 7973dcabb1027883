"""Reads of the rewards app. Each runs a fixed number of queries whatever the catalogue or history size."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db.models import (
    BooleanField,
    Case,
    Count,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, Greatest, TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from members.compiled import CompiledQuery
from members.exceptions import LoyaltyError
from members.models import LedgerEntry, Member, PointsAccount
from members.selectors import tiers_list
from members.subscriptions.models import MembershipPlan
from members.subscriptions.selectors import member_plan, member_plan_now

from .exceptions import VoucherNotFound
from .models import Redemption, Reward, Voucher
from .rules import (
    MemberSituation,
    period_start,
    redemption_error,
    voucher_code_normalise,
    voucher_place_refusal,
    voucher_refusal,
)

SHIPPING_LIST_COLUMNS = [
    "redemption",
    "redeemed_at",
    "member_number",
    "reward",
    "quantity",
    "name",
    "address_line1",
    "address_line2",
    "postcode",
    "city",
    "country",
    "status",
    "tracking_reference",
]


def rewards_available(*, now: datetime | None = None, early_access_days: int = 0) -> QuerySet[Reward]:
    """Active rewards inside their window and in stock, for anyone (and ``early_access_days`` before they open,
    for a subscriber whose plan gives early access)."""
    now = now or timezone.now()
    return _rewards_in_window(now=now, opens_by=now + timedelta(days=early_access_days))


def _rewards_in_window(*, now: datetime, opens_by: datetime) -> QuerySet[Reward]:
    return Reward.objects.filter(
        Q(available_from__isnull=True) | Q(available_from__lte=opens_by),
        Q(available_until__isnull=True) | Q(available_until__gt=now),
        Q(stock__isnull=True) | Q(stock__gt=0),
        is_active=True,
    )


def rewards_featured(*, limit: int = 4) -> list[Reward]:
    """Featured rewards for the home page: one query."""
    return list(rewards_available().filter(featured=True).order_by("sort_order", "name")[:limit])


def rewards_for_member_dashboard(member: Member, *, limit: int = 3) -> list[Reward]:
    """What the member can afford now, or is closest to, for the dashboard: one query (the account row usually
    comes with the member)."""
    now = timezone.now()
    plan = member_plan_now(member)
    opens_by = now + timedelta(days=plan.early_access_days if plan else 0)
    shape = (tuple(_allowed_tier_ids(member.tier_id)), plan, limit)
    return _dashboard_rewards.list(member.pk, member.account.balance, now, opens_by, shape=shape)


def _dashboard_rewards_build(shape, member_id: int, balance: int, now: datetime, opens_by: datetime):
    tier_ids, plan, limit = shape
    rewards = _member_rewards(
        member_id=member_id, balance=balance, now=now, opens_by=opens_by, tier_ids=list(tier_ids), plan=plan
    )
    return rewards.order_by("points_to_go", "points_cost", "pk")[:limit]


#: The dashboard's suggestions, compiled once per connection for each tier ladder position and plan.
_dashboard_rewards = CompiledQuery(_dashboard_rewards_build, int, int, datetime, datetime, shaped=True)


def member_redeemed_units(*, member_id: int, reward: Reward, now: datetime) -> tuple[int, int]:
    """Units of ``reward`` the member has redeemed, in total and in the reward's current period, for its
    per-member limits. Gifts don't count: the limits are about what a member spends points on. One query, and
    none when the reward has no limit."""
    if reward.per_member_limit is None and reward.per_member_period_limit is None:
        return 0, 0
    since = period_start(reward.period, now) if reward.period else now
    counts = Redemption.objects.filter(
        member_id=member_id, reward_id=reward.pk, status=Redemption.Status.COMPLETED, is_gift=False
    ).aggregate(
        total=Coalesce(Sum("quantity"), 0),
        in_period=Coalesce(Sum("quantity", filter=Q(created_at__gte=since)), 0),
    )
    return counts["total"], counts["in_period"]


def _allowed_tier_ids(tier_id: int | None) -> list[int]:
    tiers = tiers_list()
    rank = next((tier.rank for tier in tiers if tier.pk == tier_id), None)
    if rank is None:
        return []
    return [tier.pk for tier in tiers if tier.rank <= rank]


def member_balance(*, member: Member) -> int:
    return _balance.list(member.pk)[0]


def reward_by_slug(*, slug: str) -> Reward | None:
    """Any reward with this slug, active or not (the redemption checks availability under the account lock)."""
    return _reward_by_slug.first(slug)


# A till's redemption reads these (members.compiled: compiled once per connection).
_balance = CompiledQuery(
    lambda member_id: PointsAccount.objects.filter(pk=member_id).values_list("balance", flat=True), int
)
_reward_by_slug = CompiledQuery(lambda slug: Reward.objects.filter(slug=slug), str)


def rewards_catalogue(
    *,
    member: Member | None,
    balance: int,
    category: str = "",
    kind: str = "",
    affordable_only: bool = False,
    search: str = "",
    now: datetime | None = None,
) -> QuerySet[Reward]:
    """The rewards ``member`` may redeem now (active, in window, tier allows, in stock), best first. For a visitor
    (``member`` None) every available reward, none of them affordable: they browse before joining.

    Each row carries ``affordable`` (bool), ``points_to_go`` (0 when affordable) and ``redeemed_by_member``
    (units this member holds, for showing a reached limit). One query however many rewards there are.
    """
    if member is None:
        rewards = rewards_available(now=now).annotate(
            unit_cost=F("points_cost"),
            affordable=Value(False, output_field=BooleanField()),
            points_to_go=F("points_cost"),
            redeemed_by_member=Value(0, output_field=IntegerField()),
            plan_allows=_plan_allows(None),
        )
        return _catalogue_filtered(
            rewards.select_related("min_tier", "required_plan", "redeemable_at").order_by(
                "-featured", "sort_order", "name", "pk"
            ),
            balance=balance,
            category=category,
            kind=kind,
            affordable_only=affordable_only,
            search=search,
        )
    plan = member_plan(member_id=member.pk, at=now) if now else member_plan_now(member)
    now = now or timezone.now()
    rewards = _member_rewards(
        member_id=member.pk,
        balance=balance,
        now=now,
        opens_by=now + timedelta(days=plan.early_access_days if plan else 0),
        tier_ids=_allowed_tier_ids(member.tier_id),
        plan=plan,
    ).order_by("-featured", "sort_order", "name", "pk")
    return _catalogue_filtered(
        rewards, balance=balance, category=category, kind=kind, affordable_only=affordable_only, search=search
    )


def _member_rewards(*, member_id: int, balance: int, now: datetime, opens_by: datetime, tier_ids: list, plan):
    """The catalogue as a member sees it, with ``affordable``, ``points_to_go``, ``redeemed_by_member`` and
    ``plan_allows``; every varying value is an argument, so that the dashboard can compile it once."""
    redeemed = (
        Redemption.objects.filter(member_id=member_id, reward=OuterRef("pk"), status=Redemption.Status.COMPLETED)
        .values("reward")
        .annotate(units=Sum("quantity"))
        .values("units")
    )
    return (
        _rewards_in_window(now=now, opens_by=opens_by)
        .filter(Q(min_tier__isnull=True) | Q(min_tier_id__in=tier_ids))
        .annotate(unit_cost=_unit_cost(plan))
        .annotate(
            affordable=ExpressionWrapper(Q(unit_cost__lte=balance), output_field=BooleanField()),
            points_to_go=Greatest(F("unit_cost") - Value(balance), Value(0), output_field=IntegerField()),
            redeemed_by_member=Coalesce(Subquery(redeemed, output_field=IntegerField()), Value(0)),
            plan_allows=_plan_allows(plan),
        )
        .select_related("required_plan")
    )


def _plan_allows(plan: MembershipPlan | None):
    """Whether the member's plan lets them redeem the reward (members-only rewards name the plan they need)."""
    allowed = Q(required_plan__isnull=True)
    if plan is not None:
        allowed |= Q(required_plan_id=plan.pk)
    return ExpressionWrapper(allowed, output_field=BooleanField())


def _unit_cost(plan: MembershipPlan | None):
    """Points per unit for this member: the members-only price (when lower) for a subscriber."""
    if plan is None:
        return F("points_cost")
    return Case(
        When(member_points_cost__lt=F("points_cost"), then=F("member_points_cost")),
        default=F("points_cost"),
        output_field=IntegerField(),
    )


def _catalogue_filtered(rewards, *, balance, category, kind, affordable_only, search) -> QuerySet[Reward]:
    if category:
        rewards = rewards.filter(category=category)
    if kind:
        rewards = rewards.filter(kind=kind)
    if affordable_only:
        rewards = rewards.filter(unit_cost__lte=balance)
    if search:
        rewards = rewards.filter(
            Q(name__icontains=search) | Q(description__icontains=search) | Q(partner_name__icontains=search)
        )
    return rewards


def reward_categories() -> list[str]:
    """Categories of active rewards, for the catalogue filter."""
    return list(
        Reward.objects.filter(is_active=True)
        .exclude(category="")
        .order_by("category")
        .values_list("category", flat=True)
        .distinct()
    )


def reward_get_active(*, slug: str) -> Reward | None:
    return (
        Reward.objects.filter(slug=slug, is_active=True)
        .select_related("min_tier", "required_plan", "redeemable_at")
        .first()
    )


@dataclass(frozen=True)
class Redeemability:
    balance: int
    cost: int
    error: LoyaltyError | None

    @property
    def balance_after(self) -> int:
        return self.balance - self.cost

    @property
    def points_to_go(self) -> int:
        return max(self.cost - self.balance, 0)

    @property
    def ok(self) -> bool:
        return self.error is None


def redemption_refusal(
    *,
    member_id: int,
    tier_id: int | None,
    reward: Reward,
    balance: int,
    quantity: int,
    cost: int,
    now: datetime,
    plan: MembershipPlan | None = None,
) -> LoyaltyError | None:
    """The first reason (availability, tier, per-member limits, points) why the member may not redeem
    ``quantity`` of ``reward`` for ``cost`` points now, or None. The redeem page and ``reward_redeem`` both ask
    here, so they never disagree."""
    redeemed_total, redeemed_in_period = member_redeemed_units(member_id=member_id, reward=reward, now=now)
    tiers = {tier.pk: tier for tier in tiers_list()}
    min_tier = tiers.get(reward.min_tier_id)
    return redemption_error(
        reward=reward,
        situation=MemberSituation(
            tier_rank=tiers[tier_id].rank if tier_id in tiers else None,
            balance=balance,
            redeemed_total=redeemed_total,
            redeemed_in_period=redeemed_in_period,
            plan=plan,
        ),
        quantity=quantity,
        points=cost,
        min_tier_rank=min_tier.rank if min_tier else None,
        min_tier_name=min_tier.name if min_tier else "",
        now=now,
    )


def reward_redeemability(
    *, member: Member, reward: Reward, quantity: int = 1, points: int | None = None, now: datetime | None = None
) -> Redeemability:
    """Whether ``member`` could redeem ``reward`` now, and why not: the service's own rules, without writing."""
    now = now or timezone.now()
    balance = member_balance(member=member)
    plan = member_plan(member_id=member.pk, at=now)
    cost = points if reward.kind == Reward.Kind.DONATION and points else reward.unit_points(plan) * quantity
    error = redemption_refusal(
        member_id=member.pk,
        tier_id=member.tier_id,
        reward=reward,
        balance=balance,
        quantity=quantity,
        cost=cost,
        now=now,
        plan=plan,
    )
    return Redeemability(balance=balance, cost=cost, error=error)


def member_vouchers(*, member: Member, history_limit: int = 20, now: datetime | None = None):
    """``(usable, history)``: vouchers ready to use (soonest expiry first) and the latest others. Two queries."""
    now = now or timezone.now()
    vouchers = Voucher.objects.filter(member_id=member.pk).select_related("reward__redeemable_at", "used_on_purchase")
    usable = list(vouchers.filter(state=Voucher.State.ISSUED, expires_at__gt=now).order_by("expires_at", "pk"))
    history = list(
        vouchers.filter(~Q(state=Voucher.State.ISSUED) | Q(expires_at__lte=now)).order_by("-issued_at", "-pk")[
            :history_limit
        ]
    )
    return usable, history


def member_redemptions_without_voucher(*, member: Member, limit: int = 20) -> list[Redemption]:
    """Donations, partner codes and shipped rewards of a member, newest first (one query)."""
    return list(
        Redemption.objects.filter(member_id=member.pk, voucher__isnull=True)
        .select_related("reward", "partner_code")
        .order_by("-created_at", "-pk")[:limit]
    )


def reward_redemption_counts(*, reward_ids=None) -> dict[int, dict[str, int]]:
    """Completed redemptions and units per reward: ``{reward_id: {"redemptions": n, "units": u}}``."""
    rows = Redemption.objects.filter(status=Redemption.Status.COMPLETED)
    if reward_ids is not None:
        rows = rows.filter(reward_id__in=list(reward_ids))
    return {
        row["reward_id"]: {"redemptions": row["redemptions"], "units": row["units"]}
        for row in rows.values("reward_id").annotate(redemptions=Count("pk"), units=Sum("quantity"))
    }


def donation_totals_by_charity(*, since: datetime | None = None, until: datetime | None = None) -> list[dict]:
    """Points donated per charity (cancelled donations excluded), largest first: charity, points, donations,
    donors."""
    rows = Redemption.objects.filter(status=Redemption.Status.COMPLETED, reward__kind=Reward.Kind.DONATION)
    if since is not None:
        rows = rows.filter(created_at__gte=since)
    if until is not None:
        rows = rows.filter(created_at__lt=until)
    return list(
        rows.values("charity")
        .annotate(points=Sum("points_spent"), donations=Count("pk"), donors=Count("member", distinct=True))
        .order_by("-points", "charity")
    )


@dataclass(frozen=True)
class VoucherCheck:
    code: str
    voucher: Voucher | None
    error: LoyaltyError | None

    @property
    def ok(self) -> bool:
        return self.error is None


def voucher_check(*, code: str, now: datetime | None = None, partner=None) -> VoucherCheck:
    """What a till (``partner``'s, or the operator's when None) would be told about ``code`` now, without using
    it. One query. A partner's till sees only its own partner's vouchers: any other code is not found."""
    normalised = voucher_code_normalise(code)
    voucher = Voucher.objects.select_related("reward__redeemable_at").filter(code=normalised).first()
    if voucher is None:
        return VoucherCheck(code=normalised, voucher=None, error=VoucherNotFound())
    place = voucher_place_refusal(voucher, partner)
    if isinstance(place, VoucherNotFound):
        return VoucherCheck(code=normalised, voucher=None, error=place)
    return VoucherCheck(
        code=normalised, voucher=voucher, error=place or voucher_refusal(voucher, now or timezone.now())
    )


def shipping_list_rows(*, redemptions: QuerySet[Redemption]):
    """Rows of the shipping list CSV (columns ``SHIPPING_LIST_COLUMNS``) for the given redemptions (one query,
    streamed)."""
    for r in redemptions.select_related("reward", "member").order_by("created_at", "pk").iterator(chunk_size=2000):
        yield [
            r.pk,
            timezone.localtime(r.created_at).isoformat(timespec="seconds"),
            r.member.member_number,
            r.reward.name,
            r.quantity,
            r.shipping_name,
            r.shipping_line1,
            r.shipping_line2,
            r.shipping_postcode,
            r.shipping_city,
            r.shipping_country,
            r.get_fulfilment_status_display(),
            r.tracking_reference,
        ]


def member_export(member: Member) -> dict:
    """What the rewards app holds about a member, for their data export."""
    redemptions = (
        Redemption.objects.filter(member_id=member.pk).select_related("reward", "voucher").order_by("created_at", "pk")
    )
    return {
        "redemptions": [
            {
                "reward": redemption.reward.name,
                "quantity": redemption.quantity,
                "points_spent": redemption.points_spent,
                "status": redemption.status,
                "charity": redemption.charity,
                "fulfilment_status": redemption.fulfilment_status,
                "shipping_address": {
                    "name": redemption.shipping_name,
                    "line1": redemption.shipping_line1,
                    "line2": redemption.shipping_line2,
                    "postcode": redemption.shipping_postcode,
                    "city": redemption.shipping_city,
                    "country": redemption.shipping_country,
                },
                "created_at": redemption.created_at,
                "voucher": (
                    {
                        "code": redemption.voucher.code,
                        "state": redemption.voucher.state,
                        "expires_at": redemption.voucher.expires_at,
                        "used_at": redemption.voucher.used_at,
                    }
                    if hasattr(redemption, "voucher")
                    else None
                ),
            }
            for redemption in redemptions
        ]
    }


# --- For the apps that give rewards away (campaigns, referrals) ------------------------------------------------


def gift_redemptions(
    *, member_id=None, idempotency_keys=None, idempotency_key_prefix: str = "", idempotency_key_suffix: str = ""
):
    """Gifts (``reward_grant`` redemptions) found by the idempotency keys their giver chose. ``member_id`` may be
    an ``OuterRef`` so the queryset works as an ``Exists`` subquery ("not given yet")."""
    gifts = Redemption.objects.filter(is_gift=True)
    if member_id is not None:
        gifts = gifts.filter(member_id=member_id)
    if idempotency_keys is not None:
        gifts = gifts.filter(idempotency_key__in=list(idempotency_keys))
    if idempotency_key_prefix:
        gifts = gifts.filter(idempotency_key__startswith=idempotency_key_prefix)
    if idempotency_key_suffix:
        gifts = gifts.filter(idempotency_key__endswith=idempotency_key_suffix)
    return gifts


def gift_vouchers_completed(*, idempotency_keys) -> list[tuple[Redemption, Voucher | None]]:
    """Completed gifts with those keys and each one's voucher (None for a partner code, which cannot be taken
    back). One query."""
    gifts = (
        gift_redemptions(idempotency_keys=idempotency_keys)
        .filter(status=Redemption.Status.COMPLETED)
        .select_related("reward", "voucher")
    )
    return [(gift, getattr(gift, "voucher", None)) for gift in gifts]


# --- points redeemed: the one definition every report uses -------------------------------------------------------

#: What "redeemed" means on every staff report (analytics, its top rewards, the liability's movements).
REDEEMED_DEFINITION = _(
    "Points redeemed = points spent on rewards and donations, net of redemptions cancelled or refunded (the "
    "points given back), counted on the day the points moved."
)


SPENT_KINDS = (LedgerEntry.Kind.REDEEM, LedgerEntry.Kind.DONATION)


def _given_back() -> Q:
    """Reversals of a redemption (a cancelled voucher, a refunded shipment): the points it gives back."""
    return Q(kind=LedgerEntry.Kind.REVERSAL, source_type=ContentType.objects.get_for_model(Redemption))


def _redemption_entries(*, start_at: datetime | None, end_at: datetime):
    """Ledger entries posted in ``[start_at, end_at)`` that make up points redeemed: the spend (redeem, donation)
    and the points given back when a redemption is cancelled or refunded."""
    entries = LedgerEntry.objects.filter(Q(kind__in=SPENT_KINDS) | _given_back(), created_at__lt=end_at)
    return entries.filter(created_at__gte=start_at) if start_at is not None else entries


def redeemed_points_total(*, start_at: datetime | None, end_at: datetime) -> int:
    """Net points redeemed in the window (positive), per :data:`REDEEMED_DEFINITION`. One query."""
    total = _redemption_entries(start_at=start_at, end_at=end_at).aggregate(total=Sum("points"))["total"]
    return -int(total or 0)


def redemption_reversals_total(*, start_at: datetime | None, end_at: datetime) -> int:
    """Points given back by cancelled or refunded redemptions in the window (positive). One query. Reports that
    sum the spend from the daily roll-ups subtract this to get the net figure."""
    entries = LedgerEntry.objects.filter(_given_back(), created_at__lt=end_at)
    if start_at is not None:
        entries = entries.filter(created_at__gte=start_at)
    return int(entries.aggregate(total=Sum("points"))["total"] or 0)


def redemption_reversals_by_day(*, start_at: datetime, end_at: datetime) -> dict:
    """Points given back by cancelled or refunded redemptions per local day of the window. One grouped query."""
    rows = (
        LedgerEntry.objects.filter(_given_back(), created_at__gte=start_at, created_at__lt=end_at)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(points=Sum("points"))
        .order_by()
    )
    return {row["day"]: int(row["points"] or 0) for row in rows}


def redeemed_points_by_reward(*, start_at: datetime, end_at: datetime, limit: int | None = None) -> list[dict]:
    """Per reward: redemptions made and not cancelled, units, and net points redeemed in the window, most points
    first. The points add up to :func:`redeemed_points_total` over the same window. Three queries."""
    reward_of = Redemption.objects.filter(pk=OuterRef("source_id")).values("reward_id")[:1]
    points = (
        _redemption_entries(start_at=start_at, end_at=end_at)
        .annotate(reward_id=Subquery(reward_of, output_field=IntegerField()))
        .values("reward_id")
        .annotate(points=Sum("points"))
        .order_by()
    )
    by_reward = {row["reward_id"]: -int(row["points"] or 0) for row in points if row["reward_id"] is not None}
    counted = (
        Redemption.objects.filter(
            reward_id__in=list(by_reward),
            created_at__gte=start_at,
            created_at__lt=end_at,
            status=Redemption.Status.COMPLETED,
        )
        .values("reward_id")
        .annotate(redemptions=Count("pk"), quantity=Sum("quantity"))
        .order_by()
    )
    counts = {row["reward_id"]: row for row in counted}
    names = dict(Reward.objects.filter(pk__in=list(by_reward)).values_list("pk", "name"))
    rows = [
        {
            "reward_id": reward_id,
            "name": names.get(reward_id, ""),
            "redemptions": counts.get(reward_id, {}).get("redemptions", 0),
            "quantity": counts.get(reward_id, {}).get("quantity") or 0,
            "points": points_net,
        }
        for reward_id, points_net in by_reward.items()
        if points_net or counts.get(reward_id)
    ]
    rows.sort(key=lambda row: (-row["points"], -row["redemptions"], row["name"]))
    return rows[:limit] if limit is not None else rows


def plan_benefits(plan_ids) -> dict[int, dict]:
    """What the catalogue adds to each membership plan: the rewards given every period and how many rewards are
    for its subscribers only (one query)."""
    benefits: dict[int, dict] = {plan_id: {"period_rewards": [], "members_only_rewards": 0} for plan_id in plan_ids}
    rewards = Reward.objects.filter(
        Q(period_reward_plan_id__in=plan_ids) | Q(required_plan_id__in=plan_ids), is_active=True
    ).order_by("sort_order", "name")
    for reward in rewards:
        if reward.period_reward_plan_id in benefits:
            benefits[reward.period_reward_plan_id]["period_rewards"].append(
                {"slug": reward.slug, "name": reward.name, "value": reward.value}
            )
        if reward.required_plan_id in benefits:
            benefits[reward.required_plan_id]["members_only_rewards"] += 1
    return benefits


@dataclass(frozen=True)
class VoucherBurn:
    """A voucher a partner's till took, as settlement reads it: the points it stood for (what the member spent
    on it; a gift voucher, which cost the member nothing, stands for its reward's price in points)."""

    voucher_id: int
    partner_id: int
    points: int
    used_at: datetime


def partner_voucher_burns(
    *, partner_ids, start_at: datetime | None, end_at: datetime, exclude_voucher_ids=None
) -> list[VoucherBurn]:
    """Vouchers used at these partners in ``[start_at, end_at)`` (``start_at`` None: since the beginning),
    leaving out ``exclude_voucher_ids`` (a subquery of ids already settled). One query."""
    vouchers = Voucher.objects.filter(
        used_by_partner_id__in=list(partner_ids), state=Voucher.State.USED, used_at__lt=end_at
    )
    if start_at is not None:
        vouchers = vouchers.filter(used_at__gte=start_at)
    if exclude_voucher_ids is not None:
        vouchers = vouchers.exclude(pk__in=exclude_voucher_ids)
    rows = vouchers.order_by("used_at", "pk").values_list(
        "pk", "used_by_partner_id", "used_at", "redemption__points_spent", "redemption__quantity", "reward__points_cost"
    )
    return [
        VoucherBurn(
            voucher_id=pk, partner_id=partner_id, points=spent if spent > 0 else cost * quantity, used_at=used_at
        )
        for pk, partner_id, used_at, spent, quantity, cost in rows
    ]


def partner_rewards_available(*, partner_ids, now: datetime | None = None) -> dict[int, list[Reward]]:
    """Rewards available now that are redeemable at each of these partners (one query)."""
    rewards: dict[int, list[Reward]] = {partner_id: [] for partner_id in partner_ids}
    for reward in (
        rewards_available(now=now).filter(redeemable_at_id__in=list(partner_ids)).order_by("sort_order", "name", "pk")
    ):
        rewards[reward.redeemable_at_id].append(reward)
    return rewards


def partner_first_burn_at(*, partner_id: int) -> datetime | None:
    """When the partner's tills first took a voucher (one indexed query)."""
    return (
        Voucher.objects.filter(used_by_partner_id=partner_id)
        .order_by("used_at")
        .values_list("used_at", flat=True)
        .first()
    )
