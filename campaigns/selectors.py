"""Reads of the campaigns app: a member's offers, a campaign's report and a member's data export."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.db.models import Count, DecimalField, Exists, F, OuterRef, Sum, Value
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from members.models import MONEY, LedgerEntry, Member, Purchase
from members.selectors import program_settings_get

from .engine import running_campaigns
from .models import Campaign, CampaignEmail, CampaignParticipation, SegmentMember
from .segments import audience_split, holdout_bucket_sql, in_holdout, member_segment_ids, segment_members

ZERO = Decimal("0")


@dataclass
class Offer:
    campaign: Campaign
    ends_at: datetime | None


def member_offers(*, member: Member, now: datetime | None = None) -> list[Offer]:
    """Running campaigns the member is in the audience of (not in the holdout group), best first.

    Constant queries: the running campaigns are cached, segment membership is one query and win-back offers one.
    """
    now = now or timezone.now()
    snapshot = running_campaigns()
    live = [
        c
        for c in snapshot.campaigns
        if c.is_live(now) and not c.budget_exhausted and not in_holdout(campaign=c, member_id=member.pk)
    ]
    segments = {c.segment_id: c.segment for c in live if c.segment_id}
    inside = member_segment_ids(
        member_id=member.pk, segments=list(segments.values()), now=now, tier_ids=snapshot.segment_tiers
    )
    live = [c for c in live if c.segment_id is None or c.segment_id in inside]
    winback = [c.pk for c in live if c.kind == Campaign.Kind.WINBACK]
    open_offers = {}
    if winback:
        open_offers = dict(
            CampaignParticipation.objects.filter(
                member_id=member.pk,
                campaign_id__in=winback,
                holdout=False,
                offer_used_at__isnull=True,
                offer_expires_at__gt=now,
            ).values_list("campaign_id", "offer_expires_at")
        )
    offers = []
    for campaign in live:
        if campaign.kind == Campaign.Kind.WINBACK:
            if campaign.pk in open_offers:
                offers.append(Offer(campaign, open_offers[campaign.pk]))
        else:
            offers.append(Offer(campaign, campaign.ends_at))
    return offers


# --- Report ---------------------------------------------------------------------------------------------------


# Below this many buyers in either group the lift's interval is too wide to act on, so the page says
# "not enough data yet" instead of a figure (a marketer reading +150 % from two buyers would be misled).
MIN_BUYERS_FOR_LIFT = 10
# Two-sided 95 % normal quantile for the lift's confidence interval.
Z_95 = 1.959964


@dataclass
class GroupRevenue:
    members: int = 0
    buyers: int = 0
    purchases: int = 0
    revenue: Decimal = ZERO
    # Σ (revenue per member)² over the buyers (members who bought nothing add 0): with `revenue` and `members`
    # it gives the variance of revenue per member, for the lift's confidence interval.
    revenue_squares: float = 0.0

    @property
    def per_member(self) -> Decimal:
        if not self.members:
            return ZERO
        return (self.revenue / self.members).quantize(Decimal("0.01"))

    @property
    def variance(self) -> float | None:
        """Sample variance of revenue per member (every member of the group, buyers or not)."""
        if self.members < 2:
            return None
        mean = float(self.revenue) / self.members
        return max(self.revenue_squares - self.members * mean * mean, 0.0) / (self.members - 1)


@dataclass
class CampaignReport:
    campaign: Campaign
    window_start: datetime | None
    window_end: datetime | None
    audience: int
    holdout_members: int
    participants: int
    points_awarded: int
    points_clawed_back: int
    budget_points: int | None
    redemptions: int
    points_redeemed: int
    treatment: GroupRevenue
    holdout: GroupRevenue
    point_value: Decimal
    currency: str
    points_by_day: list[tuple[date, int]] = field(default_factory=list)
    # True while the campaign runs: the window then ends "now", which the page says instead of a second time.
    running: bool = False

    @property
    def budget_used_percent(self) -> Decimal | None:
        if not self.budget_points:
            return None
        return (Decimal(self.points_awarded) * 100 / self.budget_points).quantize(Decimal("0.1"))

    @property
    def cost(self) -> Decimal:
        """What the points awarded are worth at the program's point value (net of clawbacks)."""
        return (Decimal(self.points_awarded - self.points_clawed_back) * self.point_value).quantize(Decimal("0.01"))

    @property
    def both_groups_bought(self) -> bool:
        return self.treatment.buyers > 0 and self.holdout.buyers > 0

    @property
    def enough_data(self) -> bool:
        """Whether each group has enough buyers for the lift to be shown as a finding."""
        return min(self.treatment.buyers, self.holdout.buyers) >= MIN_BUYERS_FOR_LIFT

    @property
    def lift(self) -> Decimal | None:
        """Revenue per treated member over revenue per holdout member, minus one (None until both groups bought)."""
        if not self.both_groups_bought or self.holdout.per_member <= 0:
            return None
        return (self.treatment.per_member / self.holdout.per_member - 1).quantize(Decimal("0.0001"))

    @property
    def lift_interval(self) -> tuple[Decimal, Decimal] | None:
        """95 % confidence interval of the lift (delta method for a ratio of two independent means)."""
        if self.lift is None:
            return None
        variances = (self.treatment.variance, self.holdout.variance)
        if None in variances:
            return None
        mean_t = float(self.treatment.revenue) / self.treatment.members
        mean_h = float(self.holdout.revenue) / self.holdout.members
        ratio = mean_t / mean_h
        relative_variance = variances[1] / (self.holdout.members * mean_h * mean_h)
        if mean_t > 0:
            relative_variance += variances[0] / (self.treatment.members * mean_t * mean_t)
        half_width = Z_95 * ratio * relative_variance**0.5
        low, high = ratio - 1 - half_width, ratio - 1 + half_width
        return Decimal(str(low)).quantize(Decimal("0.0001")), Decimal(str(high)).quantize(Decimal("0.0001"))

    @property
    def incremental_revenue(self) -> Decimal | None:
        if not self.both_groups_bought:
            return None
        return ((self.treatment.per_member - self.holdout.per_member) * self.treatment.members).quantize(
            Decimal("0.01")
        )

    @property
    def roi(self) -> Decimal | None:
        """(Incremental revenue − cost) / cost, only once both groups have buyers (else there is no baseline)."""
        if self.incremental_revenue is None or self.cost <= 0:
            return None
        return ((self.incremental_revenue - self.cost) / self.cost).quantize(Decimal("0.0001"))


