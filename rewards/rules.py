"""Pure redemption rules: given a reward, a member's situation and a moment, what would stop a redemption.

The redemption service raises the error these return; the reward page shows it before the member tries. Nothing
here touches the database.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.utils import formats, timezone
from django.utils.translation import gettext as _

from members.exceptions import InsufficientPoints, LoyaltyError

from .exceptions import (
    InvalidRedemption,
    MembersOnly,
    RedemptionLimitReached,
    RewardNotAvailable,
    RewardOutOfStock,
    TierTooLow,
    VoucherAlreadyUsed,
    VoucherCancelled,
    VoucherExpired,
    VoucherNotFound,
    VoucherWrongPlace,
)
from .models import Reward, Voucher

#: Crockford's base32 alphabet: digits and capitals without I, L, O and U, so codes read aloud unambiguously.
CODE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_GROUPS = 4
CODE_GROUP_SIZE = 4
#: 16 symbols of 5 bits each: 80 bits of randomness.
CODE_BITS = CODE_GROUPS * CODE_GROUP_SIZE * 5
_CODE_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})


def voucher_code_new() -> str:
    """A fresh voucher code such as ``7K2M-Q9XD-4HRT-0BNW`` (80 random bits from :mod:`secrets`)."""
    symbols = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_GROUPS * CODE_GROUP_SIZE))
    return "-".join(symbols[i : i + CODE_GROUP_SIZE] for i in range(0, len(symbols), CODE_GROUP_SIZE))


def voucher_code_normalise(raw: str) -> str:
    """The stored form of a code as typed at a till: case, spaces and dashes ignored; I/L read as 1, O as 0."""
    symbols = "".join(ch for ch in (raw or "").upper() if ch.isalnum()).translate(_CODE_READ_AS)
    if len(symbols) != CODE_GROUPS * CODE_GROUP_SIZE or any(ch not in CODE_ALPHABET for ch in symbols):
        return symbols
    return "-".join(symbols[i : i + CODE_GROUP_SIZE] for i in range(0, len(symbols), CODE_GROUP_SIZE))


def period_start(period: str, now: datetime) -> datetime:
    """Start of the calendar day/week (Monday)/month/year containing ``now``, in the site's time zone."""
    local = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == Reward.Period.WEEK:
        local -= timedelta(days=local.weekday())
    elif period == Reward.Period.MONTH:
        local = local.replace(day=1)
    elif period == Reward.Period.YEAR:
        local = local.replace(month=1, day=1)
    return local


def _date(moment: datetime) -> str:
    return formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")


@dataclass(frozen=True)
class MemberSituation:
    """What the rules need to know about the member at the moment of redeeming."""

    tier_rank: int | None
    balance: int
    redeemed_total: int = 0
    redeemed_in_period: int = 0
    #: The paid-membership plan whose benefits the member has now, if any.
    plan: object | None = None


def redemption_points(*, reward: Reward, quantity: int, points: int | None, plan=None) -> int:
    """Points a redemption costs (the members-only price for a member with a paid ``plan``), or
    :class:`InvalidRedemption` when quantity or donated points are wrong."""
    if quantity < 1:
        raise InvalidRedemption(_("Choose at least one."), field="quantity")
    if quantity > 1 and not reward.allows_quantity:
        raise InvalidRedemption(_("This reward can be redeemed one at a time."), field="quantity")
    if reward.kind == Reward.Kind.DONATION:
        if points is None or points < reward.points_cost:
            raise InvalidRedemption(
                _("Donate at least %(minimum)s points.") % {"minimum": reward.points_cost}, field="points"
            )
        return points
    return reward.unit_points(plan) * quantity


def opens_at(reward: Reward, *, early_access_days: int = 0) -> datetime | None:
    """When ``reward`` opens for a member whose plan gives ``early_access_days`` of early access."""
    if reward.available_from is None:
        return None
    return reward.available_from - timedelta(days=early_access_days)


def availability_error(*, reward: Reward, now: datetime, early_access_days: int = 0) -> LoyaltyError | None:
    if not reward.is_active:
        return RewardNotAvailable()
    opens = opens_at(reward, early_access_days=early_access_days)
    if opens and now < opens:
        return RewardNotAvailable(_("This reward is available from %(date)s.") % {"date": _date(opens)})
    if reward.available_until and now >= reward.available_until:
        return RewardNotAvailable(_("This reward ended on %(date)s.") % {"date": _date(reward.available_until)})
    return None


def redemption_error(
    *,
    reward: Reward,
    situation: MemberSituation,
    quantity: int,
    points: int,
    min_tier_rank: int | None,
    min_tier_name: str = "",
    now: datetime,
) -> LoyaltyError | None:
    """The first reason the member cannot redeem ``quantity`` of ``reward`` for ``points`` now, or None.

    Checked in the order a member would want to hear them: availability (a paid plan may open it early), the plan a
    members-only reward requires, tier, limits, stock, points.
    """
    plan = situation.plan
    error = availability_error(reward=reward, now=now, early_access_days=plan.early_access_days if plan else 0)
    if error is not None:
        return error
    if reward.required_plan_id is not None and (plan is None or plan.pk != reward.required_plan_id):
        return MembersOnly(plan=reward.required_plan.name)
    if min_tier_rank is not None and (situation.tier_rank is None or situation.tier_rank < min_tier_rank):
        return TierTooLow(tier=min_tier_name)
    if reward.per_member_limit is not None and situation.redeemed_total + quantity > reward.per_member_limit:
        left = max(reward.per_member_limit - situation.redeemed_total, 0)
        return RedemptionLimitReached(
            _("You can redeem this reward %(limit)s times in total; %(left)s left for you.")
            % {"limit": reward.per_member_limit, "left": left},
            field="quantity",
        )
    if (
        reward.per_member_period_limit is not None
        and situation.redeemed_in_period + quantity > reward.per_member_period_limit
    ):
        return RedemptionLimitReached(
            _("You can redeem this reward %(limit)s times %(period)s; try again next period.")
            % {"limit": reward.per_member_period_limit, "period": reward.get_period_display().lower()},
            field="quantity",
        )
    if reward.stock is not None and reward.stock < quantity:
        if reward.stock == 0:
            return RewardOutOfStock()
        return RewardOutOfStock(_("Only %(stock)s left; choose fewer.") % {"stock": reward.stock}, field="quantity")
    if points > situation.balance:
        return InsufficientPoints(needed=points, available=situation.balance)
    return None


def voucher_refusal(voucher: Voucher, now: datetime) -> LoyaltyError | None:
    """Why ``voucher`` cannot be used (or cancelled) at ``now``, or None when it can."""
    if voucher.state == Voucher.State.USED:
        return VoucherAlreadyUsed(used_at=_date(voucher.used_at))
    if voucher.state == Voucher.State.CANCELLED:
        return VoucherCancelled()
    if voucher.state == Voucher.State.EXPIRED or voucher.expires_at <= now:
        return VoucherExpired(expires_at=_date(voucher.expires_at))
    return None


def voucher_place_refusal(voucher: Voucher, partner) -> LoyaltyError | None:
    """Why ``voucher`` cannot be taken at ``partner``'s tills (None: the operator's), or None when it can.

    A partner's reward is accepted by that partner only. A partner's till is told nothing of vouchers that are
    not its own (not found), so it cannot read the rest of the catalogue's codes; the operator's till is told
    where the voucher can be used.
    """
    place_id = voucher.reward.redeemable_at_id
    if partner is not None:
        return None if place_id == partner.pk else VoucherNotFound()
    if place_id is not None:
        return VoucherWrongPlace(partner=voucher.reward.redeemable_at.name)
    return None
