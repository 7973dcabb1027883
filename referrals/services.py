"""Every write of the referrals app: codes, attaching a referral at sign-up, paying it, clawing it back, review.

Locking. A referral that moves points locks both points accounts together, in ascending member id, through
``members.services.ledger.accounts_lock`` (the ledger's lock order, shared with transfers, campaign bonuses and
the expiry and release jobs), then the referral row (``SELECT … FOR UPDATE``). The ``purchase_recorded`` /
``purchase_refunded`` hooks run inside ``purchase_record`` / ``purchase_refund``, which lock the friend's
account before the hook runs; the friend usually has the higher id (they signed up later), so the referrer's
account must not be asked for only then. :func:`purchase_co_locks` / :func:`refund_co_locks` name the referrer
to those services, which lock both accounts in the one ascending-id statement, and :func:`_lock` then re-takes
locks already held. Two purchases by the same friend arriving at once therefore serialise on the accounts; the
second finds the referral already qualified and pays nothing. On top of that every ledger entry has an
idempotency key derived from the referral (``referral:<id>:referrer``, ``referral:<id>:friend``,
``…:clawback``), so a retried or duplicated event can never pay twice.

Catalogue rewards. When the program names a ``referrer_reward`` / ``friend_reward``, qualifying also gives it
through ``rewards.services.reward_grant`` (keys ``referral:<id>:referrer:reward`` / ``referral:<id>:friend:reward``),
after the points and inside the same transaction; the rewards module then locks the reward row, which keeps
its lock order (account first). A refused gift (out of stock, switched off) does not stop the referral
qualifying: it is recorded as a ``NOTED`` event. A clawback cancels a gift voucher still unused (stock comes
back, no points move); a voucher already used or expired, or a partner code, is kept and the event says so.
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Count, OuterRef, Q, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from members import audit, hooks
from members.compiled import CompiledQuery
from members.exceptions import LoyaltyError
from members.models import LedgerEntry, Member, PointsAccount, Purchase
from members.selectors import program_settings_get
from members.services.ledger import accounts_lock, ledger_post
from rewards.selectors import gift_vouchers_completed
from rewards.services import reward_grant, voucher_cancel

from .exceptions import (
    AlreadyReferred,
    ReasonRequired,
    ReferralCodeInvalid,
    ReferralError,
    ReferralNotReviewable,
    SelfReferral,
)
from .models import DisposableEmailDomain, Referral, ReferralCode, ReferralEvent, ReferralProgram
from .rules import (
    Check,
    check_caps,
    check_disposable_email,
    check_self_referral,
    check_velocity,
    code_normalise,
    strictest,
)
from .selectors import email_domain_is_disposable, referral_program_get

logger = logging.getLogger(__name__)

State = Referral.State
Rule = ReferralEvent.Rule
Outcome = ReferralEvent.Outcome
Kind = LedgerEntry.Kind

#: Upper-case letters and digits without look-alikes (0/O, 1/I/L), so a code read aloud or from paper works.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8
OPEN_STATES = (State.PENDING, State.HELD)


# --- codes ------------------------------------------------------------------------------------------------------


def _new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def referral_code_get_or_create(*, member: Member) -> ReferralCode:
    """The member's referral code, created on first use. Safe to call concurrently for the same member."""
    existing = ReferralCode.objects.filter(member=member).first()
    if existing is not None:
        return existing
    for _attempt in range(5):
        try:
            with transaction.atomic():
                return ReferralCode.objects.create(member=member, code=_new_code())
        except IntegrityError:
            # Either a concurrent request created this member's code, or the random code collided.
            existing = ReferralCode.objects.filter(member=member).first()
            if existing is not None:
                return existing
    raise RuntimeError("Could not allocate a referral code.")  # pragma: no cover - 31^8 codes


# --- attaching at sign-up -----------------------------------------------------------------------------------------


