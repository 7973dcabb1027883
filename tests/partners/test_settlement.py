"""Settlement per partner and month: the arithmetic at the rates in force, closing, late corrections, and the
reconciliation of partner-issued and operator-issued points with the ledger (on randomized data)."""

from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backoffice import accounting
from backoffice.models import SettlementStatement
from backoffice.periods import Period
from backoffice.services.settlement import SettlementNotAllowed, settlement_close
from backoffice.settlement import statement_csv_rows, statement_for, summary_for
from members.models import EarningRule, LedgerEntry, PartnerRate
from members.services.purchases import purchase_refund
from rewards.services import reward_redeem, voucher_use
from tests.factories import EarningRuleFactory, MemberFactory, RewardFactory, buy, partner_factory, points_give

pytestmark = pytest.mark.django_db

OCTOBER, NOVEMBER, DECEMBER = date(2026, 10, 1), date(2026, 11, 1), date(2026, 12, 1)


def on(month: int, day: int, hour: int = 12):
    return datetime(2026, month, day, hour, tzinfo=timezone.get_current_timezone())


@pytest.fixture
def cafe():
    partner = partner_factory(
        name="Cafe Noir", slug="cafe-noir", rate_from=on(1, 1, 0), price="0.010000", reimbursement="0.008000"
    )
    # From mid-October each point issued costs twice as much.
    PartnerRate.objects.create(
        partner=partner,
        effective_from=on(10, 15, 0),
        price_per_point_issued=Decimal("0.02"),
        reimbursement_per_point_redeemed=Decimal("0.008"),
    )
    EarningRuleFactory(name="2 per euro", kind=EarningRule.Kind.SPEND, rate=Decimal("2"), partner=partner)
    return partner


@pytest.fixture
def member():
    return MemberFactory()


def _partner_voucher_used(member, partner, *, points, used_at):
    reward = RewardFactory(redeemable_at=partner, points_cost=points)
    points_give(member, points)
    voucher = reward_redeem(member=member, reward=reward, idempotency_key=f"redeem-{reward.pk}").voucher
    voucher_use(code=voucher.code, partner=partner, now=used_at)
    return voucher


def test_a_statement_values_each_point_at_the_rate_in_force_when_it_moved(cafe, member):
    early = buy(member, "10.00", partner=cafe, now=on(10, 10))  # 20 points at 0.01
    buy(member, "10.00", partner=cafe, now=on(10, 20))  # 20 points at 0.02
    buy(member, "50.00", now=on(10, 20))  # the operator's own shop: not the partner's business
    _partner_voucher_used(member, cafe, points=500, used_at=on(10, 25))  # 500 points reimbursed at 0.008
    purchase_refund(purchase=early.purchase, refund_id="R-1", now=on(11, 5))  # 20 points back, at 0.01

    october = statement_for(cafe, OCTOBER)
    assert october.points_issued == 40
    assert october.amount_issued == Decimal("0.60")
    assert october.points_redeemed_vouchers == 500
    assert october.amount_redeemed == Decimal("4.00")
    assert october.points_clawed_back == 0
    assert october.net_amount == Decimal("-3.40")  # the operator pays the partner

    november = statement_for(cafe, NOVEMBER)
    assert (november.points_issued, november.points_clawed_back) == (0, 20)
    # Clawed back at the price the partner paid for those points (October 10th's), not November's.
    assert november.amount_clawed_back == Decimal("0.20")
    assert november.net_amount == Decimal("-0.20")


def test_a_statement_csv_lists_every_item_and_the_totals(cafe, member):
    buy(member, "10.00", partner=cafe, now=on(10, 10))
    rows = list(statement_csv_rows(statement_for(cafe, OCTOBER)))
    assert rows[0][0] == "issued" and rows[0][3] == 20 and rows[0][4] == Decimal("0.010000")
    assert ["total", "points_issued", "", 20, "", Decimal("0.20"), ""] in rows
    assert rows[-1][1] == "net_EUR_partner_pays" and rows[-1][5] == Decimal("0.20")


def test_closing_freezes_the_statement_and_late_items_land_in_the_next_open_month(cafe, member, django_user_model):
    staff = django_user_model.objects.create_user(email="ops@example.com", password="x", is_staff=True)
    buy(member, "10.00", partner=cafe, now=on(10, 10))
    closed = settlement_close(partner=cafe, month=OCTOBER, actor=staff, now=on(11, 2))
    assert (closed.points_issued, closed.amount_issued, closed.net_amount) == (20, Decimal("0.20"), Decimal("0.20"))

    # A till batch for October 30th arrives after October closed.
    buy(member, "5.00", partner=cafe, now=on(10, 30))
    october = statement_for(cafe, OCTOBER)
    assert october.is_closed and october.points_issued == 20 and october.amount_issued == Decimal("0.20")
    assert len(october.lines) == 1

    november = statement_for(cafe, NOVEMBER)
    assert november.points_issued == 10 and november.amount_issued == Decimal("0.20")  # at October 30th's 0.02
    assert [line.late for line in november.lines] == [True]

    settlement_close(partner=cafe, month=NOVEMBER, actor=staff, now=on(12, 1, 1))
    assert statement_for(cafe, DECEMBER).lines == []  # settled once, never again
    assert SettlementStatement.objects.get(partner=cafe, month=NOVEMBER).items.get().late is True


