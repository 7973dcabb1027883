"""Tier qualification: monthly qualifying buckets, immediate upgrades, downgrades only at review."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import F, Q, Sum
from django.utils import timezone

from .. import hooks
from ..models import Member, ProgramSettings, QualifyingActivity, Tier, TierHistory
from ..months import month_start
from ..qualification import qualification_window_start, review_date_after
from ..selectors import program_settings_get, tiers_list
from . import tier_news


def qualifying_activity_add(*, member: Member, when: datetime, points: int, spend: Decimal, purchases: int = 1) -> None:
    """Add to the member's monthly qualifying bucket. Caller holds the member's account lock."""
    month = month_start(when)
    updated = QualifyingActivity.objects.filter(member_id=member.pk, month=month).update(
        points=F("points") + points, spend=F("spend") + spend, purchases=F("purchases") + purchases
    )
    if not updated:
        QualifyingActivity.objects.create(
            member_id=member.pk, month=month, points=points, spend=spend, purchases=max(purchases, 0)
        )


def qualifying_value(*, member: Member, today: date | None = None, program: ProgramSettings | None = None) -> Decimal:
    """Qualifying points or spend (per the program) in the current qualification window."""
    program = program or program_settings_get()
    today = today or timezone.localdate()
    field = "points" if program.tier_basis == ProgramSettings.TierBasis.POINTS else "spend"
    total = QualifyingActivity.objects.filter(
        member_id=member.pk, month__gte=qualification_window_start(program=program, today=today)
    ).aggregate(total=Sum(field))["total"]
    return Decimal(total or 0)


def tier_for_value(value: Decimal, tiers: list[Tier]) -> Tier | None:
    reached = [tier for tier in tiers if tier.threshold <= value]
    return reached[-1] if reached else (tiers[0] if tiers else None)


def purchase_activity_record(
    *,
    member: Member,
    occurred_at: datetime,
    points: int,
    spend: Decimal,
    now: datetime,
    program: ProgramSettings | None = None,
) -> bool:
    """Book a purchase towards tiers: its qualifying month, the member's last purchase date, and an upgrade if
    the member now qualifies for a higher tier. Returns whether the tier changed. Caller holds the account lock.

    Every earn runs this, so on PostgreSQL the bucket upsert, the last-purchase update and the qualifying sum are
    one statement; the sum reads the snapshot from before the upsert, so the bucket's new value is added from
    its RETURNING row instead.
    """
    if connection.vendor != "postgresql":
        qualifying_activity_add(member=member, when=occurred_at, points=points, spend=spend)
        Member.objects.filter(
            Q(last_purchase_at__isnull=True) | Q(last_purchase_at__lt=occurred_at), pk=member.pk
        ).update(last_purchase_at=occurred_at)
        return tier_upgrade_if_qualified(member=member, now=now, program=program)
    program = program or program_settings_get()
    window_start = qualification_window_start(program=program, today=timezone.localdate(now))
    basis = "points" if program.tier_basis == ProgramSettings.TierBasis.POINTS else "spend"
    buckets, members = QualifyingActivity._meta.db_table, Member._meta.db_table
    sql = f"""
        WITH bucket AS (
            INSERT INTO {buckets} (member_id, month, points, spend, purchases)
            VALUES (%(member)s, %(month)s, %(points)s, %(spend)s, 1)
            ON CONFLICT (member_id, month) DO UPDATE SET
                points = {buckets}.points + EXCLUDED.points,
                spend = {buckets}.spend + EXCLUDED.spend,
                purchases = {buckets}.purchases + 1
            RETURNING month, points, spend
        ), last_purchase AS (
            UPDATE {members} SET last_purchase_at = %(at)s
            WHERE id = %(member)s AND (last_purchase_at IS NULL OR last_purchase_at < %(at)s)
        )
        SELECT COALESCE(SUM({basis}), 0) + COALESCE((SELECT {basis} FROM bucket WHERE month >= %(start)s), 0)
        FROM {buckets}
        WHERE member_id = %(member)s AND month >= %(start)s AND month <> %(month)s
    """  # noqa: S608 - table and column names come from model metadata and a fixed choice; values are parameters
    params = {
        "member": member.pk,
        "month": month_start(occurred_at),
        "points": points,
        "spend": spend,
        "at": occurred_at,
        "start": window_start,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        (value,) = cursor.fetchone()
    return tier_upgrade_if_qualified(member=member, now=now, value=Decimal(value), program=program)


def tier_upgrade_if_qualified(
    *,
    member: Member,
    now: datetime | None = None,
    actor=None,
    value: Decimal | None = None,
    program: ProgramSettings | None = None,
) -> bool:
    """Move the member up at once if their qualifying value reaches a higher tier. Never moves down.

    ``value`` is the member's qualifying value when the caller has just computed it.
    """
    tiers = tiers_list()
    if not tiers:
        return False
    current = next((tier for tier in tiers if tier.pk == member.tier_id), None)
    if current is not None and current.rank >= tiers[-1].rank:
        return False  # already at the top: nothing to compute
    now = now or timezone.now()
    program = program or program_settings_get()
    today = timezone.localdate(now)
    if value is None:
        value = qualifying_value(member=member, today=today, program=program)
    target = tier_for_value(value, tiers)
    if target is None or (current is not None and target.rank <= current.rank):
        return False
    _tier_set(
        member=member,
        tier=target,
        reason=TierHistory.Reason.UPGRADE,
        value=value,
        now=now,
        review_at=review_date_after(program=program, today=today),
        actor=actor,
    )
    return True


def _tier_set(*, member, tier, reason, value, now, review_at, actor=None) -> None:
    previous = member.tier
    announce = reason in tier_news.ANNOUNCED
    Member.objects.filter(pk=member.pk).update(
        tier=tier, tier_achieved_at=now, tier_review_at=review_at, **({"tier_notice_pending": True} if announce else {})
    )
    member.tier, member.tier_achieved_at, member.tier_review_at = tier, now, review_at
    if announce:
        member.tier_notice_pending = True
        tier_news.tier_news_queue(member_ids=[member.pk])
    TierHistory.objects.create(
        member=member,
        from_tier=previous,
        to_tier=tier,
        reason=reason,
        qualifying_value=value,
        actor=actor,
        created_at=now,
    )
    hooks.emit(
        "tier.changed",
        {
            "member_number": member.member_number,
            "from": getattr(previous, "name", None),
            "to": tier.name,
            "reason": reason,
        },
    )