def _month_start(now: datetime) -> datetime:
    return timezone.localtime(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _cap_checks(*, program: ReferralProgram, referrer_id: int, now: datetime) -> list[Check]:
    counts = Referral.objects.filter(referrer_id=referrer_id, state=State.QUALIFIED).aggregate(
        total=Count("id"), month=Count("id", filter=Q(qualified_at__gte=_month_start(now)))
    )
    return check_caps(program=program, qualified_this_month=counts["month"], qualified_total=counts["total"])


def _record(referral: Referral, checks: list[Check], *, now: datetime, actor=None) -> None:
    ReferralEvent.objects.bulk_create(
        [
            ReferralEvent(
                referral=referral,
                rule=check.rule,
                outcome=check.outcome,
                reason=check.reason,
                actor=actor,
                created_at=now,
            )
            for check in checks
        ]
    )


@transaction.atomic
def referral_attach(
    *, friend: Member, code: str, request_meta: dict | None = None, now: datetime | None = None
) -> Referral:
    """Attach a new member (``friend``) to the member whose ``code`` they signed up with.

    Runs the enabled fraud rules and records each outcome as a :class:`ReferralEvent`: self-referral (same
    normalised email, card number or phone) and disposable email domains reject; a burst of sign-ups on one
    code within an hour holds for review; a referrer at a cap is held or rejected (``cap_action``). The
    referral row is created whatever the outcome, so the reason stays on record.

    ``request_meta`` may carry ``ip``, and from a till ``card_number`` / ``phone`` the friend presented.
    Idempotent: attaching the same friend with the same code again returns the first referral. Raises
    :class:`ReferralCodeInvalid`, :class:`SelfReferral` (the code is the friend's own) or
    :class:`AlreadyReferred`.
    """
    now = now or timezone.now()
    meta = request_meta or {}
    program = referral_program_get()
    normalised = code_normalise(code)
    if not normalised:
        raise ReferralCodeInvalid()
    # Locking the code serialises sign-ups on it, so the velocity count and caps cannot be raced past.
    code_row = (
        ReferralCode.objects.select_for_update(of=("self",))
        .select_related("member__user")
        .filter(code=normalised)
        .first()
    )
    if code_row is None or code_row.member.status != Member.Status.ACTIVE:
        raise ReferralCodeInvalid()
    referrer = code_row.member
    if referrer.pk == friend.pk:
        raise SelfReferral()
    existing = Referral.objects.filter(friend=friend).first()
    if existing is not None:
        if existing.code_id == code_row.pk:
            return existing
        raise AlreadyReferred()
    if not program.is_enabled:
        raise ReferralError(_("The referral program is not accepting new referrals."), field="referral_code")

    checks: list[Check] = []
    friend_email = friend.user.email
    if program.check_self_referral:
        checks.append(
            check_self_referral(
                referrer_email=referrer.user.email,
                friend_email=friend_email,
                referrer_card=referrer.card_number,
                friend_cards={friend.card_number, meta.get("card_number") or ""},
                referrer_phone=referrer.phone,
                friend_phones={friend.phone, meta.get("phone") or ""},
            )
        )
    if program.check_disposable_email:
        checks.append(
            check_disposable_email(friend_email=friend_email, is_disposable=email_domain_is_disposable(friend_email))
        )
    if program.check_velocity:
        recent = Referral.objects.filter(code=code_row, created_at__gt=now - timedelta(hours=1)).count()
        checks.append(check_velocity(signups_last_hour=recent, limit=program.velocity_max_per_hour))
    if program.check_caps:
        checks.extend(_cap_checks(program=program, referrer_id=referrer.pk, now=now))

    decisive = strictest(checks)
    state = State.PENDING
    if decisive is not None:
        state = State.REJECTED if decisive.outcome == Outcome.REJECTED else State.HELD
    try:
        with transaction.atomic():
            referral = Referral.objects.create(
                referrer=referrer,
                friend=friend,
                code=code_row,
                state=state,
                reason=decisive.reason if decisive else "",
                signup_ip=meta.get("ip") or None,
                created_at=now,
            )
    except IntegrityError:
        # A concurrent attach for the same friend won.
        raise AlreadyReferred() from None
    _record(referral, checks, now=now)
    return referral


# --- qualifying and paying ----------------------------------------------------------------------------------------


def _lock(referral: Referral) -> tuple[Referral, PointsAccount, PointsAccount]:
    """Take the referral's locks and return the fresh row and both accounts (friend's, referrer's).

    Both accounts in one :func:`~members.services.ledger.accounts_lock` (ascending member id), then the referral
    row. Locking precondition: the transaction holds no account lock other than these two (inside
    ``purchase_record`` / ``purchase_refund`` it already holds both, see :func:`purchase_co_locks`).
    """
    accounts = accounts_lock(member_ids=[referral.friend_id, referral.referrer_id])
    friend_account, referrer_account = accounts[referral.friend_id], accounts[referral.referrer_id]
    locked = (
        Referral.objects.select_for_update(of=("self",))
        .select_related("friend", "referrer", "code")
        .get(pk=referral.pk)
    )
    return locked, friend_account, referrer_account


def _purchase_problem(*, referral: Referral, purchase: Purchase, program: ReferralProgram) -> str:
    """Why ``purchase`` does not qualify the referral ('' if it does): too late, or too small after refunds."""
    deadline = referral.friend.enrolled_at + timedelta(days=program.qualify_within_days)
    if purchase.occurred_at > deadline:
        return "late"
    if purchase.total - purchase.refunded_total < program.min_purchase_amount:
        return "small"
    return ""


def _event(referral: Referral, rule: str, outcome: str, reason: str, *, now: datetime, actor=None) -> None:
    ReferralEvent.objects.create(
        referral=referral, rule=rule, outcome=outcome, reason=reason[:255], actor=actor, created_at=now
    )


def _pay(
    *,
    referral: Referral,
    purchase: Purchase,
    friend_account: PointsAccount,
    referrer_account: PointsAccount,
    program: ReferralProgram,
    now: datetime,
    actor=None,
) -> None:
    """Credit both sides, mark the referral qualified and emit ``referral.qualified``.

    Precondition: the locks of :func:`_lock` are held (both accounts, taken together in ascending id, then the
    referral row), so this runs once per referral, inside that transaction, and posts without locking anything
    new but the gift rewards' rows (accounts first, as ``rewards.services`` requires).
    """
    referrer_active = referral.referrer.status == Member.Status.ACTIVE
    # A closed membership earns nothing; the friend is still rewarded.
    referrer_points = program.referrer_points if referrer_active else 0
    _pay_points(
        referral=referral,
        friend_account=friend_account,
        referrer_account=referrer_account,
        referrer_points=referrer_points,
        friend_points=program.friend_points,
        now=now,
        actor=actor,
    )
    gifts = []
    if program.referrer_reward_id is not None and referrer_active:
        gifts.append(("referrer", referral.referrer, program.referrer_reward))
    if program.friend_reward_id is not None:
        gifts.append(("friend", referral.friend, program.friend_reward))
    _give_gifts(referral=referral, gifts=gifts, now=now, actor=actor)
    _mark_qualified(
        referral=referral,
        purchase=purchase,
        referrer_points=referrer_points,
        friend_points=program.friend_points,
        now=now,
        actor=actor,
    )
    hooks.emit("referral.qualified", _qualified_payload(referral=referral, purchase=purchase, actor=actor, now=now))


def _pay_points(*, referral, friend_account, referrer_account, referrer_points: int, friend_points: int, now, actor):
    """The two ledger credits, each idempotent on the referral."""
    if referrer_points:
        ledger_post(
            account=referrer_account,
            kind=Kind.REFERRAL,
            points=referrer_points,
            idempotency_key=f"referral:{referral.pk}:referrer",
            # The friend by first name, as the referrals page shows them (never their member number).
            description=_("Referral bonus: %(friend)s made a first purchase")
            % {"friend": referral.friend.user.first_name or _("your friend")},
            source=referral,
            actor=actor,
            now=now,
        )
    if friend_points:
        ledger_post(
            account=friend_account,
            kind=Kind.REFERRAL,
            points=friend_points,
            idempotency_key=f"referral:{referral.pk}:friend",
            description=_("Welcome bonus for joining through a friend"),
            source=referral,
            actor=actor,
            now=now,
        )


def _give_gifts(*, referral: Referral, gifts: list, now: datetime, actor) -> None:
    """Grant the program's reward to each ``(side, member, reward)``; a reward that cannot be given (out of stock,
    inactive) is noted on the referral and does not stop the payout."""
    for side, member, reward in gifts:
        try:
            reward_grant(
                member=member,
                reward=reward,
                idempotency_key=f"referral:{referral.pk}:{side}:reward",
                reason=_("Referral reward"),
                source=referral,
                actor=actor,
                now=now,
            )
        except LoyaltyError as error:
            _event(
                referral,
                Rule.QUALIFICATION,
                Outcome.NOTED,
                _("The %(side)s's reward could not be given: %(error)s") % {"side": side, "error": error.message},
                now=now,
                actor=actor,
            )


def _mark_qualified(*, referral: Referral, purchase: Purchase, referrer_points: int, friend_points: int, now, actor):
    referral.state = State.QUALIFIED
    referral.qualifying_purchase = purchase
    referral.qualified_at = now
    referral.referrer_points = referrer_points
    referral.friend_points = friend_points
    referral.reason = ""
    referral.save(
        update_fields=[
            "state",
            "qualifying_purchase",
            "qualified_at",
            "referrer_points",
            "friend_points",
            "reason",
            "updated_at",
        ]
    )
    _event(
        referral,
        Rule.QUALIFICATION,
        Outcome.QUALIFIED,
        _("Purchase %(id)s of %(total)s %(currency)s: %(referrer)s points to the referrer, %(friend)s to the friend.")
        % {
            "id": purchase.external_id,
            "total": purchase.total,
            "currency": purchase.currency,
            "referrer": referrer_points,
            "friend": friend_points,
        },
        now=now,
        actor=actor,
    )


def _qualified_payload(*, referral: Referral, purchase: Purchase, actor, now: datetime) -> dict:
    """``referral.qualified``, from the referral as just saved."""
    return {
        # The referral belongs to the referrer (their code); the friend is named beside them.
        "member_number": referral.referrer.member_number,
        "referral_id": referral.pk,
        "code": referral.code.code,
        "friend_member_number": referral.friend.member_number,
        "referrer_points": referral.referrer_points,
        "friend_points": referral.friend_points,
        "purchase_external_id": purchase.external_id,
        "purchase_total": str(purchase.total),
        "currency": purchase.currency,
        "approved_by_staff": actor is not None,
        "qualified_at": referral.qualified_at.isoformat(),
    }


def _set_state(referral: Referral, state: str, reason: str, **fields) -> None:
    referral.state = state
    referral.reason = reason[:255]
    for name, value in fields.items():
        setattr(referral, name, value)
    referral.save(update_fields=["state", "reason", "updated_at", *fields])


def referral_qualify(*, referral: Referral, purchase: Purchase, now: datetime | None = None) -> Referral:
    """Reward both sides when ``purchase`` is the friend's first qualifying purchase.

    Qualifying: at least ``min_purchase_amount`` (after refunds) and within ``qualify_within_days`` of joining.
    A purchase after the window expires the referral; a smaller one changes nothing. A held referral only
    remembers the purchase, for staff approval to pay. Over a cap (counted under the referrer's account
    lock, so concurrent qualifications cannot overshoot it) the referral is held or rejected instead.

    Pays once: the referral row is locked and re-read, so a second (concurrent, retried or duplicated) call
    finds it qualified and returns it unchanged; the ledger keys derived from the referral make doubly sure.
    """
    now = now or timezone.now()
    with transaction.atomic():
        referral, friend_account, referrer_account = _lock(referral)
        if referral.state not in OPEN_STATES:
            return referral
        if purchase.member_id != referral.friend_id:
            raise ReferralError(_("Only the friend's own purchases can qualify a referral."))
        program = referral_program_get()
        problem = _purchase_problem(referral=referral, purchase=purchase, program=program)
        if problem == "late":
            if referral.qualifying_purchase_id is None:
                reason = _("No qualifying purchase within %(days)s days of joining.") % {
                    "days": program.qualify_within_days
                }
                _set_state(referral, State.EXPIRED, reason)
                _event(referral, Rule.EXPIRY, Outcome.EXPIRED, reason, now=now)
            return referral
        if problem:
            return referral
        if referral.state == State.HELD:
            if referral.qualifying_purchase_id is None:
                referral.qualifying_purchase = purchase
                referral.save(update_fields=["qualifying_purchase", "updated_at"])
                _event(
                    referral,
                    Rule.QUALIFICATION,
                    Outcome.NOTED,
                    _("Qualifying purchase %(id)s while held; approving the referral pays it.")
                    % {"id": purchase.external_id},
                    now=now,
                )
            return referral
        if program.check_caps:
            checks = _cap_checks(program=program, referrer_id=referral.referrer_id, now=now)
            decisive = strictest(checks)
            if decisive is not None:
                state = State.REJECTED if decisive.outcome == Outcome.REJECTED else State.HELD
                _set_state(referral, state, decisive.reason, qualifying_purchase=purchase)
                _record(referral, [check for check in checks if check.outcome != Outcome.PASSED], now=now)
                return referral
        _pay(
            referral=referral,
            purchase=purchase,
            friend_account=friend_account,
            referrer_account=referrer_account,
            program=program,
            now=now,
        )
        return referral


# --- refunds ------------------------------------------------------------------------------------------------------


def referral_claw_back(*, referral: Referral, reason: str, actor=None, now: datetime | None = None) -> Referral:
    """Take back both sides' referral bonuses (a qualified referral only; again: returns it unchanged).

    Each bonus is reversed by a CLAWBACK entry pointing at it; points already spent are recorded as owed and
    netted against future earnings, so no balance goes below zero.
    """
    now = now or timezone.now()
    with transaction.atomic():
        referral, friend_account, referrer_account = _lock(referral)
        if referral.state != State.QUALIFIED:
            return referral
        accounts = {"referrer": referrer_account, "friend": friend_account}
        originals = LedgerEntry.objects.filter(
            idempotency_key__in=[f"referral:{referral.pk}:{side}" for side in accounts]
        ).select_related("reversed_by")
        for original in originals:
            if getattr(original, "reversed_by", None) is not None:
                continue  # staff already reversed this bonus by hand
            side = original.idempotency_key.rsplit(":", 1)[1]
            ledger_post(
                account=accounts[side],
                kind=Kind.CLAWBACK,
                points=-original.points,
                idempotency_key=f"{original.idempotency_key}:clawback",
                description=reason,
                source=referral,
                actor=actor,
                reversal_of=original,
                allow_shortfall=True,
                now=now,
            )
        kept = _gift_vouchers_cancel(referral=referral, actor=actor, now=now)
        _set_state(referral, State.CLAWED_BACK, reason)
        _event(referral, Rule.REFUND, Outcome.CLAWED_BACK, reason, now=now, actor=actor)
        for note in kept:
            _event(referral, Rule.REFUND, Outcome.KEPT, note, now=now, actor=actor)
        return referral


def _gift_vouchers_cancel(*, referral: Referral, actor, now: datetime) -> list[str]:
    """Cancel the referral's gift vouchers still unused; returns a note for each gift that had to be kept.

    Precondition: the locks of :func:`_lock` are held (``voucher_cancel`` re-takes the member's account lock).
    """
    kept = []
    keys = [f"referral:{referral.pk}:{side}:reward" for side in ("referrer", "friend")]
    for gift, voucher in gift_vouchers_completed(idempotency_keys=keys):
        if voucher is None:
            kept.append(_("Reward %(reward)s kept: a partner code cannot be taken back.") % {"reward": gift.reward})
            continue
        try:
            voucher_cancel(voucher=voucher, actor=actor, now=now)
        except LoyaltyError as error:
            kept.append(_("Voucher %(code)s kept: %(error)s") % {"code": voucher.code, "error": error.message})
    return kept


def referral_refund_handle(*, referral: Referral, purchase: Purchase, now: datetime | None = None) -> Referral:
    """React to a refund on a referral's qualifying purchase.

    Within the program's return window (``ProgramSettings.pending_days`` after the purchase), if what is left of
    the purchase is below the qualifying minimum, both bonuses are clawed back. After the window, or when the
    purchase still qualifies, the bonuses are kept and the decision is recorded.
    """
    now = now or timezone.now()
    if referral.state != State.QUALIFIED:
        return referral
    window_end = purchase.occurred_at + timedelta(days=program_settings_get().pending_days)
    program = referral_program_get()
    if purchase.total - purchase.refunded_total >= program.min_purchase_amount:
        _event(referral, Rule.REFUND, Outcome.KEPT, _("Partial refund; the purchase still qualifies."), now=now)
        return referral
    if now > window_end:
        _event(
            referral,
            Rule.REFUND,
            Outcome.KEPT,
            _("Refunded after the return window closed on %(date)s; bonuses kept.")
            % {"date": timezone.localtime(window_end).date().isoformat()},
            now=now,
        )
        return referral
    return referral_claw_back(
        referral=referral,
        reason=_("Qualifying purchase %(id)s refunded within the return window.") % {"id": purchase.external_id},
        now=now,
    )


# --- staff review -------------------------------------------------------------------------------------------------


def referral_approve(*, referral: Referral, actor, reason: str = "", now: datetime | None = None) -> Referral:
    """Staff release a held referral. Overrides the rule that held it (including a cap).

    If the friend already made a qualifying purchase while it was held, it is re-evaluated now (it may have
    been refunded since) and, if it still qualifies, both sides are paid; otherwise the referral goes back to
    waiting for a purchase (or expires if the friend's window has passed).
    """
    now = now or timezone.now()
    reason = (reason or "").strip() or _("Approved by staff.")
    with transaction.atomic():
        referral, friend_account, referrer_account = _lock(referral)
        if referral.state != State.HELD:
            raise ReferralNotReviewable(state=referral.get_state_display())
        referral.reviewed_by = actor
        referral.reviewed_at = now
        referral.save(update_fields=["reviewed_by", "reviewed_at", "updated_at"])
        _event(referral, Rule.REVIEW, Outcome.APPROVED, reason, now=now, actor=actor)
        program = referral_program_get()
        purchase = referral.qualifying_purchase
        if purchase is not None:
            purchase.refresh_from_db()
            if not _purchase_problem(referral=referral, purchase=purchase, program=program):
                _pay(
                    referral=referral,
                    purchase=purchase,
                    friend_account=friend_account,
                    referrer_account=referrer_account,
                    program=program,
                    now=now,
                    actor=actor,
                )
                return referral
        deadline = referral.friend.enrolled_at + timedelta(days=program.qualify_within_days)
        if now > deadline:
            expired = _("No qualifying purchase within %(days)s days of joining.") % {
                "days": program.qualify_within_days
            }
            _set_state(referral, State.EXPIRED, expired, qualifying_purchase=None)
            _event(referral, Rule.EXPIRY, Outcome.EXPIRED, expired, now=now)
        else:
            _set_state(referral, State.PENDING, "", qualifying_purchase=None)
        return referral


@transaction.atomic
def referral_reject(*, referral: Referral, actor, reason: str, now: datetime | None = None) -> Referral:
    """Staff refuse a held or pending referral, with a reason. No points have moved, so none move now."""
    reason = (reason or "").strip()
    if not reason:
        raise ReasonRequired()
    now = now or timezone.now()
    referral = Referral.objects.select_for_update().get(pk=referral.pk)
    if referral.state not in OPEN_STATES:
        raise ReferralNotReviewable(state=referral.get_state_display())
    _set_state(referral, State.REJECTED, reason, reviewed_by=actor, reviewed_at=now)
    _event(referral, Rule.REVIEW, Outcome.REJECTED, reason, now=now, actor=actor)
    return referral


# --- batch --------------------------------------------------------------------------------------------------------


def referrals_expire_overdue(*, now: datetime | None = None, chunk_size: int = 1000) -> int:
    """Expire pending referrals whose friend's qualifying window has passed. Set-based, in chunks, each its own
    transaction; rows being paid at that moment are skipped (they are locked) and looked at next run."""
    now = now or timezone.now()
    program = referral_program_get()
    cutoff = now - timedelta(days=program.qualify_within_days)
    reason = _("No qualifying purchase within %(days)s days of joining.") % {"days": program.qualify_within_days}
    expired = 0
    while True:
        with transaction.atomic():
            ids = list(
                Referral.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(state=State.PENDING, friend__enrolled_at__lt=cutoff)
                .order_by("id")
                .values_list("id", flat=True)[:chunk_size]
            )
            if not ids:
                return expired
            Referral.objects.filter(pk__in=ids).update(state=State.EXPIRED, reason=reason, updated_at=now)
            ReferralEvent.objects.bulk_create(
                [
                    ReferralEvent(
                        referral_id=pk, rule=Rule.EXPIRY, outcome=Outcome.EXPIRED, reason=reason, created_at=now
                    )
                    for pk in ids
                ]
            )
            expired += len(ids)


# --- hooks into the members core (registered in ReferralsConfig.ready) -------------------------------------------


def purchase_co_locks(*, member: Member, occurred_at: datetime) -> list[int]:
    """The referrer whose account :func:`on_purchase_recorded` may pay for this purchase, so that
    ``purchase_record`` locks it together with the buyer's (ascending id). No query past the qualifying window."""
    deadline = member.enrolled_at + timedelta(days=referral_program_get().qualify_within_days)
    if occurred_at > deadline:
        return []
    if _OPEN_REFERRER in member.__dict__:
        # Read with the member by the till's look-up (till_member_annotations), moments ago in the API's own
        # transaction. Taken once: a caller that records several purchases on one loaded member asks afresh for
        # the next, as a referral may have been attached or paid since.
        referrer = member.__dict__.pop(_OPEN_REFERRER)
        referrers = [] if referrer is None else [referrer]
    else:
        referrers = _open_referrers.list(member.pk)
    # Read just before the purchase's locks: on_purchase_recorded need not ask again when there was no open
    # referral. A referral attached by another transaction in between is not this purchase's, whether read here
    # or there (read committed); the friend's next purchase in the window qualifies it.
    member.__dict__[_NO_OPEN_REFERRAL] = not referrers
    return referrers


def refund_co_locks(*, purchase: Purchase) -> list[int]:
    """The referrer whose bonus :func:`on_purchase_refunded` may claw back, so that ``purchase_refund`` locks their
    account together with the buyer's. No query once the return window is over (the bonuses are kept then)."""
    if timezone.now() > purchase.occurred_at + timedelta(days=program_settings_get().pending_days):
        return []
    return list(
        Referral.objects.filter(qualifying_purchase=purchase, state=State.QUALIFIED).values_list(
            "referrer_id", flat=True
        )
    )


#: Set on the buyer by ``purchase_co_locks`` when it found no open referral (see there).
_NO_OPEN_REFERRAL = "_referrals_no_open_referral"
#: The referrer of the member's open referral (a friend is referred at most once), or None: read by the till's
#: member look-up, through ``members.hooks.till_member_annotations``.
_OPEN_REFERRER = "referrals_open_referrer"


def _open_referrals(friend_id):
    """The friend's referral while it can still pay (``friend_id`` may be an ``OuterRef``): read with the member,
    alone for the co-locks, and again by the purchase hook."""
    return Referral.objects.filter(friend_id=friend_id, state__in=OPEN_STATES)


def till_member_annotations() -> dict:
    """What the till's member look-up reads for ``purchase_co_locks``, so a new member's purchase asks no more."""
    return {_OPEN_REFERRER: Subquery(_open_referrals(OuterRef("pk")).values("referrer_id")[:1])}


# Every purchase in a new member's qualifying window asks both, compiled once per connection (members.compiled).
_open_referrers = CompiledQuery(lambda friend_id: _open_referrals(friend_id).values_list("referrer_id", flat=True), int)
_open_referral = CompiledQuery(_open_referrals, int)


def on_member_enrolled(member: Member, context: dict) -> None:
    """Attach the referral a new member signed up with. A bad or refused code never blocks the sign-up."""
    context = context or {}
    request = context.get("request")
    code = context.get("referral_code") or ""
    session = getattr(request, "session", None)
    if session is not None:
        session.pop("referral_code", None)
    if not code.strip():
        return
    meta = {}
    if request is not None:
        meta["ip"] = request.META.get("REMOTE_ADDR") or None
    try:
        with transaction.atomic():
            referral_attach(friend=member, code=code, request_meta=meta)
    except ReferralError as error:
        logger.info("Referral code %r not attached to member %s: %s", code, member.pk, error.message)


def on_purchase_recorded(result) -> None:
    """Qualify the buyer's open referral, if any (one indexed query when there is none)."""
    if result.replayed:
        return
    purchase = result.purchase
    # Past the qualifying window no referral can pay and the daily expiry job closes any still open, so an
    # established member's purchase costs no query here.
    deadline = purchase.member.enrolled_at + timedelta(days=referral_program_get().qualify_within_days)
    if purchase.occurred_at > deadline or purchase.member.__dict__.pop(_NO_OPEN_REFERRAL, False):
        return
    referral = _open_referral.first(purchase.member_id)
    if referral is None:
        return
    try:
        with transaction.atomic():
            referral_qualify(referral=referral, purchase=purchase)
    except ReferralError as error:
        logger.warning("Referral %s not qualified by purchase %s: %s", referral.pk, purchase.pk, error.message)


def on_purchase_refunded(refund) -> None:
    """Claw back the referral bonuses when a qualifying purchase is refunded within the return window."""
    if refund.replayed:
        return
    referral = Referral.objects.filter(qualifying_purchase=refund.purchase, state=State.QUALIFIED).first()
    if referral is not None:
        referral_refund_handle(referral=referral, purchase=refund.purchase)


# --- the program's rules, edited by staff: each change leaves an audit row (members.audit) -----------------------


def referral_program_save(*, program: ReferralProgram, actor) -> ReferralProgram:
    """Save the referral program's rules (its ``save`` clears the cached copy)."""
    return audit.rule_save(program, actor=actor)


def disposable_domain_save(*, domain: DisposableEmailDomain, actor) -> DisposableEmailDomain:
    """Add or change a disposable email domain (stored normalised: lower case, no ``@`` or trailing dot)."""
    return audit.rule_save(domain, actor=actor)


def disposable_domain_delete(*, domain: DisposableEmailDomain, actor) -> None:
    audit.rule_delete(domain, actor=actor)


def member_data_erase(member: Member, *, former_email: str = "") -> int:
    """The ``members.hooks.member_closed`` hook: forget the sign-up address kept for fraud checks on the closed
    member's own referral (the referral, its state and its points stay)."""
    return Referral.objects.filter(friend_id=member.pk).exclude(signup_ip=None).update(signup_ip=None)
