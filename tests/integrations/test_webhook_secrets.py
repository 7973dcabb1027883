"""A webhook signing secret is shown once, when it is made, and never again to anyone (an auditor could forge our
signatures with it); rotating it keeps the old one signing beside the new one for an overlap window."""

import time
from datetime import timedelta

import httpx
import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from backoffice.roles import AUDITOR, roles_setup
from integrations.models import WebhookDelivery, WebhookEndpoint
from integrations.services import (
    api_key_create,
    webhook_deliver,
    webhook_endpoint_create,
    webhook_secret_rotate,
    webhook_signature_verify,
)
from tests.factories import StaffUserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def endpoint():
    key, _ = api_key_create(name="Shop", scopes=[])
    return webhook_endpoint_create(api_key=key, url="https://shop.example.com/hooks", events=["voucher.used"])


def test_the_secret_is_in_the_creation_message_only(admin_client):
    key, _ = api_key_create(name="Till", scopes=[])
    response = admin_client.post(
        "/admin/integrations/webhookendpoint/add/",
        {"api_key": key.pk, "url": "https://shop.example.com/hooks", "events": ["voucher.used"], "is_active": "on"},
        follow=True,
    )
    secret = WebhookEndpoint.objects.get().secret
    assert secret in response.content.decode()
    change_page = admin_client.get(f"/admin/integrations/webhookendpoint/{WebhookEndpoint.objects.get().pk}/change/")
    assert change_page.status_code == 200 and secret not in change_page.content.decode()


def test_auditors_never_see_a_secret(client, endpoint):
    roles_setup()
    auditor = StaffUserFactory()
    auditor.groups.add(Group.objects.get(name=AUDITOR))
    client.force_login(auditor)
    for url in (
        f"/admin/integrations/webhookendpoint/{endpoint.pk}/change/",
        "/admin/integrations/webhookendpoint/",
    ):
        response = client.get(url)
        assert response.status_code == 200
        assert endpoint.secret not in response.content.decode()


def test_rotation_signs_with_both_secrets_until_the_overlap_ends(endpoint, monkeypatch):
    old = endpoint.secret
    endpoint, new = webhook_secret_rotate(endpoint=endpoint, overlap=timedelta(hours=1))
    assert new != old and endpoint.secret == new and endpoint.previous_secret == old
    sent = []

    def fake_post(url, *, content, headers, timeout):
        sent.append((content, headers["X-Loyalty-Signature"]))
        return httpx.Response(200, text="ok")

    monkeypatch.setattr(httpx, "post", fake_post)
    delivery = WebhookDelivery.objects.create(endpoint=endpoint, event="voucher.used", payload={"x": 1})
    assert webhook_deliver(delivery_id=delivery.pk).delivered
    body, header = sent[-1]
    assert header.count("v1=") == 2
    assert webhook_signature_verify(secret=old, header=header, body=body)
    assert webhook_signature_verify(secret=new, header=header, body=body)
    assert not webhook_signature_verify(secret="whsec_other", header=header, body=body)

    WebhookEndpoint.objects.filter(pk=endpoint.pk).update(previous_secret_expires_at=timezone.now() - timedelta(1))
    later = WebhookDelivery.objects.create(endpoint=endpoint, event="voucher.used", payload={"x": 2})
    webhook_deliver(delivery_id=later.pk)
    body, header = sent[-1]
    assert header.count("v1=") == 1
    assert webhook_signature_verify(secret=new, header=header, body=body, now=time.time())
    assert not webhook_signature_verify(secret=old, header=header, body=body)


def test_staff_rotate_from_the_admin_and_see_the_new_secret_once(admin_client, endpoint):
    response = admin_client.post(
        "/admin/integrations/webhookendpoint/",
        {"action": "rotate_secrets", "_selected_action": [endpoint.pk]},
        follow=True,
    )
    endpoint.refresh_from_db()
    assert endpoint.secret in response.content.decode()
    assert endpoint.previous_secret and endpoint.previous_secret_expires_at > timezone.now()
