"""Issue 16, item 15: a database blip loses no webhook delivery. The task retries transient errors, and the
sweeper queues again every pending delivery whose task was lost, until it is delivered or out of attempts."""

from datetime import timedelta

import pytest
from django.conf import settings
from django.db import OperationalError
from django.utils import timezone

from integrations import tasks
from integrations.models import WebhookDelivery
from integrations.services import WEBHOOK_MAX_ATTEMPTS, WEBHOOK_SWEEP_GRACE, webhook_endpoint_create
from integrations.tasks import webhook_deliver_task, webhook_deliveries_sweep
from tests.integrations.test_webhooks import Receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def endpoint(api, receiver):
    return webhook_endpoint_create(api_key=api.api_key, url=receiver.url, events=["tier.changed"])


def _delivery(endpoint, *, due_ago=timedelta(0), attempts=0):
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event="tier.changed",
        payload={"member_number": "M1"},
        attempts=attempts,
        next_attempt_at=timezone.now() - due_ago,
    )


def _failing_first(monkeypatch, times: int):
    real = tasks.webhook_deliver
    calls = {"n": 0}

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] <= times:
            raise OperationalError("server closed the connection unexpectedly")
        return real(**kwargs)

    monkeypatch.setattr(tasks, "webhook_deliver", flaky)
    return calls


def test_a_delivery_task_that_meets_a_database_outage_retries_and_delivers(endpoint, receiver, monkeypatch):
    calls = _failing_first(monkeypatch, times=3)
    delivery = _delivery(endpoint)
    webhook_deliver_task.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert calls["n"] == 4
    assert delivery.status == WebhookDelivery.Status.DELIVERED
    assert delivery.attempts == 1  # the outage used none of the endpoint's attempts
    assert len(receiver.requests) == 1


def test_a_longer_outage_leaves_the_delivery_pending_for_the_sweeper(endpoint, receiver, monkeypatch):
    _failing_first(monkeypatch, times=100)
    delivery = _delivery(endpoint)
    with pytest.raises(OperationalError):
        webhook_deliver_task.apply(args=[delivery.pk])
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.PENDING and delivery.attempts == 0
    monkeypatch.undo()
    # Once the grace period has passed, the sweep finds it and it is delivered.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - 2 * WEBHOOK_SWEEP_GRACE)
    assert webhook_deliveries_sweep.apply().get() == 1
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.DELIVERED and len(receiver.requests) == 1


def test_the_sweeper_queues_overdue_deliveries_only(endpoint, receiver):
    lost = _delivery(endpoint, due_ago=WEBHOOK_SWEEP_GRACE + timedelta(minutes=1), attempts=2)
    merely_due = _delivery(endpoint, due_ago=timedelta(seconds=5))
    later = _delivery(endpoint, due_ago=-timedelta(minutes=5), attempts=1)
    done = _delivery(endpoint, due_ago=timedelta(hours=1))
    WebhookDelivery.objects.filter(pk=done.pk).update(status=WebhookDelivery.Status.DELIVERED)

    assert webhook_deliveries_sweep.apply().get() == 1

    lost.refresh_from_db()
    assert lost.status == WebhookDelivery.Status.DELIVERED and lost.attempts == 3
    assert [request["headers"]["X-Loyalty-Delivery"] for request in receiver.requests] == [str(lost.pk)]
    for untouched in (merely_due, later):
        untouched.refresh_from_db()
        assert untouched.status == WebhookDelivery.Status.PENDING
    # Nothing is overdue any more: the next sweep queues nothing.
    assert webhook_deliveries_sweep.apply().get() == 0


def test_a_swept_delivery_continues_its_series_and_fails_after_the_last_attempt(endpoint, receiver):
    receiver.statuses = [500] * 3
    delivery = _delivery(endpoint, due_ago=timedelta(hours=1), attempts=WEBHOOK_MAX_ATTEMPTS - 2)
    webhook_deliveries_sweep.apply()
    delivery.refresh_from_db()
    assert delivery.status == WebhookDelivery.Status.FAILED
    assert delivery.attempts == WEBHOOK_MAX_ATTEMPTS
    assert len(receiver.requests) == 2


def test_the_sweeper_runs_every_minute_on_the_webhooks_queue():
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == webhook_deliveries_sweep.name)
    assert entry["schedule"] == timedelta(minutes=1)
    assert settings.CELERY_TASK_ROUTES[webhook_deliveries_sweep.name] == {"queue": "webhooks"}
