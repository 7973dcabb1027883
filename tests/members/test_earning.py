"""Earning on purchases: every calculator strategy, pending points, idempotency and bad input."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from members import hooks
from members.exceptions import AccountClosed, DuplicateRequest, InvalidPurchase
from members.models import EarningRule, LedgerEntry, Member, PointsLot, ProgramSettings, Purchase, Tier, TierHistory
from members.services import member_close
from members.services.purchases import PurchaseLineInput, purchase_preview, purchase_record
from tests.factories import EarningRuleFactory, MemberFactory
from tests.members.conftest import account_of, assert_consistent, buy, days, program_set

pytestmark = pytest.mark.django_db
Kind = LedgerEntry.Kind


def line(price, qty=1, sku="SKU", category=""):
    return PurchaseLineInput(sku=sku, quantity=qty, unit_price=Decimal(price), category=category)


def earned(member, lines, **kwargs):
    return buy(member, lines=lines, **kwargs).purchase.points_earned


@pytest.mark.parametrize(
    ("rounding", "amount", "points"),
    [
        (ProgramSettings.Rounding.DOWN, "10.99", 10),
        (ProgramSettings.Rounding.NEAREST, "10.49", 10),
        (ProgramSettings.Rounding.NEAREST, "10.50", 11),
        (ProgramSettings.Rounding.UP, "10.01", 11),
        (ProgramSettings.Rounding.UP, "10.00", 10),
    ],
)
def test_spend_based_rounding(program, member, rounding, amount, points):
    program_set(rounding=rounding)
    assert earned(member, [line(amount)]) == points


def test_spend_rule_rate_and_min_spend(program, member):
    EarningRuleFactory(kind=EarningRule.Kind.SPEND, rate=Decimal("2"), min_spend=Decimal("20"))
    assert earned(member, [line("19.00")]) == 0
    assert earned(member, [line("25.00")]) == 50


def test_visit_based_points_per_visit(program, member):
    EarningRuleFactory(kind=EarningRule.Kind.VISIT, rate=Decimal("15"))
    result = buy(member, lines=[line("3.00", sku="A"), line("1.00", sku="B")])
    assert result.purchase.points_earned == 15
    assert sum(result.purchase.lines.values_list("points", flat=True)) == 15


def test_cash_back_as_points_worth_the_percentage(program, member):
    program_set(point_value=Decimal("0.01"))
    EarningRuleFactory(kind=EarningRule.Kind.CASHBACK, rate=Decimal("5"))
    assert earned(member, [line("10.00")]) == 50  # 5% of 10.00 = 0.50, at 0.01 a point


def test_category_and_product_multipliers(program, member):
    EarningRuleFactory(kind=EarningRule.Kind.CATEGORY_MULTIPLIER, category="coffee", rate=Decimal("2"))
    EarningRuleFactory(kind=EarningRule.Kind.PRODUCT_MULTIPLIER, sku="BEANS", rate=Decimal("3"))
    result = buy(
        member,
        lines=[line("10", sku="CUP", category="coffee"), line("10", sku="BEANS"), line("10", sku="MUG")],
    )
    points = dict(result.purchase.lines.values_list("sku", "points"))
    assert points == {"CUP": 20, "BEANS": 30, "MUG": 10}
    assert result.purchase.points_earned == 60


def test_excluded_categories_earn_nothing(program, member):
    EarningRuleFactory(kind=EarningRule.Kind.EXCLUDE_CATEGORY, category="gift_card")
    result = buy(member, lines=[line("25", sku="GIFT", category="gift_card"), line("12", sku="TEA")])
    assert result.purchase.points_earned == 12
    assert result.purchase.eligible_amount == Decimal("12")
    assert dict(result.purchase.lines.values_list("sku", "points")) == {"GIFT": 0, "TEA": 12}


def test_tier_multiplier(program, member):
    Member.objects.filter(pk=member.pk).update(tier=Tier.objects.get(name="Gold"))
    member.refresh_from_db()
    assert earned(member, [line("10")]) == 15


def test_per_purchase_cap(program, member):
    program_set(max_points_per_purchase=100)
    result = buy(member, lines=[line("150", sku="A"), line("90", sku="B")])
    assert result.purchase.points_earned == 100
    assert result.earning.capped
    assert sum(result.purchase.lines.values_list("points", flat=True)) == 100


def test_line_distribution_sums_exactly(program, member):
    EarningRuleFactory(kind=EarningRule.Kind.SPEND, rate=Decimal("1.37"))
    lines = [line(f"{n}.33", qty=n % 3 + 1, sku=f"S{n}") for n in range(1, 12)]
    result = buy(member, lines=lines)
    assert sum(result.purchase.lines.values_list("points", flat=True)) == result.purchase.points_earned > 0


def test_preview_matches_recording_and_writes_nothing(program, member):
    EarningRuleFactory(kind=EarningRule.Kind.CATEGORY_MULTIPLIER, category="coffee", rate=Decimal("2"))
    lines = [line("10", category="coffee"), line("5")]
    preview = purchase_preview(member=member, lines=lines, channel="online")
    assert not Purchase.objects.exists() and not LedgerEntry.objects.exists()
    assert [step.kind for step in preview.steps] == ["spend", "category_multiplier"]
    assert preview.base_points == buy(member, lines=lines).purchase.points_earned == 25


def test_points_are_pending_during_the_return_window(member):
    program_set(pending_days=14)
    now = timezone.now()
    fresh = buy(member, "30", now=now)
    assert (fresh.points_pending, fresh.pending, fresh.balance) == (30, 30, 0)
    lot = PointsLot.objects.get(entry__purchase=fresh.purchase)
    assert lot.is_pending and lot.available_at == fresh.purchase.occurred_at + days(14)
    old = buy(member, "20", occurred_at=now - days(15), now=now)  # sent late: window already over
    assert (old.points_pending, old.balance) == (0, 20)
    assert_consistent(member)


def test_lot_expiry_counts_from_the_purchase_date(program, member):
    # Fixed dates, so the test means the same on every day it runs: a leap day plus 12 months is 28 February.
    occurred = datetime(2024, 2, 29, 18, 45, tzinfo=UTC)
    result = buy(member, "10", occurred_at=occurred, now=occurred + days(40))
    lot = PointsLot.objects.get(entry__purchase=result.purchase)
    assert lot.expires_at == datetime(2025, 2, 28, 18, 45, tzinfo=UTC)
    assert lot.created_at == occurred + days(40)


def test_replay_of_the_same_purchase_earns_once(program, member):
    first = buy(member, "42", external_id="TILL-1")
    again = buy(member, "42", external_id="TILL-1")
    assert again.replayed and not first.replayed
    assert again.purchase.pk == first.purchase.pk
    assert [e.pk for e in again.entries] == [e.pk for e in first.entries]
    assert LedgerEntry.objects.count() == 1
    assert assert_consistent(member).balance == 42


def test_same_external_id_for_another_member_is_refused(program, member):
    buy(member, "10", external_id="TILL-9")
    with pytest.raises(DuplicateRequest):
        buy(MemberFactory(), "10", external_id="TILL-9")
    assert Purchase.objects.count() == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"lines": []}, "lines"),
        ({"lines": [line("-1")]}, "lines.0.unit_price"),
        ({"lines": [line("1.005")]}, "lines.0.unit_price"),
        ({"lines": [PurchaseLineInput(sku="", quantity=1, unit_price=Decimal("1"))]}, "lines.0.sku"),
        ({"lines": [PurchaseLineInput(sku="A", quantity=0, unit_price=Decimal("1"))]}, "lines.0.quantity"),
        ({"currency": "USD"}, "currency"),
        ({"channel": "carrier-pigeon"}, "channel"),
        ({"external_id": ""}, "external_id"),
        ({"occurred_at": timezone.now() + days(2)}, "occurred_at"),
        ({"total": Decimal("-5")}, "total"),
    ],
)
def test_bad_input_raises_a_clear_error_and_changes_nothing(program, member, kwargs, field):
    arguments = {
        "member": member,
        "external_id": "BAD-1",
        "lines": [line("10")],
        "channel": "online",
        "occurred_at": timezone.now(),
        "currency": "EUR",
    }
    arguments.update(kwargs)
    with pytest.raises(InvalidPurchase) as error:
        purchase_record(**arguments)
    assert error.value.field == field
    assert not Purchase.objects.exists() and not LedgerEntry.objects.exists() and not PointsLot.objects.exists()
    assert account_of(member).balance == 0


def test_closed_member_cannot_earn(program, member):
    member_close(member=member)
    member.refresh_from_db()
    with pytest.raises(AccountClosed):
        buy(member, "10")
    assert not Purchase.objects.exists()


def test_tier_upgrade_is_immediate_and_recorded(program, member):
    result = buy(member, "1000")
    assert result.tier_changed
    member.refresh_from_db()
    assert member.tier.name == "Silver" and member.tier_review_at is not None
    history = TierHistory.objects.filter(member=member, reason=TierHistory.Reason.UPGRADE).get()
    assert (history.from_tier.name, history.to_tier.name, history.qualifying_value) == ("Bronze", "Silver", 1000)
    buy(member, "5000")  # 1000 + 5000 * 1.25 qualifying points: straight to Gold
    member.refresh_from_db()
    assert member.tier.name == "Gold"


def test_last_purchase_date_only_moves_forward(program, member):
    now = timezone.now()
    buy(member, "1", occurred_at=now - days(1))
    buy(member, "1", occurred_at=now - days(10))
    member.refresh_from_db()
    assert member.last_purchase_at == now - days(1)


def test_recording_a_purchase_runs_a_bounded_number_of_queries(
    program, member, django_assert_max_num_queries, monkeypatch
):
    for n in range(30):
        buy(member, "5", external_id=f"H-{n}")
    # The core's own statements: other apps' hooks (referrals, campaigns) are counted in their own tests.
    monkeypatch.setattr(hooks, "purchase_recorded", [])
    monkeypatch.setattr(hooks, "earning_providers", [])
    monkeypatch.setattr(hooks, "purchase_co_locks", [])
    # Lock, purchase (its replay check is the INSERT's ON CONFLICT), lines (one bulk insert), entry, lot, account,
    # qualifying bucket, last purchase date, tier check (grouped into four statements on PostgreSQL), plus the
    # savepoint pair of the test's transaction: the same for the first or 1000th.
    with django_assert_max_num_queries(11):
        buy(member, "7", external_id="COUNTED", lines=[line("3", sku="A"), line("4", sku="B")])
    assert LedgerEntry.objects.filter(account_id=member.pk).count() == 31


def test_an_established_members_earn_is_a_fixed_short_list_of_statements_with_every_app_installed(
    program, member, django_assert_num_queries
):
    """What a till's everyday purchase costs, with campaigns, referrals and webhooks all listening."""
    Member.objects.filter(pk=member.pk).update(enrolled_at=timezone.now() - days(400))
    member.refresh_from_db()
    buy(member, "5", external_id="WARM-UP")  # this month's qualifying bucket now exists; caches are warm
    if connection.vendor == "postgresql":
        # Data-modifying WITH clauses group the inserts: what a till waits for is five round trips.
        statements = [
            "SAVEPOINT",
            "SELECT … FOR UPDATE (account lock)",
            "INSERT purchase … ON CONFLICT DO NOTHING, with its lines",
            "INSERT ledger entry, with its lot and the account's new balances",
            "qualifying bucket + last purchase date + tier value",
            "RELEASE SAVEPOINT",
        ]
    else:
        statements = [
            "SAVEPOINT",
            "SELECT … FOR UPDATE (account lock)",
            "INSERT purchase … ON CONFLICT DO NOTHING",
            "INSERT purchase lines",
            "INSERT ledger entry",
            "INSERT lot",
            "UPDATE account",
            "UPDATE qualifying bucket",
            "UPDATE last purchase date",
            "SELECT tier value",
            "RELEASE SAVEPOINT",
        ]
    with django_assert_num_queries(len(statements)):
        result = buy(member, "7", external_id="COUNTED")
    assert result.purchase.points_earned == 7 and not result.replayed
    member.refresh_from_db()
    assert member.last_purchase_at == result.purchase.occurred_at
    assert assert_consistent(member).pending + account_of(member).balance == 12


def test_a_replay_is_found_by_the_insert_and_changes_nothing(program, member):
    first = buy(member, "42", external_id="TILL-R")
    with CaptureQueriesContext(connection) as ctx:
        again = buy(member, "99", external_id="TILL-R")
    assert again.replayed and again.purchase.pk == first.purchase.pk
    assert Purchase.objects.get().total == Decimal("42")
    inserts = [q["sql"] for q in ctx.captured_queries if "INSERT INTO" in q["sql"]]
    assert len(inserts) == 1 and 'INSERT INTO "members_purchase"' in inserts[0]  # the attempt that found it
    assert LedgerEntry.objects.count() == 1


def test_earning_rules_are_cached_and_refreshed_on_change(program, member, django_assert_num_queries):
    buy(member, "10")
    rule = EarningRuleFactory(kind=EarningRule.Kind.SPEND, rate=Decimal("3"))
    assert earned(member, [line("10")]) == 30
    rule.is_active = False
    rule.save()
    assert earned(member, [line("10")]) == 10
