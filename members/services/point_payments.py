"""Paying with points at the till or in the e-shop ("burn"), voiding such a payment, and what a purchase paid that
way owes back on a refund.

A point payment debits the member's points through the ledger (``PAYMENT``) as a payment worth
``points × point value`` (rounded half up to the cent), under the member's account lock: the same lock a reward
redemption takes, so a burn and a redemption (or two burns) racing for one balance serialise, and the second
sees what the first left.

The purchase it pays for earns only on what was paid in money. Either the payment names the purchase
(``purchase_external_id``, sent before the purchase) or the purchase names the payment (``point_payments``); the
purchase service links them under the same lock (:func:`point_payments_claim`).

Points given back (a voided payment, a refunded purchase) are a new ``PAYMENT_RETURN`` credit: a new lot that
expires under the program's policy counted from the day they are given back, as the points of a cancelled
voucher do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from ..exceptions import AccountClosed, DuplicateRequest, ExternalIdTaken, InvalidPointPayment, PartnerInactive
from ..models import LedgerEntry, Member, Partner, PointPayment, PointsAccount, Purchase
from ..selectors import program_settings_get
from .ledger import account_lock, ledger_post

Kind = LedgerEntry.Kind
CENT = Decimal("0.01")
#: The most points one payment may spend: far above any real basket, low enough that a typo is refused.
MAX_POINTS = 100_000_000


def point_payment_amount(*, points: int, point_value: Decimal) -> Decimal:
    """What ``points`` are worth as a payment, in the program's currency (half up to the cent)."""
    return (Decimal(points) * point_value).quantize(CENT, rounding=ROUND_HALF_UP)


def point_payment_make(
    *,
    member: Member,
    points: int,
    external_id: str,
    source: str = "",
    purchase_external_id: str = "",
    now: datetime | None = None,
    partner: Partner | None = None,
) -> PointPayment:
    """Debit ``points`` from the member as a payment and return it (``amount`` is its value in currency).

    At a coalition ``partner`` (its key sent it) the payment and its ledger entry carry the partner: the points
    were burned there, and settlement reimburses the partner for them. A partner that is not active is refused.

    Guarantees:
    - Holds the member's account lock (``account_lock``) from the check of the balance to the debit, so concurrent
      payments and redemptions never overdraw; not enough points raises :class:`InsufficientPoints`.
    - ``(source, external_id)`` makes it idempotent: a retry returns the first payment with ``replayed`` True and
      debits nothing; the same id for another member raises :class:`ExternalIdTaken`, with other points or
      another purchase :class:`DuplicateRequest`.
    - A ``purchase_external_id`` already recorded is refused (:class:`InvalidPointPayment`): its points were
      earned on the full amount; the till sends the payment first, or names it in the purchase.
    """
    now = now or timezone.now()
    external_id = (external_id or "").strip()
    purchase_external_id = (purchase_external_id or "").strip()
    if not external_id:
        raise InvalidPointPayment(_("An external id is required."), field="external_id")
    if not isinstance(points, int) or isinstance(points, bool) or not 1 <= points <= MAX_POINTS:
        raise InvalidPointPayment(
            _("Pay with between 1 and %(max)s points.") % {"max": f"{MAX_POINTS:,}"}, field="points"
        )
    if partner is not None and partner.status != Partner.Status.ACTIVE:
        raise PartnerInactive()
    program = program_settings_get()
    if program.point_value <= 0:
        raise InvalidPointPayment(_("Points have no cash value in this program."), field="points")
    try:
        with transaction.atomic():
            account = account_lock(member_id=member.pk)
            existing = PointPayment.objects.filter(source=source, external_id=external_id).first()
            if existing is not None:
                return _replayed(existing, member=member, points=points, purchase_external_id=purchase_external_id)
            if member.status != Member.Status.ACTIVE:
                raise AccountClosed()
            if (
                purchase_external_id
                and Purchase.objects.filter(source=source, external_id=purchase_external_id).exists()
            ):
                raise InvalidPointPayment(
                    _("Purchase %(id)s is already recorded: send the point payment before the purchase.")
                    % {"id": purchase_external_id},
                    field="purchase_external_id",
                )
            payment = PointPayment.objects.create(
                member=member,
                source=source,
                external_id=external_id,
                purchase_external_id=purchase_external_id,
                points=points,
                point_value=program.point_value,
                amount=point_payment_amount(points=points, point_value=program.point_value),
                currency=program.currency,
                partner=partner,
                created_at=now,
            )
            ledger_post(
                account=account,
                kind=Kind.PAYMENT,
                points=-points,
                idempotency_key=f"point-payment:{payment.pk}",
                description=_("Paid with points (%(id)s)") % {"id": external_id},
                source=payment,
                now=now,
                partner_id=payment.partner_id,
            )
            if purchase_external_id:
                _awaiting_add(account, 1)
    except IntegrityError:
        # The same external id, sent for another member at the same moment, won the race.
        existing = PointPayment.objects.filter(source=source, external_id=external_id).first()
        if existing is None:
            raise
        return _replayed(existing, member=member, points=points, purchase_external_id=purchase_external_id)
    payment.replayed = False
    return payment


