"""Recording purchases and refunds, and previewing what a basket would earn.

Locking. ``purchase_record`` and ``purchase_refund`` lock the buyer's points account first, and their hooks
(``hooks.purchase_recorded`` / ``hooks.purchase_refunded``) run inside that transaction. A hook that writes to
another member's account (a referral pays or claws back the referrer too) would have to lock it after the
buyer's, out of the ledger's ascending-id order, so instead its app registers a provider in
``hooks.purchase_co_locks`` / ``hooks.refund_co_locks`` naming those accounts up front, and the service locks
them all with the buyer's in one :func:`members.services.ledger.accounts_lock`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import hooks
from ..calculators import Basket, BasketLine, EarningResult, Step, calculate
from ..exceptions import AccountClosed, ExternalIdTaken, InvalidPurchase, PartnerInactive, RefundExceedsPurchase
from ..models import (
    LedgerEntry,
    Member,
    Partner,
    PointsAccount,
    PointsLot,
    ProgramSettings,
    Purchase,
    PurchaseDiscount,
    PurchaseLine,
    Refund,
    Tier,
)
from ..purchase_rules import (
    CENT,
    amount_limit_errors,
    channel_errors,
    currency_errors,
    discounts_errors,
    discounts_sum,
    external_id_errors,
    lines_errors,
    occurred_at_errors,
    refuse,
    total_errors,
)
from ..selectors import earning_rules_active, program_settings_get, tiers_list
from ..subscriptions.selectors import earning_plan
from .ledger import account_lock, accounts_lock, ledger_post, ledger_writes, lot_expiry_for, points_born_expired
from .point_payments import ClaimedPayments, point_payments_claim, point_payments_link, points_paid_return
from .sql import insert_unless_exists
from .tiers import purchase_activity_record, qualifying_activity_add

Kind = LedgerEntry.Kind


def _lock_with_co_locks(member_id: int, providers: list, **kwargs) -> PointsAccount:
    """Lock the buyer's account, together with (ascending id) those the providers name; return the buyer's."""
    others = {other for provider in providers for other in provider(**kwargs)} - {member_id}
    if not others:
        return account_lock(member_id=member_id)
    return accounts_lock(member_ids={member_id, *others})[member_id]


@dataclass(frozen=True)
class PurchaseLineInput:
    sku: str
    quantity: int
    unit_price: Decimal
    category: str = ""


@dataclass(frozen=True)
class PurchaseDiscountInput:
    """A discount as the till sends it: ``amount`` off, on the whole order or on line ``line_number`` (from 1)."""

    amount: Decimal
    kind: str = PurchaseDiscount.Kind.ORDER
    code: str = ""
    line_number: int | None = None


@dataclass(frozen=True)
class Discounts:
    """The discounts of a purchase once checked: per line, on the order, and the total they leave."""

    given: tuple[PurchaseDiscountInput, ...]
    on_lines: dict[int, Decimal]
    on_order: Decimal
    total: Decimal


def discounts_resolve(
    *, lines: list[PurchaseLineInput], discounts: list[PurchaseDiscountInput] | None, total: Decimal | None
) -> Discounts:
    """Check the discounts and the total against the lines (``members.purchase_rules``) and say what they come to.

    Without ``discounts`` a total below the lines is an unnamed order-level discount of the difference.
    """
    if discounts is not None:
        refuse(discounts_errors(discounts, lines=lines))
    if total is not None:
        refuse(total_errors(total, lines=lines, discounts=discounts))
    gross = sum((Decimal(line.unit_price) * line.quantity for line in lines), Decimal(0))
    on_lines: dict[int, Decimal] = {}
    if discounts is None:
        on_order = gross - Decimal(total) if total is not None else Decimal(0)
    else:
        on_order = Decimal(0)
        for discount in discounts:
            amount = Decimal(discount.amount)
            if discount.kind == PurchaseDiscount.Kind.LINE:
                on_lines[discount.line_number] = on_lines.get(discount.line_number, Decimal(0)) + amount
            else:
                on_order += amount
    total = gross - (discounts_sum(discounts) if discounts is not None else on_order)
    return Discounts(tuple(discounts or ()), on_lines, on_order, total)


@dataclass
class PurchaseResult:
    purchase: Purchase
    earning: EarningResult | None
    entries: list[LedgerEntry]
    balance: int
    pending: int
    replayed: bool = False
    tier_changed: bool = False
    #: The lines as inserted, in order (None on a replay: read them from the purchase).
    lines: list[PurchaseLine] | None = None

    @property
    def points_earned(self) -> int:
        return self.purchase.points_earned + self.purchase.points_bonus

    @property
    def points_pending(self) -> int:
        return sum(entry.pending_delta for entry in self.entries if entry.pending_delta > 0)

    @property
    def bonus_entries(self) -> list[LedgerEntry]:
        return [entry for entry in self.entries if entry.kind == Kind.BONUS]


@dataclass
class RefundLineInput:
    line_number: int | None = None
    sku: str = ""
    quantity: int = 1


@dataclass
class RefundResult:
    purchase: Purchase
    amount: Decimal
    points_clawed_back: int
    entries: list[LedgerEntry] = field(default_factory=list)
    replayed: bool = False
    #: Points paid for the purchase (point payments) that this refund gave back, and what they were worth.
    points_returned: int = 0
    points_returned_amount: Decimal = Decimal("0")


def basket_build(
    *,
    lines: list[PurchaseLineInput],
    channel: str,
    store: str,
    occurred_at: datetime,
    currency: str,
    member: Member | None,
    program: ProgramSettings | None = None,
    discounts: Discounts | None = None,
) -> Basket:
    refuse(lines_errors(lines))
    refuse(channel_errors(channel))
    program = program or program_settings_get()
    refuse(currency_errors(currency, program_currency=program.currency))
    refuse(
        amount_limit_errors(
            lines, max_line_amount=program.max_line_amount, max_purchase_amount=program.max_purchase_amount
        )
    )
    context = MemberHistory(member) if member is not None else {}
    on_lines = discounts.on_lines if discounts is not None else {}
    return Basket(
        lines=tuple(
            BasketLine(
                line_number=index,
                sku=line.sku,
                category=line.category or "",
                quantity=line.quantity,
                unit_price=Decimal(line.unit_price),
                discount=on_lines.get(index, Decimal(0)),
            )
            for index, line in enumerate(lines, start=1)
        ),
        order_discount=discounts.on_order if discounts is not None else Decimal(0),
        channel=channel,
        store=store,
        occurred_at=occurred_at,
        currency=currency.upper(),
        member=member,
        tier=_member_tier(member),
        plan=earning_plan(member_id=member.pk if member is not None else None, at=occurred_at, member=member),
        context=context,
    )


def _member_tier(member: Member | None) -> Tier | None:
    """The member's tier from the cached tier list, so a member loaded without its tier costs no query."""
    if member is None or member.tier_id is None:
        return None
    return next((tier for tier in tiers_list() if tier.pk == member.tier_id), None) or member.tier


