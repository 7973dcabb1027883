"""The IFRS 15 arithmetic on its own, and the standard's Illustrative Example 22 (IE267–IE270) to the unit.

IE22: CU100,000 of sales earn 10,000 points; a point is worth CU1 on redemption; 9,500 are expected to be
redeemed. Year 1: 4,500 redeemed. Year 2: the estimate rises to 9,700 and 8,500 have been redeemed in total.
The standard's figures: allocation 91,324 goods / 8,676 points; year 1 revenue 4,110, contract liability 4,566;
year 2 revenue 3,493, contract liability 1,073.
"""

from decimal import Decimal

import pytest

from backoffice.ifrs15 import (
    UNIT,
    allocate_by_ssp,
    cumulative_revenue,
    period_schedule,
    points_standalone_price,
    pool_state,
)

D = Decimal


def test_illustrative_example_22_to_the_currency_unit():
    points_ssp = points_standalone_price(points=10_000, point_value=D("1"), redemption_rate=D("0.95"))
    assert points_ssp == D("9500")
    allocation = allocate_by_ssp(price=D("100000"), goods_ssp=D("100000"), points_ssp=points_ssp, quantum=UNIT)
    assert (allocation.goods, allocation.points) == (D("91324"), D("8676"))

    start = pool_state(allocated=D("0"), issued=0, redeemed=0, redemption_rate=D("0.95"), quantum=UNIT)
    year1_end = pool_state(
        allocated=allocation.points, issued=10_000, redeemed=4_500, redemption_rate=D("0.95"), quantum=UNIT
    )
    year1 = period_schedule(opening=start, closing=year1_end)
    assert (year1.allocated, year1.recognised, year1_end.liability) == (D("8676"), D("4110"), D("4566"))
    assert year1.reconciles

    # Year 2: 9,700 of the 10,000 points now expected (a rate of 97 %), 8,500 redeemed in total.
    year2_end = pool_state(
        allocated=allocation.points, issued=10_000, redeemed=8_500, redemption_rate=D("0.97"), quantum=UNIT
    )
    year2 = period_schedule(opening=year1_end, closing=year2_end)
    assert year2_end.expected == D("9700")
    assert (year2.allocated, year2.recognised, year2_end.liability) == (D("0"), D("3493"), D("1073"))
    assert year2.reconciles and year2.points_redeemed == 4_000


def test_example_22_in_cents_rounds_to_the_same_units():
    allocation = allocate_by_ssp(price=D("100000"), goods_ssp=D("100000"), points_ssp=D("9500"))
    assert allocation.points == D("8675.80") and allocation.goods == D("91324.20")
    year1 = cumulative_revenue(allocated=allocation.points, redeemed=4_500, expected=D("9500"))
    year2 = cumulative_revenue(allocated=allocation.points, redeemed=8_500, expected=D("9700"))
    assert year1 == D("4109.59") and year2 == D("7602.51")
    assert [x.quantize(UNIT) for x in (year1, allocation.points - year1, year2 - year1, allocation.points - year2)] == [
        D("4110"),
        D("4566"),
        D("3493"),
        D("1073"),
    ]


def test_allocation_always_adds_up_and_rounds_half_up():
    allocation = allocate_by_ssp(price=D("10.00"), goods_ssp=D("10.00"), points_ssp=D("0.05"))
    assert allocation.points == D("0.05")  # 10 × 0.05 ÷ 10.05 = 0.04975… → 0.05
    assert allocation.goods + allocation.points == D("10.00")
    for price in (D("0.01"), D("3.33"), D("99999.99")):
        split = allocate_by_ssp(price=price, goods_ssp=price, points_ssp=D("1.234"))
        assert split.goods + split.points == price


def test_allocation_edge_cases():
    assert allocate_by_ssp(price=D("50"), goods_ssp=D("50"), points_ssp=D("0")).points == 0
    assert allocate_by_ssp(price=D("0"), goods_ssp=D("0"), points_ssp=D("0")).points == 0
    # Refunds outweighing sales: the reversal is allocated by the same ratio.
    assert allocate_by_ssp(price=D("-100"), goods_ssp=D("-100"), points_ssp=D("-10")).points == D("-9.09")
    # Opposite signs: the points at their stand-alone price, no more than the price.
    assert allocate_by_ssp(price=D("100"), goods_ssp=D("100"), points_ssp=D("-3")).points == D("-3.00")
    # Points given without a sale: the whole stand-alone price is theirs.
    assert allocate_by_ssp(price=D("4.75"), goods_ssp=D("0"), points_ssp=D("4.75")).points == D("4.75")


def test_cumulative_revenue_is_capped_and_never_negative():
    assert cumulative_revenue(allocated=D("100"), redeemed=120, expected=D("100")) == D("100.00")
    assert cumulative_revenue(allocated=D("100"), redeemed=10, expected=D("0")) == 0
    assert cumulative_revenue(allocated=D("100"), redeemed=-5, expected=D("50")) == 0


def test_a_lower_estimate_catches_up_revenue_in_the_period_it_changes():
    before = pool_state(allocated=D("1000"), issued=1000, redeemed=400, redemption_rate=D("0.80"))
    after = pool_state(allocated=D("1000"), issued=1000, redeemed=400, redemption_rate=D("0.50"))
    schedule = period_schedule(opening=before, closing=after)
    assert before.recognised == D("500.00") and after.recognised == D("800.00")
    assert schedule.recognised == D("300.00") and schedule.points_redeemed == 0 and schedule.reconciles


@pytest.mark.parametrize("rate", [D("-0.01"), D("1.01")])
def test_rate_outside_zero_to_one_is_refused(rate):
    with pytest.raises(ValueError):
        points_standalone_price(points=1, point_value=D("1"), redemption_rate=rate)