def _replayed(payment: PointPayment, *, member: Member, points: int, purchase_external_id: str) -> PointPayment:
    if payment.member_id != member.pk:
        raise ExternalIdTaken(_("This point payment id was already used for another member."))
    if payment.points != points or payment.purchase_external_id != purchase_external_id:
        raise DuplicateRequest(_("This point payment id was already used with other points or another purchase."))
    payment.replayed = True
    return payment


def _awaiting_add(account: PointsAccount, delta: int) -> None:
    PointsAccount.objects.filter(pk=account.pk).update(point_payments_awaiting=F("point_payments_awaiting") + delta)
    account.point_payments_awaiting += delta


def point_payment_cancel(*, payment: PointPayment, now: datetime | None = None) -> PointPayment:
    """Void a point payment (the till cancelled the sale before it was recorded) and give the points back.

    Once the purchase it paid for is recorded, the way back is a refund of that purchase
    (:class:`InvalidPointPayment` here). Cancelling twice returns the payment with ``replayed`` True.
    The points come back as a new lot expiring under the program's policy from now (see the module docstring).
    """
    now = now or timezone.now()
    with transaction.atomic():
        account = account_lock(member_id=payment.member_id)
        payment = PointPayment.objects.select_for_update(of=("self",)).select_related("purchase").get(pk=payment.pk)
        if payment.status == PointPayment.Status.CANCELLED:
            payment.replayed = True
            return payment
        if payment.purchase_id is not None:
            raise InvalidPointPayment(
                _("This payment paid for purchase %(id)s: refund the purchase instead.")
                % {"id": payment.purchase.external_id}
            )
        if Member.objects.filter(pk=payment.member_id).exclude(status=Member.Status.ACTIVE).exists():
            raise AccountClosed()
        ledger_post(
            account=account,
            kind=Kind.PAYMENT_RETURN,
            points=payment.points,
            idempotency_key=f"point-payment:{payment.pk}:cancel",
            description=_("Point payment %(id)s cancelled") % {"id": payment.external_id},
            source=payment,
            now=now,
            partner_id=payment.partner_id,
        )
        payment.status, payment.cancelled_at = PointPayment.Status.CANCELLED, now
        payment.save(update_fields=["status", "cancelled_at"])
        if payment.purchase_external_id:
            _awaiting_add(account, -1)
    payment.replayed = False
    return payment


@dataclass(frozen=True)
class ClaimedPayments:
    payments: list[PointPayment]
    points: int
    amount: Decimal