class MemberHistory(Mapping):
    """Facts about the member's purchase history that campaign rules may ask for (``basket.context``).

    Read with one query on first access only: most baskets meet no rule that looks at history, and an earn
    should not pay for a question nobody asked.
    """

    def __init__(self, member: Member):
        self._member = member
        self._facts: dict | None = None

    def _load(self) -> dict:
        if self._facts is None:
            channels = set(
                Purchase.objects.filter(member=self._member).order_by().values_list("channel", flat=True).distinct()
            )
            self._facts = {"purchase_channels": channels, "has_purchased": bool(channels)}
        return self._facts

    def __getitem__(self, key):
        return self._load()[key]

    def __iter__(self):
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def _active_rules(partner: Partner | None = None) -> list:
    """The rules a basket earns under: the partner's own at a partner, the operator's everywhere else (one cached
    list, filtered in memory). Where they name no base rule the program's base rate applies (``calculate``)."""
    partner_id = partner.pk if partner is not None else None
    return [rule for rule in earning_rules_active() if rule.partner_id == partner_id]


def _partner_check(partner: Partner | None) -> None:
    if partner is not None and partner.status != Partner.Status.ACTIVE:
        raise PartnerInactive()


def purchase_preview(
    *,
    member: Member | None,
    lines: list[PurchaseLineInput],
    channel: str,
    store: str = "",
    occurred_at: datetime | None = None,
    currency: str = "",
    discounts: list[PurchaseDiscountInput] | None = None,
    total: Decimal | None = None,
    partner: Partner | None = None,
) -> EarningResult:
    """What a basket would earn, rule by rule and line by line (at ``partner``: under its rules). Writes
    nothing."""
    _partner_check(partner)
    now = timezone.now()
    program = program_settings_get()
    basket = basket_build(
        lines=lines,
        channel=channel,
        store=store,
        occurred_at=occurred_at or now,
        currency=currency or program.currency,
        member=member,
        discounts=discounts_resolve(lines=lines, discounts=discounts, total=total),
    )
    return calculate(basket=basket, program=program, rules=_active_rules(partner), now=now)


