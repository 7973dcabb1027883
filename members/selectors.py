"""Reads of the members app. Pages, the API and other apps use these instead of ad-hoc queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_CEILING, ROUND_DOWN, Decimal

from django.core import signing
from django.db.models import Case, Exists, F, Min, OuterRef, Prefetch, Q, Subquery, Sum, When
from django.db.models.functions import Coalesce
from django.utils import timezone

from integrations.cache import config_cached

from . import hooks
from .action_rules import limit_remaining, limits_left, usage_aggregates
from .cache import EARNING_RULES_CACHE_KEY, PARTNERS_CACHE_KEY, PROGRAM_SETTINGS_CACHE_KEY, TIERS_CACHE_KEY
from .calculators import strategies_in_order
from .compiled import CompiledQuery
from .exceptions import PartnerInactive
from .models import (
    LEDGER_EARNING_KINDS,
    PARTNER_OWNER_PREFIX,
    ActionOccurrence,
    EarningAction,
    EarningRule,
    FeedbackResponse,
    LedgerEntry,
    Member,
    Partner,
    PartnerRate,
    PartnerStore,
    PointPayment,
    PointsAccount,
    PointsLot,
    ProgramSettings,
    Purchase,
    QualifyingActivity,
    Tier,
    TierHistory,
)
from .months import add_months, expiry_period_add
from .qualification import qualification_window_start


def program_settings_get() -> ProgramSettings:
    """The program's rules; cached because they change rarely and are read on every earn and page."""
    return config_cached(PROGRAM_SETTINGS_CACHE_KEY, lambda: ProgramSettings.objects.get_or_create(pk=1)[0], 300)


def tiers_list() -> list[Tier]:
    """All tiers, lowest rank first (cached; invalidated when a tier is saved or deleted)."""
    return config_cached(TIERS_CACHE_KEY, lambda: list(Tier.objects.order_by("rank")), 300)


def earning_rules_active() -> list[EarningRule]:
    """Active earning rules (cached; invalidated when a rule is saved or deleted, and short-lived in any case)."""
    return config_cached(EARNING_RULES_CACHE_KEY, lambda: list(EarningRule.objects.filter(is_active=True)), 60)


# --- Member pages and the member API -----------------------------------------------------------------------------
# Every function below runs a fixed number of queries whatever the member's history length.

EXPIRY_SOON_DAYS = 30
ACTIVITY_PAGE_SIZE = 25


def member_for_user(user, *, with_expiring: bool = False) -> Member | None:
    """The member behind a login, with account, tier and user joined, and whether they ever subscribed (one
    query, compiled once per connection); None for staff without one. ``with_expiring``: with the points that
    expire soon in the same query, for :func:`member_summary`."""
    if not getattr(user, "is_authenticated", False):
        return None
    if with_expiring:
        return _member_by_user_with_expiring.first(user.pk, _expiring_soon_until(timezone.now()))
    return _member_by_user.first(user.pk)


@dataclass(frozen=True)
class TierProgress:
    """Where a member stands in the tier ladder, in the program's basis (points or spend)."""

    basis: str
    current_tier: Tier | None
    next_tier: Tier | None
    qualifying_value: Decimal
    #: Qualifying value still missing to reach ``next_tier`` within the current window (0 at the top).
    needed_for_next: Decimal
    #: Qualifying value still missing, counted in the window that applies on ``review_date``, to keep the tier.
    needed_to_keep: Decimal
    #: Last day of the current qualification window: the value counted now must be reached by then.
    window_end: date
    review_date: date | None
    #: 0–100, towards ``next_tier`` (100 at the top tier).
    percent: int

    @property
    def by_spend(self) -> bool:
        return self.basis == ProgramSettings.TierBasis.SPEND

    @property
    def points_for_next(self) -> int:
        """``needed_for_next`` as whole points (for plural forms); only meaningful when not ``by_spend``."""
        return int(self.needed_for_next.to_integral_value(rounding=ROUND_CEILING))


