"""Fixtures for the member site: a logged-in member and a fast way to give them a long history."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members.models import LedgerEntry, Member, PointsAccount, PointsLot, Purchase
from tests.factories import MemberFactory


def add_history(
    member: Member, count: int, *, start=None, points: int = 10, expires_in_days: int = 400, same_time: bool = False
) -> None:
    """Give ``member`` ``count`` purchases with one earn entry and lot each, written in bulk (not via services).

    Only for reading tests: it keeps the ledger's invariants (balance = sum of entries = sum of lots).
    """
    start = start or timezone.now() - timedelta(days=count + 1)
    account = PointsAccount.objects.get(pk=member.pk)
    batch = Purchase.objects.filter(member=member).count()
    purchases = Purchase.objects.bulk_create(
        [
            Purchase(
                member=member,
                external_id=f"H{member.pk}-{batch + index}",
                source="history",
                store=f"Store {index % 7}",
                occurred_at=start + timedelta(hours=index),
                currency="EUR",
                total=Decimal(points),
                eligible_amount=Decimal(points),
                points_earned=points,
            )
            for index in range(count)
        ]
    )
    balance = account.balance
    entries = []
    for index, purchase in enumerate(purchases):
        balance += points
        entries.append(
            LedgerEntry(
                account_id=member.pk,
                kind=LedgerEntry.Kind.EARN,
                points=points,
                balance_after=balance,
                idempotency_key=f"history:{member.pk}:{batch + index}",
                description=f"Purchase {purchase.external_id}",
                purchase=purchase,
                created_at=start if same_time else purchase.occurred_at,
            )
        )
    entries = LedgerEntry.objects.bulk_create(entries)
    PointsLot.objects.bulk_create(
        [
            PointsLot(
                account_id=member.pk,
                entry=entry,
                amount=points,
                remaining=points,
                available_at=entry.created_at,
                expires_at=timezone.now() + timedelta(days=expires_in_days),
                created_at=entry.created_at,
            )
            for entry in entries
        ]
    )
    PointsAccount.objects.filter(pk=member.pk).update(
        balance=balance, lifetime_earned=account.lifetime_earned + points * count
    )


@pytest.fixture
def member(db):
    return MemberFactory(email="mia@example.com", first_name="Mia", last_name="Meyer")


@pytest.fixture
def member_client(client, member):
    client.force_login(member.user)
    return client
