"""POST /api/v1/members/{number}/actions/ and …/feedback/: scopes, idempotency, refusals, webhooks, query counts."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import WebhookDelivery
from integrations.services import webhook_endpoint_create
from members.models import ActionOccurrence, FeedbackResponse, LedgerEntry
from members.services.actions import action_occurrence_approve
from tests.factories import StaffUserFactory, buy, earning_action_factory
from tests.integrations.conftest import post

pytestmark = pytest.mark.django_db


def url(member, what="actions"):
    return f"/api/v1/members/{member.member_number}/{what}/"


@pytest.fixture
def review():
    return earning_action_factory(code="review", points=50, limit_per_day=2)


def test_records_and_credits(api, member, review, django_assert_max_num_queries):
    post(api, url(member), {"action": "review", "external_id": "WARM"}, key="warm")  # per-process caches filled
    # Key, idempotency claim, member, account lock, replay check, action, tier, limits, insert, entry with lot
    # and balances, the answer's balance and limits, webhooks: a fixed number whatever the history.
    with django_assert_max_num_queries(20):
        response = post(api, url(member), {"action": "review", "external_id": "REV-1", "reference": "product 42"})

    assert response.status_code == 201, response.json()
    body = response.json()
    assert {key: body[key] for key in ("status", "points", "balance", "limit_remaining")} == {
        "status": "credited",
        "points": 50,
        "balance": 100,
        "limit_remaining": 0,
    }
    assert body["limits"] == {"day": {"limit": 2, "used": 2, "remaining": 0}}
    occurrence = ActionOccurrence.objects.get(external_id="REV-1")
    assert (occurrence.source, occurrence.reference) == (api.api_key.source, "product 42")
    assert LedgerEntry.objects.get(kind="action", source_id=occurrence.pk).source == occurrence


def test_same_external_id_under_a_new_key_changes_nothing(api, member, review):
    first = post(api, url(member), {"action": "review", "external_id": "REV-1"}, key="k-1")
    again = post(api, url(member), {"action": "review", "external_id": "REV-1"}, key="k-2")
    replay = post(api, url(member), {"action": "review", "external_id": "REV-1"}, key="k-1")

    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["replayed"] is True and again.json()["balance"] == 50
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert ActionOccurrence.objects.count() == 1 and LedgerEntry.objects.filter(kind="action").count() == 1


def test_refusals_are_422_with_their_codes(api, member, review):
    post(api, url(member), {"action": "review", "external_id": "R-1"}, key="a")
    post(api, url(member), {"action": "review", "external_id": "R-2"}, key="b")

    limit = post(api, url(member), {"action": "review", "external_id": "R-3"}, key="c")
    unknown = post(api, url(member), {"action": "dance", "external_id": "R-4"}, key="d")

    assert limit.status_code == 422 and limit.json()["error"]["code"] == "action_limit_reached"
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "action_not_available"
    assert unknown.json()["error"]["fields"] == {"action": [unknown.json()["error"]["message"]]}
    assert ActionOccurrence.objects.count() == 2


def test_pending_review_then_approved(api, member):
    earning_action_factory(code="event", points=150, requires_approval=True)

    response = post(api, url(member), {"action": "event", "external_id": "EV-1", "metadata": {"event": "tasting"}})

    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["points"], body["balance"], body["points_on_approval"]) == (
        "pending_review",
        0,
        0,
        150,
    )
    assert body["limit_remaining"] is None
    occurrence = ActionOccurrence.objects.get()
    assert occurrence.metadata == {"event": "tasting"}
    action_occurrence_approve(occurrence=occurrence, actor=StaffUserFactory())
    assert LedgerEntry.objects.get(kind="action").points == 150


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"external_id": "X"}, "action"),
        ({"action": "review"}, "external_id"),
        ({"action": "review", "external_id": "X", "quantity": 0}, "quantity"),
        ({"action": "review", "external_id": "X", "occurred_at": "2099-01-01T00:00:00Z"}, "occurred_at"),
        ({"action": "review", "external_id": "X", "occurred_at": "2001-01-01T00:00:00Z"}, "occurred_at"),
        ({"action": "review", "external_id": "X", "metadata": {"x": "y" * 5000}}, "metadata"),
        ({"action": "review", "external_id": "X", "metadata": [1]}, "metadata"),
        ({"action": "review", "external_id": "X", "metadata": {"note": "a\x00b"}}, "metadata"),
        ({"action": "review", "external_id": "X\x00"}, "external_id"),
    ],
)
def test_invalid_input_is_400_per_field(api, member, review, body, field):
    response = post(api, url(member), body)

    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not ActionOccurrence.objects.exists()


def test_scope_unknown_member_and_sessions(make_client, member, review, client):
    reader = make_client(scopes=["members:read"])
    assert post(reader, url(member), {"action": "review", "external_id": "X"}).status_code == 403
    writer = make_client(scopes=["actions:write"])
    missing = post(writer, "/api/v1/members/M000000000/actions/", {"action": "review", "external_id": "X"})
    assert missing.status_code == 404
    client.force_login(member.user)
    own = client.post(url(member), {"action": "review", "external_id": "X"}, content_type="application/json")
    assert own.status_code in (401, 403)
    assert not ActionOccurrence.objects.exists()


def test_action_recorded_webhook_from_the_stored_rows(api, member, review, django_capture_on_commit_callbacks):
    webhook_endpoint_create(api_key=api.api_key, url="https://example.com/hooks", events=["action.recorded"])

    with django_capture_on_commit_callbacks(execute=False):
        post(api, url(member), {"action": "review", "external_id": "REV-1"})

    delivery = WebhookDelivery.objects.get(event="action.recorded")
    data = delivery.payload
    assert (data["member_number"], data["action"], data["status"], data["points"], data["balance"]) == (
        member.member_number,
        "review",
        "credited",
        50,
        50,
    )


# --- feedback ---------------------------------------------------------------------------------------------------


def test_feedback_with_a_purchase_of_this_integration(api, member):
    earning_action_factory(code="survey", points=25)
    purchase = buy(member, "9.00", store="Utrecht", occurred_at=timezone.now() - timedelta(hours=2)).purchase
    purchase.__class__.objects.filter(pk=purchase.pk).update(source=api.api_key.source)

    response = post(
        api,
        url(member, "feedback"),
        {"score": 4, "comment": "Queue too long", "purchase": purchase.external_id, "external_id": "TILL-FB-1"},
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["group"], body["store"], body["channel"], body["points"], body["balance"]) == (
        "detractor",
        "Utrecht",
        "in_store",
        25,
        response.json()["balance"],
    )
    assert body["points"] == 25 and body["purchase"] == purchase.external_id
    again = post(api, url(member, "feedback"), {"score": 4, "external_id": "TILL-FB-1"}, key="k-2")
    assert again.status_code == 200 and again.json()["replayed"] is True
    second = post(
        api,
        url(member, "feedback"),
        {"score": 9, "purchase": purchase.external_id, "external_id": "TILL-FB-2"},
        key="k-3",
    )
    assert second.status_code == 422 and second.json()["error"]["code"] == "feedback_already_given"
    assert FeedbackResponse.objects.count() == 1


def test_feedback_refuses_other_integrations_purchases_and_bad_scores(api, member):
    purchase = buy(member, "9.00").purchase  # recorded by no API key of this test

    foreign = post(api, url(member, "feedback"), {"score": 8, "purchase": purchase.external_id, "external_id": "F"})
    too_high = post(api, url(member, "feedback"), {"score": 11, "external_id": "G"}, key="k-2")

    assert foreign.status_code == 400 and "purchase" in foreign.json()["error"]["fields"]
    assert too_high.status_code == 400 and "score" in too_high.json()["error"]["fields"]
    assert not FeedbackResponse.objects.exists()