def test_months_close_in_order_once_over_and_only_once(cafe, django_user_model):
    staff = django_user_model.objects.create_user(email="ops@example.com", password="x", is_staff=True)
    with pytest.raises(SettlementNotAllowed):
        settlement_close(partner=cafe, month=NOVEMBER, actor=staff, now=on(11, 20))  # not over yet
    settlement_close(partner=cafe, month=OCTOBER, actor=staff, now=on(12, 1, 1))
    with pytest.raises(SettlementNotAllowed):
        settlement_close(partner=cafe, month=OCTOBER, actor=staff, now=on(12, 1, 1))
    with pytest.raises(SettlementNotAllowed):
        settlement_close(partner=cafe, month=DECEMBER.replace(year=2027, month=1), actor=staff, now=on(12, 1, 1))
    assert SettlementStatement.objects.filter(partner=cafe).count() == 1


def test_a_partners_statement_holds_none_of_another_partners_movements(cafe, member):
    cinema = partner_factory(name="Cinema", slug="cinema", rate_from=on(1, 1, 0))
    buy(member, "10.00", partner=cinema, now=on(10, 10))
    assert statement_for(cafe, OCTOBER).lines == []
    assert statement_for(cinema, OCTOBER).points_issued == 10


# --- reconciliation on randomized data --------------------------------------------------------------------------

purchases = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2),  # 0: the operator, 1-2: a partner
        st.integers(min_value=1, max_value=40_000),  # cents
        st.integers(min_value=1, max_value=28),  # day of October
        st.sampled_from([None, "all", "part"]),  # refunded in November?
    ),
    min_size=1,
    max_size=12,
)
rates = st.lists(st.decimals(min_value="0", max_value="0.05", places=6), min_size=2, max_size=2)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(purchases=purchases, prices=rates)
def test_points_issued_at_partners_and_at_the_operator_add_up_to_all_points_issued(purchases, prices):
    with transaction.atomic():
        partners = [
            partner_factory(name=f"P{i}", slug=f"p{i}-{abs(hash(str(prices)))}", rate_from=on(1, 1, 0), price=price)
            for i, price in enumerate(prices, start=1)
        ]
        EarningRuleFactory(
            name="3 per euro", kind=EarningRule.Kind.SPEND, rate=Decimal("3"), partner=partners[0], is_active=True
        )
        member = MemberFactory()
        expected_amounts = {partner.pk: Decimal("0") for partner in partners}
        for number, (where, cents, day, refund) in enumerate(purchases):
            partner = partners[where - 1] if where else None
            result = buy(
                member,
                str(Decimal(cents) / 100),
                partner=partner,
                quantity=2,
                external_id=f"R-{number}",
                now=on(10, day),
            )
            if partner is not None:
                expected_amounts[partner.pk] += (
                    result.purchase.points_earned * partner.rates.get().price_per_point_issued
                )
            if refund:
                lines = None if refund == "all" else [_one_unit()]
                purchase_refund(purchase=result.purchase, lines=lines, refund_id=f"RF-{number}", now=on(11, 3))

        summary = summary_for(OCTOBER)
        ledger_issued = accounting.movements_for(Period(OCTOBER, date(2026, 10, 31)), use_rollups=False).get("issued")
        assert summary.partner_issued + summary.operator_issued == summary.all_issued == ledger_issued
        for statement in summary.statements:
            at_partner = LedgerEntry.objects.filter(
                partner=statement.partner, kind=LedgerEntry.Kind.EARN, created_at__month=10
            ).aggregate(total=Sum(F("points") + F("pending_delta")))["total"]
            assert (
                statement.points_issued == (at_partner or 0) == summary.issued_by_partner.get(statement.partner.pk, 0)
            )
            assert statement.amount_issued == expected_amounts[statement.partner.pk].quantize(
                Decimal("0.01"), ROUND_HALF_UP
            )
            assert statement.net_amount == statement.amount_issued
        november = summary_for(NOVEMBER)
        clawed = LedgerEntry.objects.filter(kind=LedgerEntry.Kind.CLAWBACK, partner__isnull=False).aggregate(
            total=Sum(F("points") + F("pending_delta") - F("owed_delta"))
        )["total"]
        assert sum(statement.points_clawed_back for statement in november.statements) == -(clawed or 0)
        transaction.set_rollback(True)


def _one_unit():
    from members.services.purchases import RefundLineInput

    return RefundLineInput(line_number=1, quantity=1)


def test_points_paid_at_a_partners_till_are_reimbursed_net_of_voided_payments(cafe, member):
    from members.services.point_payments import point_payment_cancel, point_payment_make

    points_give(member, 1000)
    point_payment_make(member=member, points=300, external_id="PP-1", partner=cafe, now=on(10, 5))
    voided = point_payment_make(member=member, points=100, external_id="PP-2", partner=cafe, now=on(10, 6))
    point_payment_cancel(payment=voided, now=on(11, 2))
    point_payment_make(member=member, points=50, external_id="PP-3", now=on(10, 7))  # at the operator's till

    october = statement_for(cafe, OCTOBER)
    assert october.points_redeemed_payments == 400
    assert october.amount_redeemed == Decimal("3.20")  # 400 × 0.008
    november = statement_for(cafe, NOVEMBER)
    assert november.points_redeemed_payments == -100  # the void gives back what October reimbursed
    assert november.amount_redeemed == Decimal("-0.80")
    assert november.net_amount == Decimal("0.80")


def test_the_first_month_to_close_is_the_partners_first_month_with_activity(cafe, member, django_user_model):
    staff = django_user_model.objects.create_user(email="ops@example.com", password="x", is_staff=True)
    buy(member, "10.00", partner=cafe, now=on(9, 20))
    buy(member, "10.00", partner=cafe, now=on(10, 20))
    with pytest.raises(SettlementNotAllowed, match="2026-09"):
        settlement_close(partner=cafe, month=OCTOBER, actor=staff, now=on(11, 2))
    settlement_close(partner=cafe, month=date(2026, 9, 1), actor=staff, now=on(11, 2))
    assert settlement_close(partner=cafe, month=OCTOBER, actor=staff, now=on(11, 2)).points_issued == 20
