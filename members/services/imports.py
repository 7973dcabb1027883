"""The ledger's bulk writer: everything a staff import writes (``backoffice.imports`` parses, checks and counts).

- :func:`members_import` creates members with their opening balances, and gives members who already exist their
  opening balance (an ``IMPORT`` entry keyed :func:`opening_balance_key`, so at most one per member).
- :func:`purchases_import` records back-filled purchases through ``purchase_record(backfill=True)``, keyed by
  ``(source, external_id)``.

Re-running either with the same rows changes nothing. The invariants are ``ledger_post``'s:

- Accounts that existed before the call are locked with ``account_lock`` in ascending member id order before
  they are written (hooks that ``purchase_record`` runs may lock further accounts, as on any purchase).
- Entries, lots and cached balances are written in one transaction (each function is atomic, a savepoint inside
  the caller's chunk transaction), so ``balance == Σ entries == Σ lots`` whenever it commits.

**Set-based path for new members.** Enrolling 100,000 members one by one is slow, so members new to the program
are created with ``bulk_create``: users (unusable password; they sign in through "forgot password"), members in
the entry tier, ``TierHistory`` (enrolled), accounts whose ``balance`` and ``lifetime_earned`` equal the opening
balance, one ``IMPORT`` entry (``balance_after`` = opening balance) and one lot per opening balance, expiring
per the program's policy. That is exactly what ``member_enroll`` followed by ``ledger_post`` would leave. No lock
is needed: nobody else can reference accounts that did not exist before the transaction. This path does not run
the ``member_enrolled`` hooks (welcome emails, referral codes): an import is a migration, not a sign-up. Users who
already exist go through the ordinary services (``member_enroll``, ``account_lock`` + ``ledger_post``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone

from ..models import LedgerEntry, Member, PointsAccount, PointsLot, TierHistory
from ..selectors import program_settings_get, tiers_list
from .enrollment import _new_card_number, _new_member_number, member_enroll
from .ledger import account_lock, ledger_post, lot_expiry_for
from .purchases import PurchaseLineInput, purchase_record


@dataclass(frozen=True)
class ImportedMember:
    email: str
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    birthday: date | None = None
    marketing_consent: bool = False
    opening_balance: int = 0


@dataclass(frozen=True)
class ImportedPurchase:
    member: Member
    external_id: str
    lines: list[PurchaseLineInput]
    channel: str
    occurred_at: datetime
    currency: str
    store: str = ""


def opening_balance_key(email: str) -> str:
    """The idempotency key of a member's opening balance: one per email, whichever file or re-run brings it."""
    return f"import:opening:{email}"


@transaction.atomic
def members_import(*, members: Sequence[ImportedMember], description: str, actor=None) -> tuple[int, int]:
    """Create the members that are new (one email each), with their opening balances; give those who exist their
    opening balance unless they already have one. Return ``(created, skipped)``: a member already there counts
    as created only when this posted their opening balance."""
    user_model = get_user_model()
    by_email = {member.email: member for member in members}
    users = user_model.objects.filter(email__in=by_email).select_related("member")
    existing = {user.email: user for user in users}
    new = [member for email, member in by_email.items() if email not in existing]
    if new:
        _members_create(new, description=description, actor=actor)
    enrolled = []
    for email, user in existing.items():
        row = by_email[email]
        member = getattr(user, "member", None)
        if member is None:
            member = member_enroll(
                user=user,
                channel="import",
                birthday=row.birthday,
                phone=row.phone,
                marketing_consent=row.marketing_consent,
            )
        enrolled.append((member, row))
    posted = 0
    for member, row in sorted(enrolled, key=lambda pair: pair[0].pk):
        if row.opening_balance:
            entry = ledger_post(
                account=account_lock(member_id=member.pk),
                kind=LedgerEntry.Kind.IMPORT,
                points=row.opening_balance,
                idempotency_key=opening_balance_key(row.email),
                description=description,
                actor=actor,
            )
            posted += not entry.replayed
    return len(new) + posted, len(enrolled) - posted