def purchase_record(
    *,
    member: Member,
    external_id: str,
    lines: list[PurchaseLineInput],
    channel: str,
    occurred_at: datetime,
    currency: str,
    store: str = "",
    source: str = "",
    total: Decimal | None = None,
    actor=None,
    now: datetime | None = None,
    backfill: bool = False,
    partner: Partner | None = None,
    point_payments: Sequence[str] = (),
    discounts: list[PurchaseDiscountInput] | None = None,
    savepoint: bool = True,
) -> PurchaseResult:
    """Record a purchase and post the points it earns, once.

    Discounts (``discounts``) lower what earns: line discounts on their line, order discounts shared over the
    lines that earn (:func:`members.calculators.net_basket`); ``total`` must then be the lines less the discounts
    (without ``discounts``, a total below the lines is an unnamed order discount). A discount code that is one
    of our vouchers is used on the purchase, in its transaction (``hooks.discount_codes_used``).

    Points earned so late that they would already be past expiry (:func:`points_born_expired`) are not credited.

    Paid partly with points: the point payments it names (``point_payments``, their external ids) and those that
    named it (``purchase_external_id``) are linked to it, and it earns only on what was paid in money (the total
    less their value, shared over the lines by :func:`members.calculators.net_basket`). Their value may not exceed
    the total.

    The purchase must pass ``members.purchase_rules`` (the API's and the importer's rules too), else
    :class:`InvalidPurchase`; ``backfill=True`` (staff imports of history) lifts the age limit tills have.

    The purchase's ``(source, external_id)`` is its idempotency key: a retry returns the first result with
    ``replayed=True`` and posts nothing; the same id for another member raises :class:`ExternalIdTaken`.
    Points are pending for the program's return window after ``occurred_at``, then released by the
    pending-points job. Campaign bonuses are separate entries, one per campaign.

    At a coalition ``partner`` (its API key sent the purchase) the basket earns under the partner's own rules,
    the purchase and its points carry the partner (settlement bills them to it), and the purchase counts toward
    tiers only if the partner's purchases do. A partner that is not active is refused (:class:`PartnerInactive`).

    Locks the member's account first, together with (ascending id) any account a hook names through
    :data:`members.hooks.purchase_co_locks`; see the module docstring.

    Inside a caller's transaction the work runs in a savepoint, so that a caller going on after a refusal (an
    import, row by row) keeps its transaction. ``savepoint=False`` is for a caller whose transaction ends on any
    exception (the API's, with its idempotency record): on PostgreSQL it saves the SAVEPOINT and RELEASE round
    trips. There a concurrent recording of the same external id is found by ``INSERT … ON CONFLICT DO NOTHING``
    without an error; other databases keep the savepoint for their ``IntegrityError`` path.
    """
    _partner_check(partner)
    if not external_id:
        raise InvalidPurchase(_("An external id is required."), field="external_id")
    refuse(external_id_errors(external_id))
    now = now or timezone.now()
    refuse(occurred_at_errors(occurred_at, now=now, backfill=backfill))
    program = program_settings_get()
    resolved = discounts_resolve(lines=lines, discounts=discounts, total=total)
    basket = basket_build(
        lines=lines,
        channel=channel,
        store=store,
        occurred_at=occurred_at,
        currency=currency,
        member=member,
        program=program,
        discounts=resolved,
    )
    total = resolved.total
    try:
        with transaction.atomic(savepoint=savepoint or connection.vendor != "postgresql"):
            account = _lock_with_co_locks(member.pk, hooks.purchase_co_locks, member=member, occurred_at=occurred_at)
            paid = point_payments_claim(
                account=account,
                member=member,
                source=source,
                purchase_external_id=external_id,
                references=point_payments,
            )
            if paid.amount > total:
                raise InvalidPurchase(
                    _("The point payments (%(paid)s) are worth more than the purchase's total.")
                    % {"paid": f"{paid.amount:.2f}"},
                    field="point_payments",
                )
            basket = replace(basket, points_paid_amount=paid.amount)
            earning = None
            if member.status == Member.Status.ACTIVE:
                earning = calculate(basket=basket, program=program, rules=_active_rules(partner), now=now)
                if points_born_expired(
                    program=program, earned_at=occurred_at, last_activity_at=member.last_purchase_at, now=now
                ):
                    _expired_earning(earning)
            if earning is None or (earning.awards and hooks.award_reservers):
                # Reserving awards writes to campaign budgets, and a closed account's retry is still a replay:
                # both need to know about an earlier recording first. Plain earns let the INSERT find out.
                existing = Purchase.objects.filter(source=source, external_id=external_id).first()
                if existing is not None:
                    return _replay(existing, member)
                if earning is None:
                    raise AccountClosed()
                _reserve_awards(earning=earning, basket=basket, now=now)
            purchase, purchase_lines = _purchase_rows(
                member=member,
                external_id=external_id,
                source=source,
                basket=basket,
                total=total,
                earning=earning,
                paid=paid,
                discount_total=basket_discount_total(lines, total),
            )
            purchase.partner = partner
            if not insert_unless_exists(
                purchase, unique_fields=["source", "external_id"], children=purchase_lines, child_fk="purchase"
            ):
                return _replay(Purchase.objects.get(source=source, external_id=external_id), member)
            point_payments_link(account=account, claimed=paid, purchase=purchase)
            _discounts_store(purchase=purchase, discounts=resolved.given, now=now)
            entries = _points_post(account=account, purchase=purchase, earning=earning, program=program, now=now)
            counts = _counts_toward_tiers(purchase)
            tier_changed = purchase_activity_record(
                member=member,
                occurred_at=occurred_at,
                points=_qualifying_points(earning, program) if counts else 0,
                # What was paid in money qualifies; what points paid for does not.
                spend=purchase.money_paid if counts else Decimal("0"),
                now=now,
                program=program,
            )
            result = PurchaseResult(
                purchase=purchase,
                earning=earning,
                entries=entries,
                balance=account.balance,
                pending=account.pending,
                tier_changed=tier_changed,
                lines=purchase_lines,
            )
            _hooks_run(result)
            return result
    except IntegrityError:
        # A concurrent request with the same external id won the race; answer with its result.
        existing = Purchase.objects.filter(source=source, external_id=external_id).first()
        if existing is None:
            raise
        return _replay(existing, member)


