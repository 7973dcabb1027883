import pytest
from django.test import override_settings
from django.urls import reverse

from members.models import EarningRule, Member, Tier
from members.services import points_adjust
from tests.factories import MemberFactory

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


def _member_page_expectations(member):
    """What each member page must show of its own member (who has 1,234 points from a "Welcome gift")."""
    user = member.user
    return {
        "members:dashboard": [user.first_name, member.member_number, 'data-testid="balance">1,234<', "Welcome gift"],
        "members:activity": ["1,234", "Welcome gift"],
        "members:tiers": ["Your tier", "Bronze"],
        "members:card": [f"{user.first_name} {user.last_name}", member.card_number, member.member_number],
        "members:profile": [f'value="{user.first_name}"', f'value="{user.last_name}"', user.email],
        "members:export": [user.email, member.member_number, member.card_number, "1234", "Welcome gift"],
        "members:close": ["1,234"],
    }


@pytest.mark.parametrize("name", MEMBER_PAGES)
def test_every_member_page_renders_the_members_own_data_only_and_is_not_cached(member_client, member, name):
    points_adjust(member=member, points=1234, reason="Welcome gift", actor=None)
    other = MemberFactory(email="olaf.other@example.com", first_name="Olaf", last_name="Otherson")
    points_adjust(member=other, points=4321, reason="Secret bonus for Olaf", actor=None)
    response = member_client.get(reverse(name))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.content.decode()
    for fragment in _member_page_expectations(member)[name]:
        assert fragment in body, fragment
    for fragment in (other.member_number, other.card_number, other.user.email, "Olaf", "Otherson", "Secret bonus"):
        assert fragment not in body, fragment


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
    response = client.get(reverse("members:goodbye"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Your membership is closed" in body and "We have removed your personal details" in body
    assert 'data-testid="balance"' not in body


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


@pytest.mark.parametrize(
    ("url", "title", "button"),
    [("/accounts/login/", "Log in", "Log in"), ("/accounts/signup/", "Join", "Join")],
)
def test_account_pages_use_the_sites_words_not_allauths_stock_ones(client, url, title, button):
    body = client.get(url).content.decode()
    head, page = body.split("</title>", 1)
    assert title in head.split("<title>", 1)[1]
    assert f">{button}</button>" in " ".join(page.split()).replace("> ", ">").replace(" <", "<")
    for stock in ("Sign In", "Sign Up", "Signup", "sign up first"):
        assert stock not in body


def test_the_logout_page_says_log_out(member_client):
    body = member_client.get("/accounts/logout/").content.decode()
    assert "Log out of your account on this device?" in body and "Sign Out" not in body
