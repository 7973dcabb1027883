"""Every write of the rewards app: redeeming, vouchers, fulfilment and the staff's catalogue tools.

Lock order, everywhere: the member's points account (``account_lock``) first, then the reward row (a
conditional ``UPDATE`` of its stock), then vouchers and partner codes. Keeping one order means two redemptions,
a cancellation and the expiry job can never deadlock each other.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from members import audit, hooks
from members.compiled import CompiledQuery
from members.exceptions import AccountClosed, DuplicateRequest, LoyaltyError
from members.models import LedgerEntry, Member, Partner, Purchase
from members.selectors import program_settings_get
from members.services.ledger import account_lock, ledger_post
from members.subscriptions.models import SubscriptionSaving
from members.subscriptions.selectors import member_plan, subscription_live
from members.subscriptions.services import subscription_saving_record

from .exceptions import (
    CancellationNotAllowed,
    FulfilmentNotAllowed,
    InvalidRedemption,
    PartnerCodeUploadError,
    RewardImageInvalid,
    RewardOutOfStock,
    VoucherNotFound,
)
from .models import PartnerCode, Redemption, Reward, Voucher
from .rules import (
    availability_error,
    redemption_points,
    voucher_code_new,
    voucher_code_normalise,
    voucher_place_refusal,
    voucher_refusal,
)
from .selectors import redemption_refusal

logger = logging.getLogger(__name__)

THUMBNAIL_SIZE = (480, 360)
PARTNER_CODE_MAX_LENGTH = PartnerCode._meta.get_field("code").max_length


@dataclass(frozen=True)
class ShippingAddress:
    name: str
    line1: str
    postcode: str
    city: str
    country: str
    line2: str = ""

    REQUIRED = ("name", "line1", "postcode", "city", "country")

    def missing(self) -> list[str]:
        return [name for name in self.REQUIRED if not (getattr(self, name) or "").strip()]


# --- Redeeming --------------------------------------------------------------------------------------------------


def reward_redeem(
    *,
    member: Member,
    reward: Reward,
    idempotency_key: str,
    quantity: int = 1,
    points: int | None = None,
    shipping_address: ShippingAddress | None = None,
    actor=None,
    now: datetime | None = None,
) -> Redemption:
    """Spend a member's points on a reward, in one transaction.

    Guarantees:
    - Checks availability (active, window), tier, per-member limits (total and per period), stock and points,
      in that order, against the current rows; the first failure raises its named error and nothing changes.
    - Holds the member's account lock throughout, so one member's concurrent redemptions serialise (limits
      and balance cannot be raced), and decrements limited stock with ``UPDATE … WHERE stock >= quantity``, so
      concurrent members never oversell.
    - Debits through ``ledger_post`` (``REDEEM``, or ``DONATION`` for donations) with the redemption as source;
      lots are consumed soonest-expiring first.
    - Issues a voucher (80-bit random code, expiry from the reward or the program), or for partner rewards
      assigns the next unused partner code; physical rewards wait for shipping instead.
    - Idempotent on ``idempotency_key``: a retry returns the first redemption with ``replayed`` True.
    - Emits ``reward.redeemed`` (``members.hooks.emit``) in the same transaction, once: not on a replay.

    ``points`` is only for donations (the member chooses, at least ``reward.points_cost``).
    """
    if not idempotency_key:
        raise ValueError("reward_redeem() needs an idempotency key.")
    now = now or timezone.now()
    with transaction.atomic():
        account = account_lock(member_id=member.pk)
        existing = _replayed(idempotency_key=idempotency_key, member=member, reward=reward)
        if existing is not None:
            return existing

        tier_id = _active_member_tier_id(member)
        reward = _reward_with_plan.first(reward.pk)
        if reward is None:
            raise Reward.DoesNotExist()
        plan = member_plan(member_id=member.pk, at=now)
        cost = redemption_points(reward=reward, quantity=quantity, points=points, plan=plan)
        address = _validated_address(reward, shipping_address)
        error = redemption_refusal(
            member_id=member.pk,
            tier_id=tier_id,
            reward=reward,
            balance=account.balance,
            quantity=quantity,
            cost=cost,
            now=now,
            plan=plan,
        )
        if error is not None:
            raise error
        _stock_take(reward=reward, quantity=quantity)
        redemption = _redemption_create(
            member=member,
            reward=reward,
            quantity=quantity,
            cost=cost,
            address=address,
            idempotency_key=idempotency_key,
            actor=actor,
            now=now,
        )
        _redemption_debit(account=account, reward=reward, redemption=redemption, actor=actor, now=now)
        _member_price_saving_record(reward=reward, redemption=redemption, plan=plan, now=now)
        _deliver_and_announce(member=member, reward=reward, redemption=redemption, balance=account.balance, now=now)
    redemption.replayed = False
    return redemption


def _member_price_saving_record(*, reward: Reward, redemption: Redemption, plan, now: datetime) -> None:
    """What a members-only points price saved the subscriber, at the program's point value."""
    if plan is None or reward.kind == Reward.Kind.DONATION or reward.unit_points(plan) >= reward.points_cost:
        return
    subscription = subscription_live(member_id=redemption.member_id)
    if subscription is None:
        return
    program = program_settings_get()
    points = (reward.points_cost - reward.unit_points(plan)) * redemption.quantity
    subscription_saving_record(
        subscription_id=subscription.pk,
        member_id=redemption.member_id,
        kind=SubscriptionSaving.Kind.MEMBER_PRICE,
        amount=(Decimal(points) * program.point_value).quantize(Decimal("0.01")),
        currency=program.currency,
        points=points,
        reference=f"redemption:{redemption.pk}:member-price",
        now=now,
    )


