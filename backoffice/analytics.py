"""Program health metrics for a period, each one a set-based SQL aggregate (no per-row Python).

Definitions (also shown on the dashboard):

- **Active members**: distinct members with at least one purchase in the period.
- **Enrolments**: members whose ``enrolled_at`` falls in the period.
- **Points issued**: spendable plus pending points credited by earning kinds (earn, bonus, referral, opening
  balances); **redeemed**: points spent on rewards and donations net of cancelled or refunded redemptions
  (``rewards.selectors.REDEEMED_DEFINITION``, the same on every report); **expired**: points debited by expiry.
- **Redemption rate**: points redeemed ÷ points issued in the period.
- **Repeat purchase rate**: members with two or more purchases in the period ÷ members with at least one.
- **Average purchase cycle**: mean days between consecutive purchases of the same member, both in the period
  (the mean of the gaps a ``LAG`` window over each member's purchases gives, computed as Σ(last − first) ÷ Σ(n − 1)
  over the members, which is the same number).
- **Average order value**: mean purchase total. Every recorded purchase belongs to a member, so a non-member
  figure is not available from this program's data.
- **Tier distribution**: active members per tier now; **tier movements**: tier history rows in the period.
- **Top rewards**: net points redeemed per reward in the period (they add up to the points redeemed), with the
  redemptions made in the period and not cancelled.
- **Campaign ROI**: bonus points per campaign in the period, valued at the point value, against the revenue
  (net of refunds) of the purchases that earned them — attributed, not incremental.
- **Referral conversion**: referrals made in the period that qualified (and were not clawed back).

Where the numbers come from: points, enrolments, purchases, revenue and tier movements are sums over days, so they
add the nightly daily roll-ups (``backoffice.services.rollups``) for the days those cover and query the source tables
live only for the rest (``backoffice.rollups``): exact and current, and the cost no longer grows with the
period. Buyers, repeat buyers and the purchase cycle need each member's purchases and take one grouped pass over
the period's purchases. ``dashboard_get`` keeps a built dashboard for a few minutes.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import connections, transaction
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.urls import reverse
from django.utils import timezone

from backoffice.models import DailyActivity, DailyPoints, DailyTierMovement
from backoffice.periods import Period
from backoffice.rollups import Watermark, live_rows, rolled_days, rollup_watermark
from campaigns.models import Campaign
from integrations.replica import read_alias
from members.models import LedgerEntry, Member, Purchase, Tier, TierHistory
from members.selectors import program_settings_get, tiers_list
from members.services.ledger import EARNING_KINDS
from referrals.models import Referral
from rewards.selectors import SPENT_KINDS, redeemed_points_by_reward, redemption_reversals_by_day

Kind = LedgerEntry.Kind
ZERO = Decimal("0")
CENT = Decimal("0.01")
SECONDS_PER_DAY = 86400
DASHBOARD_CACHE_SECONDS = 300
REPORT_WORK_MEM = "64MB"


def _ratio(numerator, denominator) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"))


@dataclass
class Dashboard:
    period: Period
    active_members: int = 0
    enrolments: int = 0
    enrolments_by_day: list[tuple] = field(default_factory=list)
    points_issued: int = 0
    points_redeemed: int = 0
    points_expired: int = 0
    points_by_day: list[tuple] = field(default_factory=list)
    purchases: int = 0
    revenue: Decimal = ZERO
    average_order_value: Decimal | None = None
    buyers: int = 0
    repeat_buyers: int = 0
    average_purchase_cycle_days: Decimal | None = None
    tier_distribution: list[dict] = field(default_factory=list)
    tier_movements: list[dict] = field(default_factory=list)
    top_rewards: list[dict] = field(default_factory=list)
    campaign_roi: list[dict] = field(default_factory=list)
    referral_conversion: dict = field(default_factory=dict)
    computed_at: datetime | None = None
    rolled_through: date | None = None  # last day answered by the roll-ups; None: everything read live

    @property
    def redemption_rate(self) -> Decimal | None:
        return _ratio(self.points_redeemed, self.points_issued)

    @property
    def repeat_purchase_rate(self) -> Decimal | None:
        return _ratio(self.repeat_buyers, self.buyers)


def purchase_stats(period: Period) -> dict:
    """Buyers, repeat buyers and the average purchase cycle in one grouped pass over the period's purchases.

    These need each member's purchases, so no daily roll-up can answer them. The average purchase cycle (mean
    gap between consecutive purchases of a member, both in the period) telescopes: a member's gaps add up to
    ``last − first`` and number ``n − 1``, so the mean of all gaps is ``Σ(last − first) ÷ Σ(n − 1)`` — the same
    figure a ``LAG`` window gives, from a count, a min and a max per member, with no sort.
    """
    table = Purchase._meta.db_table
    connection = connections[read_alias()]
    if connection.vendor == "postgresql":
        # Summing intervals and taking the epoch once keeps microseconds exact (numeric, not float).
        span, total_span = "MAX(occurred_at) - MIN(occurred_at)", "EXTRACT(EPOCH FROM SUM(span))"
    else:
        span, total_span = "julianday(MAX(occurred_at)) - julianday(MIN(occurred_at))", "SUM(span) * 86400.0"
    sql = f"""
        SELECT COUNT(*), COALESCE(SUM(n), 0), COALESCE(SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END), 0), {total_span}
        FROM (
            SELECT member_id, COUNT(*) AS n, {span} AS span
            FROM {table}
            WHERE occurred_at >= %s AND occurred_at < %s
            GROUP BY member_id
        ) per_member
    """  # noqa: S608 - the table name comes from model metadata; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [period.start_at, period.end_at])
        buyers, purchases, repeat, span_seconds = cursor.fetchone()
    gaps = purchases - buyers  # Σ(n − 1) over the buyers; members with one purchase add 0
    cycle = None
    if gaps and span_seconds is not None:
        cycle = (Decimal(str(span_seconds)) / gaps / SECONDS_PER_DAY).quantize(Decimal("0.01"))
    return {
        "buyers": buyers,
        "active_members": buyers,
        "repeat_buyers": repeat,
        "purchases": purchases,
        "average_purchase_cycle_days": cycle,
    }


@contextmanager
def report_settings():
    """A transaction tuned for a few large report queries (PostgreSQL; elsewhere nothing changes).

    JIT compilation costs more than it saves on these short scans. The purchase pass groups one row per buyer: a
    month's buyers fit a hash in 64 MB (with the default 4 MB it spills to disk); a year's do not, and the planner
    then walks the ``(member, occurred_at)`` index in member order, which is faster than hashing a million groups
    (measured on the bench data: 0.9 s against 2.2 s with work_mem large enough to hash them). ``SET LOCAL`` ends
    with the transaction.
    """
    alias = read_alias()
    connection = connections[alias]
    if connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic(using=alias), connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL jit = off; SET LOCAL work_mem = '{REPORT_WORK_MEM}'")
        yield


def _summed(row: dict) -> dict:
    return {key: value or 0 for key, value in row.items()}


def _by_day(rows, *keys) -> dict[date, list]:
    return {row["day"]: [row[key] or 0 for key in keys] for row in rows}


def _add_days(into: dict[date, list], other: dict[date, list]) -> dict[date, list]:
    for day, values in other.items():
        if day in into:
            into[day] = [a + b for a, b in zip(into[day], values, strict=True)]
        else:
            into[day] = values
    return into


def points_days(period: Period, watermark: Watermark | None) -> dict[date, list[int]]:
    """Points issued, redeemed and expired per day of the period: roll-ups for the rolled-up days, the ledger for
    the rest (two grouped queries)."""
    issued = Sum(F("points") + F("pending_delta"), filter=Q(kind__in=EARNING_KINDS))
    redeemed = Sum("points", filter=Q(kind__in=SPENT_KINDS))
    expired = Sum("points", filter=Q(kind=Kind.EXPIRE))
    kinds = [*EARNING_KINDS, *SPENT_KINDS, Kind.EXPIRE]
    by_day: dict[date, list[int]] = {}
    rolled = rolled_days(period.start, period.end, watermark)
    if rolled:
        rows = (
            DailyPoints.objects.filter(day__gte=rolled[0], day__lte=rolled[1], kind__in=kinds)
            .values("day")
            .annotate(issued=issued, redeemed=redeemed, expired=expired)
            .order_by()
        )
        by_day = _by_day(rows, "issued", "redeemed", "expired")
    mark = watermark.ledger_entry_id if watermark else 0
    live = (
        LedgerEntry.objects.filter(live_rows("created_at", period.start_at, period.end_at, watermark, mark))
        .filter(kind__in=kinds)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(issued=issued, redeemed=redeemed, expired=expired)
        .order_by()
    )
    _add_days(by_day, _by_day(live, "issued", "redeemed", "expired"))
    # Redeemed is the one definition of every report (rewards.selectors.REDEEMED_DEFINITION): the spend net of
    # the points given back by cancelled or refunded redemptions, which the roll-ups (by kind) cannot tell from
    # other reversals, so those are read from the ledger (one grouped query over the few reversals).
    for day, points in redemption_reversals_by_day(start_at=period.start_at, end_at=period.end_at).items():
        by_day.setdefault(day, [0, 0, 0])[1] += points
    return {day: [int(issued), -int(redeemed), -int(expired)] for day, (issued, redeemed, expired) in by_day.items()}


def _points_totals(days: dict[date, list[int]]) -> dict:
    return {
        "issued": sum(values[0] for values in days.values()),
        "redeemed": sum(values[1] for values in days.values()),
        "expired": sum(values[2] for values in days.values()),
    }


def _points_chart(period: Period, days: dict[date, list[int]]) -> list[tuple]:
    return [(day, *days.get(day, (0, 0))[:2]) for day in period.each_day()]


def activity_days(period: Period, watermark: Watermark | None) -> tuple[dict[date, int], int, Decimal]:
    """Enrolments per day, purchases and revenue of the period: roll-ups for the rolled-up days, the members and
    purchases tables for the rest (three queries)."""
    enrolments: dict[date, int] = {}
    purchases, revenue = 0, ZERO
    rolled = rolled_days(period.start, period.end, watermark)
    if rolled:
        for row in DailyActivity.objects.filter(day__gte=rolled[0], day__lte=rolled[1]).values(
            "day", "enrolments", "purchases", "revenue"
        ):
            if row["enrolments"]:
                enrolments[row["day"]] = row["enrolments"]
            purchases += row["purchases"]
            revenue += row["revenue"]
    mark = watermark.member_id if watermark else 0
    live_members = (
        Member.objects.filter(live_rows("enrolled_at", period.start_at, period.end_at, watermark, mark))
        .annotate(day=TruncDate("enrolled_at"))
        .values("day")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for row in live_members:
        enrolments[row["day"]] = enrolments.get(row["day"], 0) + row["n"]
    mark = watermark.purchase_id if watermark else 0
    live_purchases = _summed(
        Purchase.objects.filter(live_rows("occurred_at", period.start_at, period.end_at, watermark, mark)).aggregate(
            n=Count("pk"), total=Sum("total")
        )
    )
    purchases += live_purchases["n"]
    revenue += live_purchases["total"]
    return enrolments, purchases, Decimal(revenue).quantize(CENT)


def tier_distribution() -> list[dict]:
    """Active members per tier, lowest rank first (no tier before all). Counted by ``tier_id`` alone and named from
    the cached tier list: joining a million members to the tiers only to group by four columns doubled the time."""
    counts = dict(
        Member.objects.filter(status=Member.Status.ACTIVE)
        .values("tier_id")
        .annotate(members=Count("pk"))
        .order_by()
        .values_list("tier_id", "members")
    )
    tiers = {tier.pk: tier for tier in tiers_list()}
    if set(counts) - set(tiers) - {None}:  # a tier added since the list was cached
        tiers = {tier.pk: tier for tier in Tier.objects.all()}
    rows = []
    for tier_id, members in counts.items():
        tier = tiers.get(tier_id)
        rows.append(
            {
                "tier_id": tier_id,
                "tier__name": tier.name if tier else None,
                "tier__rank": tier.rank if tier else None,
                "tier__colour": tier.colour if tier else None,
                "members": members,
            }
        )
    rows.sort(key=lambda row: (row["tier__rank"] is not None, row["tier__rank"] or 0))
    return rows


def tier_movements(period: Period, watermark: Watermark | None = None) -> list[dict]:
    """Tier history rows of the period by reason and move: roll-ups for the rolled-up days, the table for the rest."""
    counts: dict[tuple, int] = {}
    rolled = rolled_days(period.start, period.end, watermark)
    if rolled:
        rows = (
            DailyTierMovement.objects.filter(day__gte=rolled[0], day__lte=rolled[1])
            .values("reason", "from_tier_id", "to_tier_id")
            .annotate(members=Sum("members"))
            .order_by()
        )
        for row in rows:
            key = (row["reason"], row["from_tier_id"] or None, row["to_tier_id"] or None)
            counts[key] = counts.get(key, 0) + row["members"]
    mark = watermark.tier_history_id if watermark else 0
    live = (
        TierHistory.objects.filter(live_rows("created_at", period.start_at, period.end_at, watermark, mark))
        .values("reason", "from_tier_id", "to_tier_id")
        .annotate(members=Count("pk"))
        .order_by()
    )
    for row in live:
        key = (row["reason"], row["from_tier_id"], row["to_tier_id"])
        counts[key] = counts.get(key, 0) + row["members"]
    names = {tier.pk: tier.name for tier in tiers_list()}
    movements = [
        {
            "reason": reason,
            "from_tier__name": names.get(from_tier) if from_tier else None,
            "to_tier__name": names.get(to_tier) if to_tier else None,
            "members": members,
        }
        for (reason, from_tier, to_tier), members in counts.items()
    ]
    movements.sort(
        key=lambda row: (row["reason"], -row["members"], row["from_tier__name"] or "", row["to_tier__name"] or "")
    )
    return movements


def top_rewards(period: Period, *, limit: int = 10) -> list[dict]:
    """Rewards by net points redeemed in the period (the report-wide definition), with the redemptions made in
    the period and not cancelled; their points add up to the dashboard's "points redeemed"."""
    return redeemed_points_by_reward(start_at=period.start_at, end_at=period.end_at, limit=limit)


