"""Amounts at the edge of what the columns hold: refused clearly, or stored, and the member's next purchase still
works; a total above its lines is refused instead of counting spend that was never bought."""

from decimal import Decimal

import pytest
from django.utils import timezone

from members.models import Purchase, QualifyingActivity
from tests.integrations.conftest import post, purchase_body
from tests.members.conftest import program_set

pytestmark = pytest.mark.django_db
URL = "/api/v1/purchases/"
LARGEST = "9999999999.99"


def _now():
    return timezone.localtime().replace(microsecond=0).isoformat()


def test_a_total_above_the_lines_is_refused_and_nothing_is_written(api, member):
    response = post(api, URL, purchase_body(member, total="5000.00"))  # the lines add up to 11.25
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {
        "total": ["The total cannot be more than the lines add up to (11.25)."]
    }
    assert not Purchase.objects.exists() and not QualifyingActivity.objects.exists()


def test_a_total_below_the_lines_is_what_was_paid(api, member):
    response = post(api, URL, purchase_body(member, total="10.00"))
    assert response.status_code == 201 and response.json()["total"] == "10.00"
    assert QualifyingActivity.objects.get(member=member).spend == Decimal("10.00")


def test_an_amount_beyond_the_columns_is_a_400(api, member):
    line = {"sku": "X", "quantity": 1, "unit_price": "99999999999.99"}
    response = post(api, URL, purchase_body(member, lines=[line]))
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"lines.0.unit_price": ["The unit price is too large."]}


@pytest.mark.postgres
def test_two_of_the_largest_purchases_in_a_month_leave_the_next_purchase_working(api, member):
    """The monthly qualifying bucket sums them: 12 digits overflowed and every later purchase answered 500."""
    program_set(max_line_amount=None, max_purchase_amount=None)  # a program that lifts its limits against typos
    largest = [{"sku": "X", "quantity": 1, "unit_price": LARGEST}]
    for n in range(2):
        response = post(
            api, URL, purchase_body(member, external_id=f"BIG-{n}", occurred_at=_now(), lines=largest), key=f"b{n}"
        )
        assert response.status_code == 201, response.json()
    after = post(api, URL, purchase_body(member, external_id="SMALL", occurred_at=_now()), key="s")
    assert after.status_code == 201, after.json()
    assert QualifyingActivity.objects.get(member=member).spend == Decimal(LARGEST) * 2 + Decimal("11.25")
