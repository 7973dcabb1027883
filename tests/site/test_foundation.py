import os
import subprocess
import sys
from pathlib import Path

import pytest
from allauth.account.models import EmailAddress
from django.apps import apps
from django.core import mail
from django.core.management import call_command
from django.urls import reverse

from members.models import Member, PointsAccount, User
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def test_home_page_explains_the_program_and_links_to_signup(client):
    response = client.get(reverse("home"))
    assert response.status_code == 200
    body = response.content.decode()
    assert reverse("account_signup") in body
    assert reverse("account_login") in body
    assert "Gold" in body  # default tiers are listed


def test_signup_creates_exactly_one_member_and_sends_verification(client):
    response = client.post(
        reverse("account_signup"),
        {"email": "New.Person@Example.com", "password1": "a-long-secret-42", "password2": "a-long-secret-42"},
    )
    assert response.status_code == 302
    user = User.objects.get(email__iexact="new.person@example.com")
    assert Member.objects.filter(user=user).count() == 1
    assert PointsAccount.objects.filter(member__user=user, balance=0).count() == 1
    assert user.member.tier.name == "Bronze"
    assert len(mail.outbox) == 1 and "confirm" in mail.outbox[0].body.lower()
    assert "Loyalty Rewards" in mail.outbox[0].subject and "example.com" not in mail.outbox[0].subject


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        (
            {"email": "not-an-email", "password1": "a-long-secret-42", "password2": "a-long-secret-42"},
            {"email": ["Enter a valid email address."]},
        ),
        (
            {"email": "new@example.com", "password1": "a-long-secret-42", "password2": "another-secret-43"},
            {"password2": ["You must type the same password each time."]},
        ),
        (
            {"email": "new@example.com", "password1": "x", "password2": "x"},
            {
                "password1": [
                    "This password is too short. It must contain at least 8 characters.",
                    "This password is too common.",
                ]
            },
        ),
    ],
)
def test_signup_with_bad_input_shows_errors_and_creates_nothing(client, data, errors):
    response = client.post(reverse("account_signup"), data)
    assert response.status_code == 200
    assert response.context["form"].errors == errors
    body = response.content.decode()
    for messages in errors.values():
        for message in messages:
            assert message in body
    assert not User.objects.exists()
    assert not Member.objects.exists()
    assert not mail.outbox


def test_verified_member_can_log_in(client):
    user = UserFactory(email="dana@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    response = client.post(reverse("account_login"), {"login": "dana@example.com", "password": "correct-horse-battery"})
    assert response.status_code == 302
    dashboard = client.get(reverse("members:dashboard"))
    assert dashboard.status_code == 200
    member = Member.objects.get(user=user)
    body = dashboard.content.decode()
    assert user.first_name in body and member.member_number in body
    assert 'data-testid="balance">0<' in body


def test_login_rate_limit_kicks_in_after_repeated_failures(client):
    user = UserFactory(email="target@example.com")
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    login_url = reverse("account_login")
    first = client.post(login_url, {"login": "target@example.com", "password": "wrong"})
    assert b"Too many failed login attempts" not in first.content
    for _ in range(5):
        client.post(login_url, {"login": "target@example.com", "password": "wrong"})
    # Once limited, even the right password is refused for this account.
    limited = client.post(login_url, {"login": "target@example.com", "password": "correct-horse-battery"})
    assert limited.status_code == 200
    assert b"Too many failed login attempts" in limited.content
    assert "_auth_user_id" not in client.session


def test_member_pages_need_login(client):
    response = client.get(reverse("members:dashboard"))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_production_settings_pass_check_deploy():
    env = {
        **os.environ,
        "DJANGO_ENV": "production",
        "SECRET_KEY": "x" * 20 + "-production-secret-key-with-enough-entropy-0987654321",
        "ALLOWED_HOSTS": "loyalty.example.com",
        "DATABASE_URL": "sqlite:////tmp/loyalty-deploy-check.sqlite3",
        # Production needs a broker (loyalty.E001 otherwise: tests/site/test_production_needs_a_broker.py).
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
    }
    env.pop("DEBUG", None)
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "DEBUG"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_without_secret_key_refuses_to_start():
    env = {**os.environ, "DJANGO_ENV": "production", "ALLOWED_HOSTS": "x.example.com"}
    env.pop("SECRET_KEY", None)
    env.pop("DEBUG", None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def _row_counts():
    return {model._meta.label: model.objects.count() for model in apps.get_models()}


def test_seed_demo_is_idempotent():
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    first = _row_counts()
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert _row_counts() == first
    assert Member.objects.filter(user__email="demo@example.com").exists()
    assert User.objects.filter(email="staff@example.com", is_staff=True).exists()