def _replayed(*, idempotency_key: str, member: Member, reward: Reward, gift: bool = False) -> Redemption | None:
    """The redemption (or gift) already made with ``idempotency_key``, marked ``replayed``; None if there is none.

    The key used for another member or reward (or, for a gift, a redemption's key) raises ``DuplicateRequest``.
    """
    existing = _redemption_by_key.first(idempotency_key)
    if existing is None:
        return None
    if existing.member_id != member.pk or existing.reward_id != reward.pk or (gift and not existing.is_gift):
        raise DuplicateRequest()
    existing.replayed = True
    return existing


def _active_member_tier_id(member: Member) -> int | None:
    """The member's current tier id, read from the row; a closed membership raises ``AccountClosed``."""
    row = _member_status.first(member.pk)
    if row is None:
        raise Member.DoesNotExist()
    if row.status != Member.Status.ACTIVE:
        raise AccountClosed()
    return row.tier_id


# Read under the account lock by every redemption (members.compiled: compiled once per connection).
_redemption_by_key = CompiledQuery(lambda key: Redemption.objects.filter(idempotency_key=key), str)
_member_status = CompiledQuery(lambda member_id: Member.objects.filter(pk=member_id).only("status", "tier_id"), int)
_reward_with_plan = CompiledQuery(
    lambda reward_id: Reward.objects.select_related("required_plan").filter(pk=reward_id), int
)


def _stock_take(*, reward: Reward, quantity: int) -> None:
    """Take ``quantity`` from a limited stock with one conditional ``UPDATE`` (never below zero)."""
    if reward.stock is None:
        return
    if not Reward.objects.filter(pk=reward.pk, stock__gte=quantity).update(stock=F("stock") - quantity):
        raise RewardOutOfStock()


def _redemption_create(
    *,
    member: Member,
    reward: Reward,
    quantity: int,
    cost: int,
    address: dict,
    idempotency_key: str,
    actor,
    now: datetime,
) -> Redemption:
    return Redemption.objects.create(
        member_id=member.pk,
        reward=reward,
        quantity=quantity,
        points_spent=cost,
        charity=reward.charity if reward.kind == Reward.Kind.DONATION else "",
        idempotency_key=idempotency_key,
        actor=actor,
        fulfilment_status=(
            Redemption.Fulfilment.PENDING if reward.requires_shipping else Redemption.Fulfilment.NOT_REQUIRED
        ),
        created_at=now,
        **address,
    )


def _redemption_debit(*, account, reward: Reward, redemption: Redemption, actor, now: datetime) -> None:
    """Debit the redemption's points: a ``REDEEM`` entry, or ``DONATION`` for a donation. ``account`` is locked."""
    is_donation = reward.kind == Reward.Kind.DONATION
    ledger_post(
        account=account,
        kind=LedgerEntry.Kind.DONATION if is_donation else LedgerEntry.Kind.REDEEM,
        points=-redemption.points_spent,
        idempotency_key=f"redemption:{redemption.pk}",
        description=(_("Donation to %(charity)s") % {"charity": reward.charity} if is_donation else reward.name),
        source=redemption,
        actor=actor,
        now=now,
    )


def _deliver_and_announce(*, member: Member, reward: Reward, redemption: Redemption, balance: int, now) -> None:
    """Hand over what a redemption or gift gives (a partner code or a voucher) and emit ``reward.redeemed`` inside
    the caller's transaction."""
    voucher = None
    if reward.kind == Reward.Kind.PARTNER:
        _partner_code_assign(reward=reward, redemption=redemption, now=now)
    elif reward.issues_voucher:
        voucher = _voucher_issue(reward=reward, redemption=redemption, now=now)
    payload = {
        "member_number": member.member_number,
        "redemption_id": redemption.pk,
        "reward_id": reward.pk,
        "reward_slug": reward.slug,
        "reward_name": reward.name,
        "reward_kind": reward.kind,
        "quantity": redemption.quantity,
        "points_spent": redemption.points_spent,
        "balance": balance,
        "charity": redemption.charity,
        "requires_shipping": reward.requires_shipping,
        "voucher_code": voucher.code if voucher else None,
        "voucher_expires_at": voucher.expires_at.isoformat() if voucher else None,
        "redeemed_at": now.isoformat(),
    }
    if redemption.is_gift:
        payload["is_gift"] = True
    place = reward.redeemable_at
    payload["redeemable_at"] = place.slug if place is not None else None
    # A partner's reward is news for that partner too: its voucher will be shown at its tills.
    hooks.emit("reward.redeemed", payload, owner=place.owner_label if place is not None else "")


