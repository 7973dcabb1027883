"""Points a campaign gives outside a purchase: manual bonuses to a segment and birthday gifts.

The audience is selected set-based (one keyset-paged query per batch, already-credited members left out in SQL);
each batch is one transaction that locks its members' accounts together, in ascending id, through
``members.services.ledger.accounts_lock`` (the ledger's lock order: accounts first), then the campaign row, and posts
one idempotent ledger entry per member (key campaign + member, + year for birthdays), so a crashed or repeated
run never credits twice. A member whose gift the remaining budget cannot cover gets nothing and the run stops.

A birthday campaign with a ``reward`` also gives that catalogue reward through ``rewards.services.reward_grant``
(key campaign + member + year + ``reward``), one member per transaction because each gift issues its own voucher
or partner code. A refusal for one member (out of stock, reward switched off) is logged and the run goes on.
The reward does not draw on the points budget.
"""

from __future__ import annotations

import calendar
import logging
from collections.abc import Callable
from datetime import date, datetime

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Exists, F, OuterRef, Q
from django.utils import timezone

from members.exceptions import LoyaltyError
from members.models import LedgerEntry
from members.services.ledger import accounts_lock, ledger_post
from rewards.selectors import gift_redemptions
from rewards.services import reward_grant

from ..engine import campaigns_cache_invalidate
from ..models import Campaign, CampaignParticipation
from ..segments import campaign_audience

BATCH_SIZE = 500

logger = logging.getLogger(__name__)


def _credit_batch(
    *, campaign_id: int, member_ids: list[int], key_for: Callable[[int], str], now: datetime
) -> tuple[int, bool]:
    """Credit the campaign's ``bonus_points`` to each member once. Returns (members credited, stop)."""
    with transaction.atomic():
        accounts = accounts_lock(member_ids=member_ids)
        campaign = Campaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.status != Campaign.Status.ACTIVE:
            return 0, True
        points = campaign.bonus_points
        left = campaign.budget_left
        credited: list[int] = []
        stop = False
        for member_id in sorted(member_ids):
            if left is not None and left < points:
                stop = True
                break
            entry = ledger_post(
                account=accounts[member_id],
                kind=LedgerEntry.Kind.BONUS,
                points=points,
                idempotency_key=key_for(member_id),
                description=campaign.name,
                source=campaign,
                now=now,
            )
            if entry.replayed:
                continue
            credited.append(member_id)
            if left is not None:
                left -= points
        if credited:
            total = points * len(credited)
            changes = {"points_awarded": F("points_awarded") + total}
            if left is not None and left < max(points, 1):
                changes["budget_exhausted_at"] = now
                stop = True
                transaction.on_commit(campaigns_cache_invalidate)
            Campaign.objects.filter(pk=campaign.pk).update(**changes)
            existing = set(
                CampaignParticipation.objects.filter(campaign=campaign, member_id__in=credited).values_list(
                    "member_id", flat=True
                )
            )
            if existing:
                CampaignParticipation.objects.filter(campaign=campaign, member_id__in=existing).update(
                    points_awarded=F("points_awarded") + points, awards=F("awards") + 1, last_at=now
                )
            CampaignParticipation.objects.bulk_create(
                [
                    CampaignParticipation(
                        campaign=campaign,
                        member_id=member_id,
                        points_awarded=points,
                        awards=1,
                        first_at=now,
                        last_at=now,
                    )
                    for member_id in credited
                    if member_id not in existing
                ]
            )
        return len(credited), stop


def _run(*, campaign: Campaign, audience, key_for, now: datetime, batch_size: int) -> int:
    total, last_id = 0, 0
    while True:
        ids = list(audience.filter(pk__gt=last_id).order_by("pk").values_list("pk", flat=True)[:batch_size])
        if not ids:
            return total
        credited, stop = _credit_batch(campaign_id=campaign.pk, member_ids=ids, key_for=key_for, now=now)
        total += credited
        if stop:
            return total
        last_id = ids[-1]


