"""Issue 16, item 17: no outbound HTTP ever runs inside a request. A web process only records deliveries and
queues their tasks (production runs no task eagerly: tests/site/test_production_needs_a_broker.py); a worker
sends them. Every HTTP client the code could use is refused here while the API answers."""

import http.client

import httpx
import pytest
from celery.app.task import Task

from integrations.models import WebhookDelivery
from integrations.services import webhook_endpoint_create
from integrations.tasks import webhook_deliver_task
from tests.integrations.conftest import post, purchase_body


@pytest.fixture
def queued_not_run(monkeypatch):
    """Tasks as a production web process sends them: to the broker (recorded here), never run in the request."""
    sent = []
    monkeypatch.setattr(Task, "apply_async", lambda self, args=None, kwargs=None, **options: sent.append(self.name))
    return sent


@pytest.fixture
def no_outbound_http(monkeypatch):
    """Any HTTP connection attempt (httpx, or urllib/requests through http.client) is recorded and refused."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise AssertionError("outbound HTTP inside a request")

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", refuse)
    monkeypatch.setattr(http.client.HTTPConnection, "connect", refuse)
    return attempts


@pytest.mark.django_db
def test_api_writes_with_subscribed_endpoints_make_no_outbound_http(
    api, member, queued_not_run, no_outbound_http, django_capture_on_commit_callbacks
):
    # An endpoint that would hang for as long as it is allowed to: the request must not wait for it.
    webhook_endpoint_create(
        api_key=api.api_key, url="http://198.51.100.7/hangs", events=["purchase.recorded", "tier.changed"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        bought = post(api, "/api/v1/purchases/", purchase_body(member), key="buy")
        again = post(api, "/api/v1/purchases/", purchase_body(member, external_id="T-2"), key="buy-2")
        refunded = post(api, "/api/v1/purchases/T-1/refunds/", {"refund_id": "R-1"}, key="refund")
    assert (bought.status_code, again.status_code, refunded.status_code) == (201, 201, 201)
    assert no_outbound_http == []
    deliveries = WebhookDelivery.objects.order_by("pk")
    assert [d.event for d in deliveries] == ["purchase.recorded", "purchase.recorded"]
    assert all(d.status == WebhookDelivery.Status.PENDING and d.attempts == 0 for d in deliveries)
    assert queued_not_run.count(webhook_deliver_task.name) == 2
