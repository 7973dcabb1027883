"""Random sequences of everything that moves points keep the ledger's invariants.

After every step, for every member: balance == sum(entries.points) == sum(remaining of available lots),
pending == sum(entries.pending_delta) == sum(remaining of pending lots), owed == sum(entries.owed_delta),
nothing negative, and every lot has 0 <= remaining <= amount.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from members.exceptions import InsufficientPoints, RefundExceedsPurchase, TransferNotAllowed
from members.models import LedgerEntry, PointsLot, ProgramSettings, Purchase
from members.services import batch, points_adjust, points_transfer
from members.services.ledger import account_lock, ledger_post
from members.services.purchases import PurchaseLineInput, RefundLineInput, purchase_record, purchase_refund
from tests.conftest import IN_CI
from tests.factories import MemberFactory
from tests.members.conftest import account_of, assert_consistent, program_set

MEMBERS = 3


def machine_settings(*, max_examples, steps, **extra):
    """Hypothesis settings for the machines below.

    In CI (``CI=true``) the examples are derived from the test alone (``derandomize``) and there are three times as
    many: a failure in CI fails again on every rerun and on a laptop with ``CI=true``, and does not depend on an
    example database that CI does not keep. Locally the examples are random, and Hypothesis's example database
    (``.hypothesis/``) replays a failure it has found until it is fixed. Either way a failure prints the
    ``@reproduce_failure`` blob of the shrunk example.
    """
    return settings(
        max_examples=max_examples * 3 if IN_CI else max_examples,
        stateful_step_count=steps,
        derandomize=IN_CI,
        database=None if IN_CI else settings.default.database,
        print_blob=True,
        deadline=None,
        **extra,
    )


class LedgerMachine(RuleBasedStateMachine):
    members: list = []

    def __init__(self):
        super().__init__()
        # Each example runs in a savepoint that teardown() rolls back, so examples start from empty accounts.
        self.savepoint = transaction.savepoint()
        self.clock = timezone.now()
        self.purchases: list[int] = []
        self.counter = 0

    def teardown(self):
        transaction.savepoint_rollback(self.savepoint)

    def _key(self, prefix):
        self.counter += 1
        return f"{prefix}-{self.counter}"

    @rule(who=st.integers(0, MEMBERS - 1), euros=st.integers(1, 300), lines=st.integers(1, 3))
    def earn(self, who, euros, lines):
        result = purchase_record(
            member=self.members[who],
            external_id=self._key("P"),
            lines=[PurchaseLineInput(sku=f"S{n}", quantity=n + 1, unit_price=Decimal(euros) / 4) for n in range(lines)],
            channel="in_store",
            occurred_at=self.clock,
            currency="EUR",
            now=self.clock,
        )
        self.purchases.append(result.purchase.pk)

    @rule(who=st.integers(0, MEMBERS - 1), points=st.integers(1, 400))
    def spend(self, who, points):
        before = account_of(self.members[who]).balance
        try:
            with transaction.atomic():
                account = account_lock(member_id=self.members[who].pk)
                key = self._key("R")
                ledger_post(account=account, kind=LedgerEntry.Kind.REDEEM, points=-points, idempotency_key=key)
        except InsufficientPoints:
            assert points > before
        else:
            assert account_of(self.members[who]).balance == before - points

    @rule(data=st.data(), whole=st.booleans())
    def refund(self, data, whole):
        if not self.purchases:
            return
        purchase = Purchase.objects.get(pk=data.draw(st.sampled_from(self.purchases)))
        lines = None if whole else [RefundLineInput(line_number=1, quantity=1)]
        try:
            purchase_refund(purchase=purchase, lines=lines, refund_id=self._key("F"), now=self.clock)
        except RefundExceedsPurchase:
            purchase.refresh_from_db()
            assert not whole or purchase.refunded_total == purchase.total

    @rule(days=st.integers(1, 400))
    def expire(self, days):
        self.clock += timedelta(days=days)
        batch.points_expire_due(now=self.clock, batch_size=2)

    @rule()
    def release(self):
        batch.points_release_pending(now=self.clock, batch_size=2)

    @rule(sender=st.integers(0, MEMBERS - 1), recipient=st.integers(0, MEMBERS - 1), points=st.integers(1, 300))
    def transfer(self, sender, recipient, points):
        before = account_of(self.members[sender]).balance
        try:
            points_transfer(
                sender=self.members[sender],
                recipient=self.members[recipient],
                points=points,
                idempotency_key=self._key("T"),
            )
        except InsufficientPoints:
            assert points > before
        except TransferNotAllowed:
            assert sender == recipient

    @rule(who=st.integers(0, MEMBERS - 1), points=st.integers(-200, 200).filter(bool))
    def adjust(self, who, points):
        try:
            points_adjust(member=self.members[who], points=points, reason="stateful", actor=None)
        except InsufficientPoints:
            assert points < 0

    @invariant()
    def balances_match_entries_and_lots(self):
        for member in self.members:
            assert_consistent(member)
        assert not PointsLot.objects.filter(Q(remaining__lt=0) | Q(remaining__gt=F("amount"))).exists()


@pytest.mark.django_db
def test_random_ledger_operations_keep_the_invariants():
    program_set(
        pending_days=14,
        expiry_policy=ProgramSettings.ExpiryPolicy.FIXED,
        expiry_months=12,
        transfer_max_points=10**6,
        transfer_max_per_month=10**9,
    )
    LedgerMachine.members = MemberFactory.create_batch(MEMBERS)
    run_state_machine_as_test(
        LedgerMachine,
        settings=machine_settings(
            max_examples=15,
            steps=20,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )


@pytest.mark.django_db
def test_random_ledger_operations_under_the_activity_policy():
    program_set(
        pending_days=0,
        expiry_policy=ProgramSettings.ExpiryPolicy.ACTIVITY,
        expiry_months=6,
        transfer_max_points=10**6,
        transfer_max_per_month=10**9,
    )
    LedgerMachine.members = MemberFactory.create_batch(MEMBERS)
    run_state_machine_as_test(
        LedgerMachine,
        settings=machine_settings(max_examples=6, steps=15, suppress_health_check=list(HealthCheck)),
    )
