from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from members.models import LedgerEntry, Member, PointsLot, ProgramSettings, User
from members.services import points_adjust
from tests.api.conftest import post, purchase_body

pytestmark = pytest.mark.django_db

URL = "/api/v1/members/"


def enrol_body(**overrides):
    body = {
        "email": "Grace@Example.com",
        "first_name": "Grace",
        "last_name": "Hopper",
        "birthday": "1990-12-09",
        "marketing_consent": True,
    }
    body.update(overrides)
    return body


def test_enrol_returns_member_and_card_numbers(api, tiers):
    response = post(api, URL, enrol_body())
    assert response.status_code == 201, response.json()
    body = response.json()
    member = Member.objects.get(member_number=body["member_number"])
    assert body["card_number"] == member.card_number
    assert body["email"] == "grace@example.com"
    assert body["balance"] == 0 and body["tier"]["name"] == "Bronze"
    assert member.enrollment_channel == "api" and member.marketing_consent is True
    assert str(member.birthday) == "1990-12-09"


def test_enrolling_an_existing_email_is_409_with_the_members_number(api, member):
    response = post(api, URL, enrol_body(email="ADA@example.com"))
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "member_exists"
    assert error["member_number"] == member.member_number
    assert "email" in error["fields"]
    assert User.objects.count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [({"email": "not-an-email"}, "email"), ({"birthday": "2999-01-01"}, "birthday"), ({"email": ""}, "email")],
)
def test_enrol_validation(api, tiers, change, field):
    response = post(api, URL, enrol_body(**change))
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Member.objects.exists()


def test_detail_has_balance_tier_progress_and_expiring_points(api, member, django_assert_max_num_queries):
    with transaction.atomic():
        points_adjust(member=member, points=120, reason="welcome", actor=None)
    PointsLot.objects.filter(account_id=member.pk).update(expires_at=timezone.now() + timedelta(days=3))
    post(api, "/api/v1/purchases/", purchase_body(member))
    with django_assert_max_num_queries(6):
        response = api.get(f"{URL}{member.member_number}/")
    assert response.status_code == 200
    body = response.json()
    assert body["balance"] == 131
    assert body["tier"]["name"] == "Bronze"
    progress = body["tier_progress"]
    assert progress["basis"] == ProgramSettings.TierBasis.POINTS
    assert progress["value"] == "11.00"
    assert progress["next_tier"] == "Silver"
    assert Decimal(progress["remaining"]) == Decimal(progress["next_threshold"]) - 11
    assert body["expiring_soon"]["points"] == 120
    assert body["expiring_soon"]["first_expiry"] is not None


def test_unknown_member_is_404(api):
    response = api.get(f"{URL}M000000000/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_lookup_by_card_number_or_email(api, member):
    by_card = api.get(URL, {"card_number": member.card_number})
    assert by_card.status_code == 200
    assert [m["member_number"] for m in by_card.json()] == [member.member_number]
    by_email = api.get(URL, {"email": "ADA@example.com"})
    assert [m["member_number"] for m in by_email.json()] == [member.member_number]
    assert api.get(URL, {"email": "nobody@example.com"}).json() == []


@pytest.mark.parametrize("query", [{}, {"email": "x@example.com", "card_number": "1"}, {"email": "nope"}])
def test_lookup_needs_exactly_one_valid_criterion(api, query):
    response = api.get(URL, query)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_activity_is_cursor_paginated_newest_first(api, member, django_assert_max_num_queries):
    for number in range(7):
        post(api, "/api/v1/purchases/", purchase_body(member, external_id=f"T-{number}"), key=f"k{number}")
    url = f"{URL}{member.member_number}/activity/?page_size=3"
    seen = []
    while url:
        with django_assert_max_num_queries(4):
            response = api.get(url)
        assert response.status_code == 200
        page = response.json()
        seen += [entry["purchase_external_id"] for entry in page["results"]]
        url = page["next"]
    assert seen == [f"T-{number}" for number in reversed(range(7))]
    entry = LedgerEntry.objects.order_by("id").first()
    first = api.get(f"{URL}{member.member_number}/activity/?page_size=100").json()["results"][-1]
    assert first["id"] == entry.pk and first["kind"] == "earn" and first["points"] == 11


def test_activity_with_a_bad_cursor_is_404_json(api, member):
    response = api.get(f"{URL}{member.member_number}/activity/?cursor=garbage")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