def basket_discount_total(lines: list[PurchaseLineInput], total: Decimal) -> Decimal:
    return sum((Decimal(line.unit_price) * line.quantity for line in lines), Decimal(0)) - total


def _expired_earning(earning: EarningResult) -> None:
    """Nothing to credit: the points would be past expiry already (the purchase is still recorded)."""
    if not earning.total_points:
        return
    earning.steps.append(
        Step(
            _("Past the expiry horizon"),
            "expired",
            Decimal(-earning.total_points),
            _("points earned this long ago would already have expired"),
        )
    )
    earning.base_points = 0
    earning.line_points = dict.fromkeys(earning.line_points, 0)
    earning.awards = []


def _qualifying_points(earning: EarningResult, program: ProgramSettings) -> int:
    """The purchase's points that count toward a tier: its own, and its bonuses only if the program says so."""
    if program.tier_counts_bonus_points:
        return earning.total_points
    return earning.base_points


def _discounts_store(*, purchase: Purchase, discounts: tuple[PurchaseDiscountInput, ...], now: datetime) -> None:
    """The discounts as sent, and every code among them offered to ``hooks.discount_codes_used`` (vouchers)."""
    if not discounts:
        return
    PurchaseDiscount.objects.bulk_create(
        PurchaseDiscount(
            purchase=purchase,
            position=position,
            code=(discount.code or "").strip(),
            kind=discount.kind,
            line_number=discount.line_number if discount.kind == PurchaseDiscount.Kind.LINE else None,
            amount=Decimal(discount.amount),
        )
        for position, discount in enumerate(discounts, start=1)
    )
    codes = [
        (index, discount.code.strip()) for index, discount in enumerate(discounts) if (discount.code or "").strip()
    ]
    if codes:
        for hook in hooks.discount_codes_used:
            hook(purchase=purchase, codes=codes, now=now)


