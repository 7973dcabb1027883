"""Segment evaluation and holdout assignment as set-based SQL.

A segment becomes one boolean condition over ``members.Member`` with correlated subqueries on the monthly
``QualifyingActivity`` buckets (spend, number of purchases), ``Purchase`` (channel used) and the segment's
include/exclude lists. The same condition counts an audience of a million members in one statement, lists it
in keyset batches for a send job, or, as annotations on a single member row, tells which of many segments one
member belongs to in one query (the earning provider's per-basket check).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import (
    BooleanField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, Mod
from django.utils import timezone

from members.models import MONEY_SUM, FeedbackResponse, Member, Purchase, QualifyingActivity
from members.months import last_twelve_months_start

from .models import Campaign, Segment, SegmentMember

# Holdout bucket: h = (member id × A + campaign id × K) mod P, then h² mod P mod 100. Squaring makes the groups
# of two campaigns independent (a linear hash would shift the same members into every holdout group). Integer
# arithmetic with every intermediate below 2^53, so Python, PostgreSQL and SQLite (whose MOD works on doubles)
# agree for member ids up to a billion.
_HASH_A = 1000003
_HASH_K = 7919
_HASH_PRIME = 67108859


def holdout_bucket(*, campaign_id: int, member_id: int) -> int:
    mixed = (member_id * _HASH_A + campaign_id * _HASH_K) % _HASH_PRIME
    return (mixed * mixed) % _HASH_PRIME % 100


def in_holdout(*, campaign: Campaign, member_id: int) -> bool:
    return holdout_bucket(campaign_id=campaign.pk, member_id=member_id) < campaign.holdout_percent


def holdout_bucket_sql(*, campaign_id: int, member_field: str = "pk"):
    """The same bucket as an SQL expression over ``member_field``."""
    mixed = Mod(F(member_field) * Value(_HASH_A) + Value(campaign_id * _HASH_K), Value(_HASH_PRIME))
    return Mod(Mod(mixed * mixed, Value(_HASH_PRIME)), Value(100), output_field=IntegerField())


def _activity_sum(field: str, since: date | None):
    activity = QualifyingActivity.objects.filter(member_id=OuterRef("pk"))
    if since is not None:
        activity = activity.filter(month__gte=since)
    total = activity.values("member_id").annotate(total=Sum(field)).values("total")
    if field == "spend":
        from django.db.models import DecimalField

        return Coalesce(
            Subquery(total, output_field=DecimalField(**MONEY_SUM)), Value(0, output_field=DecimalField(**MONEY_SUM))
        )
    return Coalesce(Subquery(total, output_field=IntegerField()), Value(0))


@dataclass
class _Compiled:
    condition: Q
    annotations: dict


def _activity_rules_per_member(segment: Segment, since: date | None, annotations: dict) -> Q:
    """Spend and purchase-count rules as correlated sums: cheap when evaluating one member."""
    rules = Q()
    suffix = "12m" if since else "all"
    for field, low, high in (
        ("spend", segment.spend_min, segment.spend_max),
        ("purchases", segment.purchases_min, segment.purchases_max),
    ):
        if low is None and high is None:
            continue
        name = f"seg_{field}_{suffix}"
        annotations[name] = _activity_sum(field, since)
        if low is not None:
            rules &= Q(**{f"{name}__gte": low})
        if high is not None:
            rules &= Q(**{f"{name}__lte": high})
    return rules


def _activity_rules_grouped(segment: Segment, since: date | None) -> Q:
    """The same rules as one semi-join on a grouped scan of the monthly buckets: fast over a whole audience.

    A member without buckets has spent 0 in 0 purchases: with a positive lower bound they cannot match, so the
    members to keep are listed; otherwise the ones to drop (above an upper bound) are.
    """
    bounds = [
        (field, low, high)
        for field, low, high in (
            ("spend", segment.spend_min, segment.spend_max),
            ("purchases", segment.purchases_min, segment.purchases_max),
        )
        if low is not None or high is not None
    ]
    if not bounds:
        return Q()
    activity = QualifyingActivity.objects.all()
    if since is not None:
        activity = activity.filter(month__gte=since)
    grouped = activity.values("member_id").annotate(total_spend=Sum("spend"), total_purchases=Sum("purchases"))
    if any(low is not None and low > 0 for _field, low, _high in bounds):
        keep = Q()
        for field, low, high in bounds:
            if low is not None:
                keep &= Q(**{f"total_{field}__gte": low})
            if high is not None:
                keep &= Q(**{f"total_{field}__lte": high})
        return Q(pk__in=grouped.filter(keep).values("member_id"))
    drop = Q()
    for field, low, high in bounds:
        if high is not None:
            drop |= Q(**{f"total_{field}__gt": high})
        if low is not None:
            drop |= Q(**{f"total_{field}__lt": low})
    return ~Q(pk__in=grouped.filter(drop).values("member_id"))


_FEEDBACK_GROUP_SCORES = {
    FeedbackResponse.Group.DETRACTOR: Q(score__lte=FeedbackResponse.DETRACTOR_MAX),
    FeedbackResponse.Group.PASSIVE: Q(
        score__gt=FeedbackResponse.DETRACTOR_MAX, score__lt=FeedbackResponse.PROMOTER_MIN
    ),
    FeedbackResponse.Group.PROMOTER: Q(score__gte=FeedbackResponse.PROMOTER_MIN),
}


def _latest_feedback_in_group(segment: Segment, *, now: datetime) -> Q:
    """The member's latest answer (within ``feedback_within_days`` if set) is in the segment's group: someone who
    was a detractor and has since answered 9 is no longer one."""
    answers = FeedbackResponse.objects.filter(member_id=OuterRef("pk"))
    if segment.feedback_within_days is not None:
        answers = answers.filter(answered_at__gte=now - timedelta(days=segment.feedback_within_days))
    later = FeedbackResponse.objects.filter(member_id=OuterRef("member_id")).filter(
        Q(answered_at__gt=OuterRef("answered_at")) | Q(answered_at=OuterRef("answered_at"), pk__gt=OuterRef("pk"))
    )
    return Q(Exists(answers.filter(_FEEDBACK_GROUP_SCORES[segment.feedback_group]).filter(~Exists(later))))


def _compile(
    segment: Segment, *, now: datetime, tier_ids: list[int] | None = None, per_member: bool = False
) -> _Compiled:
    """The segment as one condition, plus the annotations it refers to (named so segments can share them).

    ``per_member`` chooses correlated subqueries (one member's row) over grouped semi-joins (a whole audience).
    """
    today = timezone.localdate(now)
    annotations: dict = {}
    rules = Q()
    if tier_ids is None:
        # Inline the tier list as a subquery (no tiers chosen: every tier), so counting stays one statement.
        chosen = Segment.tiers.through.objects.filter(segment_id=segment.pk)
        rules &= Q(~Exists(chosen)) | Q(tier_id__in=chosen.values("tier_id"))
    elif tier_ids:
        rules &= Q(tier_id__in=tier_ids)
    if segment.enrolled_from:
        rules &= Q(enrolled_at__date__gte=segment.enrolled_from)
    if segment.enrolled_to:
        rules &= Q(enrolled_at__date__lte=segment.enrolled_to)
    if segment.purchased_within_days is not None:
        rules &= Q(last_purchase_at__gte=now - timedelta(days=segment.purchased_within_days))
    if segment.no_purchase_for_days is not None:
        cutoff = now - timedelta(days=segment.no_purchase_for_days)
        rules &= Q(last_purchase_at__isnull=True) | Q(last_purchase_at__lt=cutoff)
    since = last_twelve_months_start(today) if segment.spend_period == Segment.SpendPeriod.TWELVE_MONTHS else None
    if per_member:
        rules &= _activity_rules_per_member(segment, since, annotations)
    else:
        rules &= _activity_rules_grouped(segment, since)
    if segment.channel:
        rules &= Q(Exists(Purchase.objects.filter(member_id=OuterRef("pk"), channel=segment.channel)))
    if segment.birthday_month:
        rules &= Q(birthday__month=segment.birthday_month)
    if segment.marketing_consent == Segment.Consent.YES:
        rules &= Q(marketing_consent=True)
    elif segment.marketing_consent == Segment.Consent.NO:
        rules &= Q(marketing_consent=False)
    if segment.balance_min is not None:
        rules &= Q(account__balance__gte=segment.balance_min)
    if segment.feedback_group:
        rules &= _latest_feedback_in_group(segment, now=now)

    # IN (uncorrelated) rather than EXISTS: PostgreSQL hashes the list once instead of probing it per member.
    listed = SegmentMember.objects.filter(segment_id=segment.pk)
    included = Q(pk__in=listed.filter(excluded=False).values("member_id"))
    excluded = Q(pk__in=listed.filter(excluded=True).values("member_id"))
    if segment.base == Segment.Base.LIST_ONLY:
        return _Compiled(condition=included & ~excluded, annotations=annotations)
    if not rules:  # no rule set: everyone (an empty Q would vanish from the OR below)
        return _Compiled(condition=~excluded, annotations=annotations)
    return _Compiled(condition=(rules | included) & ~excluded, annotations=annotations)


def active_members() -> QuerySet[Member]:
    return Member.objects.filter(status=Member.Status.ACTIVE)


def segment_members(segment: Segment | None, *, now: datetime | None = None) -> QuerySet[Member]:
    """The segment's audience (every active member for ``None``) as one queryset, unordered."""
    queryset = active_members().order_by()
    if segment is None:
        return queryset
    compiled = _compile(segment, now=now or timezone.now())
    if compiled.annotations:
        queryset = queryset.annotate(**compiled.annotations)
    return queryset.filter(compiled.condition)


def segment_size(segment: Segment | None, *, now: datetime | None = None) -> int:
    """How many active members the segment matches right now (one COUNT)."""
    return segment_members(segment, now=now).count()


def audience_split(campaign: Campaign, *, now: datetime | None = None) -> tuple[int, int]:
    """(audience size, of which in the holdout group), in one statement."""
    from django.db.models import Count

    bucket = holdout_bucket_sql(campaign_id=campaign.pk)
    counts = (
        segment_members(campaign.segment, now=now)
        .annotate(holdout_bucket=bucket)
        .aggregate(total=Count("pk"), holdout=Count("pk", filter=Q(holdout_bucket__lt=campaign.holdout_percent)))
    )
    return counts["total"], counts["holdout"]


def campaign_audience(campaign: Campaign, *, now: datetime | None = None, holdout: bool = False) -> QuerySet[Member]:
    """The members a campaign targets: its treatment group, or with ``holdout=True`` its control group."""
    queryset = segment_members(campaign.segment, now=now).annotate(
        holdout_bucket=holdout_bucket_sql(campaign_id=campaign.pk)
    )
    if holdout:
        return queryset.filter(holdout_bucket__lt=campaign.holdout_percent)
    return queryset.filter(holdout_bucket__gte=campaign.holdout_percent)


def member_segment_ids(*, member_id: int, segments: list[Segment], now: datetime, tier_ids: dict) -> set[int]:
    """Which of ``segments`` include the member, in one query whatever their number.

    ``tier_ids`` maps segment id to its tier ids (loaded once with the cached campaigns), so compiling the
    segments costs no query.
    """
    if not segments:
        return set()
    annotations: dict = {}
    flags = {}
    for segment in segments:
        compiled = _compile(segment, now=now, tier_ids=tier_ids.get(segment.pk, []), per_member=True)
        annotations.update(compiled.annotations)
        flags[f"in_segment_{segment.pk}"] = ExpressionWrapper(compiled.condition, output_field=BooleanField())
    row = active_members().filter(pk=member_id).annotate(**annotations).annotate(**flags).values(*flags).first()
    if row is None:
        return set()
    return {int(name.rsplit("_", 1)[1]) for name, value in row.items() if value}
