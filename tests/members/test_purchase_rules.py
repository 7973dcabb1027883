"""One set of purchase rules (``members.purchase_rules``): the API, ``purchase_record`` and the CSV importer refuse
the same bad purchase with the same message, each on its own field spelling (``lines.0.sku`` / the CSV column)."""

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from backoffice.imports import error_report_rows, run_import
from backoffice.models import ImportJob
from integrations.services import api_key_create
from members import purchase_rules
from members.exceptions import InvalidPurchase
from members.models import LedgerEntry, Purchase
from members.services.purchases import PurchaseLineInput, purchase_record
from tests.factories import MemberFactory
from tests.members.conftest import assert_consistent

pytestmark = pytest.mark.django_db

GOOD_LINE = ("COFFEE", "2", "3.50", "drinks")


@dataclass
class Case:
    """A bad purchase: a good one (two good lines, dated an hour ago) with these changes."""

    lines: list[tuple[str, str, str, str]] = field(default_factory=lambda: [GOOD_LINE, GOOD_LINE])
    occurred_at: timedelta = timedelta(hours=-1)  # from now
    total: str | None = None
    currency: str = "EUR"


#: Each bad purchase, the message every path gives, the API's field, and the importer's (row, column), or None
#: when the importer accepts the purchase or cannot express it. The header is row 1: a first line is row 2.
CASES = [
    pytest.param(
        Case(occurred_at=timedelta(days=1)),
        "The purchase date is in the future.",
        "occurred_at",
        (2, "occurred_at"),
        id="future",
    ),
    pytest.param(
        Case(occurred_at=-purchase_rules.MAX_PURCHASE_AGE - timedelta(days=1)),
        "The purchase is too old to be sent through the API.",
        "occurred_at",
        None,  # tills may not send it; staff imports back-fill it
        id="too old",
    ),
    pytest.param(
        Case(total="-5.00"),
        "The total cannot be negative.",
        "total",
        None,  # the importer takes the total from the lines
        id="negative total",
    ),
    pytest.param(
        Case(total="10.001"),
        "The total can have at most two decimals.",
        "total",
        None,
        id="total with fractions of a cent",
    ),
    pytest.param(
        Case(lines=[]),
        "A purchase needs at least one line.",
        "lines",
        None,  # a purchase in a CSV file is its rows
        id="no lines",
    ),
    pytest.param(
        Case(lines=[GOOD_LINE] * (purchase_rules.MAX_LINES + 1)),
        "A purchase can have at most 500 lines.",
        "lines",
        (2, "external_id"),
        id="too many lines",
    ),
    pytest.param(
        Case(lines=[("A", "1", "9999999999.99", ""), ("B", "1", "1.00", "")]),
        "The basket's total is too large.",
        "lines",
        (2, "external_id"),
        id="basket too large",
    ),
    pytest.param(
        Case(lines=[GOOD_LINE, ("", "1", "1.00", "")]),
        "Every line needs a SKU.",
        "lines.1.sku",
        (3, "sku"),
        id="empty SKU",
    ),
    pytest.param(
        Case(lines=[("X" * 65, "1", "1.00", "")]),
        "A SKU can have at most 64 characters.",
        "lines.0.sku",
        (2, "sku"),
        id="SKU too long",
    ),
    pytest.param(
        Case(lines=[("A", "1", "1.00", "x" * 65)]),
        "A category can have at most 64 characters.",
        "lines.0.category",
        (2, "category"),
        id="category too long",
    ),
    pytest.param(
        Case(lines=[("A", "0", "1.00", "")]),
        "Quantities must be at least 1.",
        "lines.0.quantity",
        (2, "quantity"),
        id="zero quantity",
    ),
    pytest.param(
        Case(lines=[("A", "1000001", "1.00", "")]),
        "Quantities can be at most 1000000.",
        "lines.0.quantity",
        (2, "quantity"),
        id="huge quantity",
    ),
    pytest.param(
        Case(lines=[("A", "1", "-1.00", "")]),
        "Unit prices cannot be negative.",
        "lines.0.unit_price",
        (2, "unit_price"),
        id="negative price",
    ),
    pytest.param(
        Case(lines=[("A", "1", "1.001", "")]),
        "Unit prices can have at most two decimals.",
        "lines.0.unit_price",
        (2, "unit_price"),
        id="price with fractions of a cent",
    ),
    pytest.param(
        Case(lines=[("A", "1", "10000000000.00", "")]),
        "The unit price is too large.",
        "lines.0.unit_price",
        (2, "unit_price"),
        id="price too large",
    ),
]


@pytest.fixture
def member(db):
    return MemberFactory(email="ada@example.com")