def member_tier_progress(member: Member, *, today: date | None = None) -> TierProgress:
    """Tier progress for ``member``: one query (its qualifying months), tiers and settings come from the cache."""
    program = program_settings_get()
    tiers = tiers_list()
    today = today or timezone.localdate()
    field = "points" if program.tier_basis == ProgramSettings.TierBasis.POINTS else "spend"

    window_start = qualification_window_start(program=program, today=today)
    window_end = add_months(window_start, 12) - timedelta(days=1)
    review_date = member.tier_review_at
    keep_start = window_start
    if review_date is not None and review_date > today:
        # Months before this one will have left the window by the review.
        keep_start = max(window_start, qualification_window_start(program=program, today=review_date))

    value = Decimal(0)
    value_at_review = Decimal(0)
    for month, amount in _qualifying_months.list(member.pk, window_start, today, shape=field):
        value += Decimal(amount)
        if month >= keep_start:
            value_at_review += Decimal(amount)

    current = member.tier
    higher = [tier for tier in tiers if tier.rank > current.rank] if current is not None else list(tiers)
    next_tier = higher[0] if higher else None
    needed_for_next = max(Decimal(0), next_tier.threshold - value) if next_tier else Decimal(0)
    needed_to_keep = max(Decimal(0), current.threshold - value_at_review) if current else Decimal(0)
    if next_tier is None or next_tier.threshold <= 0:
        percent = 100
    else:
        percent = int(min(Decimal(100), value * 100 / next_tier.threshold))
    return TierProgress(
        basis=program.tier_basis,
        current_tier=current,
        next_tier=next_tier,
        qualifying_value=value,
        needed_for_next=needed_for_next,
        needed_to_keep=needed_to_keep,
        window_end=window_end,
        review_date=review_date,
        percent=percent,
    )


@dataclass(frozen=True)
class MemberSummary:
    balance: int
    #: What the spendable balance is worth in the program currency.
    value: Decimal
    currency: str
    pending: int
    owed: int
    #: Points that expire within ``EXPIRY_SOON_DAYS`` days, and the first date on which some do.
    expiring_points: int
    expiring_on: date | None
    #: Under the activity policy: the day all points expire unless the member shops before then.
    all_expire_on: date | None
    #: The moment behind ``expiring_on`` (the first lot's expiry, or when all points expire under the activity
    #: policy); None when nothing expires within ``EXPIRY_SOON_DAYS``.
    expiring_at: datetime | None = None


def member_summary(member: Member, *, now: datetime | None = None) -> MemberSummary:
    """Balances and what expires soon. The account row comes with ``member_for_user``; lots cost one query."""
    program = program_settings_get()
    now = now or timezone.now()
    account = member.account
    expiring_points, expiring_on, expiring_at, all_expire_on = 0, None, None, None
    if program.expiry_policy == ProgramSettings.ExpiryPolicy.FIXED:
        if "expiring_soon_points" in member.__dict__:  # read with the member (member_with_expiring_get)
            soon = [(member.expiring_soon_points, member.expiring_soon_first)] if member.expiring_soon_points else []
        else:
            soon = _expiring_soon.list(account.pk, _expiring_soon_until(now))
        if soon:
            expiring_points, expiring_at = soon[0]
            expiring_on = timezone.localdate(expiring_at)
    elif program.expiry_policy == ProgramSettings.ExpiryPolicy.ACTIVITY and account.balance:
        last_activity = member.last_purchase_at or member.enrolled_at
        # Counted on the local calendar, so the date shown is the local day of that moment.
        all_expire_at = timezone.localtime(expiry_period_add(program=program, moment=last_activity))
        all_expire_on = all_expire_at.date()
        if all_expire_on <= timezone.localdate(now) + timedelta(days=EXPIRY_SOON_DAYS):
            expiring_points, expiring_on, expiring_at = account.balance, all_expire_on, all_expire_at
    value = (Decimal(account.balance) * program.point_value).quantize(Decimal("0.01"), rounding=ROUND_DOWN)
    return MemberSummary(
        balance=account.balance,
        value=value,
        currency=program.currency,
        pending=account.pending,
        owed=account.owed,
        expiring_points=expiring_points,
        expiring_on=expiring_on,
        all_expire_on=all_expire_on,
        expiring_at=expiring_at,
    )