def _window(campaign: Campaign, now: datetime) -> tuple[datetime | None, datetime | None, bool]:
    start = campaign.starts_at if campaign.launched_at else None
    if start is None:
        return None, None, False
    closes = [campaign.ends_at, campaign.ended_at]
    end = min(filter(None, [*closes, now]))
    running = all(close is None or close > now for close in closes)
    return start, max(end, start), running


def _group_revenue(members_queryset, start, end, *, members: int) -> GroupRevenue:
    net = F("total") - F("refunded_total")
    money = DecimalField(**MONEY)
    purchases = Purchase.objects.filter(
        member__in=members_queryset.values("pk"), occurred_at__gte=start, occurred_at__lt=end
    )
    counts = purchases.aggregate(
        purchases=Count("pk"),
        buyers=Count("member_id", distinct=True),
        revenue=Coalesce(Sum(net, output_field=money), Value(ZERO, output_field=money)),
    )
    return GroupRevenue(
        members=members,
        buyers=counts["buyers"],
        purchases=counts["purchases"],
        revenue=counts["revenue"],
        revenue_squares=_revenue_squares(purchases, net, money) if counts["buyers"] else 0.0,
    )


def _revenue_squares(purchases, net, money) -> float:
    """Σ over buyers of (their net revenue)², in one statement: an aggregate over a per-member GROUP BY."""
    per_member = purchases.order_by().values("member_id").annotate(revenue=Sum(net, output_field=money))
    sql, params = per_member.values("revenue").query.sql_with_params()
    # DOUBLE PRECISION on both backends: this is a statistic, not money, and numeric × numeric would be slow.
    squared = "CAST(per_member.revenue AS DOUBLE PRECISION) * CAST(per_member.revenue AS DOUBLE PRECISION)"
    statement = f"SELECT SUM({squared}) FROM ({sql}) per_member"  # noqa: S608 - Django's compiled SQL, bound params
    with connections[per_member.db].cursor() as cursor:
        cursor.execute(statement, params)
        (squares,) = cursor.fetchone()
    return float(squares or 0)


