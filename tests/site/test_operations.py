"""Health probes, the Prometheus endpoint, the request and task log lines, and the one-beat lock."""

import json
import logging

import pytest
from django.core.cache import cache
from django.test import override_settings

from integrations import logs
from integrations.metrics import IDEMPOTENCY_CONFLICTS, POINTS, PURCHASES
from loyalty_site import health
from tests.factories import MemberFactory, TierFactory
from tests.integrations.conftest import ALL_SCOPES, post, purchase_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    from rest_framework.test import APIClient

    from integrations.services import api_key_create

    api_key, raw_key = api_key_create(name="Till", scopes=ALL_SCOPES)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {raw_key}")
    client.api_key, client.raw_key = api_key, raw_key
    return client


@pytest.fixture
def member():
    TierFactory(name="Bronze", rank=0, threshold=0)
    return MemberFactory(email="ada.lovelace@example.com")


def sample(counter, **labels) -> float:
    return counter.labels(**labels)._value.get()


# --- Health ----------------------------------------------------------------------------------------------------------


def test_live_answers_without_authentication_or_queries(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        response = client.get("/health/live")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_ready_is_200_when_every_check_passes_and_remembers_the_migrations(client, monkeypatch):
    monkeypatch.setattr(health, "_migrations_applied", False)
    first = client.get("/health/ready")
    assert first.status_code == 200, first.json()
    body = first.json()
    assert body["status"] == "ok" and body["failed"] == []
    assert set(body["checks"]) == {"database", "cache", "broker", "migrations"}
    assert body["checks"]["broker"]["status"] == "skipped"  # eager Celery: no broker to reach
    assert health._migrations_applied is True


def test_ready_is_503_naming_the_check_that_failed(client, monkeypatch):
    def broken():
        raise ConnectionError("redis://:secret@10.0.0.1 refused")

    monkeypatch.setitem(health.CHECKS, "cache", broken)
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["cache"] and body["checks"]["cache"] == {
        "status": "failed",
        "error": "ConnectionError",
        "ms": body["checks"]["cache"]["ms"],
    }
    assert "secret" not in response.content.decode()


def test_ready_reports_unapplied_migrations(client, monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(health, "_migrations_applied", False)
    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: ["members.9999_new"])
    response = client.get("/health/ready")
    assert response.status_code == 503 and response.json()["failed"] == ["migrations"]
    assert health._migrations_applied is False


# --- Metrics ---------------------------------------------------------------------------------------------------------


@override_settings(METRICS_TOKEN="", DEBUG=False)
def test_metrics_are_hidden_without_a_token_in_production(client):
    assert client.get("/metrics").status_code == 404


@override_settings(METRICS_TOKEN="s3cret-token")
def test_metrics_want_the_bearer_token(client):
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert response.status_code == 200
    text = response.content.decode()
    for name in (
        "loyalty_http_requests_total",
        "loyalty_http_request_duration_seconds_bucket",
        'loyalty_webhook_deliveries{status="pending"} 0.0',
        'loyalty_webhook_deliveries{status="failed"} 0.0',
        "loyalty_rollup_last_run_age_seconds -1.0",
        "loyalty_expiry_last_run_age_seconds",
        "loyalty_celery_queue_length",
    ):
        assert name in text, name


@override_settings(METRICS_TOKEN="t")
def test_request_metrics_are_labelled_by_route_not_path(client, api, member):
    api.get(f"/api/v1/members/{member.member_number}/")
    text = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").content.decode()
    assert 'route="/api/v1/members/<str:member_number>/"' in text
    assert member.member_number not in text


def test_purchases_and_points_are_counted(api, member):
    purchases, issued = sample(PURCHASES, channel="in_store"), sample(POINTS, movement="issued")
    assert post(api, "/api/v1/purchases/", purchase_body(member)).status_code == 201
    post(api, "/api/v1/purchases/", purchase_body(member), key="k-2")  # the same external id: not a new purchase
    assert sample(PURCHASES, channel="in_store") == purchases + 1
    assert sample(POINTS, movement="issued") > issued


def test_idempotency_conflicts_are_counted(api, member):
    before = sample(IDEMPOTENCY_CONFLICTS, reason="mismatch")
    post(api, "/api/v1/purchases/", purchase_body(member))
    response = post(api, "/api/v1/purchases/", purchase_body(member, store="Elsewhere"))
    assert response.status_code == 422
    assert sample(IDEMPOTENCY_CONFLICTS, reason="mismatch") == before + 1


def test_expiry_run_is_recorded_for_the_age_gauge():
    from members.services.batch import EXPIRY_LAST_RUN_KEY
    from members.tasks import expire_points

    expired = sample(POINTS, movement="expired")
    expire_points()
    assert cache.get(EXPIRY_LAST_RUN_KEY) is not None
    assert sample(POINTS, movement="expired") == expired


# --- Logs ------------------------------------------------------------------------------------------------------------


def request_lines(caplog) -> list[dict]:
    formatter = logs.JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "loyalty.request"]


