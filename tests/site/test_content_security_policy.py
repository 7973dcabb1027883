"""Every page carries a Content-Security-Policy that allows our own scripts only, and no page of ours needs more."""

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def _policy(response) -> dict[str, str]:
    header = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part for part in (item.strip() for item in header.split(";")) if part}


@pytest.mark.parametrize("url", ["/", "/terms/", "/accounts/login/", "/admin/login/", "/api/v1/rewards/", "/nope/"])
def test_pages_api_and_errors_carry_the_strict_policy(client, url):
    policy = _policy(client.get(url))
    assert policy["script-src"] == "script-src 'self'"
    assert policy["default-src"] == "default-src 'self'"
    assert policy["object-src"] == "object-src 'none'" and policy["frame-ancestors"] == "frame-ancestors 'none'"


def test_signed_in_member_and_staff_pages_carry_it_too(client, admin_client, django_user_model):
    from tests.factories import MemberFactory

    member = MemberFactory()
    client.force_login(member.user)
    assert "script-src 'self'" in client.get("/me/").headers["Content-Security-Policy"]
    assert _policy(admin_client.get("/admin/"))["script-src"] == "script-src 'self'"


def test_swagger_docs_start_from_a_script_file_and_keep_the_strict_policy(client):
    docs = client.get("/api/docs/")
    assert _policy(docs)["script-src"] == "script-src 'self'"
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", docs.content.decode())
    assert inline == []
    assert client.get("/api/docs/?script").status_code == 200


def test_only_redoc_may_run_its_inline_start_up_script(client):
    assert "'unsafe-inline'" in _policy(client.get("/api/docs/redoc/"))["script-src"]


def test_our_templates_have_no_inline_scripts_or_event_handlers():
    offenders = []
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)[^>]*>|\son[a-z]+=\"", text):
            offenders.append(str(template.relative_to(ROOT)))
    assert offenders == []
