import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from integrations import registry
from integrations.models import APIKey
from integrations.services import api_key_authenticate, api_key_create, api_key_revoke
from members.models import Purchase
from tests.factories import MemberFactory
from tests.integrations.conftest import post, purchase_body

pytestmark = pytest.mark.django_db


def test_key_is_stored_hashed_and_found_by_its_full_text():
    key, raw = api_key_create(name="Till", scopes=["members:read"])
    assert raw.startswith(f"lk_{key.prefix}_")
    assert raw not in key.hashed_key and len(key.hashed_key) == 64
    assert api_key_authenticate(raw_key=raw) == key
    assert api_key_authenticate(raw_key=raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert api_key_authenticate(raw_key="lk_nope_x") is None


def test_unknown_scope_is_refused():
    with pytest.raises(ValueError, match="Unknown scope"):
        api_key_create(name="Till", scopes=["everything"])


def test_missing_key_is_401_with_www_authenticate(member):
    response = APIClient().get(f"/api/v1/members/{member.member_number}/")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Api-Key realm="api"'
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("header", ["Api-Key lk_00000000_wrong", "Api-Key", "Api-Key a b"])
def test_bad_key_is_401(member, header):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get(f"/api/v1/members/{member.member_number}/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert "WWW-Authenticate" in response


def test_revoked_key_is_401_at_once(api, member):
    assert api.get(f"/api/v1/members/{member.member_number}/").status_code == 200
    api_key_revoke(api_key=api.api_key)
    response = api.get(f"/api/v1/members/{member.member_number}/")
    assert response.status_code == 401


def test_last_used_is_recorded(api, member):
    api.get(f"/api/v1/members/{member.member_number}/")
    api.api_key.refresh_from_db()
    assert api.api_key.last_used_at is not None


def answer(response):
    """What an API response says, in brief: the error code and fields, or what kind of data came back."""
    body = response.json()
    if isinstance(body, list):
        return ("list", len(body))
    if "error" in body:
        return ("error", body["error"]["code"], sorted(body["error"]["fields"]))
    if "results" in body:
        return ("page", len(body["results"]))
    return ("member", body["member_number"])


@pytest.mark.parametrize(
    ("method", "url", "scope", "status", "expected"),
    [
        (
            "post",
            "/api/v1/purchases/",
            "purchases:write",
            400,
            ("error", "invalid", ["external_id", "lines", "member", "occurred_at"]),
        ),
        ("post", "/api/v1/purchases/preview/", "purchases:read", 400, ("error", "invalid", ["lines"])),
        ("post", "/api/v1/purchases/X/refunds/", "purchases:write", 404, ("error", "not_found", [])),
        ("post", "/api/v1/members/", "members:write", 400, ("error", "invalid", ["email"])),
        ("get", "/api/v1/members/?email=a@example.com", "members:read", 200, ("list", 0)),
        ("get", "/api/v1/members/{n}/", "members:read", 200, ("member", "{n}")),
        ("get", "/api/v1/members/{n}/activity/", "members:read", 200, ("page", 0)),
    ],
)
def test_each_endpoint_needs_its_scope(make_client, member, method, url, scope, status, expected):
    url = url.format(n=member.member_number)
    others = [s for s in registry.scopes if s != scope and not (scope == "purchases:read" and s.startswith("purc"))]
    without = make_client(scopes=others)
    response = getattr(without, method)(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "insufficient_scope"
    assert scope in response.json()["error"]["message"]
    with_scope = make_client(scopes=[scope])
    response = getattr(with_scope, method)(url, {}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    # The scope lets the request through to the view, which answers the empty body on its merits.
    assert response.status_code == status
    assert answer(response) == tuple(
        part.format(n=member.member_number) if part == "{n}" else part for part in expected
    )


def test_refused_scope_changes_nothing(make_client, member):
    client = make_client(scopes=["members:read"])
    response = post(client, "/api/v1/purchases/", purchase_body(member))
    assert response.status_code == 403
    assert not Purchase.objects.exists()


def test_member_session_reads_own_data_only(member, client):
    other = MemberFactory(email="bob@example.com")
    client.force_login(member.user)
    mine = client.get(f"/api/v1/members/{member.member_number}/")
    assert mine.status_code == 200
    assert mine.json()["member_number"] == member.member_number
    assert client.get(f"/api/v1/members/{member.member_number}/activity/").status_code == 200
    for url in (f"/api/v1/members/{other.member_number}/", f"/api/v1/members/{other.member_number}/activity/"):
        response = client.get(url)
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    # A session cannot look members up or write.
    assert client.get("/api/v1/members/?email=bob@example.com").status_code == 403
    assert client.post("/api/v1/purchases/", purchase_body(member), content_type="application/json").status_code == 403


def test_member_session_writes_need_csrf(member):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(member.user)
    response = client.post("/api/v1/purchases/", purchase_body(member), format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


def test_create_api_key_command_prints_the_key_once(capsys):
    call_command("create_api_key", "Shop tills", "--scopes", "purchases:write,members:read")
    out, err = capsys.readouterr()
    raw = out.strip()
    key = APIKey.objects.get(name="Shop tills")
    assert key.scopes == ["members:read", "purchases:write"]
    assert api_key_authenticate(raw_key=raw) == key
    assert raw not in err and "cannot be shown again" in err


def test_create_api_key_command_refuses_unknown_scopes():
    with pytest.raises(CommandError, match="Unknown scope"):
        call_command("create_api_key", "Shop", "--scopes", "purchases:write,root")
    assert not APIKey.objects.exists()