def campaign_roi(period: Period) -> list[dict]:
    """Per campaign: bonus points given in the period (cost at the point value) and the revenue of the purchases
    they rewarded, net of refunds so far.

    ROI = (attributed revenue − cost) ÷ cost. Attributed, not incremental: each campaign's report
    (``campaigns.selectors.campaign_report``, linked per row) compares the treated group with its holdout for
    the incremental figure. Clawbacks on refunds are not taken off the cost here (the ledger does not tie them
    to a campaign); the campaign report shows them.
    """
    point_value = program_settings_get().point_value
    rows = list(
        LedgerEntry.objects.filter(
            kind=Kind.BONUS,
            source_type=ContentType.objects.get_for_model(Campaign),
            created_at__gte=period.start_at,
            created_at__lt=period.end_at,
        )
        .values("source_id")
        .annotate(
            points=Coalesce(Sum(F("points") + F("pending_delta")), 0),
            purchases=Count("purchase_id", distinct=True),
            revenue=Coalesce(Sum(F("purchase__total") - F("purchase__refunded_total")), ZERO),
        )
        .order_by("-points", "source_id")
    )
    names = dict(Campaign.objects.filter(pk__in=[row["source_id"] for row in rows]).values_list("pk", "name"))
    for row in rows:
        row["name"] = names.get(row["source_id"], row["source_id"])
        row["revenue"] = Decimal(row["revenue"]).quantize(Decimal("0.01"))
        row["cost"] = (Decimal(row["points"]) * point_value).quantize(Decimal("0.01"))
        row["roi"] = _ratio(row["revenue"] - row["cost"], row["cost"])
        row["report_url"] = reverse("admin:campaigns_campaign_report", args=[row["source_id"]])
    return rows


