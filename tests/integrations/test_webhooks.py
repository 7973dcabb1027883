import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import transaction

from integrations.context import acting_as
from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.services import (
    WEBHOOK_MAX_ATTEMPTS,
    api_key_create,
    api_key_revoke,
    webhook_endpoint_create,
    webhook_endpoint_update,
    webhook_event_enqueue,
    webhook_signature,
    webhook_signature_verify,
)
from integrations.tasks import webhook_deliver_task
from members import hooks
from tests.integrations.conftest import post, purchase_body

pytestmark = pytest.mark.django_db


class Receiver:
    """A webhook receiver on 127.0.0.1 answering with scripted status codes (then 200)."""

    def __init__(self):
        self.requests, self.statuses = [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"nope")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def endpoint(api, receiver):
    return webhook_endpoint_create(api_key=api.api_key, url=receiver.url, events=["purchase.recorded", "tier.changed"])


def test_purchase_recorded_is_delivered_signed_after_commit(
    api, member, endpoint, receiver, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = post(api, "/api/v1/purchases/", purchase_body(member))
    assert response.status_code == 201
    assert len(callbacks) == 1
    [request] = receiver.requests
    headers, body = request["headers"], request["body"]
    assert webhook_signature_verify(secret=endpoint.secret, header=headers["X-Loyalty-Signature"], body=body)
    assert headers["X-Loyalty-Signature"].startswith(f"t={headers['X-Loyalty-Timestamp']},v1=")
    assert headers["X-Loyalty-Event"] == "purchase.recorded"
    payload = json.loads(body)
    assert payload["event"] == "purchase.recorded"
    assert payload["data"]["external_id"] == "T-1"
    assert payload["data"]["points_earned"] == 11
    assert payload["data"]["total"] == "11.25"
    delivery = WebhookDelivery.objects.get()
    assert payload["id"] == delivery.pk
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.attempts == 1 and delivery.last_status_code == 200 and delivery.last_response_body == "ok"
    assert delivery.delivered_at is not None


def test_only_subscribed_active_endpoints_of_live_keys_get_events(api, member, receiver):
    webhook_endpoint_create(api_key=api.api_key, url=receiver.url, events=["points.expired"])
    revoked_key, _ = api_key_create(name="Old", scopes=[])
    webhook_endpoint_create(api_key=revoked_key, url=receiver.url, events=["purchase.recorded"])
    api_key_revoke(api_key=revoked_key)
    post(api, "/api/v1/purchases/", purchase_body(member))
    assert not WebhookDelivery.objects.exists()


def test_subscriptions_are_cached_and_follow_endpoint_and_key_changes(api, member, django_assert_num_queries):
    assert not hooks.listening("points.expired")  # batch jobs skip building payloads nobody reads
    endpoint = webhook_endpoint_create(
        api_key=api.api_key, url="https://till.example/hook", events=["tier.changed"], audience="program"
    )
    assert hooks.listening("tier.changed") and not hooks.listening("points.expired")
    with django_assert_num_queries(0):
        assert hooks.listening("tier.changed")  # answered from the cache
    webhook_endpoint_update(endpoint=endpoint, url=endpoint.url, events=["points.expired"], is_active=True)
    assert hooks.listening("points.expired") and not hooks.listening("tier.changed")
    api_key_revoke(api_key=api.api_key)
    assert not hooks.listening("points.expired")


def test_a_delivery_recorded_before_its_key_was_revoked_is_not_sent(endpoint, receiver):
    delivery = webhook_event_enqueue(event="tier.changed", payload={"to": "Gold"}, caused_by=endpoint.api_key)[0]
    api_key_revoke(api_key=endpoint.api_key)
    webhook_deliver_task(delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED and delivery.last_error == "API key revoked."
    assert receiver.requests == []


def test_points_changed_events_become_deliveries(endpoint, django_capture_on_commit_callbacks, receiver):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic(), acting_as(endpoint.api_key):
        hooks.emit("tier.changed", {"member_number": "M1", "from": "Bronze", "to": "Silver"})
        hooks.emit("not.an.event", {})
    assert WebhookDelivery.objects.get().event == "tier.changed"
    assert json.loads(receiver.requests[0]["body"])["data"]["to"] == "Silver"


def test_a_purchase_that_reaches_a_tier_sends_tier_changed_end_to_end(
    api, member, endpoint, receiver, django_capture_on_commit_callbacks
):
    big = [{"sku": "TV", "category": "electronics", "quantity": 1, "unit_price": "1200.00"}]
    with django_capture_on_commit_callbacks(execute=True):
        response = post(api, "/api/v1/purchases/", purchase_body(member, lines=big))
    assert response.status_code == 201
    bodies = {json.loads(request["body"])["event"]: json.loads(request["body"]) for request in receiver.requests}
    assert set(bodies) == {"purchase.recorded", "tier.changed"}
    assert bodies["tier.changed"]["data"] == {
        "member_number": member.member_number,
        "from": "Bronze",
        "to": "Silver",
        "reason": "upgrade",
    }
    assert WebhookDelivery.objects.get(event="tier.changed").status == WebhookDelivery.Status.DELIVERED
    # Staying in the tier sends nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        post(api, "/api/v1/purchases/", purchase_body(member, external_id="T-2", lines=big), key="k-2")
    assert WebhookDelivery.objects.filter(event="tier.changed").count() == 1


def test_tier_changed_is_not_delivered_to_endpoints_that_did_not_subscribe(api, member):
    webhook_endpoint_create(api_key=api.api_key, url="http://127.0.0.1:9/hooks", events=["purchase.recorded"])
    big = [{"sku": "TV", "category": "electronics", "quantity": 1, "unit_price": "1200.00"}]
    post(api, "/api/v1/purchases/", purchase_body(member, lines=big))
    member.refresh_from_db()
    assert member.tier.name == "Silver"
    assert list(WebhookDelivery.objects.values_list("event", flat=True)) == ["purchase.recorded"]


def test_nothing_is_recorded_or_sent_for_a_rolled_back_change(endpoint, receiver):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        webhook_event_enqueue(event="tier.changed", payload={"member_number": "M1"}, caused_by=endpoint.api_key)
        raise Boom
    assert not WebhookDelivery.objects.exists()
    assert receiver.requests == []


def _delivery(endpoint, event="tier.changed"):
    return WebhookDelivery.objects.create(endpoint=endpoint, event=event, payload={"member_number": "M1"})


def test_failures_are_retried_with_backoff_until_delivered(endpoint, receiver, monkeypatch):
    countdowns = []
    real_apply_async = webhook_deliver_task.apply_async

    def spy(*args, **kwargs):
        countdowns.append(kwargs.get("countdown"))
        return real_apply_async(*args, **kwargs)

    monkeypatch.setattr(webhook_deliver_task, "apply_async", spy)
    receiver.statuses = [500, 503]
    delivery = _delivery(endpoint)
    webhook_deliver_task.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.attempts == 3
    assert countdowns == [2, 4]
    assert len(receiver.requests) == 3


def test_gives_up_after_the_last_attempt_and_records_the_response(endpoint, receiver):
    receiver.statuses = [500] * WEBHOOK_MAX_ATTEMPTS
    delivery = _delivery(endpoint)
    webhook_deliver_task.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempts == WEBHOOK_MAX_ATTEMPTS
    assert delivery.last_status_code == 500 and delivery.last_response_body == "nope"


def test_unreachable_endpoint_records_the_error(api):
    endpoint = webhook_endpoint_create(api_key=api.api_key, url="http://127.0.0.1:9/hooks", events=["tier.changed"])
    delivery = _delivery(endpoint)
    webhook_deliver_task.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.last_status_code is None and "ConnectError" in delivery.last_error


def test_delivered_deliveries_are_not_sent_twice_by_a_duplicate_task(endpoint, receiver):
    delivery = _delivery(endpoint)
    webhook_deliver_task.apply(args=[delivery.pk])
    webhook_deliver_task.apply(args=[delivery.pk])
    assert len(receiver.requests) == 1


def test_staff_replay_from_the_admin(admin_client, endpoint, receiver, django_capture_on_commit_callbacks):
    delivery = _delivery(endpoint)
    webhook_deliver_task.apply(args=[delivery.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/integrations/webhookdelivery/",
            {"action": "replay_deliveries", "_selected_action": [delivery.pk]},
            follow=True,
        )
    assert response.status_code == 200
    assert "1 delivery queued again" in response.content.decode()
    delivery.refresh_from_db()
    assert delivery.attempts == 2 and delivery.status == WebhookDelivery.Status.DELIVERED
    assert len(receiver.requests) == 2


def test_signature_verification_refuses_tampering_and_stale_timestamps():
    body = b'{"event":"tier.changed"}'
    now = int(time.time())
    header = webhook_signature(secret="whsec_x", timestamp=now, body=body)
    assert webhook_signature_verify(secret="whsec_x", header=header, body=body)
    assert not webhook_signature_verify(secret="whsec_x", header=header, body=body + b" ")
    assert not webhook_signature_verify(secret="whsec_y", header=header, body=body)
    assert not webhook_signature_verify(secret="whsec_x", header=header, body=body, now=now + 301)
    assert not webhook_signature_verify(secret="whsec_x", header="garbage", body=body)


def test_endpoint_events_are_validated(api):
    with pytest.raises(ValueError, match="Unknown event"):
        webhook_endpoint_create(api_key=api.api_key, url="http://127.0.0.1/", events=["everything"])
    assert not WebhookEndpoint.objects.exists()
