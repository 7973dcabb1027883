"""Values that parse but do not mean one thing are refused with a field message (issue 16, item 12).

A time without its UTC offset (or a date alone) used to be read in the program's time zone, a birthday in year 1
was accepted, and prices written in other scripts' digits ("١٢٫٥٠") were read as numbers. Each is now a 400 with
the field's message, and nothing is written.
"""

import pytest

from members.models import LedgerEntry, Member, Purchase
from tests.integrations.conftest import post, purchase_body

pytestmark = pytest.mark.django_db

NAIVE = "Give the date and time with its UTC offset, e.g. 2026-01-15T10:00:00+01:00."


@pytest.mark.parametrize("occurred_at", ["2026-01-15T10:00:00", "2026-01-15", "2026-01-15 10:00", "20260115"])
def test_a_purchase_time_without_its_offset_is_refused(api, member, occurred_at):
    response = post(api, "/api/v1/purchases/", purchase_body(member, occurred_at=occurred_at))
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"occurred_at": [NAIVE]}
    assert not Purchase.objects.exists() and not LedgerEntry.objects.exists()
    preview = api.post("/api/v1/purchases/preview/", purchase_body(member, occurred_at=occurred_at), format="json")
    assert preview.status_code == 400 and preview.json()["error"]["fields"] == {"occurred_at": [NAIVE]}


@pytest.mark.parametrize("occurred_at", ["2026-01-15T10:00:00+01:00", "2026-01-15T09:00:00Z", "2026-01-15 10:00+01"])
def test_a_purchase_time_with_an_offset_is_accepted(api, member, occurred_at):
    response = post(api, "/api/v1/purchases/", purchase_body(member, occurred_at=occurred_at))
    assert response.status_code == 201, response.json()
    assert Purchase.objects.get().occurred_at.isoformat() == "2026-01-15T09:00:00+00:00"


@pytest.mark.parametrize("birthday", ["0001-01-01", "1800-06-01"])
def test_a_birthday_centuries_ago_is_refused_and_no_member_is_made(api, tiers, birthday):
    response = post(api, "/api/v1/members/", {"email": "old@example.com", "birthday": birthday})
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"birthday": ["The birthday is more than 120 years ago."]}
    assert not Member.objects.filter(user__email="old@example.com").exists()


def test_a_real_birthday_is_accepted(api, tiers):
    response = post(api, "/api/v1/members/", {"email": "grace@example.com", "birthday": "1926-12-09"})
    assert response.status_code == 201, response.json()


@pytest.mark.parametrize(
    ("unit_price", "message"),
    [
        ("١٢.٥٠", 'The amount must be digits with an optional decimal point, like "12.50".'),  # Arabic-Indic
        ("１２.５０", 'The amount must be digits with an optional decimal point, like "12.50".'),  # full-width
        ("12.5e0", 'The amount must be digits with an optional decimal point, like "12.50".'),
        ("", 'The amount must be digits with an optional decimal point, like "12.50".'),
        (12.5, 'Send amounts as strings of digits, like "12.50".'),
    ],
)
def test_prices_in_other_digits_or_not_as_strings_are_refused(api, member, unit_price, message):
    lines = [{"sku": "A", "quantity": 1, "unit_price": unit_price}]
    response = post(api, "/api/v1/purchases/", purchase_body(member, lines=lines))
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"lines.0.unit_price": [message]}
    total = post(api, "/api/v1/purchases/", purchase_body(member, total="١١.٢٥"), key="k-2")
    assert total.status_code == 400 and list(total.json()["error"]["fields"]) == ["total"]
    assert not Purchase.objects.exists()
