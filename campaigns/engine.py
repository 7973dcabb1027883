"""Campaign bonuses in the earning engine.

``campaign_awards`` is the earning provider (``members.hooks.earning_providers``): for a basket it returns one
:class:`~members.calculators.Award` per campaign that applies. It writes nothing (it also powers previews) and
costs a constant number of queries per basket whatever the number of campaigns: the running campaigns come from
a per-process cache, segment membership for all of them is one query, the member's participations another, and
an Nth-purchase trigger adds one count.

``campaign_awards_reserve`` (``members.hooks.award_reservers``) runs inside ``purchase_record``'s transaction,
holding the member's account lock: it locks the campaigns' rows in id order, re-checks status, per-member cap
and budget against the committed numbers, consumes the budget with ``F()`` and records participation. Two
purchases racing for the last of a budget serialise on the campaign row; the second sees what is left.

Stacking: every applicable stackable campaign combines; of the non-stackable ones only the one with the lowest
``priority`` number (then lowest id) applies, on top of the stackable ones.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from integrations.cache import config_cached, config_changed
from members.calculators import Award, Basket, BasketLine, EarningResult, distribute
from members.compiled import CompiledQuery
from members.models import Purchase

from .models import Campaign, CampaignParticipation, Segment
from .segments import in_holdout, member_segment_ids

CACHE_TTL_SECONDS = 30
SNAPSHOT_NAME = "campaigns:running"
ZERO = Decimal("0")


@dataclass(frozen=True)
class Snapshot:
    campaigns: tuple[Campaign, ...]
    segment_tiers: dict[int, list[int]]


def campaigns_cache_invalidate() -> None:
    """Make every process reload its running campaigns (called after a campaign changes)."""
    config_changed()


def running_campaigns() -> Snapshot:
    """Campaigns the earning engine may apply (scheduled or active, earning kinds), cached per process.

    The snapshot lives ``CACHE_TTL_SECONDS`` at most and is dropped from the next request on when the shared
    configuration version changes (every lifecycle service and budget exhaustion draws a new one), so a paused
    campaign stops awarding right away.
    """
    return config_cached(SNAPSHOT_NAME, _snapshot_load, CACHE_TTL_SECONDS)


def _snapshot_load() -> Snapshot:
    campaigns = tuple(
        Campaign.objects.filter(kind__in=Campaign.EARNING_KINDS, status__in=Campaign.LIVE_STATUSES)
        .select_related("segment")
        .order_by("priority", "pk")
    )
    segment_ids = {campaign.segment_id for campaign in campaigns if campaign.segment_id}
    segment_tiers: dict[int, list[int]] = {segment_id: [] for segment_id in segment_ids}
    if segment_ids:
        for segment_id, tier_id in Segment.tiers.through.objects.filter(segment_id__in=segment_ids).values_list(
            "segment_id", "tier_id"
        ):
            segment_tiers[segment_id].append(tier_id)
    return Snapshot(campaigns=campaigns, segment_tiers=segment_tiers)


# --- Conditions -----------------------------------------------------------------------------------------------


def _basket_matches(campaign: Campaign, basket: Basket) -> bool:
    if campaign.channels and basket.channel not in campaign.channels:
        return False
    return not (campaign.stores and basket.store not in campaign.stores)


def _line_matches(campaign: Campaign, line: BasketLine) -> bool:
    if campaign.categories and line.category not in campaign.categories:
        return False
    return not (campaign.skus and line.sku not in campaign.skus)


def period_start(moment: datetime, period: str) -> datetime:
    """Start of the day, week (Monday) or calendar month containing ``moment``, in the current time zone."""
    local = timezone.localtime(moment)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == Campaign.Period.WEEK:
        start -= timedelta(days=start.weekday())
    elif period == Campaign.Period.MONTH:
        start = start.replace(day=1)
    # Re-localise: the start of the period may be on the other side of a daylight-saving change.
    return timezone.make_aware(start.replace(tzinfo=None))


def _trigger_met(campaign: Campaign, basket: Basket, matching: list[BasketLine], counts: dict[str, int]) -> bool:
    trigger = campaign.trigger
    amount = sum((line.amount for line in matching), ZERO)
    if campaign.threshold_spend is not None and amount < campaign.threshold_spend:
        return False
    if trigger in ("", Campaign.Trigger.SPEND_OVER):
        return bool(matching)
    if trigger in (Campaign.Trigger.PRODUCT, Campaign.Trigger.CATEGORY):
        return bool(matching)
    if trigger == Campaign.Trigger.FIRST_PURCHASE:
        return not basket.context.get("has_purchased", False)
    if trigger == Campaign.Trigger.FIRST_IN_CHANNEL:
        channels = basket.context.get("purchase_channels", set())
        return bool(channels) and basket.channel not in channels
    if trigger == Campaign.Trigger.NTH_PURCHASE:
        return counts.get(campaign.trigger_period, 0) + 1 == (campaign.trigger_count or 1)
    return False


def _multiplier_part(campaign: Campaign, matching: list[BasketLine], base: EarningResult) -> dict[int, int]:
    extra = campaign.multiplier - 1
    if extra <= 0:
        return {}
    parts = {}
    for line in matching:
        points = (Decimal(base.line_points.get(line.line_number, 0)) * extra).quantize(Decimal(1), ROUND_FLOOR)
        if points > 0:
            parts[line.line_number] = int(points)
    return parts


def _fixed_part(campaign: Campaign, matching: list[BasketLine]) -> dict[int, int]:
    if not campaign.bonus_points or not matching:
        return {}
    weights = {line.line_number: line.amount for line in matching}
    if sum(weights.values(), ZERO) <= 0:
        weights = {line.line_number: Decimal(1) for line in matching}
    return {number: points for number, points in distribute(campaign.bonus_points, weights).items() if points}


def _merge(*parts: dict[int, int]) -> dict[int, int]:
    merged: dict[int, int] = {}
    for part in parts:
        for number, points in part.items():
            merged[number] = merged.get(number, 0) + points
    return merged


def _describe(campaign: Campaign) -> str:
    bits = []
    if campaign.multiplier > 1:
        bits.append(f"× {campaign.multiplier.normalize()}")
    if campaign.bonus_points:
        bits.append(_("+%(points)s points") % {"points": campaign.bonus_points})
    if campaign.categories:
        bits.append(", ".join(campaign.categories))
    if campaign.skus:
        bits.append(", ".join(campaign.skus))
    return " · ".join(bits)


def award_shrink(award: Award, points: int, detail: str) -> Award:
    """The same award with fewer points (shared over its lines in proportion)."""
    weights = {number: Decimal(value) for number, value in award.line_points.items()}
    line_points = distribute(points, weights) if weights else {}
    return dataclasses.replace(award, points=points, line_points=line_points, detail=detail)


def _campaign_award(
    campaign: Campaign,
    basket: Basket,
    base: EarningResult,
    participation: CampaignParticipation | None,
    counts: dict[str, int],
) -> Award | None:
    if not _basket_matches(campaign, basket):
        return None
    matching = [line for line in basket.lines if _line_matches(campaign, line)]
    if campaign.kind == Campaign.Kind.MULTIPLIER:
        parts = _multiplier_part(campaign, matching, base)
    elif campaign.kind == Campaign.Kind.FIXED_BONUS:
        parts = _fixed_part(campaign, matching) if _trigger_met(campaign, basket, matching, counts) else {}
    else:  # win-back: a bonus on the next purchase while the emailed offer lasts
        offer_open = (
            participation is not None
            and not participation.holdout
            and participation.offer_used_at is None
            and participation.offer_expires_at is not None
            and participation.created_at <= basket.occurred_at < participation.offer_expires_at
        )
        if not offer_open:
            return None
        parts = _merge(_multiplier_part(campaign, matching, base), _fixed_part(campaign, matching))
    points = sum(parts.values())
    if points <= 0:
        return None
    award = Award(
        points=points,
        label=campaign.name,
        source=campaign,
        key=f"campaign:{campaign.pk}",
        line_points=parts,
        detail=_describe(campaign),
    )
    limit = None
    if campaign.per_member_cap is not None:
        limit = campaign.per_member_cap - (participation.points_awarded if participation else 0)
    if campaign.budget_left is not None:
        limit = campaign.budget_left if limit is None else min(limit, campaign.budget_left)
    if limit is not None and limit < points:
        if limit <= 0:
            return None
        award = award_shrink(award, limit, _("limited by the campaign's cap or budget"))
    return award


def _period_counts(member_id: int, moment: datetime, periods: set[str]) -> dict[str, int]:
    """The member's purchases so far in each period containing ``moment`` (one query)."""
    starts = {period: period_start(moment, period) for period in periods}
    earliest = min(starts.values())
    aggregates = {
        period: Count("pk", filter=Q(occurred_at__gte=start, occurred_at__lte=moment))
        for period, start in starts.items()
    }
    return Purchase.objects.filter(member_id=member_id, occurred_at__gte=earliest).aggregate(**aggregates)