def test_one_json_line_per_request_without_personal_data_codes_or_keys(api, member, caplog):
    caplog.set_level(logging.INFO, logger="loyalty.request")
    api.get(f"/api/v1/members/{member.member_number}/", HTTP_X_REQUEST_ID="req-42")
    api.get("/api/v1/vouchers/SECRET-VOUCHER-CODE/")
    member_line, voucher_line = request_lines(caplog)

    assert member_line["route"] == "/api/v1/members/<str:member_number>/"
    assert member_line["status"] == 200 and member_line["method"] == "GET"
    assert member_line["request_id"] == "req-42"
    assert member_line["member"] == logs.member_hash(member.member_number) != ""
    assert member_line["api_key"] == api.api_key.prefix
    assert member_line["duration_ms"] >= 0
    assert voucher_line["route"] == "/api/v1/vouchers/<str:code>/" and voucher_line["status"] == 404
    assert len(voucher_line["request_id"]) == 32  # none sent: one generated

    text = "\n".join(json.dumps(line) for line in (member_line, voucher_line))
    for secret in (member.user.email, member.member_number, "SECRET-VOUCHER-CODE", api.raw_key):
        assert secret not in text


def test_the_request_id_is_echoed_and_a_bad_one_replaced(client):
    assert client.get("/health/live", HTTP_X_REQUEST_ID="abc-1").headers["X-Request-ID"] == "abc-1"
    replaced = client.get("/health/live", HTTP_X_REQUEST_ID="bad id\n<script>").headers["X-Request-ID"]
    assert len(replaced) == 32 and " " not in replaced


def test_the_request_id_travels_into_task_headers_and_the_task_log_line(caplog):
    from loyalty_site import celery as site_celery

    token = logs.request_id_var.set("req-7")
    headers = {}
    site_celery.request_id_to_headers(headers=headers)
    logs.request_id_var.reset(token)
    assert headers == {"x_request_id": "req-7"}

    class Request:
        is_eager = False
        x_request_id = "req-7"

    class Task:
        name = "members.tasks.expire_points"
        request = Request()

    caplog.set_level(logging.INFO, logger="loyalty.task")
    site_celery.request_id_from_headers(task_id="t-1", task=Task())
    assert logs.request_id_var.get() == "req-7"
    record = next(r for r in caplog.records if r.name == "loyalty.task") if caplog.records else None
    assert record is None
    site_celery.task_log_line(task_id="t-1", task=Task(), state="SUCCESS")
    line = json.loads(logs.JsonFormatter().format(caplog.records[-1]))
    assert line["task"] == "members.tasks.expire_points" and line["state"] == "SUCCESS"
    assert line["request_id"] == "req-7" and line["duration_ms"] >= 0
    assert logs.request_id_var.get() == ""
