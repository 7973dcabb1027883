"""Program health metrics for a period, each one a set-based SQL aggregate (no per-row Python).

Definitions (also shown on the dashboard):

- **Active members**: distinct members with at least one purchase in the period.
- **Enrolments**: members whose ``enrolled_at`` falls in the period.
- **Points issued**: spendable plus pending points credited by earning kinds (earn, bonus, referral, opening
  balances); **redeemed**: points debited by redemptions; **expired**: points debited by expiry.
- **Redemption rate**: points redeemed ÷ points issued in the period.
- **Repeat purchase rate**: members with two or more purchases in the period ÷ members with at least one.
- **Average purchase cycle**: mean days between consecutive purchases of the same member, both in the period
  (``LAG`` window over each member's purchases).
- **Average order value**: mean purchase total. Every recorded purchase belongs to a member, so a non-member
  figure is not available from this program's data.
- **Tier distribution**: active members per tier now; **tier movements**: tier history rows in the period.
- **Top rewards**: completed redemptions made in the period, per reward, with the points spent.
- **Campaign ROI**: bonus points per campaign in the period, valued at the point value, against the revenue
  (net of refunds) of the purchases that earned them — attributed, not incremental.
- **Referral conversion**: referrals made in the period that qualified (and were not clawed back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import Count, F, Q, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.urls import reverse

from campaigns.models import Campaign
from referrals.models import Referral
from rewards.models import Redemption

from ..models import LedgerEntry, Member, Purchase, TierHistory
from ..selectors import program_settings_get
from ..services.ledger import EARNING_KINDS
from .periods import Period

Kind = LedgerEntry.Kind
ZERO = Decimal("0")


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

    @property
    def redemption_rate(self) -> Decimal | None:
        return _ratio(self.points_redeemed, self.points_issued)

    @property
    def repeat_purchase_rate(self) -> Decimal | None:
        return _ratio(self.repeat_buyers, self.buyers)


def purchase_stats(period: Period) -> dict:
    """Purchases, revenue, AOV, buyers and repeat buyers in one pass: group by member, then aggregate the groups."""
    table = Purchase._meta.db_table
    sql = f"""
        SELECT COUNT(*), COALESCE(SUM(n), 0), COALESCE(SUM(spent), 0),
               COALESCE(SUM(CASE WHEN n >= 2 THEN 1 ELSE 0 END), 0)
        FROM (
            SELECT member_id, COUNT(*) AS n, SUM(total) AS spent
            FROM {table}
            WHERE occurred_at >= %s AND occurred_at < %s
            GROUP BY member_id
        ) per_member
    """  # noqa: S608 - the table name comes from model metadata; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [period.start_at, period.end_at])
        buyers, purchases, revenue, repeat = cursor.fetchone()
    revenue = Decimal(str(revenue)).quantize(Decimal("0.01"))
    return {
        "purchases": purchases,
        "revenue": revenue,
        "average_order_value": (revenue / purchases).quantize(Decimal("0.01")) if purchases else None,
        "buyers": buyers,
        "active_members": buyers,
        "repeat_buyers": repeat,
    }


def average_purchase_cycle_days(period: Period) -> Decimal | None:
    """Mean gap in days between consecutive purchases of the same member within the period."""
    table = Purchase._meta.db_table
    if connection.vendor == "postgresql":
        gap = "EXTRACT(EPOCH FROM (occurred_at - previous_at)) / 86400.0"
    else:
        gap = "julianday(occurred_at) - julianday(previous_at)"
    sql = f"""
        SELECT AVG({gap}) FROM (
            SELECT occurred_at,
                   LAG(occurred_at) OVER (PARTITION BY member_id ORDER BY occurred_at, id) AS previous_at
            FROM {table}
            WHERE occurred_at >= %s AND occurred_at < %s
        ) gaps
        WHERE previous_at IS NOT NULL
    """  # noqa: S608 - the table name comes from model metadata; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [period.start_at, period.end_at])
        (value,) = cursor.fetchone()
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def points_stats(period: Period) -> dict:
    entries = LedgerEntry.objects.filter(created_at__gte=period.start_at, created_at__lt=period.end_at)
    moved = F("points") + F("pending_delta")
    totals = entries.aggregate(
        issued=Coalesce(Sum(moved, filter=Q(kind__in=EARNING_KINDS)), 0),
        redeemed=Coalesce(Sum("points", filter=Q(kind=Kind.REDEEM)), 0),
        expired=Coalesce(Sum("points", filter=Q(kind=Kind.EXPIRE)), 0),
    )
    return {"issued": totals["issued"], "redeemed": -totals["redeemed"], "expired": -totals["expired"]}


def points_by_day(period: Period) -> list[tuple]:
    rows = (
        LedgerEntry.objects.filter(
            created_at__gte=period.start_at,
            created_at__lt=period.end_at,
            kind__in=[*EARNING_KINDS, Kind.REDEEM],
        )
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            issued=Coalesce(Sum(F("points") + F("pending_delta"), filter=Q(kind__in=EARNING_KINDS)), 0),
            redeemed=Coalesce(Sum("points", filter=Q(kind=Kind.REDEEM)), 0),
        )
    )
    by_day = {row["day"]: (row["issued"], -row["redeemed"]) for row in rows}
    return [(day, *by_day.get(day, (0, 0))) for day in period.each_day()]


def enrolment_stats(period: Period) -> tuple[int, list[tuple]]:
    rows = (
        Member.objects.filter(enrolled_at__gte=period.start_at, enrolled_at__lt=period.end_at)
        .annotate(day=TruncDate("enrolled_at"))
        .values("day")
        .annotate(n=Count("pk"))
    )
    by_day = {row["day"]: row["n"] for row in rows}
    return sum(by_day.values()), [(day, by_day.get(day, 0)) for day in period.each_day()]


def tier_distribution() -> list[dict]:
    return list(
        Member.objects.filter(status=Member.Status.ACTIVE)
        .values("tier_id", "tier__name", "tier__rank", "tier__colour")
        .annotate(members=Count("pk"))
        .order_by(F("tier__rank").asc(nulls_first=True))
    )


def tier_movements(period: Period) -> list[dict]:
    return list(
        TierHistory.objects.filter(created_at__gte=period.start_at, created_at__lt=period.end_at)
        .values("reason", "from_tier__name", "to_tier__name")
        .annotate(members=Count("pk"))
        .order_by("reason", "-members")
    )


def top_rewards(period: Period, *, limit: int = 10) -> list[dict]:
    """Rewards by redemptions made in the period, then by points spent; cancelled and refunded ones left out."""
    rows = (
        Redemption.objects.filter(
            created_at__gte=period.start_at, created_at__lt=period.end_at, status=Redemption.Status.COMPLETED
        )
        .values("reward_id", "reward__name")
        .annotate(redemptions=Count("pk"), quantity=Sum("quantity"), points=Sum("points_spent"))
        .order_by("-redemptions", "-points", "reward__name")[:limit]
    )
    return [{**row, "name": row["reward__name"]} for row in rows]


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


def dashboard_build(period: Period) -> Dashboard:
    stats = purchase_stats(period)
    points = points_stats(period)
    enrolments, enrolments_by_day = enrolment_stats(period)
    return Dashboard(
        period=period,
        active_members=stats["active_members"],
        enrolments=enrolments,
        enrolments_by_day=enrolments_by_day,
        points_issued=points["issued"],
        points_redeemed=points["redeemed"],
        points_expired=points["expired"],
        points_by_day=points_by_day(period),
        purchases=stats["purchases"],
        revenue=stats["revenue"],
        average_order_value=stats["average_order_value"],
        buyers=stats["buyers"],
        repeat_buyers=stats["repeat_buyers"],
        average_purchase_cycle_days=average_purchase_cycle_days(period),
        tier_distribution=tier_distribution(),
        tier_movements=tier_movements(period),
        top_rewards=top_rewards(period),
        campaign_roi=campaign_roi(period),
        referral_conversion=referral_conversion(period),
    )