def points_by_day(campaign: Campaign) -> list[tuple[date, int]]:
    """Points the campaign awarded per local day (bonus entries pointing at it, spendable or pending)."""
    rows = (
        LedgerEntry.objects.filter(
            source_type=ContentType.objects.get_for_model(Campaign),
            source_id=campaign.pk,
            kind=LedgerEntry.Kind.BONUS,
        )
        .annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("day")
        .annotate(points=Sum(F("points") + F("pending_delta")))
        .order_by("day")
    )
    return [(row["day"], row["points"]) for row in rows]


def campaign_report(campaign: Campaign, *, now: datetime | None = None) -> CampaignReport:
    """The campaign's numbers, each from one set-based query.

    Audience and holdout are evaluated now (segment rules over today's data); revenue compares the two groups
    over the campaign's window (intent to treat: every treated member counts, whether they bought or not);
    redemptions are the participants' REDEEM entries after their first award.
    """
    now = now or timezone.now()
    program = program_settings_get()
    audience, holdout_count = audience_split(campaign, now=now)
    participations = CampaignParticipation.objects.filter(campaign=campaign, holdout=False, awards__gt=0)
    participants = participations.count()
    followed = CampaignParticipation.objects.filter(
        campaign=campaign, awards__gt=0, member_id=OuterRef("account_id"), first_at__lte=OuterRef("created_at")
    )
    redeemed = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.REDEEM).filter(Exists(followed))
    redeemed = redeemed.aggregate(count=Count("pk"), points=Coalesce(Sum("points"), 0))
    start, end, running = _window(campaign, now)
    treatment, holdout = GroupRevenue(), GroupRevenue()
    if start is not None:
        base = segment_members(campaign.segment, now=now).annotate(bucket=holdout_bucket_sql(campaign_id=campaign.pk))
        treatment = _group_revenue(
            base.filter(bucket__gte=campaign.holdout_percent), start, end, members=audience - holdout_count
        )
        holdout = _group_revenue(base.filter(bucket__lt=campaign.holdout_percent), start, end, members=holdout_count)
    return CampaignReport(
        campaign=campaign,
        window_start=start,
        window_end=end,
        audience=audience,
        holdout_members=holdout_count,
        participants=participants,
        points_awarded=campaign.points_awarded,
        points_clawed_back=campaign.points_clawed_back,
        budget_points=campaign.budget_points,
        redemptions=redeemed["count"],
        points_redeemed=-redeemed["points"],
        treatment=treatment,
        holdout=holdout,
        point_value=program.point_value,
        currency=program.currency,
        points_by_day=points_by_day(campaign),
        running=running,
    )


def member_export(member: Member) -> dict:
    """What the campaigns app holds about a member, for their data export (three queries).

    Segments built from rules are worked out when a campaign runs and not stored per member; the lists staff
    put a member on (or keep them off) are.
    """
    return {
        "campaign_participations": list(
            CampaignParticipation.objects.filter(member_id=member.pk)
            .order_by("created_at", "pk")
            .values(
                "campaign__name",
                "campaign__kind",
                "holdout",
                "points_awarded",
                "points_clawed_back",
                "awards",
                "first_at",
                "last_at",
                "offer_expires_at",
                "offer_used_at",
                "created_at",
            )
        ),
        "campaign_emails": list(
            CampaignEmail.objects.filter(member_id=member.pk)
            .order_by("claimed_at", "pk")
            .values("campaign__name", "campaign__email_subject", "status", "claimed_at", "sent_at", "error")
        ),
        "segment_lists": list(
            SegmentMember.objects.filter(member_id=member.pk)
            .order_by("created_at", "pk")
            .values("segment__name", "excluded", "created_at")
        ),
    }
