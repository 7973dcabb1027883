"""Staff accounts are not memberships: a staff login on the member site is not enrolled (it is offered to join
as a customer), so members, campaign audiences and enrolment figures never count it."""

import os
from io import StringIO

import pytest
from django.contrib.sites.models import Site
from django.core.management import call_command
from django.urls import reverse

from members.demo import DEMO_STAFF_EMAIL
from members.models import Member, User
from tests.factories import MemberFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("flags", [{"is_staff": True}, {"is_staff": True, "is_superuser": True}])
def test_a_staff_login_on_the_member_site_is_not_enrolled(client, flags):
    staff = UserFactory(first_name="Sam", **flags)
    client.force_login(staff)
    for name in ("members:dashboard", "members:activity", "members:tiers", "members:card", "members:profile"):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"] == reverse("members:staff_join"), name
    page = client.get(reverse("members:staff_join")).content.decode()
    assert "You are signed in with a staff account" in page and "Join as a customer" in page
    assert not Member.objects.filter(user=staff).exists()


def test_staff_can_join_as_a_customer_on_purpose(client):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    response = client.post(reverse("members:staff_join"))
    assert response.status_code == 302 and response["Location"] == reverse("members:dashboard")
    assert Member.objects.filter(user=staff).count() == 1
    assert client.get(reverse("members:dashboard")).status_code == 200
    assert client.get(reverse("members:staff_join"))["Location"] == reverse("members:dashboard")


def test_a_customer_login_without_a_membership_is_still_enrolled_on_first_visit(client):
    user = UserFactory()
    client.force_login(user)
    assert client.get(reverse("members:dashboard")).status_code == 200
    assert Member.objects.filter(user=user).exists()


def test_the_demo_staff_user_is_not_a_member_even_after_visiting(client):
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    staff = User.objects.get(email=DEMO_STAFF_EMAIL)
    client.force_login(staff)
    client.get(reverse("members:dashboard"))
    assert not Member.objects.filter(user=staff).exists()
    assert not Member.objects.filter(user__is_staff=True).exists()
    MemberFactory()  # a customer still counts
    assert Member.objects.filter(user__is_staff=False).count() == Member.objects.count()


def test_seed_demo_prints_and_links_to_site_url(settings):
    settings.SITE_URL = "http://127.0.0.1:8031"
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "(http://127.0.0.1:8031/admin/)" in out.getvalue()
    assert "127.0.0.1:8000" not in out.getvalue()
    assert Site.objects.get(pk=settings.SITE_ID).domain == "127.0.0.1:8031"