def reward_grant(
    *,
    member: Member,
    reward: Reward,
    idempotency_key: str,
    reason: str = "",
    source=None,
    actor=None,
    now: datetime | None = None,
) -> Redemption:
    """Give a member one of a catalogue reward as a gift: no points are debited.

    For the program's own gifts (a campaign's birthday present, a referral reward, staff goodwill). Compared
    with :func:`reward_redeem`:
    - The checks about spending (tier, per-member limits, balance) do not apply; availability (active, window)
      and stock do, raising the same named errors (:class:`RewardNotAvailable`, :class:`RewardOutOfStock`),
      and a refusal changes nothing.
    - Stock is taken with the same conditional ``UPDATE``; partner rewards take a partner code, voucher rewards
      issue a voucher. Physical rewards are not accepted (there is no address to ship to).
    - The redemption is recorded with ``points_spent`` 0 and ``is_gift`` True; ``reason`` (and ``source``,
      as ``app_label.model:pk``) are kept in ``grant_reason``. No ledger entry is written.
    - Idempotent on ``idempotency_key``, like :func:`reward_redeem` (a retry returns it with ``replayed`` True).
    - Emits ``reward.redeemed`` with ``points_spent`` 0 and ``is_gift`` True, once, so webhook subscribers see
      every voucher a member holds.

    The member's account lock is taken, like a redemption, to keep the one lock order of this module.
    """
    if not idempotency_key:
        raise ValueError("reward_grant() needs an idempotency key.")
    now = now or timezone.now()
    grant_reason = reason
    if source is not None:
        label = f"{source._meta.label_lower}:{source.pk}"
        grant_reason = f"{reason} ({label})" if reason else label
    grant_reason = grant_reason[: Redemption._meta.get_field("grant_reason").max_length]
    with transaction.atomic():
        account = account_lock(member_id=member.pk)
        existing = _replayed(idempotency_key=idempotency_key, member=member, reward=reward, gift=True)
        if existing is not None:
            return existing

        if not Member.objects.filter(pk=member.pk, status=Member.Status.ACTIVE).exists():
            raise AccountClosed()
        reward = Reward.objects.get(pk=reward.pk)
        if reward.kind == Reward.Kind.DONATION or reward.requires_shipping:
            raise InvalidRedemption(_("Only voucher and partner rewards can be given as gifts."))
        error = availability_error(reward=reward, now=now)
        if error is not None:
            raise error
        _stock_take(reward=reward, quantity=1)

        redemption = Redemption.objects.create(
            member_id=member.pk,
            reward=reward,
            quantity=1,
            points_spent=0,
            is_gift=True,
            grant_reason=grant_reason,
            idempotency_key=idempotency_key,
            actor=actor,
            created_at=now,
        )
        _deliver_and_announce(member=member, reward=reward, redemption=redemption, balance=account.balance, now=now)
    redemption.replayed = False
    return redemption


# --- Paid membership: the reward every period brings --------------------------------------------------------------


def period_reward_key(*, subscription, reward: Reward) -> str:
    """The grant's idempotency key: one per subscription, period and reward."""
    start = timezone.localtime(subscription.current_period_start).strftime("%Y%m%dT%H%M%S")
    return f"subscription:{subscription.pk}:period:{start}:reward:{reward.pk}"


