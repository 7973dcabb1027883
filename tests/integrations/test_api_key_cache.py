"""API keys are cached per process and confirmed against a shared version on every request (issue 14).

A second process sharing the cache is played by restoring this process's local layer after a change made
"elsewhere": the change moved the shared version, so the stale local copy must not answer.
"""

import socket
import sys

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from integrations import services
from integrations.models import APIKey
from integrations.services import api_key_revoke
from tests.conftest import IN_CI

pytestmark = pytest.mark.django_db


def _member_url(member):
    return f"/api/v1/members/{member.member_number}/"


def _queries(run):
    with CaptureQueriesContext(connection) as captured:
        response = run()
    return response, [query["sql"] for query in captured.captured_queries]


def _as_another_process(change):
    """Run ``change`` (which clears this process's layer, as the changing process would), then put the stale
    layer back, as a process that did not make the change still has it."""
    stale = dict(services._local_keys)
    change()
    services._local_keys.update(stale)


def test_a_warm_key_is_not_read_from_the_database(api, member):
    url = _member_url(member)
    api.get(url)
    response, statements = _queries(lambda: api.get(url))
    assert response.status_code == 200
    assert not [sql for sql in statements if "members_apikey" in sql]


def test_revocation_elsewhere_takes_effect_on_the_next_request(api, member):
    url = _member_url(member)
    assert api.get(url).status_code == 200
    _as_another_process(lambda: api_key_revoke(api_key=api.api_key))
    assert api.api_key.prefix in services._local_keys  # still cached here …
    response = api.get(url)
    assert response.status_code == 401  # … but the shared version moved
    assert response.json()["error"]["code"] == "authentication_failed"


def test_revocation_is_refused_first_even_when_the_key_is_over_its_rate(make_client, member, monkeypatch):
    monkeypatch.setitem(api_settings.DEFAULT_THROTTLE_RATES, "api_key", "1/min")
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", api_settings.DEFAULT_THROTTLE_RATES)
    client = make_client(name="busy-revoked")
    url = _member_url(member)
    assert client.get(url).status_code == 200
    assert client.get(url).status_code == 429
    _as_another_process(lambda: api_key_revoke(api_key=client.api_key))
    assert client.get(url).status_code == 401


def test_a_scope_removed_elsewhere_is_refused_on_the_next_request(make_client, member):
    client = make_client(scopes=["members:read", "purchases:write"])
    url = _member_url(member)
    assert client.get(url).status_code == 200

    def narrow():
        key = APIKey.objects.get(pk=client.api_key.pk)
        key.scopes = ["purchases:write"]
        key.save()

    _as_another_process(narrow)
    response = client.get(url)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"


def test_a_scope_added_elsewhere_is_granted_on_the_next_request(make_client, member):
    client = make_client(scopes=["purchases:write"])
    url = _member_url(member)
    assert client.get(url).status_code == 403

    def widen():
        key = APIKey.objects.get(pk=client.api_key.pk)
        key.scopes = ["members:read", "purchases:write"]
        key.save()

    _as_another_process(widen)
    assert client.get(url).status_code == 200


def test_a_lost_version_token_makes_every_process_read_its_keys_again(api, member):
    from django.core.cache import cache

    url = _member_url(member)
    api.get(url)
    cache.delete(services.API_KEYS_VERSION_CACHE_KEY)  # evicted, or Redis flushed
    response, statements = _queries(lambda: api.get(url))
    assert response.status_code == 200
    assert [sql for sql in statements if "members_apikey" in sql]


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
def redis_cache(settings):
    if not _redis_up():
        if IN_CI:
            pytest.fail("CI=true but Redis is not reachable on 127.0.0.1:6379.")
        pytest.skip("needs Redis on 127.0.0.1:6379")
    settings.CACHES = {
        "default": {
            "BACKEND": "integrations.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/8",
            "KEY_PREFIX": "tests-api-key-cache",
        }
    }
    from django.core.cache import cache

    cache.clear()
    services.api_keys_local_clear()
    yield cache
    cache.clear()
    services.api_keys_local_clear()


def _redis_callers(redis_cache, monkeypatch, run):
    """``run()``'s response, and the module that asked for a Redis client for each cache call it made."""
    calls = []
    real = redis_cache._cache.get_client

    def counting(*args, **kwargs):
        frame = sys._getframe(1)
        while frame.f_globals["__name__"].startswith("django."):  # through Django's cache API: who called it
            frame = frame.f_back
        calls.append(frame.f_globals["__name__"])
        return real(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(redis_cache._cache, "get_client", counting)
        response = run()
    return response, calls


def test_on_redis_throttle_and_version_are_one_round_trip_and_revocation_still_applies(
    redis_cache, make_client, member, monkeypatch
):
    client = make_client(name="redis")
    url = _member_url(member)
    assert client.get(url).status_code == 200
    response, calls = _redis_callers(redis_cache, monkeypatch, lambda: _queries(lambda: client.get(url)))
    response, statements = response
    assert response.status_code == 200
    assert not [sql for sql in statements if "members_apikey" in sql]
    # The key's check and the members app's cached configuration ride on the throttle's one round trip.
    assert calls == ["integrations.api.throttling"]
    _as_another_process(lambda: api_key_revoke(api_key=client.api_key))
    assert client.get(url).status_code == 401


def test_on_redis_a_purchase_talks_to_redis_once(redis_cache, make_client, member, monkeypatch):
    from tests.integrations.conftest import post, purchase_body

    client = make_client(name="till")
    assert post(client, "/api/v1/purchases/", purchase_body(member, "WARM"), key="w").status_code == 201
    response, calls = _redis_callers(
        redis_cache, monkeypatch, lambda: post(client, "/api/v1/purchases/", purchase_body(member, "ONE"), key="o")
    )
    assert response.status_code == 201
    # Settings, tiers, rules, plans, partners, campaigns, referral rules and webhook subscriptions: all from
    # this process, confirmed by the version the throttle's script read.
    assert calls == ["integrations.api.throttling"]


def test_on_redis_the_throttle_keeps_its_budget_and_retry_after(redis_cache, make_client, member, monkeypatch):
    monkeypatch.setitem(api_settings.DEFAULT_THROTTLE_RATES, "api_key", "3/min")
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", api_settings.DEFAULT_THROTTLE_RATES)
    busy, quiet = make_client(name="busy"), make_client(name="quiet")
    url = _member_url(member)
    assert [busy.get(url).status_code for _ in range(3)] == [200, 200, 200]
    response = busy.get(url)
    assert response.status_code == 429
    assert 0 < int(response["Retry-After"]) <= 60
    assert quiet.get(url).status_code == 200