def _counts_toward_tiers(purchase: Purchase) -> bool:
    return purchase.partner_id is None or purchase.partner.counts_toward_tiers


def _purchase_rows(
    *,
    member: Member,
    external_id: str,
    source: str,
    basket: Basket,
    total: Decimal,
    earning: EarningResult,
    paid: ClaimedPayments,
    discount_total: Decimal,
) -> tuple[Purchase, list[PurchaseLine]]:
    """The purchase and its lines as they will be stored, each line with its base and bonus points."""
    purchase = Purchase(
        member=member,
        external_id=external_id,
        source=source,
        channel=basket.channel,
        store=basket.store,
        occurred_at=basket.occurred_at,
        currency=basket.currency,
        total=total,
        eligible_amount=earning.eligible_amount,
        points_earned=earning.base_points,
        points_bonus=earning.bonus_points,
        points_paid=paid.points,
        points_paid_amount=paid.amount,
        discount_total=discount_total,
    )
    line_points = dict(earning.line_points)
    for award in earning.awards:
        for number, points in award.line_points.items():
            line_points[number] = line_points.get(number, 0) + points
    lines = [
        PurchaseLine(
            line_number=line.line_number,
            sku=line.sku,
            category=line.category,
            quantity=line.quantity,
            unit_price=line.unit_price,
            points=line_points.get(line.line_number, 0),
            discount=earning.line_discounts.get(line.line_number, Decimal(0)),
        )
        for line in basket.lines
    ]
    return purchase, lines


def _points_post(
    *, account: PointsAccount, purchase: Purchase, earning: EarningResult, program: ProgramSettings, now: datetime
) -> list[LedgerEntry]:
    """The purchase's ledger entries: its base points, then one bonus entry per award, pending for the program's
    return window after the purchase (spendable at once when there is none or it is already over)."""
    available_at = purchase.occurred_at + timedelta(days=program.pending_days)
    pending = program.pending_days > 0 and available_at > now
    key_base = f"purchase:{purchase.source}:{purchase.external_id}"
    credits = []
    if earning.base_points:
        description = _("Purchase %(id)s") % {"id": purchase.external_id}
        credits.append((Kind.EARN, earning.base_points, f"{key_base}:earn", description, None))
    for award in earning.awards:
        credits.append((Kind.BONUS, award.points, f"{key_base}:bonus:{award.key}", award.label, award.source))
    return [
        _credit(account, kind, points, key, description, purchase, source, pending, available_at, now, program)
        for kind, points, key, description, source in credits
    ]