@pytest.fixture
def api():
    _key, raw_key = api_key_create(name="Till", scopes=["purchases:write"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    return client


def through_api(api, member, case: Case):
    body = {
        "member": member.member_number,
        "external_id": "T-1",
        "occurred_at": (timezone.now() + case.occurred_at).isoformat(),
        "currency": case.currency,
        "lines": [
            {"sku": sku, "quantity": int(quantity), "unit_price": price, "category": category}
            for sku, quantity, price, category in case.lines
        ],
    }
    if case.total is not None:
        body["total"] = case.total
    return api.post("/api/v1/purchases/", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")


def through_service(member, case: Case):
    return purchase_record(
        member=member,
        external_id="T-1",
        lines=[
            PurchaseLineInput(sku=sku, quantity=int(quantity), unit_price=Decimal(price), category=category)
            for sku, quantity, price, category in case.lines
        ],
        channel="in_store",
        occurred_at=timezone.now() + case.occurred_at,
        currency=case.currency,
        total=None if case.total is None else Decimal(case.total),
    )


def through_importer(member, case: Case, *, dry_run=True, settings, tmp_path) -> ImportJob:
    settings.MEDIA_ROOT = tmp_path
    when = (timezone.now() + case.occurred_at).isoformat()
    rows = ["external_id,member,occurred_at,sku,quantity,unit_price,category,currency"]
    rows += [
        f"T-1,{member.member_number},{when},{sku},{quantity},{price},{category},{case.currency}"
        for sku, quantity, price, category in case.lines
    ]
    upload = SimpleUploadedFile("purchases.csv", "\n".join(rows).encode(), content_type="text/csv")
    job = ImportJob(kind=ImportJob.Kind.PURCHASES, dry_run=dry_run, source_name="pos")
    job.file.save("purchases.csv", upload)
    return run_import(job_id=job.pk)


@pytest.mark.parametrize(("case", "message", "api_field", "cell"), CASES)
def test_the_three_paths_refuse_alike(api, member, case, message, api_field, cell, settings, tmp_path):
    response = through_api(api, member, case)
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"] == {api_field: [message]}

    with pytest.raises(InvalidPurchase) as refused:
        through_service(member, case)
    assert (refused.value.field, refused.value.message) == (api_field, message)

    if case.lines:  # a CSV purchase is its rows
        job = through_importer(member, case, settings=settings, tmp_path=tmp_path)
        if cell is None:
            assert job.errors == [], job.errors
        else:
            assert job.errors == [{"row": cell[0], "field": cell[1], "message": message}]
            assert [cell[0], cell[1], message] in list(error_report_rows(job))
    assert not Purchase.objects.exists() and not LedgerEntry.objects.exists()


def test_another_currency_is_a_business_refusal_with_the_same_message(api, member, settings, tmp_path):
    case = Case(currency="USD")
    message = "This program earns on EUR purchases only."
    response = through_api(api, member, case)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_purchase"
    assert response.json()["error"]["fields"] == {"currency": [message]}
    with pytest.raises(InvalidPurchase) as refused:
        through_service(member, case)
    assert (refused.value.field, refused.value.message) == ("currency", message)
    job = through_importer(member, case, settings=settings, tmp_path=tmp_path)
    assert job.errors == [{"row": 2, "field": "currency", "message": message}]


def test_a_good_purchase_passes_every_path(api, member, settings, tmp_path):
    case = Case(lines=[("A", "1", "1.5", ""), GOOD_LINE], total="8.5")  # 1.50 + 2 × 3.50
    job = through_importer(member, case, settings=settings, tmp_path=tmp_path)
    assert job.status == ImportJob.Status.DONE and job.errors == []
    response = through_api(api, member, case)
    assert response.status_code == 201, response.json()
    assert response.json()["total"] == "8.50" and response.json()["lines"][0]["unit_price"] == "1.50"


def test_a_till_clock_a_little_ahead_is_accepted_everywhere(api, member, settings, tmp_path):
    case = Case(occurred_at=purchase_rules.CLOCK_SKEW - timedelta(seconds=30))
    assert through_importer(member, case, settings=settings, tmp_path=tmp_path).errors == []
    assert through_api(api, member, case).status_code == 201


def test_imports_back_fill_purchases_older_than_tills_may_send(member, settings, tmp_path):
    case = Case(occurred_at=-purchase_rules.MAX_PURCHASE_AGE - timedelta(days=30))
    job = through_importer(member, case, dry_run=False, settings=settings, tmp_path=tmp_path)
    assert job.status == ImportJob.Status.DONE, job.message
    assert job.created_rows == 1
    purchase = Purchase.objects.get()
    assert purchase.source == "import:pos" and purchase.lines.count() == 2
    assert_consistent(member)


def test_unparseable_csv_amounts_get_the_rules_words(member, settings, tmp_path):
    job = through_importer(member, Case(lines=[("A", "two", "1.5.0", "")]), settings=settings, tmp_path=tmp_path)
    assert job.errors == [
        {"row": 2, "field": "quantity", "message": "The quantity must be a whole number of at least 1."},
        {"row": 2, "field": "unit_price", "message": "The unit price must be an amount like 12.50."},
    ]