#: The member's participations in the live campaigns, asked on every purchase while a capped campaign runs;
#: compiled once per connection for each set of campaigns (members.compiled).
_participations = CompiledQuery(
    lambda campaign_ids, member_id: CampaignParticipation.objects.filter(
        member_id=member_id, campaign_id__in=list(campaign_ids)
    ),
    int,
    shaped=True,
)


def campaign_awards(basket: Basket, base: EarningResult, now: datetime) -> list[Award]:
    """The earning provider: bonus awards of the running campaigns for ``basket``. Writes nothing."""
    snapshot = running_campaigns()
    live = [c for c in snapshot.campaigns if c.is_live(basket.occurred_at) and not c.budget_exhausted]
    if not live:
        return []
    member = basket.member
    if member is None:
        # An anonymous preview sees only what applies to everyone, without history-based triggers.
        live = [
            c
            for c in live
            if c.segment_id is None
            and c.holdout_percent == 0
            and c.kind != Campaign.Kind.WINBACK
            and c.trigger not in (Campaign.Trigger.FIRST_IN_CHANNEL, Campaign.Trigger.NTH_PURCHASE)
        ]
        participations, counts = {}, {}
    else:
        live = [c for c in live if not in_holdout(campaign=c, member_id=member.pk)]
        segments = {c.segment_id: c.segment for c in live if c.segment_id}
        if segments:
            inside = member_segment_ids(
                member_id=member.pk, segments=list(segments.values()), now=now, tier_ids=snapshot.segment_tiers
            )
            live = [c for c in live if c.segment_id is None or c.segment_id in inside]
        if not live:
            return []
        participations = {}
        if any(c.per_member_cap is not None or c.kind == Campaign.Kind.WINBACK for c in live):
            ids = tuple(c.pk for c in live)
            participations = {p.campaign_id: p for p in _participations.list(member.pk, shape=ids)}
        periods = {
            c.trigger_period or Campaign.Period.MONTH for c in live if c.trigger == Campaign.Trigger.NTH_PURCHASE
        }
        counts = _period_counts(member.pk, basket.occurred_at, periods) if periods else {}

    stackable, exclusive = [], None
    for campaign in live:  # ordered by (priority, id): the first exclusive one that applies wins
        award = _campaign_award(campaign, basket, base, participations.get(campaign.pk), counts)
        if award is None:
            continue
        if campaign.stackable:
            stackable.append(award)
        elif exclusive is None:
            exclusive = award
    return [*stackable, exclusive] if exclusive is not None else stackable


