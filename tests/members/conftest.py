"""Helpers for the members core tests: program settings, purchases through the service, sums to compare."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from members.cache import program_cache_clear
from members.models import LedgerEntry, PointsAccount, PointsLot, ProgramSettings
from members.services.purchases import PurchaseLineInput, purchase_record
from tests.factories import MemberFactory


def program_set(**changes) -> ProgramSettings:
    program, _ = ProgramSettings.objects.get_or_create(pk=1)
    for name, value in changes.items():
        setattr(program, name, value)
    program.save()
    program_cache_clear()
    return program


def buy(member, amount="10.00", *, external_id=None, occurred_at=None, now=None, category="", sku="SKU", lines=None):
    """Record a purchase of ``amount`` (one line) through the service."""
    buy.counter += 1
    now = now or timezone.now()
    return purchase_record(
        member=member,
        external_id=external_id or f"P-{buy.counter}",
        lines=lines or [PurchaseLineInput(sku=sku, quantity=1, unit_price=Decimal(amount), category=category)],
        channel="in_store",
        occurred_at=occurred_at or now,
        currency="EUR",
        now=now,
    )


buy.counter = 0


def account_of(member) -> PointsAccount:
    return PointsAccount.objects.get(pk=member.pk)


def sums(member) -> dict:
    entries = LedgerEntry.objects.filter(account_id=member.pk).aggregate(
        points=Sum("points"), pending=Sum("pending_delta"), owed=Sum("owed_delta")
    )
    lots = PointsLot.objects.filter(account_id=member.pk)
    return {
        "entries": entries["points"] or 0,
        "entries_pending": entries["pending"] or 0,
        "entries_owed": entries["owed"] or 0,
        "lots": lots.filter(is_pending=False).aggregate(s=Sum("remaining"))["s"] or 0,
        "lots_pending": lots.filter(is_pending=True).aggregate(s=Sum("remaining"))["s"] or 0,
    }


def assert_consistent(member) -> PointsAccount:
    account = account_of(member)
    total = sums(member)
    assert account.balance == total["entries"] == total["lots"], (account.balance, total)
    assert account.pending == total["entries_pending"] == total["lots_pending"], (account.pending, total)
    assert account.owed == total["entries_owed"], (account.owed, total)
    assert account.balance >= 0 and account.pending >= 0 and account.owed >= 0
    return account


@pytest.fixture
def program(db):
    """No return window and no rules beyond the base rate: purchases earn 1 point per euro, spendable at once."""
    return program_set(pending_days=0, expiry_policy=ProgramSettings.ExpiryPolicy.FIXED, expiry_months=12)


@pytest.fixture
def member(db):
    return MemberFactory()


def days(n):
    return timedelta(days=n)