def referral_conversion(period: Period) -> dict:
    """Referrals made in the period, and how many of them converted (the friend's qualifying purchase, not
    clawed back since). Held referrals count as made but not converted until staff approve them."""
    totals = Referral.objects.filter(created_at__gte=period.start_at, created_at__lt=period.end_at).aggregate(
        referrals=Count("pk"), converted=Count("pk", filter=Q(state=Referral.State.QUALIFIED))
    )
    return {**totals, "rate": _ratio(totals["converted"], totals["referrals"])}


def dashboard_build(period: Period, *, use_rollups: bool = True) -> Dashboard:
    """Every metric of the period. Additive ones (points, enrolments, purchases, revenue, tier movements) sum the
    daily roll-ups and read live only what those do not hold; ``use_rollups=False`` reads everything live (the
    reference the roll-ups are tested against)."""
    return _dashboard(period, rollup_watermark() if use_rollups else None)


def _dashboard(period: Period, watermark: Watermark | None) -> Dashboard:
    with report_settings():
        return _dashboard_figures(period, watermark)


def _dashboard_figures(period: Period, watermark: Watermark | None) -> Dashboard:
    stats = purchase_stats(period)
    points = points_days(period, watermark)
    totals = _points_totals(points)
    enrolments, purchases, revenue = activity_days(period, watermark)
    return Dashboard(
        period=period,
        active_members=stats["active_members"],
        enrolments=sum(enrolments.values()),
        enrolments_by_day=[(day, enrolments.get(day, 0)) for day in period.each_day()],
        points_issued=totals["issued"],
        points_redeemed=totals["redeemed"],
        points_expired=totals["expired"],
        points_by_day=_points_chart(period, points),
        purchases=purchases,
        revenue=revenue,
        average_order_value=(revenue / purchases).quantize(CENT) if purchases else None,
        buyers=stats["buyers"],
        repeat_buyers=stats["repeat_buyers"],
        average_purchase_cycle_days=stats["average_purchase_cycle_days"],
        tier_distribution=tier_distribution(),
        tier_movements=tier_movements(period, watermark),
        top_rewards=top_rewards(period),
        campaign_roi=campaign_roi(period),
        referral_conversion=referral_conversion(period),
        computed_at=timezone.now(),
        rolled_through=watermark.through if watermark else None,
    )


def dashboard_get(period: Period) -> Dashboard:
    """The dashboard of ``period``, built at most once per ``DASHBOARD_CACHE_SECONDS`` and roll-up run.

    The key carries the roll-up watermark, so a finished run is seen at once; live figures (today's purchases)
    may be up to the cache's age old, which the page states ("computed at").
    """
    watermark = rollup_watermark()
    key = ":".join(
        [
            "staff:dashboard",
            timezone.get_current_timezone_name(),
            period.start.isoformat(),
            period.end.isoformat(),
            watermark.key if watermark else "live",
        ]
    )
    dashboard = cache.get(key)
    if dashboard is None:
        dashboard = _dashboard(period, watermark)
        cache.set(key, dashboard, DASHBOARD_CACHE_SECONDS)
    return dashboard