# --- Recording ------------------------------------------------------------------------------------------------


def _campaign_id(award: Award) -> int | None:
    if not award.key.startswith("campaign:"):
        return None
    return int(award.key.split(":", 1)[1])


def campaign_awards_reserve(*, awards: list[Award], basket: Basket, now: datetime) -> list[Award]:
    """Confirm campaign awards under the campaigns' row locks, consume budget and record participation.

    Precondition: runs inside ``purchase_record``'s transaction, holding the member's account lock (so the
    member's participation rows cannot change underneath). Campaign rows are locked in id order; every writer
    takes account locks before campaign locks, so there is no lock cycle.
    """
    ids = sorted({cid for cid in map(_campaign_id, awards) if cid is not None})
    if not ids or basket.member is None:
        return awards
    member_id = basket.member.pk
    locked = {
        c.pk: c
        for c in Campaign.objects.select_for_update()
        .filter(pk__in=ids)
        .order_by("pk")
        .only("pk", "kind", "status", "budget_points", "points_awarded", "per_member_cap")
    }
    participations = {
        p.campaign_id: p for p in CampaignParticipation.objects.filter(member_id=member_id, campaign_id__in=ids)
    }
    granted_awards = []
    exhausted = False
    for award in awards:
        cid = _campaign_id(award)
        if cid is None:
            granted_awards.append(award)
            continue
        campaign, participation = locked.get(cid), participations.get(cid)
        points, reason = award.points, ""
        if campaign is None or campaign.status not in Campaign.LIVE_STATUSES:
            points, reason = 0, _("campaign no longer running")
        if campaign is not None and campaign.per_member_cap is not None:
            left = campaign.per_member_cap - (participation.points_awarded if participation else 0)
            if left < points:
                points, reason = max(left, 0), _("per-member cap reached")
        offer_gone = participation is None or participation.offer_used_at is not None or participation.holdout
        if campaign is not None and campaign.kind == Campaign.Kind.WINBACK and offer_gone:
            points, reason = 0, _("offer already used")
        if campaign is not None and campaign.budget_points is not None:
            left = campaign.budget_points - campaign.points_awarded
            if left < points:
                points, reason = max(left, 0), _("budget exhausted")
        if points > 0:
            _consume(campaign, participation, member_id=member_id, points=points, now=now)
            exhausted |= campaign.budget_exhausted
        granted_awards.append(award if points == award.points else award_shrink(award, points, reason))
    if exhausted:
        transaction.on_commit(campaigns_cache_invalidate)
    return granted_awards