def member_recent_entries(member: Member, *, limit: int = 5) -> list[LedgerEntry]:
    """The latest ledger entries with their purchase (served by ``ledger_account_recent_idx``)."""
    return _recent_entries.list(member.pk, shape=limit)


# What every member page and member read asks (members.compiled: compiled once per connection).
_qualifying_months = CompiledQuery(
    lambda field, member_id, since, until: QualifyingActivity.objects.filter(
        member_id=member_id, month__gte=since, month__lte=until
    ).values_list("month", field),
    int,
    date,
    date,
    shaped=True,
)
#: One row (the sum and the first expiry) when some points expire by ``until``, none otherwise.
_expiring_soon = CompiledQuery(
    lambda account_id, until: (
        _lots_expiring_by(account_id, until)
        .annotate(points=Sum("remaining"), first=Min("expires_at"))
        .values_list("points", "first")
    ),
    int,
    datetime,
)
_recent_entries = CompiledQuery(
    lambda limit, account_id: (
        LedgerEntry.objects.filter(account_id=account_id)
        .select_related("purchase")
        .order_by("-created_at", "-id")[:limit]
    ),
    int,
    shaped=True,
)


@dataclass(frozen=True)
class ActivityCursor:
    created_at: datetime
    id: int

    SALT = "members.activity.cursor"

    def encode(self) -> str:
        return signing.Signer(salt=self.SALT).sign(f"{self.created_at.timestamp():.6f}:{self.id}")

    @classmethod
    def decode(cls, token: str) -> ActivityCursor:
        """Raises ``ValueError`` for anything not made by :meth:`encode` (tampered or malformed)."""
        try:
            raw = signing.Signer(salt=cls.SALT).unsign(token)
            stamp, entry_id = raw.split(":")
            moment = datetime.fromtimestamp(float(stamp), tz=UTC)
            return cls(created_at=moment, id=int(entry_id))
        except (signing.BadSignature, ValueError, OverflowError, OSError) as error:
            raise ValueError("invalid cursor") from error


@dataclass
class ActivityPage:
    entries: list[LedgerEntry]
    #: Cursor for the next older page, or None when this page reaches the oldest entry.
    older: str | None = None
    #: Cursor for the next newer page, or None on the newest page.
    newer: str | None = None


def member_tier_moves(member: Member, *, limit: int = 5) -> list[TierHistory]:
    """The member's latest tier upgrades and downgrades, newest first (one query), for the activity page."""
    return list(
        TierHistory.objects.filter(
            member_id=member.pk, reason__in=[TierHistory.Reason.UPGRADE, TierHistory.Reason.DOWNGRADE]
        )
        .select_related("from_tier", "to_tier")
        .order_by("-created_at", "-pk")[:limit]
    )


def member_activity_page(
    member: Member,
    *,
    kinds: list[str] | None = None,
    date_from: date | None = None,
    date_to: date | None = None,
    before: ActivityCursor | None = None,
    after: ActivityCursor | None = None,
    limit: int = ACTIVITY_PAGE_SIZE,
) -> ActivityPage:
    """One page of the member's ledger, newest first, keyset-paginated on ``(created_at, id)``.

    ``before`` pages towards older entries, ``after`` towards newer ones. One query per page whatever the depth:
    the ``(account, -created_at, -id)`` index serves both directions and no OFFSET is ever used.
    """
    entries = LedgerEntry.objects.filter(account_id=member.pk).select_related("purchase", "partner")
    if kinds:
        entries = entries.filter(kind__in=kinds)
    if date_from:
        entries = entries.filter(created_at__gte=_start_of_day(date_from))
    if date_to:
        entries = entries.filter(created_at__lt=_start_of_day(date_to + timedelta(days=1)))
    if after is not None:
        rows = list(
            entries.filter(
                Q(created_at__gt=after.created_at) | Q(created_at=after.created_at, id__gt=after.id)
            ).order_by("created_at", "id")[: limit + 1]
        )
        has_more_newer = len(rows) > limit
        rows = rows[:limit][::-1]
        page = ActivityPage(entries=rows)
        if rows:
            page.older = _cursor_of(rows[-1])
            page.newer = _cursor_of(rows[0]) if has_more_newer else None
        return page
    if before is not None:
        entries = entries.filter(
            Q(created_at__lt=before.created_at) | Q(created_at=before.created_at, id__lt=before.id)
        )
    rows = list(entries.order_by("-created_at", "-id")[: limit + 1])
    has_more_older = len(rows) > limit
    rows = rows[:limit]
    page = ActivityPage(entries=rows)
    if rows:
        page.older = _cursor_of(rows[-1]) if has_more_older else None
        # Coming from a newer page means there is one to go back to.
        page.newer = _cursor_of(rows[0]) if before is not None else None
    return page


