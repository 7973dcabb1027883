from datetime import datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from backoffice.roles import AUDITOR, MARKETER, PROGRAM_MANAGER, SUPPORT, roles_setup
from members.services import account_lock, ledger_post
from members.services.purchases import PurchaseLineInput, purchase_record
from tests.factories import MemberFactory, StaffUserFactory, UserFactory


@pytest.fixture
def roles(db):
    roles_setup()
    return {group.name: group for group in Group.objects.all()}


def staff_in(role: str | None, **kwargs):
    user = StaffUserFactory(**kwargs)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def support(roles):
    return staff_in(SUPPORT)


@pytest.fixture
def marketer(roles):
    return staff_in(MARKETER)


@pytest.fixture
def manager(roles):
    return staff_in(PROGRAM_MANAGER)


@pytest.fixture
def second_manager(roles):
    return staff_in(PROGRAM_MANAGER)


@pytest.fixture
def auditor(roles):
    return staff_in(AUDITOR)


@pytest.fixture
def member(db):
    return MemberFactory(email="pat@example.com", first_name="Pat", last_name="Lee")


@pytest.fixture
def customer(db):
    return UserFactory(email="customer@example.com")


def aware(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.get_current_timezone())


def post(member, kind, *, points=0, pending=0, when=None, key=None):
    """Post one ledger entry as the services do (lock, then ledger_post), optionally back-dated."""
    with transaction.atomic():
        account = account_lock(member_id=member.pk)
        return ledger_post(
            account=account,
            kind=kind,
            points=points,
            pending_delta=pending,
            idempotency_key=key or f"test:{member.pk}:{kind}:{points}:{pending}:{when}",
            now=when,
            available_at=when,
        )


def buy(member, external_id, when, total):
    """A one-line in-store purchase of ``total`` recorded as of ``when``."""
    return purchase_record(
        member=member,
        external_id=external_id,
        lines=[PurchaseLineInput(sku="SKU", quantity=1, unit_price=Decimal(total))],
        channel="in_store",
        occurred_at=when,
        currency="EUR",
        now=when,
    )