def _hooks_run(result: PurchaseResult) -> None:
    """The other apps' ``purchase_recorded`` hooks, then the ``purchase_settled`` ones with the stored balances."""
    writes_before_hooks = ledger_writes()
    for hook in hooks.purchase_recorded:
        hook(result)
    if ledger_writes() != writes_before_hooks:
        # A hook posted more points (a referral bonus on a first purchase): what callers and announcements see
        # is read from the stored rows after all of them.
        _result_refresh(result)
    for hook in hooks.purchase_settled:
        hook(result)


def _result_refresh(result: PurchaseResult) -> None:
    account = PointsAccount.objects.filter(pk=result.purchase.member_id)
    result.balance, result.pending = account.values_list("balance", "pending").get()
    result.entries = list(result.purchase.entries.filter(kind__in=[Kind.EARN, Kind.BONUS]).order_by("id"))


def _reserve_awards(*, earning: EarningResult, basket: Basket, now: datetime) -> None:
    """Let the registered reservers confirm ``earning.awards`` against their limits (see ``hooks.award_reservers``).

    Awards they reduce get a negative step saying why, so the steps still add up to what is posted.
    """
    awards = list(earning.awards)
    for reserve in hooks.award_reservers:
        awards = list(reserve(awards=awards, basket=basket, now=now))
    returned = {award.key: award for award in awards}
    for award in earning.awards:
        kept = returned.get(award.key)
        points = kept.points if kept is not None else 0
        if points < award.points:
            earning.steps.append(
                Step(
                    award.label,
                    "bonus_limit",
                    Decimal(points - award.points),
                    (kept.detail if kept is not None else "") or _("limit reached"),
                    campaign_id=getattr(award.source, "pk", None),
                )
            )
    earning.awards = [award for award in awards if award.points > 0]


def _credit(account, kind, points, key, description, purchase, source, pending, available_at, now, program):
    # Every point a partner's purchase earns (its base and any bonus) is issued at that partner.
    # Purchase points expire counting from the purchase, not from when a till got round to sending it.
    expires_at = lot_expiry_for(program=program, earned_at=purchase.occurred_at)
    amounts = {"pending_delta": points, "available_at": available_at} if pending else {"points": points}
    # The key derives from the purchase row just inserted under the account lock, so it cannot have been used.
    return ledger_post(
        new_key=True,
        account=account,
        kind=kind,
        idempotency_key=key,
        description=description,
        purchase=purchase,
        source=source,
        expires_at=expires_at,
        now=now,
        partner_id=purchase.partner_id,
        **amounts,
    )


def _replay(purchase: Purchase, member: Member) -> PurchaseResult:
    if purchase.member_id != member.pk:
        raise ExternalIdTaken()
    account = PointsAccount.objects.get(pk=member.pk)
    entries = list(purchase.entries.filter(kind__in=[Kind.EARN, Kind.BONUS]).order_by("id"))
    return PurchaseResult(
        purchase=purchase,
        earning=None,
        entries=entries,
        balance=account.balance,
        pending=account.pending,
        replayed=True,
    )


