"""Failed-login limits count the customer's address, not the load balancer's (TRUSTED_PROXY_COUNT), and a client
cannot escape them by sending its own X-Forwarded-For when no proxy is trusted."""

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PROXY = "10.0.0.5"
LIMITED = b"Too many failed login attempts"


@pytest.fixture
def strict_ip_limit(settings):
    # Per address only, so the test is about addresses: three failures a minute.
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "login_failed": "3/m/ip"}


def _customer(email):
    user = UserFactory(email=email)
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    return user


def _login(client, email, password, **headers):
    return client.post(reverse("account_login"), {"login": email, "password": password}, **headers)


def test_behind_one_proxy_another_customer_is_not_locked_out(settings, strict_ip_limit):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 1
    _customer("mallory@example.com")
    _customer("alice@example.com")
    attacker = Client(REMOTE_ADDR=PROXY)
    for _ in range(5):
        _login(attacker, "mallory@example.com", "wrong", HTTP_X_FORWARDED_FOR="198.51.100.9")
    assert LIMITED in _login(attacker, "mallory@example.com", "wrong", HTTP_X_FORWARDED_FOR="198.51.100.9").content

    alice = Client(REMOTE_ADDR=PROXY)
    response = _login(alice, "alice@example.com", "correct-horse-battery", HTTP_X_FORWARDED_FOR="203.0.113.20")
    assert response.status_code == 302 and "_auth_user_id" in alice.session


def test_without_a_trusted_proxy_the_proxy_address_is_what_counts(settings, strict_ip_limit):
    """The unconfigured case the issue saw: every customer shares the proxy's bucket."""
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    _customer("mallory@example.com")
    _customer("alice@example.com")
    attacker = Client(REMOTE_ADDR=PROXY)
    for _ in range(5):
        _login(attacker, "mallory@example.com", "wrong", HTTP_X_FORWARDED_FOR="198.51.100.9")
    alice = Client(REMOTE_ADDR=PROXY)
    response = _login(alice, "alice@example.com", "correct-horse-battery", HTTP_X_FORWARDED_FOR="203.0.113.20")
    assert LIMITED in response.content and "_auth_user_id" not in alice.session


def test_a_forged_forwarded_header_does_not_reset_the_limit_without_a_proxy(settings, strict_ip_limit):
    settings.ALLAUTH_TRUSTED_PROXY_COUNT = 0
    _customer("mallory@example.com")
    attacker = Client(REMOTE_ADDR="198.51.100.9")
    for n in range(5):
        _login(attacker, "mallory@example.com", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    forged = _login(attacker, "mallory@example.com", "correct-horse-battery", HTTP_X_FORWARDED_FOR="192.0.2.99")
    assert LIMITED in forged.content and "_auth_user_id" not in attacker.session