def subscription_period_rewards_grant(*, subscriptions, now: datetime) -> int:
    """Give each subscription (with benefits now) the rewards its plan grants every period, once per period.

    ``members.hooks.subscription_period_due`` (the daily job) and ``subscription_changed`` (a start or renewal)
    call it. Keys already used are read in one query, so a re-run grants nothing again; each grant is its own
    savepoint, so a reward out of stock for one subscriber is logged and the others still get theirs. The voucher's
    value is recorded as the subscriber's saving. Returns how many were granted now.
    """
    subscriptions = [sub for sub in subscriptions if sub.benefits_at(now)]
    plan_ids = {sub.plan_id for sub in subscriptions}
    if not plan_ids:
        return 0
    by_plan: dict[int, list[Reward]] = {}
    for reward in Reward.objects.filter(period_reward_plan_id__in=plan_ids, is_active=True).order_by("pk"):
        by_plan.setdefault(reward.period_reward_plan_id, []).append(reward)
    wanted = [
        (sub, reward, period_reward_key(subscription=sub, reward=reward))
        for sub in subscriptions
        for reward in by_plan.get(sub.plan_id, [])
    ]
    done = set(
        Redemption.objects.filter(idempotency_key__in=[key for *_, key in wanted]).values_list(
            "idempotency_key", flat=True
        )
    )
    program = program_settings_get()
    granted = 0
    for sub, reward, key in wanted:
        if key in done:
            continue
        try:
            with transaction.atomic():
                redemption = reward_grant(
                    member=sub.member,
                    reward=reward,
                    idempotency_key=key,
                    reason=_("%(plan)s membership reward") % {"plan": sub.plan.name},
                    source=sub,
                    now=now,
                )
                if reward.value:
                    subscription_saving_record(
                        subscription_id=sub.pk,
                        member_id=sub.member_id,
                        kind=SubscriptionSaving.Kind.PERIOD_REWARD,
                        amount=reward.value,
                        currency=program.currency,
                        reference=f"redemption:{redemption.pk}:period-reward",
                        now=now,
                    )
        except LoyaltyError as error:
            logger.warning("Period reward %s not granted to subscription %s: %s", reward.pk, sub.pk, error.code)
            continue
        granted += 1
    return granted


def on_subscription_changed(*, subscription, event: str, now: datetime) -> None:
    """A start or renewal brings the new period's reward at once, rather than at the next daily run."""
    if event in ("subscription.started", "subscription.renewed"):
        subscription_period_rewards_grant(subscriptions=[subscription], now=now)


def _validated_address(reward: Reward, address: ShippingAddress | None) -> dict:
    if not reward.requires_shipping:
        return {}
    missing = address.missing() if address is not None else list(ShippingAddress.REQUIRED)
    if missing:
        raise InvalidRedemption(
            _("We need a full shipping address to send this reward."), field=f"shipping_{missing[0]}"
        )
    return {
        "shipping_name": address.name.strip(),
        "shipping_line1": address.line1.strip(),
        "shipping_line2": address.line2.strip(),
        "shipping_postcode": address.postcode.strip(),
        "shipping_city": address.city.strip(),
        "shipping_country": address.country.strip().upper(),
    }


def _voucher_issue(*, reward: Reward, redemption: Redemption, now: datetime) -> Voucher:
    days = reward.voucher_validity_days or program_settings_get().voucher_validity_days
    value = reward.value
    if value is not None and reward.kind != Reward.Kind.PERCENT_DISCOUNT:
        value = value * redemption.quantity
    # 80 random bits: a collision would fail the unique index and roll the redemption back, charging nothing.
    return Voucher.objects.create(
        code=voucher_code_new(),
        redemption=redemption,
        member_id=redemption.member_id,
        reward=reward,
        value=value,
        percent_off=reward.percent_off,
        issued_at=now,
        expires_at=now + timedelta(days=max(days, 1)),
    )


def _partner_code_assign(*, reward: Reward, redemption: Redemption, now: datetime) -> PartnerCode:
    # SKIP LOCKED: concurrent redeemers each take a different free code instead of queueing on the first one.
    code = (
        PartnerCode.objects.select_for_update(skip_locked=True)
        .filter(reward=reward, redemption__isnull=True)
        .order_by("id")
        .first()
    )
    if code is None:
        raise RewardOutOfStock(_("The partner has no codes left for this reward."))
    code.redemption = redemption
    code.assigned_at = now
    code.save(update_fields=["redemption", "assigned_at"])
    return code


def _redeem_entry(redemption: Redemption) -> LedgerEntry:
    return LedgerEntry.objects.get(
        source_type=ContentType.objects.get_for_model(Redemption),
        source_id=redemption.pk,
        kind__in=[LedgerEntry.Kind.REDEEM, LedgerEntry.Kind.DONATION],
    )


def _redemption_refund(
    *,
    account,
    redemption: Redemption,
    status: str,
    reason: str,
    restore_stock: bool,
    actor=None,
    now: datetime,
) -> LedgerEntry | None:
    """Return a redemption's points with a reversing entry. Precondition: ``account`` is locked.

    A gift spent no points, so it is only marked (and its stock returned); no entry is written.
    """
    entry = None
    if not redemption.is_gift:
        debit = _redeem_entry(redemption)
        entry = ledger_post(
            account=account,
            kind=LedgerEntry.Kind.REVERSAL,
            points=-debit.points,
            idempotency_key=f"redemption:{redemption.pk}:reversal",
            description=reason,
            source=redemption,
            actor=actor,
            reversal_of=debit,
            now=now,
        )
    Redemption.objects.filter(pk=redemption.pk).update(status=status, cancelled_at=now)
    redemption.status, redemption.cancelled_at = status, now
    if restore_stock:
        Reward.objects.filter(pk=redemption.reward_id, stock__isnull=False).update(
            stock=F("stock") + redemption.quantity
        )
    return entry