def _cursor_of(entry: LedgerEntry) -> str:
    return ActivityCursor(created_at=entry.created_at, id=entry.pk).encode()


def _start_of_day(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def earning_rules_public() -> list[EarningRule]:
    """The operator's active earning rules, for the public 'how to earn' page (partners' are on theirs)."""
    return list(EarningRule.objects.filter(is_active=True, partner__isnull=True).order_by("priority", "id"))


# --- Coalition partners ----------------------------------------------------------------------------------------


def partners_by_id() -> dict[int, Partner]:
    """Every partner by id (cached: the API asks on every partner request; invalidated when one is saved)."""
    return config_cached(PARTNERS_CACHE_KEY, lambda: {partner.pk: partner for partner in Partner.objects.all()}, 300)


def partner_for_key(api_key) -> Partner | None:
    """The partner an API key belongs to (its ``owner`` label, ``partner:<id>``), None for the operator's keys.

    A key labelled for a partner that no longer exists, or with a label members does not know, is refused
    (:class:`PartnerInactive`) rather than treated as the operator's: it must never see more than it was meant to.
    """
    owner = getattr(api_key, "owner", "") or ""
    if not owner:
        return None
    partner_id = owner.removeprefix(PARTNER_OWNER_PREFIX)
    partner = partners_by_id().get(int(partner_id)) if partner_id.isdigit() and owner != partner_id else None
    if partner is None:
        raise PartnerInactive()
    return partner


def partner_owner_choices() -> list[tuple[str, str]]:
    """``(owner label, name)`` of every partner, offered by the API key form (``integrations.registry``)."""
    return [(partner.owner_label, partner.name) for partner in sorted(partners_by_id().values(), key=str)]


def partners_public() -> list[Partner]:
    """Active partners with their active stores and rules, for "Where to earn and spend" (three queries)."""
    stores = Prefetch("stores", queryset=PartnerStore.objects.filter(is_active=True))
    rules = Prefetch("earning_rules", queryset=EarningRule.objects.filter(is_active=True).order_by("priority", "id"))
    return list(Partner.objects.filter(status=Partner.Status.ACTIVE).prefetch_related(stores, rules))


def partner_get(*, slug: str) -> Partner | None:
    return Partner.objects.filter(slug=slug).first()


def partner_rates(partner_ids) -> dict[int, list[PartnerRate]]:
    """Each partner's rate history, oldest first (one query)."""
    rates: dict[int, list[PartnerRate]] = {partner_id: [] for partner_id in partner_ids}
    for rate in PartnerRate.objects.filter(partner_id__in=list(partner_ids)).order_by("effective_from", "id"):
        rates[rate.partner_id].append(rate)
    return rates


def rate_in_force(rates: list[PartnerRate], when: datetime) -> PartnerRate | None:
    """The row of ``rates`` (oldest first) in force at ``when``: the last one effective at or before it."""
    current = None
    for rate in rates:
        if rate.effective_from > when:
            break
        current = rate
    return current


@dataclass(frozen=True)
class ProgramTerms:
    """What the terms page states, read from the rules the engine really applies (no queries: all cached)."""

    program: ProgramSettings
    #: The rules that award or scale points, in the order the engine runs them; the program's base rate appears
    #: as an unsaved spend rule (no pk) when no base rule is active.
    earning_rules: list[EarningRule]
    #: Categories that earn nothing, in the staff's wording of the category (underscores as spaces).
    excluded_categories: list[str]
    tiers: list[Tier]

    @property
    def uses_base_rate(self) -> bool:
        return any(rule.pk is None for rule in self.earning_rules)

    @property
    def has_tier_multipliers(self) -> bool:
        return any(tier.earn_multiplier != 1 for tier in self.tiers)


def program_terms() -> ProgramTerms:
    """The program's real rules for the terms page: what earns, what is excluded, expiry, tiers."""
    program = program_settings_get()
    strategies = strategies_in_order(program=program, rules=earning_rules_active())
    excluded = [s.rule.category_label for s in strategies if s.rule.kind == EarningRule.Kind.EXCLUDE_CATEGORY]
    return ProgramTerms(
        program=program,
        earning_rules=[s.rule for s in strategies if s.rule.kind != EarningRule.Kind.EXCLUDE_CATEGORY],
        excluded_categories=list(dict.fromkeys(excluded)),
        tiers=tiers_list(),
    )


def member_export(member: Member) -> dict:
    """Everything held about ``member``, as JSON-ready data (the GDPR access right).

    A fixed number of queries: one per table, with purchase lines prefetched. Apps that hold more about a
    member add it through ``members.hooks.export_providers`` (``provider(member) -> dict``), merged in.
    """
    member = Member.objects.select_related("account", "tier", "user").get(pk=member.pk)
    data = {
        "exported_at": timezone.now(),
        "profile": _export_profile(member),
        "account": _export_account(member.account),
        "ledger": _export_ledger(member),
        "lots": _export_lots(member),
        "purchases": _export_purchases(member),
        "point_payments": _export_point_payments(member),
        "tier_history": _export_tier_history(member),
        "qualifying_activity": _export_qualifying_activity(member),
        **_export_actions_and_feedback(member),
    }
    for provider in hooks.export_providers:
        data.update(provider(member))
    return data


def _export_profile(member: Member) -> dict:
    user = member.user
    return {
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "member_number": member.member_number,
        "card_number": member.card_number,
        "status": member.status,
        "birthday": member.birthday,
        "phone": member.phone,
        "marketing_consent": member.marketing_consent,
        "email_notifications": member.email_notifications,
        "enrolled_at": member.enrolled_at,
        "enrollment_channel": member.enrollment_channel,
        "last_purchase_at": member.last_purchase_at,
        "closed_at": member.closed_at,
        "tier": getattr(member.tier, "name", None),
        "tier_achieved_at": member.tier_achieved_at,
        "tier_review_at": member.tier_review_at,
    }


def _export_account(account: PointsAccount) -> dict:
    return {
        "balance": account.balance,
        "pending": account.pending,
        "owed": account.owed,
        "lifetime_earned": account.lifetime_earned,
        "lifetime_spent": account.lifetime_spent,
    }


def _export_ledger(member: Member) -> list[dict]:
    return list(
        LedgerEntry.objects.filter(account_id=member.pk)
        .order_by("created_at", "id")
        .values(
            "id",
            "created_at",
            "kind",
            "points",
            "pending_delta",
            "owed_delta",
            "balance_after",
            "description",
            "purchase_id",
            "reversal_of_id",
        )
    )


def _export_lots(member: Member) -> list[dict]:
    return list(
        PointsLot.objects.filter(account_id=member.pk)
        .order_by("created_at", "id")
        .values(
            "id",
            "entry_id",
            "amount",
            "remaining",
            "expired",
            "is_pending",
            "available_at",
            "expires_at",
            "created_at",
        )
    )


def _export_point_payments(member: Member) -> list[dict]:
    payments = PointPayment.objects.filter(member_id=member.pk).select_related("purchase").order_by("id")
    return [
        {
            "external_id": payment.external_id,
            "source": payment.source,
            "points": payment.points,
            "amount": payment.amount,
            "currency": payment.currency,
            "status": payment.status,
            "purchase_external_id": payment.purchase.external_id if payment.purchase else payment.purchase_external_id,
            "created_at": payment.created_at,
            "cancelled_at": payment.cancelled_at,
        }
        for payment in payments
    ]


def _export_purchases(member: Member) -> list[dict]:
    """Purchases with their lines and refunds (three queries: the lines and refunds are prefetched)."""
    purchases = Purchase.objects.filter(member_id=member.pk).prefetch_related("lines", "refunds").order_by("id")
    return [
        {
            "id": purchase.pk,
            "external_id": purchase.external_id,
            "source": purchase.source,
            "channel": purchase.channel,
            "store": purchase.store,
            "occurred_at": purchase.occurred_at,
            "currency": purchase.currency,
            "total": purchase.total,
            "points_earned": purchase.points_earned,
            "points_bonus": purchase.points_bonus,
            "refunded_total": purchase.refunded_total,
            "points_clawed_back": purchase.points_clawed_back,
            "discount_total": purchase.discount_total,
            "points_paid": purchase.points_paid,
            "points_paid_amount": purchase.points_paid_amount,
            "points_returned": purchase.points_returned,
            "lines": [
                {
                    "line_number": line.line_number,
                    "sku": line.sku,
                    "category": line.category,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "discount": line.discount,
                    "points": line.points,
                    "refunded_quantity": line.refunded_quantity,
                }
                for line in purchase.lines.all()
            ],
            "refunds": [
                {
                    "refund_id": refund.refund_id,
                    "amount": refund.amount,
                    "points_clawed_back": refund.points_clawed_back,
                    "created_at": refund.created_at,
                }
                for refund in purchase.refunds.all()
            ],
        }
        for purchase in purchases
    ]


def _export_tier_history(member: Member) -> list[dict]:
    return [
        {
            "created_at": row.created_at,
            "from": getattr(row.from_tier, "name", None),
            "to": getattr(row.to_tier, "name", None),
            "reason": row.reason,
            "qualifying_value": row.qualifying_value,
        }
        for row in TierHistory.objects.filter(member_id=member.pk)
        .select_related("from_tier", "to_tier")
        .order_by("created_at", "id")
    ]


def _export_qualifying_activity(member: Member) -> list[dict]:
    return list(
        QualifyingActivity.objects.filter(member_id=member.pk)
        .order_by("month")
        .values("month", "points", "spend", "purchases")
    )


def _member_with_account():
    return Member.objects.select_related("user", "tier", "account")


def _member_for_till():
    """The member as the till's requests load it: with user, tier and account, and whether they ever had a paid
    membership (``has_subscriptions``), so that most members' purchases and reads ask nothing more about one; plus
    what other apps read with it (``hooks.till_member_annotations``)."""
    # The subscriptions' model through Member's reverse relation: members.subscriptions imports these selectors.
    subscription = Member._meta.get_field("subscriptions").related_model
    others = {name: expression for provider in hooks.till_member_annotations for name, expression in provider().items()}
    return _member_with_account().annotate(
        has_subscriptions=Exists(subscription.objects.filter(member_id=OuterRef("pk"))), **others
    )


# The till's look-ups, compiled once per connection (members.compiled): every purchase and member read starts here.
_member_by_number = CompiledQuery(lambda number: _member_for_till().filter(member_number=number), str)
_member_by_card = CompiledQuery(lambda card: _member_for_till().filter(card_number=card), str)
#: Every member page starts with this one.
_member_by_user = CompiledQuery(lambda user_id: _member_for_till().filter(user_id=user_id), int)


def member_get(*, member_number: str) -> Member | None:
    return _member_by_number.first(member_number)


def member_with_expiring_get(*, member_number: str) -> Member | None:
    """:func:`member_get`, with the points that expire within ``EXPIRY_SOON_DAYS`` from now (their sum and the
    first expiry) read in the same statement: :func:`member_summary` then needs no query of its own."""
    return _member_with_expiring.first(member_number, _expiring_soon_until(timezone.now()))


def _expiring_soon_until(now: datetime) -> datetime:
    return now + timedelta(days=EXPIRY_SOON_DAYS)


def _lots_expiring_by(account_id, until: datetime):
    """The account's spendable lots that expire by ``until``, grouped by account (``account_id`` may be an
    ``OuterRef``): what ``member_summary`` calls expiring soon, read alone or with the member."""
    return PointsLot.objects.filter(
        account_id=account_id, remaining__gt=0, is_pending=False, expires_at__isnull=False, expires_at__lte=until
    ).values("account_id")


def _with_expiring(members, until: datetime):
    return members.annotate(
        expiring_soon_points=Subquery(
            _lots_expiring_by(OuterRef("pk"), until).annotate(points=Sum("remaining")).values("points")
        ),
        expiring_soon_first=Subquery(
            _lots_expiring_by(OuterRef("pk"), until).annotate(first=Min("expires_at")).values("first")
        ),
    )


_member_with_expiring = CompiledQuery(
    lambda number, until: _with_expiring(_member_for_till().filter(member_number=number), until), str, datetime
)
_member_by_user_with_expiring = CompiledQuery(
    lambda user_id, until: _with_expiring(_member_for_till().filter(user_id=user_id), until), int, datetime
)


def member_find(*, identifier: str) -> Member | None:
    """A member by member number, card number or email address (what a till scans, an e-shop knows or staff type).

    The one look-up of a single identifier: the API and the staff console's member search call it (imports and
    segment lists resolve thousands at once, in set-based queries of their own).
    """
    identifier = identifier.strip()
    if "@" in identifier:
        return _member_with_account().filter(user__email__iexact=identifier).first()
    if identifier[:1].upper() == "M":
        return _member_by_number.first(identifier.upper())
    return _member_by_card.first(identifier.replace(" ", ""))


# --- Earning actions -------------------------------------------------------------------------------------------


@dataclass
class WayToEarn:
    """An active action as a member (or a visitor) sees it, with what is left of its limits for the member."""

    action: EarningAction
    limits: list = None  # action_rules.LimitLeft, shortest period first
    tier_ok: bool = True

    @property
    def remaining(self) -> int | None:
        return limit_remaining(self.limits or [])

    @property
    def exhausted(self) -> bool:
        return self.remaining == 0


def earning_actions_active(*, now: datetime | None = None) -> list[EarningAction]:
    """Actions members can earn with now (active, inside their window), in display order (one query)."""
    now = now or timezone.now()
    return list(
        EarningAction.objects.filter(is_active=True)
        .filter(Q(active_from__isnull=True) | Q(active_from__lte=now))
        .filter(Q(active_until__isnull=True) | Q(active_until__gt=now))
        .select_related("min_tier")
        .order_by("sort_order", "name")
    )


def ways_to_earn(member: Member | None = None, *, now: datetime | None = None) -> list[WayToEarn]:
    """Every active action, and for a member what is left of each limit this day/week/month/year and in total.

    Two queries for a member whatever the number of actions (the actions; the member's units per action and
    period in one grouped aggregate), one for a visitor.
    """
    now = now or timezone.now()
    actions = earning_actions_active(now=now)
    if member is None:
        return [WayToEarn(action=action, limits=limits_left(action, {})) for action in actions]
    used_by_action = {
        row.pop("action_id"): {key.removeprefix("used_"): value for key, value in row.items()}
        for row in ActionOccurrence.objects.filter(member_id=member.pk, action_id__in=[a.pk for a in actions])
        .values("action_id")
        .annotate(**usage_aggregates(now))
        .order_by()
    }
    rank = member.tier.rank if member.tier_id and member.tier else None
    return [
        WayToEarn(
            action=action,
            limits=limits_left(action, used_by_action.get(action.pk, {})),
            tier_ok=action.min_tier_id is None or (rank is not None and rank >= action.min_tier.rank),
        )
        for action in actions
    ]


def member_action_occurrences(member: Member, *, limit: int = 10) -> list[ActionOccurrence]:
    return list(
        ActionOccurrence.objects.filter(member_id=member.pk).select_related("action").order_by("-created_at")[:limit]
    )


def _export_actions_and_feedback(member: Member) -> dict:
    """The member's action occurrences and feedback answers, for the data export (two queries)."""
    occurrences = ActionOccurrence.objects.filter(member_id=member.pk).select_related("action").order_by("pk")
    answers = FeedbackResponse.objects.filter(member_id=member.pk).select_related("purchase").order_by("pk")
    return {
        "actions": [
            {
                "action": occurrence.action.code,
                "status": occurrence.status,
                "quantity": occurrence.quantity,
                "points": occurrence.points,
                "occurred_at": occurrence.occurred_at,
                "reference": occurrence.reference,
                "metadata": occurrence.metadata,
                "review_reason": occurrence.review_reason,
            }
            for occurrence in occurrences
        ],
        "feedback": [
            {
                "score": answer.score,
                "comment": answer.comment,
                "answered_at": answer.answered_at,
                "store": answer.store,
                "channel": answer.channel,
                "purchase": answer.purchase.external_id if answer.purchase else None,
            }
            for answer in answers
        ],
    }


#: Points burned at a partner's till (paid with, and given back when the payment is voided or refunded).
PARTNER_BURN_KINDS = (LedgerEntry.Kind.PAYMENT, LedgerEntry.Kind.PAYMENT_RETURN)


@dataclass(frozen=True)
class PartnerMove:
    """A ledger entry at a partner, as settlement reads it: ``points`` is the whole movement, signed (a clawback
    counts what it took back and what it left owed); ``priced_at`` is the moment whose rate values it: its own for
    points issued and paid with, the issue of its purchase's points for a clawback (the partner gets back what it
    paid for them), the payment's for points paid with and given back (a void or a refund)."""

    entry_id: int
    partner_id: int
    kind: str
    points: int
    created_at: datetime
    priced_at: datetime


def partner_ledger_moves(
    *, partner_ids, start_at: datetime | None, end_at: datetime, exclude_entry_ids=None
) -> list[PartnerMove]:
    """Ledger entries at these partners created in ``[start_at, end_at)`` (``start_at`` None: since the
    beginning), leaving out ``exclude_entry_ids`` (a subquery of ids already settled). One query."""
    entries = LedgerEntry.objects.filter(
        partner_id__in=list(partner_ids),
        created_at__lt=end_at,
        kind__in=[*LEDGER_EARNING_KINDS, *PARTNER_BURN_KINDS, LedgerEntry.Kind.CLAWBACK],
    )
    if start_at is not None:
        entries = entries.filter(created_at__gte=start_at)
    if exclude_entry_ids is not None:
        entries = entries.exclude(pk__in=exclude_entry_ids)
    # A clawback is priced when its purchase's points were issued: the purchase's first earning entry.
    issued_at = (
        LedgerEntry.objects.filter(purchase_id=OuterRef("purchase_id"), kind__in=LEDGER_EARNING_KINDS)
        .order_by("created_at", "pk")
        .values("created_at")[:1]
    )
    paid_at = Coalesce(
        Subquery(PointPayment.objects.filter(pk=OuterRef("source_id")).values("created_at")[:1]),
        Subquery(
            PointPayment.objects.filter(purchase_id=OuterRef("purchase_id"))
            .order_by("created_at")
            .values("created_at")[:1]
        ),
    )
    rows = (
        entries.annotate(
            issued_at=Case(When(kind=LedgerEntry.Kind.CLAWBACK, then=Subquery(issued_at))),
            paid_at=Case(When(kind=LedgerEntry.Kind.PAYMENT_RETURN, then=paid_at)),
        )
        .order_by("created_at", "pk")
        .values_list(
            "pk", "partner_id", "kind", "points", "pending_delta", "owed_delta", "created_at", "issued_at", "paid_at"
        )
    )
    return [
        PartnerMove(
            entry_id=pk,
            partner_id=partner_id,
            kind=kind,
            points=points + pending - owed,
            created_at=created_at,
            priced_at=issued or paid or created_at,
        )
        for pk, partner_id, kind, points, pending, owed, created_at, issued, paid in rows
    ]


def issued_points_by_partner(*, start_at: datetime, end_at: datetime) -> dict[int | None, int]:
    """Points issued (earning kinds: spendable plus pending, as the liability report counts them) in the range,
    by the partner where they were issued (None: the operator). One query."""
    rows = (
        LedgerEntry.objects.filter(created_at__gte=start_at, created_at__lt=end_at, kind__in=LEDGER_EARNING_KINDS)
        .values("partner_id")
        .annotate(total=Sum(F("points") + F("pending_delta")))
        .order_by()
    )
    return {row["partner_id"]: int(row["total"] or 0) for row in rows}


def partner_first_move_at(*, partner_id: int) -> datetime | None:
    """When points first moved at the partner (one indexed query)."""
    return (
        LedgerEntry.objects.filter(partner_id=partner_id)
        .order_by("created_at")
        .values_list("created_at", flat=True)
        .first()
    )