@transaction.atomic
def purchases_import(*, purchases: Sequence[ImportedPurchase], source: str, actor=None) -> tuple[int, int]:
    """Record back-filled purchases in the given order (no age limit; every other purchase rule applies).
    Return ``(created, skipped)``: skipped were already recorded under ``source``."""
    for member_id in sorted({purchase.member.pk for purchase in purchases}):
        account_lock(member_id=member_id)
    created = skipped = 0
    for purchase in purchases:
        result = purchase_record(
            member=purchase.member,
            external_id=purchase.external_id,
            lines=purchase.lines,
            channel=purchase.channel,
            occurred_at=purchase.occurred_at,
            currency=purchase.currency,
            store=purchase.store,
            source=source,
            actor=actor,
            backfill=True,
        )
        if result.replayed:
            skipped += 1
        else:
            created += 1
    return created, skipped


def _unique_numbers(count: int, field_name: str, make) -> list[str]:
    numbers: set[str] = set()
    while len(numbers) < count:
        candidates = {make() for _ in range(count - len(numbers))} - numbers
        taken = set(Member.objects.filter(**{f"{field_name}__in": candidates}).values_list(field_name, flat=True))
        numbers |= candidates - taken
    return list(numbers)


def _members_create(rows: list[ImportedMember], *, description: str, actor) -> None:
    user_model = get_user_model()
    now = timezone.now()
    program = program_settings_get()
    tiers = tiers_list()
    entry_tier = tiers[0] if tiers else None
    users = user_model.objects.bulk_create(
        [
            user_model(
                email=row.email,
                first_name=row.first_name,
                last_name=row.last_name,
                password=make_password(None),
                date_joined=now,
            )
            for row in rows
        ]
    )
    member_numbers = _unique_numbers(len(rows), "member_number", _new_member_number)
    card_numbers = _unique_numbers(len(rows), "card_number", _new_card_number)
    members = Member.objects.bulk_create(
        [
            Member(
                user_id=user.pk,
                member_number=member_numbers[index],
                card_number=card_numbers[index],
                tier=entry_tier,
                tier_achieved_at=now if entry_tier else None,
                birthday=row.birthday,
                phone=row.phone,
                marketing_consent=row.marketing_consent,
                enrollment_channel="import",
                enrolled_at=now,
            )
            for index, (user, row) in enumerate(zip(users, rows, strict=True))
        ]
    )
    PointsAccount.objects.bulk_create(
        [
            PointsAccount(
                member_id=member.pk,
                balance=row.opening_balance,
                lifetime_earned=row.opening_balance,
                updated_at=now,
            )
            for member, row in zip(members, rows, strict=True)
        ]
    )
    TierHistory.objects.bulk_create(
        [
            TierHistory(member_id=member.pk, to_tier=entry_tier, reason=TierHistory.Reason.ENROLLED, created_at=now)
            for member in members
        ]
    )
    funded = [(member, row) for member, row in zip(members, rows, strict=True) if row.opening_balance > 0]
    entries = LedgerEntry.objects.bulk_create(
        [
            LedgerEntry(
                account_id=member.pk,
                kind=LedgerEntry.Kind.IMPORT,
                points=row.opening_balance,
                balance_after=row.opening_balance,
                idempotency_key=opening_balance_key(row.email),
                description=description,
                actor=actor,
                created_at=now,
            )
            for member, row in funded
        ]
    )
    expires_at = lot_expiry_for(program=program, earned_at=now)
    PointsLot.objects.bulk_create(
        [
            PointsLot(
                account_id=entry.account_id,
                entry_id=entry.pk,
                amount=entry.points,
                remaining=entry.points,
                available_at=now,
                expires_at=expires_at,
                created_at=now,
            )
            for entry in entries
        ]
    )