# --- Vouchers ---------------------------------------------------------------------------------------------------


def voucher_cancel(*, voucher: Voucher, actor=None, by_member: bool = False, now: datetime | None = None) -> Voucher:
    """Cancel an unused voucher and give back its points (a reversing entry) and its stock.

    Members may cancel within ``ProgramSettings.voucher_cancel_grace_hours`` of redeeming; staff any time while
    the voucher is unused and unexpired. Cancelling a cancelled voucher returns it unchanged.

    The points come back as a new credit with a fresh expiry under the program's policy, not the expiry dates of
    the lots they were spent from. That is deliberate: the member gives up a voucher they could have used, and
    restoring the old dates would need the consumed lots' history, which the ledger does not keep per debit.
    The grace period is short, so the extension it can buy is small.
    """
    now = now or timezone.now()
    with transaction.atomic():
        account = account_lock(member_id=voucher.member_id)
        voucher = Voucher.objects.select_for_update().select_related("redemption").get(pk=voucher.pk)
        if voucher.state == Voucher.State.CANCELLED:
            voucher.replayed = True
            return voucher
        refusal = voucher_refusal(voucher, now)
        if refusal is not None:
            raise refusal
        if by_member:
            grace = program_settings_get().voucher_cancel_grace_hours
            if now > voucher.issued_at + timedelta(hours=grace):
                raise CancellationNotAllowed(
                    _("Vouchers can only be cancelled within %(hours)s hours of redeeming.") % {"hours": grace}
                )
        _redemption_refund(
            account=account,
            redemption=voucher.redemption,
            status=Redemption.Status.CANCELLED,
            reason=_("Voucher %(code)s cancelled") % {"code": voucher.code},
            restore_stock=True,
            actor=actor,
            now=now,
        )
        voucher.state, voucher.cancelled_at, voucher.cancelled_by = Voucher.State.CANCELLED, now, actor
        voucher.save(update_fields=["state", "cancelled_at", "cancelled_by"])
    voucher.replayed = False
    return voucher


def voucher_use(
    *,
    code: str,
    purchase: Purchase | None = None,
    purchase_reference: str = "",
    idempotency_key: str = "",
    now: datetime | None = None,
    partner: Partner | None = None,
) -> Voucher:
    """Consume a voucher at a till (``partner``'s, or the operator's when None), once. The state change is one
    conditional ``UPDATE``, so two tills racing for the same code cannot both succeed.

    Refusals: :class:`VoucherNotFound`, :class:`VoucherAlreadyUsed` (with when), :class:`VoucherExpired`,
    :class:`VoucherCancelled`. With ``idempotency_key``, retrying the same use returns the voucher unchanged.

    Vouchers are bearer instruments: like a gift card, whoever presents the code may use it, so a ``purchase``
    by another member (or by no member at all) is accepted. The purchase is recorded on the voucher
    (``used_on_purchase``) and its member is named in the ``voucher.used`` event, which makes gifting visible
    without refusing it. Emits ``voucher.used`` in the same transaction as the state change, once.

    A partner's reward is accepted at that partner only (:class:`VoucherWrongPlace` elsewhere); a partner's till
    is told any other voucher is not found. The voucher records the partner that took it (settlement reimburses
    the partner for the points it cost), and the event reaches that partner's webhooks.
    """
    now = now or timezone.now()
    normalised = voucher_code_normalise(code)
    voucher = Voucher.objects.select_related("reward__redeemable_at", "member").filter(code=normalised).first()
    if voucher is None:
        raise VoucherNotFound()
    place = voucher_place_refusal(voucher, partner)
    if place is not None:
        raise place
    if idempotency_key and voucher.state == Voucher.State.USED and voucher.use_idempotency_key == idempotency_key:
        voucher.replayed = True
        return voucher
    refusal = voucher_refusal(voucher, now)
    if refusal is not None:
        raise refusal
    changes = {
        "state": Voucher.State.USED,
        "used_at": now,
        "used_on_purchase": purchase,
        "purchase_reference": purchase_reference[:100],
        "use_idempotency_key": idempotency_key,
        "used_by_partner": partner,
    }
    with transaction.atomic():
        used = Voucher.objects.filter(pk=voucher.pk, state=Voucher.State.ISSUED, expires_at__gt=now).update(**changes)
        if used:
            hooks.emit(
                "voucher.used",
                _voucher_used_payload(voucher, purchase=purchase, changes=changes),
                owner=partner.owner_label if partner is not None else "",
            )
    if not used:
        # Someone else changed it between our read and our update: report what it is now.
        voucher.refresh_from_db()
        if idempotency_key and voucher.use_idempotency_key == idempotency_key:
            voucher.replayed = True
            return voucher
        raise voucher_refusal(voucher, now) or VoucherNotFound()
    for name, value in changes.items():
        setattr(voucher, name, value)
    voucher.replayed = False
    return voucher


