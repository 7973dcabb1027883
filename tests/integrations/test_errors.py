import pytest
from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from members.models import Purchase
from tests.integrations.conftest import post, purchase_body

pytestmark = pytest.mark.django_db


def assert_error_shape(response, status, code):
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message", "fields"} <= set(body["error"])
    assert body["error"]["code"] == code


def test_unknown_urls_under_api_are_json_404(api):
    for url in ("/api/v1/nope/", "/api/", "/api/v2/purchases/"):
        assert_error_shape(api.get(url), 404, "not_found")


def test_wrong_method_is_json_405(api):
    assert_error_shape(api.delete("/api/v1/purchases/"), 405, "method_not_allowed")


def test_malformed_json_is_400(api):
    response = api.post(
        "/api/v1/purchases/", data="{not json", content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    assert_error_shape(response, 400, "parse_error")


def test_oversized_body_is_413_and_changes_nothing(api, member, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    body = purchase_body(member, lines=[{"sku": "X" * 60, "quantity": 1, "unit_price": "1.00"}] * 60)
    assert_error_shape(post(api, "/api/v1/purchases/", body), 413, "request_too_large")
    assert not Purchase.objects.exists()


def test_unexpected_errors_are_json_500(api, member, monkeypatch):
    from members.api import views

    def boom(**kwargs):
        raise RuntimeError("kaput")

    monkeypatch.setattr(views, "purchase_record", boom)
    response = post(api, "/api/v1/purchases/", purchase_body(member))
    assert_error_shape(response, 500, "server_error")
    assert "kaput" not in response.content.decode()
    # The key was freed: the client may retry with it.
    monkeypatch.undo()
    assert post(api, "/api/v1/purchases/", purchase_body(member)).status_code == 201


def test_throttled_per_key_with_retry_after(make_client, member, monkeypatch):
    monkeypatch.setitem(api_settings.DEFAULT_THROTTLE_RATES, "api_key", "3/min")
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", api_settings.DEFAULT_THROTTLE_RATES)
    cache.clear()
    busy, quiet = make_client(name="busy"), make_client(name="quiet")
    url = f"/api/v1/members/{member.member_number}/"
    assert [busy.get(url).status_code for _ in range(3)] == [200, 200, 200]
    response = busy.get(url)
    assert_error_shape(response, 429, "throttled")
    assert 0 < int(response["Retry-After"]) <= 60
    assert quiet.get(url).status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete", "get"])
def test_unknown_api_paths_answer_a_json_404_whatever_the_method(method):
    from django.test import Client

    response = getattr(Client(enforce_csrf_checks=True), method)(
        "/api/v1/no-such-thing/", {}, content_type="application/json"
    )
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_a_session_write_without_its_csrf_token_is_refused_in_the_api_shape(member):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(member.user)
    response = client.post(
        f"/api/v1/members/{member.member_number}/redemptions/", {"reward": "x"}, content_type="application/json"
    )
    assert response.status_code == 403
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "permission_denied"
    assert "CSRF" in response.json()["error"]["message"]


@pytest.mark.parametrize("depth", [40, 900, 1000, 5000])
def test_deeply_nested_json_is_a_400_not_a_500(api, depth):
    body = "[" * depth + "]" * depth
    response = api.post("/api/v1/purchases/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY=f"d{depth}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"
    assert "nested too deeply" in response.json()["error"]["message"]


def test_brackets_inside_strings_do_not_count_toward_the_depth():
    from integrations.api.parsers import json_depth

    assert json_depth(b'{"sku": "[[[[[[\\"]]]]", "lines": [{"a": 1}]}') == 3
