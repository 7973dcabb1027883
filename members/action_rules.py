"""What an earning action allows: its availability, its periods and what is left of its limits.

Pure functions over the action row and the units already used, so the service that records an occurrence (under
the member's account lock) and the member's Ways to earn page apply the same rules. Periods are calendar days,
weeks (Monday to Sunday), months and years in the program's time zone (``TIME_ZONE``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from .exceptions import ActionLimitReached, ActionNotAvailable
from .models import ActionOccurrence, EarningAction, Member
from .months import add_months

PERIODS = ("day", "week", "month", "year")
PERIOD_LABELS = {"day": "today", "week": "this week", "month": "this month", "year": "this year", "total": "in total"}


def period_bounds(period: str, moment: datetime) -> tuple[datetime, datetime]:
    """The local calendar ``period`` containing ``moment``: [start, end), both aware, in the program's zone.

    Start and end are made aware from their wall-clock times, so a day that crosses a daylight-saving change is
    23 or 25 hours long, as the calendar says.
    """
    local = timezone.localtime(moment).replace(tzinfo=None)
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        end = start + timedelta(days=1)
    elif period == "week":
        start -= timedelta(days=start.weekday())
        end = start + timedelta(days=7)
    elif period == "month":
        start = start.replace(day=1)
        end = add_months(start, 1)
    elif period == "year":
        start = start.replace(month=1, day=1)
        end = start.replace(year=start.year + 1)
    else:
        raise ValueError(f"Unknown period {period!r}.")
    return timezone.make_aware(start), timezone.make_aware(end)


def usage_aggregates(moment: datetime, *, periods=PERIODS) -> dict:
    """``Sum`` expressions of counted units per period containing ``moment`` and in total, for ``aggregate`` or
    ``annotate`` over occurrences."""
    counted = Q(status__in=ActionOccurrence.COUNTED)
    sums = {"used_total": Coalesce(Sum("quantity", filter=counted), 0)}
    for period in periods:
        start, end = period_bounds(period, moment)
        window = counted & Q(occurred_at__gte=start, occurred_at__lt=end)
        sums[f"used_{period}"] = Coalesce(Sum("quantity", filter=window), 0)
    return sums


def units_used(*, member_id: int, action: EarningAction, moment: datetime) -> dict[str, int]:
    """Units of ``action`` the member has used per period containing ``moment`` and in total (one query)."""
    row = ActionOccurrence.objects.filter(member_id=member_id, action_id=action.pk).aggregate(
        **usage_aggregates(moment)
    )
    return {key.removeprefix("used_"): value for key, value in row.items()}


@dataclass(frozen=True)
class LimitLeft:
    period: str
    limit: int
    used: int

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)

    @property
    def label(self) -> str:
        return _(PERIOD_LABELS[self.period])


def limits_left(action: EarningAction, used: dict[str, int], *, adding: int = 0) -> list[LimitLeft]:
    """Each limit the action sets, with the units used (plus ``adding``), shortest period first."""
    return [
        LimitLeft(period=period, limit=limit, used=used.get(period, 0) + adding)
        for period, limit in action.limits().items()
    ]


def limit_remaining(lefts: list[LimitLeft]) -> int | None:
    """The tightest limit's remaining units; None when the action has no limit."""
    return min((left.remaining for left in lefts), default=None)


def action_points(action: EarningAction, quantity: int) -> int:
    return action.points * quantity if action.per_unit else action.points


def action_available_at(action: EarningAction, moment: datetime) -> bool:
    if not action.is_active:
        return False
    if action.active_from is not None and moment < action.active_from:
        return False
    return not (action.active_until is not None and moment >= action.active_until)


def action_refusal(
    *, action: EarningAction, member: Member, tier_rank: int | None, quantity: int, used: dict[str, int], moment
) -> Exception | None:
    """Why ``member`` may not record ``quantity`` units of ``action`` at ``moment``, or None.

    Checked in order: the action is active and inside its window, the member's tier, the quantity fits one
    occurrence, then every limit (the occurrence is refused whole, never cut down).
    """
    if member.status != Member.Status.ACTIVE or not action_available_at(action, moment):
        return ActionNotAvailable(_("%(name)s cannot be earned at the moment.") % {"name": action.name})
    if action.min_tier_id is not None:
        needed = action.min_tier
        if tier_rank is None or tier_rank < needed.rank:
            return ActionNotAvailable(
                _("%(name)s is for %(tier)s members and above.") % {"name": action.name, "tier": needed.name}
            )
    if not action.per_unit and quantity != 1:
        return ActionNotAvailable(_("%(name)s gives fixed points: send no quantity, or 1.") % {"name": action.name})
    if quantity > action.max_quantity:
        return ActionNotAvailable(
            _("At most %(max)s at once for %(name)s.") % {"max": action.max_quantity, "name": action.name}
        )
    for left in limits_left(action, used, adding=quantity):
        if left.used > left.limit:
            error = ActionLimitReached(
                _("The limit for %(name)s is reached: %(limit)s %(period)s, %(remaining)s left.")
                % {
                    "name": action.name,
                    "limit": left.limit,
                    "period": left.label,
                    "remaining": max(left.limit - (left.used - quantity), 0),
                }
            )
            error.period = left.period
            return error
    return None