def purchase_refund(
    *,
    purchase: Purchase,
    lines: list[RefundLineInput] | None = None,
    refund_id: str,
    actor=None,
    now: datetime | None = None,
) -> RefundResult:
    """Refund a whole purchase (``lines`` None) or some of its lines, clawing back the points they earned.

    Points are taken back from pending first, then from the spendable balance; whatever the member has already
    spent is recorded as owed and netted against future earnings, so the balance never goes below zero.
    ``refund_id`` makes the refund idempotent. Locks the buyer's account first, together with (ascending id) any
    account a hook names through :data:`members.hooks.refund_co_locks`.
    """
    now = now or timezone.now()
    if not refund_id:
        raise InvalidPurchase(_("A refund id is required."), field="refund_id")
    with transaction.atomic():
        account = _lock_with_co_locks(purchase.member_id, hooks.refund_co_locks, purchase=purchase)
        key = f"refund:{purchase.pk}:{refund_id}"
        purchase = Purchase.objects.select_for_update().get(pk=purchase.pk)
        existing = Refund.objects.filter(purchase=purchase, refund_id=refund_id).first()
        if existing is not None:
            return RefundResult(
                purchase=purchase,
                amount=existing.amount,
                points_clawed_back=existing.points_clawed_back,
                entries=list(LedgerEntry.objects.filter(idempotency_key=key)),
                replayed=True,
                points_returned=existing.points_returned,
            )
        purchase_lines = {line.line_number: line for line in purchase.lines.select_for_update()}
        refunds = _refund_quantities(purchase_lines, lines)
        amount, clawback = _refund_value(purchase_lines, refunds)
        for number, quantity in refunds.items():
            PurchaseLine.objects.filter(pk=purchase_lines[number].pk).update(
                refunded_quantity=F("refunded_quantity") + quantity
            )
        # Never more money back than was paid: a total below the line sum caps the refunds.
        amount = min(amount, purchase.total - purchase.refunded_total)
        refunded_before = purchase.refunded_total
        Purchase.objects.filter(pk=purchase.pk).update(
            refunded_total=F("refunded_total") + amount, points_clawed_back=F("points_clawed_back") + clawback
        )
        purchase.refresh_from_db()
        # The points the member paid with come back first, so the clawback below may take from them.
        returned, returned_amount = points_paid_return(
            account=account,
            purchase=purchase,
            refunded_before=refunded_before,
            refunded_after=purchase.refunded_total,
            key=key,
            now=now,
        )
        entries = []
        if clawback:
            entries.append(
                _clawback_post(account=account, purchase=purchase, clawback=clawback, key=key, actor=actor, now=now)
            )
        Refund.objects.create(
            purchase=purchase,
            refund_id=refund_id,
            amount=amount,
            points_clawed_back=clawback,
            points_returned=returned,
        )
        if _counts_toward_tiers(purchase):
            # Only the money part of the refund was qualifying spend.
            refunded_spend = -(amount - returned_amount)
            counted = (
                clawback
                if program_settings_get().tier_counts_bonus_points
                else _base_share(purchase, clawed_before=purchase.points_clawed_back - clawback, clawback=clawback)
            )
            qualifying_activity_add(
                member=purchase.member,
                when=purchase.occurred_at,
                points=-counted,
                spend=refunded_spend,
                purchases=0,
            )
        result = RefundResult(
            purchase=purchase,
            amount=amount,
            points_clawed_back=clawback,
            entries=entries,
            points_returned=returned,
            points_returned_amount=returned_amount,
        )
        for hook in hooks.purchase_refunded:
            hook(result)
        return result


def _base_share(purchase: Purchase, *, clawed_before: int, clawback: int) -> int:
    """The part of ``clawback`` that was base points (the only points that count toward a tier), in proportion to
    the purchase's base and bonus points. Taken as the difference of two running totals, so the shares of every
    refund of a purchase add up to exactly its base points once it is all refunded."""
    earned = purchase.points_earned + purchase.points_bonus
    if earned <= 0:
        return 0

    def base_of(clawed: int) -> int:
        return min(clawed, earned) * purchase.points_earned // earned

    return base_of(clawed_before + clawback) - base_of(clawed_before)