def campaign_manual_bonus_run(*, campaign_id: int, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Credit a launched manual-bonus campaign's points to its audience (not the holdout group). Returns how many
    members were credited by this run; safe to run again after a crash."""
    now = now or timezone.now()
    campaign = Campaign.objects.select_related("segment").get(pk=campaign_id)
    if campaign.kind != Campaign.Kind.MANUAL_BONUS or campaign.status != Campaign.Status.ACTIVE:
        return 0
    done = CampaignParticipation.objects.filter(campaign_id=campaign.pk, member_id=OuterRef("pk"), awards__gt=0)
    audience = campaign_audience(campaign, now=now).filter(~Exists(done))
    return _run(
        campaign=campaign,
        audience=audience,
        key_for=lambda member_id: f"campaign:{campaign.pk}:manual:{member_id}",
        now=now,
        batch_size=batch_size,
    )


def birthday_condition(*, today: date, scope: str) -> Q:
    if scope == Campaign.BirthdayScope.MONTH:
        return Q(birthday__month=today.month)
    condition = Q(birthday__month=today.month, birthday__day=today.day)
    if today.month == 2 and today.day == 28 and not calendar.isleap(today.year):
        condition |= Q(birthday__month=2, birthday__day=29)
    return condition


def campaign_birthday_run(*, campaign_id: int, now: datetime | None = None, batch_size: int = BATCH_SIZE) -> int:
    """Give today's (or this month's) birthday members of a running birthday campaign their gift, once a year.

    Returns how many members were credited points by this run, or for a reward-only campaign how many were
    given the reward.
    """
    now = now or timezone.now()
    campaign = Campaign.objects.select_related("segment", "reward").get(pk=campaign_id)
    if campaign.kind != Campaign.Kind.BIRTHDAY or not campaign.is_live(now):
        return 0
    today = timezone.localdate(now)
    year_start = timezone.make_aware(datetime(today.year, 1, 1))  # noqa: DTZ001 - made aware in the current zone
    birthdays = campaign_audience(campaign, now=now).filter(
        birthday_condition(today=today, scope=campaign.birthday_scope)
    )
    credited = 0
    if campaign.bonus_points:
        already = LedgerEntry.objects.filter(
            source_type=ContentType.objects.get_for_model(Campaign),
            source_id=campaign.pk,
            account_id=OuterRef("pk"),
            created_at__gte=year_start,
        )
        credited = _run(
            campaign=campaign,
            audience=birthdays.filter(~Exists(already)),
            key_for=lambda member_id: f"campaign:{campaign.pk}:birthday:{member_id}:{today.year}",
            now=now,
            batch_size=batch_size,
        )
    if campaign.reward_id is None:
        return credited
    gifted = _birthday_rewards_grant(
        campaign=campaign, audience=birthdays, year=today.year, now=now, batch_size=batch_size
    )
    return credited if campaign.bonus_points else gifted


def _birthday_reward_key(campaign_id: int, member_id: int, year: int) -> str:
    return f"campaign:{campaign_id}:birthday:{member_id}:{year}:reward"


def _birthday_rewards_grant(*, campaign: Campaign, audience, year: int, now: datetime, batch_size: int) -> int:
    """Grant the campaign's reward to each member of ``audience`` not yet given it this year; returns how many."""
    given = gift_redemptions(
        member_id=OuterRef("pk"),
        idempotency_key_prefix=f"campaign:{campaign.pk}:birthday:",
        idempotency_key_suffix=f":{year}:reward",
    )
    audience = audience.filter(~Exists(given))
    total, last_id = 0, 0
    while True:
        members = list(audience.filter(pk__gt=last_id).order_by("pk").only("pk", "member_number")[:batch_size])
        if not members:
            return total
        for member in members:
            try:
                redemption = reward_grant(
                    member=member,
                    reward=campaign.reward,
                    idempotency_key=_birthday_reward_key(campaign.pk, member.pk, year),
                    reason=campaign.name,
                    source=campaign,
                    now=now,
                )
            except LoyaltyError as error:
                logger.warning(
                    "Birthday campaign %s: reward %s not given to member %s: %s",
                    campaign.pk,
                    campaign.reward_id,
                    member.pk,
                    error.code,
                )
                continue
            if not redemption.replayed:
                total += 1
        last_id = members[-1].pk


def campaigns_birthday_run_all(*, now: datetime | None = None) -> int:
    """The daily job: every running birthday campaign."""
    now = now or timezone.now()
    ids = Campaign.objects.filter(kind=Campaign.Kind.BIRTHDAY, status=Campaign.Status.ACTIVE).values_list(
        "pk", flat=True
    )
    return sum(campaign_birthday_run(campaign_id=pk, now=now) for pk in list(ids))