def vouchers_use_on_purchase(*, purchase: Purchase, codes: list[tuple[int, str]], now: datetime) -> None:
    """The ``members.hooks.discount_codes_used`` hook: each discount code of ``purchase`` that is one of our
    vouchers is used on it, in the purchase's transaction (one query finds them; other codes are the till's own
    and are left alone). A voucher that cannot be used (already used, expired, cancelled) refuses the purchase,
    with the discount's field (``discounts.0.code``), so the same voucher never discounts two purchases."""
    normalised = [(index, voucher_code_normalise(code)) for index, code in codes]
    ours = set(Voucher.objects.filter(code__in={code for _, code in normalised}).values_list("code", flat=True))
    for index, code in normalised:
        if code not in ours:
            continue
        try:
            voucher_use(code=code, purchase=purchase, idempotency_key=f"purchase:{purchase.pk}:{index}", now=now)
        except LoyaltyError as refusal:
            refusal.field = f"discounts.{index}.code"
            raise


def _voucher_used_payload(voucher: Voucher, *, purchase: Purchase | None, changes: dict) -> dict:
    return {
        "member_number": voucher.member.member_number,
        "voucher_id": voucher.pk,
        "voucher_code": voucher.code,
        "redemption_id": voucher.redemption_id,
        "reward_id": voucher.reward_id,
        "reward_name": voucher.reward.name,
        "value": str(voucher.value) if voucher.value is not None else None,
        "percent_off": str(voucher.percent_off) if voucher.percent_off is not None else None,
        "used_at": changes["used_at"].isoformat(),
        "purchase_external_id": purchase.external_id if purchase else None,
        # Differs from member_number when the voucher was given away (vouchers are transferable).
        "purchase_member_number": purchase.member.member_number if purchase else None,
        "purchase_reference": changes["purchase_reference"],
        "partner": changes["used_by_partner"].slug if changes["used_by_partner"] is not None else None,
    }


def vouchers_expire_due(*, now: datetime | None = None, chunk_size: int = 1000) -> int:
    """Expire issued vouchers whose time is up; returns how many expired.

    Without ``ProgramSettings.refund_points_on_voucher_expiry`` this is a set-based ``UPDATE`` in chunks of
    ``chunk_size`` rows, one short transaction each. With it, each voucher's points go back through
    ``ledger_post`` under that member's account lock (an entry and a lot per voucher is what the ledger's
    invariants require), so refunds run one voucher per transaction. Stock is not returned on expiry: an
    expired place or product is usually gone. Safe to run concurrently with tills: a voucher is used or
    expired by conditional updates on its state, never both.
    """
    now = now or timezone.now()
    due = Voucher.objects.filter(state=Voucher.State.ISSUED, expires_at__lte=now)
    if not program_settings_get().refund_points_on_voucher_expiry:
        total = 0
        while True:
            chunk = due.order_by("pk").values("pk")[:chunk_size]
            with transaction.atomic():
                count = Voucher.objects.filter(pk__in=chunk, state=Voucher.State.ISSUED, expires_at__lte=now).update(
                    state=Voucher.State.EXPIRED, expired_at=now
                )
            total += count
            if count < chunk_size:
                return total

    total, last_pk = 0, 0
    while True:
        rows = list(due.filter(pk__gt=last_pk).order_by("pk").values_list("pk", "member_id")[:chunk_size])
        for voucher_pk, member_id in rows:
            with transaction.atomic():
                account = account_lock(member_id=member_id)
                if not Voucher.objects.filter(pk=voucher_pk, state=Voucher.State.ISSUED, expires_at__lte=now).update(
                    state=Voucher.State.EXPIRED, expired_at=now
                ):
                    continue
                voucher = Voucher.objects.select_related("redemption").get(pk=voucher_pk)
                _redemption_refund(
                    account=account,
                    redemption=voucher.redemption,
                    status=Redemption.Status.REFUNDED,
                    reason=_("Voucher %(code)s expired unused") % {"code": voucher.code},
                    restore_stock=False,
                    now=now,
                )
                total += 1
        if len(rows) < chunk_size:
            return total
        last_pk = rows[-1][0]