def _refund_quantities(purchase_lines: dict[int, PurchaseLine], lines: list[RefundLineInput] | None) -> dict[int, int]:
    """``{line number: quantity}`` to refund: what is left of every line, or what was asked for line by line."""
    if lines is None:
        refunds = {
            number: line.quantity - line.refunded_quantity
            for number, line in purchase_lines.items()
            if line.quantity > line.refunded_quantity
        }
    else:
        refunds: dict[int, int] = {}
        for requested in lines:
            line = _find_line(purchase_lines, requested)
            refunds[line.line_number] = refunds.get(line.line_number, 0) + requested.quantity
    if not refunds:
        raise RefundExceedsPurchase(_("Nothing is left to refund on this purchase."))
    return refunds


def _refund_value(purchase_lines: dict[int, PurchaseLine], refunds: dict[int, int]) -> tuple[Decimal, int]:
    """The money and the points the refunded quantities are worth; more than is left on a line is refused."""
    amount, clawback = Decimal("0"), 0
    for number, quantity in refunds.items():
        line = purchase_lines[number]
        if quantity < 1 or line.refunded_quantity + quantity > line.quantity:
            raise RefundExceedsPurchase(
                _("Line %(line)s: only %(left)s left to refund.")
                % {"line": number, "left": line.quantity - line.refunded_quantity},
                field="lines",
            )
        amount += _line_refund_amount(line, quantity)
        clawback += _line_clawback(line, quantity)
    return amount, clawback


def _line_refund_amount(line: PurchaseLine, quantity: int) -> Decimal:
    """What ``quantity`` units of a line cost after its discounts, so that a line refunded in parts in total
    returns exactly what was charged for it (a difference of running totals, half up to the cent)."""

    def charged(units: int) -> Decimal:
        return (line.net_amount * units / line.quantity).quantize(CENT, rounding=ROUND_HALF_UP)

    return charged(line.refunded_quantity + quantity) - charged(line.refunded_quantity)


def _clawback_post(*, account, purchase: Purchase, clawback: int, key: str, actor, now: datetime) -> LedgerEntry:
    """Take ``clawback`` points back: the purchase's own still-pending points first (its return window is open),
    then spendable points; what the member already spent is recorded as owed."""
    own_pending = (
        PointsLot.objects.filter(entry__purchase=purchase, is_pending=True).aggregate(total=Sum("remaining"))["total"]
        or 0
    )
    from_pending = min(clawback, own_pending, account.pending)
    return ledger_post(
        account=account,
        kind=Kind.CLAWBACK,
        pending_delta=-from_pending,
        points=-(clawback - from_pending),
        idempotency_key=key,
        description=_("Refund on purchase %(id)s") % {"id": purchase.external_id},
        purchase=purchase,
        actor=actor,
        allow_shortfall=True,
        prefer_purchase=purchase,
        now=now,
        partner_id=purchase.partner_id,
    )


def _find_line(purchase_lines: dict[int, PurchaseLine], requested: RefundLineInput) -> PurchaseLine:
    if requested.line_number is not None:
        line = purchase_lines.get(requested.line_number)
        if line is None:
            raise RefundExceedsPurchase(
                _("The purchase has no line %(line)s.") % {"line": requested.line_number}, field="lines"
            )
        return line
    candidates = [
        line for line in purchase_lines.values() if line.sku == requested.sku and line.quantity > line.refunded_quantity
    ]
    if not candidates:
        raise RefundExceedsPurchase(
            _("The purchase has no refundable line with SKU %(sku)s.") % {"sku": requested.sku}, field="lines"
        )
    return candidates[0]


def _line_clawback(line: PurchaseLine, quantity: int) -> int:
    """Points to take back for ``quantity`` units of a line, so that a line refunded in parts in total returns
    exactly what it earned."""
    already = line.points * line.refunded_quantity // line.quantity
    after = line.points * (line.refunded_quantity + quantity) // line.quantity
    return after - already