def point_payments_claim(
    *, account: PointsAccount, member: Member, source: str, purchase_external_id: str, references: Sequence[str]
) -> ClaimedPayments:
    """The point payments that pay for the purchase being recorded: those it names (``references``) and those that
    name it, locked. Costs no query when there are neither.

    Precondition: the caller holds ``account``'s lock (``purchase_record``) and links the payments to the purchase
    it inserts (:func:`point_payments_link`). A named payment that is unknown, another member's, cancelled or
    already used for another purchase raises :class:`InvalidPointPayment` (field ``point_payments``).
    """
    references = list(dict.fromkeys(ref.strip() for ref in references if ref and ref.strip()))
    if not references and not account.point_payments_awaiting:
        return ClaimedPayments([], 0, Decimal("0"))
    wanted = Q(external_id__in=references)
    if account.point_payments_awaiting:
        wanted |= Q(purchase_external_id=purchase_external_id, purchase__isnull=True, member_id=member.pk)
    payments = list(
        PointPayment.objects.select_for_update(of=("self",))
        .select_related("purchase")
        .filter(wanted, source=source)
        .order_by("pk")
    )
    found = {payment.external_id for payment in payments}
    for ref in references:
        if ref not in found:
            raise InvalidPointPayment(
                _("No point payment %(id)s from this integration.") % {"id": ref}, field="point_payments"
            )
    usable = []
    for payment in payments:
        if payment.member_id != member.pk:
            raise InvalidPointPayment(
                _("Point payment %(id)s was made by another member.") % {"id": payment.external_id},
                field="point_payments",
            )
        if payment.status != PointPayment.Status.COMPLETED:
            if payment.external_id in references:
                raise InvalidPointPayment(
                    _("Point payment %(id)s was cancelled.") % {"id": payment.external_id}, field="point_payments"
                )
            continue
        if payment.purchase_id is not None:
            if payment.purchase.external_id == purchase_external_id:
                continue  # a retry of the purchase it paid for: the purchase's insert finds the replay
            raise InvalidPointPayment(
                _("Point payment %(id)s already paid for another purchase.") % {"id": payment.external_id},
                field="point_payments",
            )
        usable.append(payment)
    return ClaimedPayments(usable, sum(p.points for p in usable), sum((p.amount for p in usable), Decimal("0")))


def point_payments_link(*, account: PointsAccount, claimed: ClaimedPayments, purchase: Purchase) -> None:
    """Record that ``claimed`` paid for ``purchase`` (inserted in the caller's transaction, under the lock)."""
    if not claimed.payments:
        return
    ids = [payment.pk for payment in claimed.payments]
    PointPayment.objects.filter(pk__in=ids).update(purchase=purchase)
    awaiting = sum(1 for payment in claimed.payments if payment.purchase_external_id)
    if awaiting:
        _awaiting_add(account, -awaiting)
    for payment in claimed.payments:
        payment.purchase = purchase


def points_paid_return(
    *, account: PointsAccount, purchase: Purchase, refunded_before: Decimal, refunded_after: Decimal, key: str, now
) -> tuple[int, Decimal]:
    """Give back the share of the points paid for ``purchase`` that a refund takes its refunded total from
    ``refunded_before`` to ``refunded_after``: ``(points, their value)``.

    Shares are differences of running totals (``points paid × refunded ÷ total``, rounded down), so the refunds of a
    purchase give back exactly the points paid once it is all refunded. Posted as ``PAYMENT_RETURN`` (a new lot
    with a fresh expiry) before any clawback, so the clawback can take from them.
    """
    if not purchase.points_paid or purchase.total <= 0:
        return 0, Decimal("0")

    def share(refunded: Decimal) -> tuple[int, Decimal]:
        refunded = min(refunded, purchase.total)
        points = purchase.points_paid * refunded // purchase.total
        amount = (purchase.points_paid_amount * refunded / purchase.total).quantize(CENT, rounding=ROUND_HALF_UP)
        if refunded == purchase.total:
            points, amount = purchase.points_paid, purchase.points_paid_amount
        return int(points), amount

    before, after = share(refunded_before), share(refunded_after)
    points, amount = after[0] - before[0], after[1] - before[1]
    if points > 0:
        ledger_post(
            account=account,
            kind=Kind.PAYMENT_RETURN,
            points=points,
            idempotency_key=f"{key}:points-paid",
            description=_("Points paid back on refund of %(id)s") % {"id": purchase.external_id},
            purchase=purchase,
            now=now,
            partner_id=purchase.partner_id,
        )
        Purchase.objects.filter(pk=purchase.pk).update(points_returned=F("points_returned") + points)
        purchase.points_returned += points
    return points, amount