def _consume(
    campaign: Campaign, participation: CampaignParticipation | None, *, member_id: int, points: int, now: datetime
) -> None:
    """Count ``points`` against the (locked) campaign's budget and the member's participation."""
    campaign.points_awarded += points
    changes = {"points_awarded": F("points_awarded") + points}
    if campaign.budget_exhausted:
        changes["budget_exhausted_at"] = now
    Campaign.objects.filter(pk=campaign.pk).update(**changes)
    participation_record(
        campaign=campaign,
        participation=participation,
        member_id=member_id,
        points=points,
        now=now,
        offer_used=campaign.kind == Campaign.Kind.WINBACK,
    )


def participation_record(
    *,
    campaign: Campaign,
    participation: CampaignParticipation | None,
    member_id: int,
    points: int,
    now: datetime,
    offer_used: bool = False,
) -> None:
    """Add an award to the member's participation row. Caller holds the member's account lock."""
    if participation is None:
        CampaignParticipation.objects.create(
            campaign_id=campaign.pk,
            member_id=member_id,
            points_awarded=points,
            awards=1,
            first_at=now,
            last_at=now,
            offer_used_at=now if offer_used else None,
        )
        return
    changes = {"points_awarded": F("points_awarded") + points, "awards": F("awards") + 1, "last_at": now}
    if participation.first_at is None:
        changes["first_at"] = now
    if offer_used:
        changes["offer_used_at"] = now
    CampaignParticipation.objects.filter(pk=participation.pk).update(**changes)