def redemption_cancel(*, redemption: Redemption, actor=None, now: datetime | None = None) -> Redemption:
    """Staff cancel a redemption and return its points and stock.

    Vouchers go through :func:`voucher_cancel`; a physical reward only while it has not shipped. Donations and
    partner rewards (whose code the member has already seen) cannot be cancelled.
    """
    now = now or timezone.now()
    voucher = Voucher.objects.filter(redemption_id=redemption.pk).first()
    if voucher is not None:
        voucher_cancel(voucher=voucher, actor=actor, now=now)
        redemption.refresh_from_db()
        return redemption
    with transaction.atomic():
        account = account_lock(member_id=redemption.member_id)
        redemption = Redemption.objects.select_for_update().select_related("reward").get(pk=redemption.pk)
        if redemption.status != Redemption.Status.COMPLETED:
            return redemption
        if redemption.reward.kind in {Reward.Kind.DONATION, Reward.Kind.PARTNER}:
            raise CancellationNotAllowed(_("Donations and partner rewards cannot be cancelled."))
        if redemption.fulfilment_status != Redemption.Fulfilment.PENDING:
            raise CancellationNotAllowed(_("This reward has already shipped."))
        _redemption_refund(
            account=account,
            redemption=redemption,
            status=Redemption.Status.CANCELLED,
            reason=_("%(reward)s cancelled") % {"reward": redemption.reward.name},
            restore_stock=True,
            actor=actor,
            now=now,
        )
    return redemption


# --- Fulfilment -------------------------------------------------------------------------------------------------


def redemptions_mark_shipped(*, redemption_ids, tracking_reference: str = "", now: datetime | None = None) -> int:
    """Move waiting physical rewards to shipped in one ``UPDATE``; others in the list are left alone."""
    changes = {"fulfilment_status": Redemption.Fulfilment.SHIPPED, "shipped_at": now or timezone.now()}
    if tracking_reference:
        changes["tracking_reference"] = tracking_reference.strip()[:100]
    return Redemption.objects.filter(
        pk__in=list(redemption_ids),
        status=Redemption.Status.COMPLETED,
        fulfilment_status=Redemption.Fulfilment.PENDING,
    ).update(**changes)


def redemptions_mark_delivered(*, redemption_ids, now: datetime | None = None) -> int:
    """Move shipped rewards to delivered in one ``UPDATE``; others in the list are left alone."""
    return Redemption.objects.filter(
        pk__in=list(redemption_ids),
        status=Redemption.Status.COMPLETED,
        fulfilment_status=Redemption.Fulfilment.SHIPPED,
    ).update(fulfilment_status=Redemption.Fulfilment.DELIVERED, delivered_at=now or timezone.now())


def redemption_mark_shipped(
    *, redemption: Redemption, tracking_reference: str = "", now: datetime | None = None
) -> Redemption:
    if not redemptions_mark_shipped(redemption_ids=[redemption.pk], tracking_reference=tracking_reference, now=now):
        raise FulfilmentNotAllowed(_("Only a reward waiting to ship can be marked as shipped."))
    redemption.refresh_from_db()
    return redemption


def redemption_mark_delivered(*, redemption: Redemption, now: datetime | None = None) -> Redemption:
    if not redemptions_mark_delivered(redemption_ids=[redemption.pk], now=now):
        raise FulfilmentNotAllowed(_("Only a shipped reward can be marked as delivered."))
    redemption.refresh_from_db()
    return redemption


# --- Catalogue management (staff) -------------------------------------------------------------------------------


def reward_save(*, reward: Reward, actor, changed_fields: Collection[str] = ()) -> Reward:
    """Create or change a reward as edited by staff, announced to the audit trail in the same transaction.

    A new or removed image (``"image"`` in ``changed_fields``) regenerates the thumbnail afterwards.
    """
    audit.rule_save(reward, actor=actor)
    if "image" in changed_fields:
        reward_thumbnail_generate(reward=reward)
    return reward


def reward_delete(*, reward: Reward, actor) -> None:
    """Delete a reward nobody has redeemed (redemptions, vouchers and partner codes protect it)."""
    audit.rule_delete(reward, actor=actor)


def reward_thumbnail_generate(*, reward: Reward) -> None:
    """Write a JPEG thumbnail (at most 480×360, aspect kept, EXIF rotation applied) of the reward's image."""
    if reward.thumbnail:
        reward.thumbnail.delete(save=False)
    if not reward.image:
        Reward.objects.filter(pk=reward.pk).update(thumbnail="")
        return
    try:
        with reward.image.open("rb") as source, Image.open(source) as image:
            thumb = ImageOps.exif_transpose(image)
            thumb.thumbnail(THUMBNAIL_SIZE)
            if thumb.mode != "RGB":
                thumb = thumb.convert("RGB")
            buffer = io.BytesIO()
            thumb.save(buffer, format="JPEG", quality=85, optimize=True)
    except (UnidentifiedImageError, OSError) as exc:
        raise RewardImageInvalid() from exc
    reward.thumbnail.save(f"{Path(reward.image.name).stem}-thumb.jpg", ContentFile(buffer.getvalue()), save=False)
    Reward.objects.filter(pk=reward.pk).update(thumbnail=reward.thumbnail.name)


