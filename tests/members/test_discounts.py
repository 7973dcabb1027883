"""Earning on what was really paid: discounts, their allocation over the lines, the program's limits against typos,
tier qualification on the net, and points that would be born past expiry."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members import hooks
from members.calculators import Award, share_cents
from members.exceptions import InvalidPurchase
from members.models import EarningRule, ProgramSettings, Purchase, PurchaseDiscount, QualifyingActivity
from members.services.purchases import (
    PurchaseDiscountInput,
    PurchaseLineInput,
    RefundLineInput,
    purchase_preview,
    purchase_record,
    purchase_refund,
)
from tests.factories import EarningRuleFactory
from tests.members.conftest import account_of, assert_consistent, program_set

pytestmark = pytest.mark.django_db

SHOES = PurchaseLineInput(sku="SHOE", quantity=1, unit_price=Decimal("60.00"), category="shoes")
SOCKS = PurchaseLineInput(sku="SOCK", quantity=3, unit_price=Decimal("10.00"), category="apparel")
GIFT_CARD = PurchaseLineInput(sku="GIFT", quantity=1, unit_price=Decimal("50.00"), category="giftcards")


def record(member, lines, *, discounts=None, total=None, external_id="P-1", occurred_at=None, now=None):
    return purchase_record(
        member=member,
        external_id=external_id,
        lines=lines,
        channel="in_store",
        occurred_at=occurred_at or timezone.now(),
        currency="EUR",
        discounts=discounts,
        total=total,
        now=now,
    )


def order(amount, code=""):
    return PurchaseDiscountInput(amount=Decimal(amount), kind="order", code=code)


def on_line(number, amount, code=""):
    return PurchaseDiscountInput(amount=Decimal(amount), kind="line", line_number=number, code=code)


@pytest.mark.parametrize(
    ("amount", "weights", "expected"),
    [
        ("10.00", {1: "60.00", 2: "30.00"}, {1: "6.67", 2: "3.33"}),  # 6.66 + 3.33, the cent left to the largest
        ("0.02", {1: "1.00", 2: "1.00", 3: "1.00"}, {1: "0.02", 2: "0.00", 3: "0.00"}),  # ties: the lowest line
        ("5.00", {1: "3.00", 2: "0.00"}, {1: "3.00", 2: "0.00"}),  # never more than a line holds
        ("1.00", {1: "0.01", 2: "9.99"}, {1: "0.00", 2: "1.00"}),
    ],
)
def test_share_cents_splits_pro_rata_with_the_remainder_to_the_largest_line(amount, weights, expected):
    shares = share_cents(Decimal(amount), {key: Decimal(value) for key, value in weights.items()})
    assert shares == {key: Decimal(value) for key, value in expected.items()}


def test_an_order_discount_is_shared_over_the_earning_lines_and_skips_the_excluded_category(program, member):
    EarningRuleFactory(name="No gift cards", kind=EarningRule.Kind.EXCLUDE_CATEGORY, category="giftcards")
    result = record(member, [SHOES, SOCKS, GIFT_CARD], discounts=[order("10.00", code="SPRING10")])

    purchase = result.purchase
    assert purchase.total == Decimal("130.00")  # 140.00 of lines less 10.00
    assert purchase.discount_total == Decimal("10.00")
    # Shoes and socks earn; the gift card takes none of the discount, so the discount lowers what earns by 10.00.
    assert [line.discount for line in result.lines] == [Decimal("6.67"), Decimal("3.33"), Decimal("0.00")]
    assert purchase.eligible_amount == Decimal("80.00")
    assert purchase.points_earned == 80
    assert [line.points for line in result.lines] == [53, 27, 0]
    stored = PurchaseDiscount.objects.get(purchase=purchase)
    assert (stored.code, stored.kind, stored.amount, stored.line_number) == (
        "SPRING10",
        "order",
        Decimal("10.00"),
        None,
    )


def test_a_discount_larger_than_the_earning_lines_spills_over_to_the_excluded_ones(program, member):
    EarningRuleFactory(name="No gift cards", kind=EarningRule.Kind.EXCLUDE_CATEGORY, category="giftcards")
    socks = PurchaseLineInput(sku="SOCK", quantity=1, unit_price=Decimal("10.00"), category="apparel")
    result = record(member, [socks, GIFT_CARD], discounts=[order("15.00")])
    assert [line.discount for line in result.lines] == [Decimal("10.00"), Decimal("5.00")]
    assert result.purchase.points_earned == 0


def test_a_line_discount_stays_on_its_line_and_the_order_discount_shares_what_is_left(program, member):
    result = record(member, [SHOES, SOCKS], discounts=[on_line(1, "20.00"), order("7.00")])
    # After the line discount the lines are 40.00 and 30.00: the 7.00 goes 4.00 / 3.00.
    assert [line.discount for line in result.lines] == [Decimal("24.00"), Decimal("3.00")]
    assert result.purchase.total == Decimal("63.00")
    assert result.purchase.points_earned == 63


def test_a_total_below_the_lines_without_discounts_is_an_unnamed_order_discount(program, member):
    result = record(member, [PurchaseLineInput(sku="A", quantity=1, unit_price=Decimal("100.00"))], total="90.00")
    assert result.purchase.points_earned == 90  # the 10 % code's basket earns on 90.00, not 100.00
    assert result.purchase.discount_total == Decimal("10.00")
    assert not PurchaseDiscount.objects.exists()


@pytest.mark.parametrize(
    ("discounts", "total", "field"),
    [
        ([order("10.00")], "95.00", "total"),  # the lines (90.00) less the discounts are 80.00
        ([order("0")], None, "discounts.0.amount"),
        ([order("-1.00")], None, "discounts.0.amount"),
        ([order("1.001")], None, "discounts.0.amount"),
        ([PurchaseDiscountInput(amount=Decimal("1"), kind="bogus")], None, "discounts.0.kind"),
        ([PurchaseDiscountInput(amount=Decimal("1"), kind="line")], None, "discounts.0.line_number"),
        ([on_line(3, "1.00")], None, "discounts.0.line_number"),
        ([PurchaseDiscountInput(amount=Decimal("1"), kind="order", line_number=1)], None, "discounts.0.line_number"),
        ([on_line(2, "20.00"), on_line(2, "15.00")], None, "discounts.1.amount"),  # the socks are 30.00
        ([order("91.00")], None, "discounts"),
        ([order("1.00", code="X" * 65)], None, "discounts.0.code"),
    ],
)
def test_discounts_that_do_not_add_up_are_refused_and_nothing_is_written(program, member, discounts, total, field):
    with pytest.raises(InvalidPurchase) as raised:
        record(member, [SHOES, SOCKS], discounts=discounts, total=None if total is None else Decimal(total))
    assert raised.value.field == field
    assert not Purchase.objects.exists()


def test_refunding_a_discounted_line_gives_back_what_was_charged_for_it(program, member):
    result = record(member, [SHOES, SOCKS], discounts=[order("9.00")])  # 6.00 on the shoes, 3.00 on the socks
    first = purchase_refund(purchase=result.purchase, refund_id="R-1", lines=[RefundLineInput(line_number=2)])
    assert first.amount == Decimal("9.00")  # one pair of socks: 27.00 / 3
    rest = purchase_refund(purchase=result.purchase, refund_id="R-2")
    assert rest.amount == Decimal("72.00")  # 54.00 shoes + 18.00 socks
    purchase = Purchase.objects.get(pk=result.purchase.pk)
    assert purchase.refunded_total == purchase.total == Decimal("81.00")
    assert QualifyingActivity.objects.get(member=member).spend == Decimal("0.00")
    assert_consistent(member)


def test_the_preview_earns_on_the_net_and_says_why(program, member):
    result = purchase_preview(member=member, lines=[SHOES, SOCKS], channel="in_store", discounts=[order("9.00")])
    assert result.base_points == 81
    assert any(step.kind == "discount" and step.line_numbers == (1, 2) for step in result.steps)


def test_qualifying_spend_is_the_net_paid(program, member):
    program_set(tier_basis=ProgramSettings.TierBasis.SPEND)
    record(member, [SHOES, SOCKS], discounts=[order("9.00")])
    assert QualifyingActivity.objects.get(member=member).spend == Decimal("81.00")


@pytest.fixture
def bonus_provider():
    def provider(basket, base, now):
        return [Award(points=50, label="Double points", key="test-bonus", line_points={1: 30, 2: 20})]

    hooks.register(hooks.earning_providers, provider)
    yield
    hooks.earning_providers.remove(provider)


@pytest.mark.parametrize(("counts_bonus", "qualifying"), [(False, 90), (True, 140)])
def test_whether_bonus_points_qualify_for_tiers_is_a_program_setting(
    program, member, bonus_provider, counts_bonus, qualifying
):
    program_set(tier_counts_bonus_points=counts_bonus)
    result = record(member, [SHOES, SOCKS])
    assert (result.purchase.points_earned, result.purchase.points_bonus) == (90, 50)
    assert QualifyingActivity.objects.get(member=member).points == qualifying
    purchase_refund(purchase=result.purchase, refund_id="R-1")
    assert QualifyingActivity.objects.get(member=member).points == 0


def test_bonus_points_do_not_qualify_by_default():
    assert ProgramSettings().tier_counts_bonus_points is False


def test_the_default_per_purchase_cap_stops_a_mistyped_price_from_crediting_a_fortune(program, member):
    program_set(max_line_amount=None, max_purchase_amount=None)
    defaults = ProgramSettings()
    program_set(max_points_per_purchase=defaults.max_points_per_purchase)
    typo = PurchaseLineInput(sku="A", quantity=1, unit_price=Decimal("9999999999.99"))
    result = record(member, [typo])
    assert defaults.max_points_per_purchase == 100_000
    assert result.purchase.points_earned == 100_000
    assert result.earning.capped is True


@pytest.mark.parametrize(
    ("line", "field"),
    [
        (PurchaseLineInput(sku="A", quantity=1, unit_price=Decimal("10000.01")), "lines.0.unit_price"),
        (PurchaseLineInput(sku="A", quantity=2, unit_price=Decimal("5000.01")), "lines.0.unit_price"),
    ],
)
def test_a_line_over_the_programs_maximum_is_refused(program, member, line, field):
    assert ProgramSettings().max_line_amount == Decimal("10000.00")
    program_set(max_line_amount=Decimal("10000.00"))
    with pytest.raises(InvalidPurchase) as raised:
        record(member, [line])
    assert raised.value.field == field
    assert not Purchase.objects.exists()


def test_lines_together_over_the_programs_maximum_per_purchase_are_refused(program, member):
    program_set(max_line_amount=Decimal("10000.00"), max_purchase_amount=Decimal("15000.00"))
    line = PurchaseLineInput(sku="A", quantity=1, unit_price=Decimal("8000.00"))
    with pytest.raises(InvalidPurchase) as raised:
        record(member, [line, line])
    assert raised.value.field == "lines"
    program_set(max_purchase_amount=None)
    assert record(member, [line, line]).purchase.points_earned == 16000


def test_a_purchase_older_than_the_fixed_expiry_horizon_credits_no_points(program, member):
    now = timezone.now()
    long_ago = now - timedelta(days=400)  # the program's points expire 12 months after the purchase
    result = record(member, [SHOES], occurred_at=long_ago, now=now)
    assert result.purchase.points_earned == 0
    assert not result.entries
    assert any(step.kind == "expired" for step in result.earning.steps)
    assert account_of(member).balance == 0
    recent = record(member, [SHOES], occurred_at=now - timedelta(days=300), now=now, external_id="P-2")
    assert recent.purchase.points_earned == 60


def test_under_activity_expiry_a_late_purchase_earns_while_the_member_is_active(program, member):
    program_set(expiry_policy=ProgramSettings.ExpiryPolicy.ACTIVITY, expiry_months=12)
    now = timezone.now()
    long_ago = now - timedelta(days=400)
    assert record(member, [SHOES], occurred_at=long_ago, now=now).purchase.points_earned == 0
    record(member, [SOCKS], now=now, external_id="P-2")  # the member shops today
    member.refresh_from_db()
    late = record(member, [SHOES], occurred_at=long_ago, now=now, external_id="P-3")
    assert late.purchase.points_earned == 60
    assert_consistent(member)
