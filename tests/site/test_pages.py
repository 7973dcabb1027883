import pytest
from django.test import override_settings
from django.urls import reverse

from members.models import EarningRule, Member, Tier

pytestmark = pytest.mark.django_db

MEMBER_PAGES = [
    "members:dashboard",
    "members:activity",
    "members:tiers",
    "members:card",
    "members:profile",
    "members:export",
    "members:close",
]


@pytest.mark.parametrize("name", MEMBER_PAGES)
def test_every_member_page_needs_a_login(client, name):
    response = client.get(reverse(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_login"))


@pytest.mark.parametrize("name", MEMBER_PAGES)
def test_every_member_page_renders_and_is_not_cached(member_client, name):
    response = member_client.get(reverse(name))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]


def test_member_pages_take_no_member_id_from_the_url():
    # Scoping by construction: no member URL has a parameter that could point at someone else.
    from members.urls import urlpatterns

    assert all(not pattern.pattern.converters for pattern in urlpatterns)


def test_tiers_page_shows_every_tier_and_marks_the_members_own(member_client, member):
    Member.objects.filter(pk=member.pk).update(tier=Tier.objects.get(name="Silver"))
    response = member_client.get(reverse("members:tiers"))
    body = response.content.decode()
    for name in ("Bronze", "Silver", "Gold"):
        assert name in body
    assert "×1.25 on every purchase" in body and "5,000 qualifying points" in body
    assert "Free delivery" in body
    assert body.count('aria-current="true"') == 1
    current_card = body.split('aria-current="true"')[1].split("</li>")[0]
    assert "Your tier" in current_card and "Silver" in current_card


def test_card_page_shows_numbers_and_a_scannable_qr_code(member_client, member):
    body = member_client.get(reverse("members:card")).content.decode()
    assert member.card_number in body and member.member_number in body
    code = body.split('data-testid="card-qr">')[1].split("</div>")[0]
    assert code.startswith("<svg") and "<title>" in code and "http" not in code.replace("http://www.w3.org", "")


def test_home_explains_earn_rates_rules_and_tiers(client):
    EarningRule.objects.create(name="Double points on coffee", kind="category_multiplier", rate=2, category="coffee")
    EarningRule.objects.create(name="Old rule", kind="visit", rate=5, is_active=False)
    body = client.get(reverse("home")).content.decode()
    assert "Earn 1 point(s) per EUR 1 spent" in body
    assert "Double points on coffee" in body and "×2 points" in body
    assert "Old rule" not in body
    assert "Gold" in body


def test_terms_page(client):
    response = client.get(reverse("terms"))
    assert response.status_code == 200
    assert "Program terms" in response.content.decode()


def test_goodbye_page_is_public(client):
    assert client.get(reverse("members:goodbye")).status_code == 200


@override_settings(DEBUG=False)
def test_unknown_pages_get_the_friendly_404(client):
    response = client.get("/me/no-such-page/")
    assert response.status_code == 404
    assert "We can't find that page" in response.content.decode()


def test_pages_load_nothing_from_outside(member_client):
    for name in ("members:dashboard", "members:activity", "members:card", "members:tiers", "members:profile"):
        body = member_client.get(reverse(name)).content.decode()
        for attribute in ('src="http', 'href="http', "url(http"):
            assert attribute not in body, (name, attribute)