@transaction.atomic
def rewards_set_active(*, reward_ids, is_active: bool, actor=None) -> int:
    """Switch rewards on or off; each reward switched is announced to the audit trail. Returns how many."""
    rewards = list(Reward.objects.select_for_update().filter(pk__in=list(reward_ids)).exclude(is_active=is_active))
    Reward.objects.filter(pk__in=[reward.pk for reward in rewards]).update(is_active=is_active)
    for reward in rewards:
        before = audit.snapshot(reward)
        reward.is_active = is_active
        audit.rule_change_announce(
            actor=actor, obj=reward, before=before, after=audit.snapshot(reward), action=audit.RULE_CHANGED
        )
    return len(rewards)


def reward_duplicate(*, reward: Reward, actor=None) -> Reward:
    """A copy of ``reward`` to edit, inactive and not featured, with its own slug; partner codes stay behind.

    The copy is announced to the audit trail as a new reward."""
    base = slugify(f"{reward.slug}-copy")[:130]
    taken = set(Reward.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    slug, number = base, 1
    while slug in taken:
        number += 1
        slug = f"{base}-{number}"
    copy = Reward.objects.get(pk=reward.pk)
    copy.pk = None
    copy.slug = slug
    copy.name = _("%(name)s (copy)") % {"name": reward.name}
    copy.is_active = False
    copy.featured = False
    copy.created_at = timezone.now()
    if copy.kind == Reward.Kind.PARTNER:
        copy.stock = 0
    return audit.rule_save(copy, actor=actor, save=lambda: copy.save(force_insert=True))


@dataclass
class PartnerCodeUpload:
    added: int = 0
    duplicates: int = 0
    invalid: list[int] = field(default_factory=list)


def partner_codes_upload(*, reward: Reward, file) -> PartnerCodeUpload:
    """Add codes from a CSV file (first column; an optional ``code`` header) to a partner reward's pool.

    Codes already in the pool or repeated in the file are skipped; the reward's stock grows by the number added,
    so stock always counts the unused codes. Rows that are too long are reported by line number and skipped.
    """
    if reward.kind != Reward.Kind.PARTNER:
        raise PartnerCodeUploadError(_("Only partner rewards have code pools."))
    try:
        text = file.read().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PartnerCodeUploadError(_("The file must be UTF-8 text (CSV).")) from exc
    result = PartnerCodeUpload()
    codes: list[str] = []
    seen: set[str] = set()
    for line_number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        code = (row[0] if row else "").strip()
        if not code or (line_number == 1 and code.lower() == "code"):
            continue
        if len(code) > PARTNER_CODE_MAX_LENGTH:
            result.invalid.append(line_number)
            continue
        if code in seen:
            result.duplicates += 1
            continue
        seen.add(code)
        codes.append(code)
    if not codes and not result.duplicates:
        raise PartnerCodeUploadError(_("The file contains no codes."))
    result.added = partner_codes_add(reward=reward, codes=codes)
    result.duplicates += len(codes) - result.added
    return result


def partner_codes_add(*, reward: Reward, codes: list[str]) -> int:
    """Add ``codes`` (already cleaned: stripped, non-empty, distinct) to a partner reward's pool; return how many.

    Codes already in the pool are skipped, so adding the same codes twice adds nothing. The reward's stock grows
    by the number added. Used by the admin's CSV upload and the staff console's code pool import.
    """
    if reward.kind != Reward.Kind.PARTNER:
        raise PartnerCodeUploadError(_("Only partner rewards have code pools."))
    with transaction.atomic():
        # The reward's row lock serialises uploads, so the existence check below stays true until commit.
        Reward.objects.select_for_update().filter(pk=reward.pk).first()
        existing: set[str] = set()
        for start in range(0, len(codes), 500):
            existing.update(
                PartnerCode.objects.filter(reward=reward, code__in=codes[start : start + 500]).values_list(
                    "code", flat=True
                )
            )
        new = [PartnerCode(reward=reward, code=code) for code in codes if code not in existing]
        PartnerCode.objects.bulk_create(new, batch_size=1000)
        if new:
            Reward.objects.filter(pk=reward.pk).update(stock=Coalesce(F("stock"), Value(0)) + len(new))
    reward.refresh_from_db(fields=["stock"])
    return len(new)


def member_data_erase(member: Member, *, former_email: str = "") -> int:
    """The ``members.hooks.member_closed`` hook: blank the shipping names and addresses of the member's
    redemptions (what was redeemed, and for how many points, stays for the ledger and the accounts)."""
    return Redemption.objects.filter(member_id=member.pk).update(
        shipping_name="",
        shipping_line1="",
        shipping_line2="",
        shipping_postcode="",
        shipping_city="",
        shipping_country="",
    )
