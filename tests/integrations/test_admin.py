import re

import pytest

from integrations.models import APIKey, WebhookEndpoint
from integrations.services import api_key_authenticate, api_key_create

pytestmark = pytest.mark.django_db


def test_staff_create_a_key_and_see_it_once(admin_client, admin_user):
    response = admin_client.post(
        "/admin/integrations/apikey/add/",
        {"name": "E-shop", "scopes": ["purchases:write", "members:read"]},
        follow=True,
    )
    assert response.status_code == 200
    page = response.content.decode()
    raw = re.search(r"(lk_[0-9a-f]{8}_[A-Za-z0-9_-]+)", page).group(1)
    key = APIKey.objects.get()
    assert api_key_authenticate(raw_key=raw) == key
    assert key.created_by == admin_user and key.scopes == ["members:read", "purchases:write"]
    change_page = admin_client.get(f"/admin/integrations/apikey/{key.pk}/change/").content.decode()
    assert raw not in change_page and key.prefix in change_page


def test_staff_revoke_keys(admin_client):
    key, raw = api_key_create(name="Till", scopes=["members:read"])
    response = admin_client.post(
        "/admin/integrations/apikey/", {"action": "revoke_keys", "_selected_action": [key.pk]}, follow=True
    )
    assert "1 key revoked" in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_key_authenticate(raw_key=raw) is None


def test_staff_register_a_webhook_endpoint_with_a_generated_secret(admin_client):
    key, _ = api_key_create(name="Till", scopes=[])
    response = admin_client.post(
        "/admin/integrations/webhookendpoint/add/",
        {"api_key": key.pk, "url": "https://shop.example.com/hooks", "events": ["voucher.used"], "is_active": "on"},
        follow=True,
    )
    assert response.status_code == 200
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret.startswith("whsec_") and endpoint.events == ["voucher.used"]
    admin_client.post(
        f"/admin/integrations/webhookendpoint/{endpoint.pk}/change/",
        {"url": "https://shop.example.com/v2", "events": ["voucher.used", "tier.changed"]},
    )
    endpoint.refresh_from_db()
    assert endpoint.url.endswith("/v2") and endpoint.events == ["tier.changed", "voucher.used"]
    assert endpoint.is_active is False


def test_admin_lists_render(admin_client):
    api_key_create(name="Till", scopes=["members:read"])
    for model in ("apikey", "webhookendpoint", "webhookdelivery"):
        assert admin_client.get(f"/admin/integrations/{model}/").status_code == 200
