from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers

from members.models import LedgerEntry, Member, PointsLot, ProgramSettings, Tier, User
from members.selectors import member_summary, member_tier_progress
from members.services import points_adjust
from tests.integrations.conftest import post, purchase_body

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


def test_detail_reads_the_expiring_points_with_the_member_and_says_none_when_none_expire(api, member):
    with transaction.atomic():
        points_adjust(member=member, points=80, reason="welcome", actor=None)
    PointsLot.objects.filter(account_id=member.pk).update(expires_at=timezone.now() + timedelta(days=90))
    url = f"{URL}{member.member_number}/"
    api.get(url)  # warm
    with CaptureQueriesContext(connection) as captured:
        body = api.get(url).json()
    assert body["expiring_soon"]["points"] == 0 and body["expiring_soon"]["first_expiry"] is None
    statements = [query["sql"] for query in captured.captured_queries]
    assert not [sql for sql in statements if sql.startswith('SELECT SUM("members_pointslot')]
    assert len(statements) <= 2  # the member (with its expiring points), its qualifying months


def test_detail_matches_the_member_site_and_adds_value_and_dates(api, member):
    with transaction.atomic():
        points_adjust(member=member, points=250, reason="welcome", actor=None)
    soon = timezone.now() + timedelta(days=5)
    PointsLot.objects.filter(account_id=member.pk).update(expires_at=soon)
    body = api.get(f"{URL}{member.member_number}/").json()
    fresh = Member.objects.select_related("account", "tier").get(pk=member.pk)
    summary, progress = member_summary(fresh), member_tier_progress(fresh)
    assert body["points_value"] == "2.50" == str(summary.value)
    assert body["currency"] == "EUR"
    assert body["expiring_soon"] == {
        "points": 250,
        "first_expiry": serializers.DateTimeField().to_representation(soon),
        "within_days": 30,
        "expiring_on": timezone.localdate(soon).isoformat(),
        "all_expire_on": None,
    }
    tier_progress = body["tier_progress"]
    assert Decimal(tier_progress["value"]) == progress.qualifying_value
    assert Decimal(tier_progress["remaining"]) == progress.needed_for_next
    assert tier_progress["percent"] == progress.percent
    assert tier_progress["window_end"] == progress.window_end.isoformat()
    assert tier_progress["needed_to_keep"] == "0.00" and tier_progress["review_date"] is None


def test_detail_at_the_top_tier_has_no_next_tier(api, member):
    Member.objects.filter(pk=member.pk).update(tier=Tier.objects.order_by("-rank").first())
    progress = api.get(f"{URL}{member.member_number}/").json()["tier_progress"]
    assert progress["next_tier"] is None
    assert progress["next_threshold"] is None and progress["remaining"] is None
    assert progress["percent"] == 100


def test_detail_under_the_activity_policy_shows_when_all_points_expire(api, member):
    program = ProgramSettings.objects.get(pk=1)
    program.expiry_policy, program.expiry_months = ProgramSettings.ExpiryPolicy.ACTIVITY, 12
    program.save()
    with transaction.atomic():
        points_adjust(member=member, points=40, reason="welcome", actor=None)
    last = timezone.now() - timedelta(days=360)
    Member.objects.filter(pk=member.pk).update(last_purchase_at=last)
    expiring = api.get(f"{URL}{member.member_number}/").json()["expiring_soon"]
    assert expiring["points"] == 40
    assert expiring["expiring_on"] == expiring["all_expire_on"]
    assert expiring["first_expiry"].startswith(expiring["all_expire_on"])


@pytest.mark.parametrize("history", [1, 30])
def test_detail_query_count_does_not_grow_with_history(api, member, history, django_assert_max_num_queries):
    for number in range(history):
        post(api, "/api/v1/purchases/", purchase_body(member, external_id=f"T-{number}"), key=f"h{number}")
    with django_assert_max_num_queries(6):
        assert api.get(f"{URL}{member.member_number}/").status_code == 200


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


@pytest.mark.parametrize(
    "query",
    [{}, {"email": "x@example.com", "card_number": "1"}, {"email": "nope"}, {"card_number": "0", "email": ""}],
)
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
