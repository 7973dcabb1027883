import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from members.models import Tier
from rewards.models import Redemption, Reward, Voucher
from rewards.services import reward_redeem, voucher_cancel, voucher_use
from tests.factories import MemberFactory, RewardFactory, buy, points_give
from tests.rewards.conftest import balance, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def member_client(client, member):
    client.force_login(member.user)
    return client


def confirm_key(response) -> str:
    return re.search(r'name="idempotency_key" value="([^"]+)"', response.content.decode()).group(1)


def test_redeeming_and_vouchers_need_login(client):
    reward = RewardFactory()
    for url in (
        reverse("rewards:redeem", args=[reward.slug]),
        reverse("rewards:vouchers"),
    ):
        response = client.get(url)
        assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_nav_links_to_rewards_and_vouchers(member_client):
    body = member_client.get(reverse("rewards:catalogue")).content.decode()
    assert f'href="{reverse("rewards:catalogue")}"' in body and f'href="{reverse("rewards:vouchers")}"' in body


def test_catalogue_shows_what_is_affordable_and_what_is_close(member_client):
    RewardFactory(name="Cheap coffee", points_cost=250)
    RewardFactory(name="Big mug", points_cost=1120)
    RewardFactory(name="Hidden", points_cost=10, is_active=False)
    RewardFactory(name="Sold out", points_cost=10, stock=0)
    RewardFactory(name="Gold only", points_cost=10, min_tier=Tier.objects.get(name="Gold"))
    RewardFactory(name="Too late", points_cost=10, available_until=timezone.now() - timedelta(hours=1))
    response = member_client.get(reverse("rewards:catalogue"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Cheap coffee" in body and "Big mug" in body
    assert "120 points to go" in body
    for hidden in ("Hidden", "Sold out", "Gold only", "Too late"):
        assert hidden not in body
    assert "1,000" in body  # balance


def test_catalogue_filters(member_client):
    RewardFactory(name="Flat white", category="coffee", kind=Reward.Kind.FREE_PRODUCT, points_cost=200)
    RewardFactory(name="Mug", category="homeware", kind=Reward.Kind.FREE_PRODUCT, points_cost=2000)
    RewardFactory(name="Five off", category="vouchers", points_cost=500)
    url = reverse("rewards:catalogue")

    body = member_client.get(url, {"category": "coffee"}).content.decode()
    assert "Flat white" in body and "Mug" not in body and "Five off" not in body
    body = member_client.get(url, {"kind": "fixed_discount"}).content.decode()
    assert "Five off" in body and "Flat white" not in body
    body = member_client.get(url, {"affordable": "on"}).content.decode()
    assert "Mug" not in body and "Flat white" in body and "Five off" in body
    body = member_client.get(url, {"q": "white"}).content.decode()
    assert "Flat white" in body and "Five off" not in body
    # A bad filter value is ignored rather than breaking the page.
    assert member_client.get(url, {"kind": "nonsense"}).status_code == 200


def test_catalogue_query_count_does_not_grow_with_the_catalogue(member_client, django_assert_max_num_queries):
    def load():
        return member_client.get(reverse("rewards:catalogue"))

    RewardFactory.create_batch(5, points_cost=100, per_member_limit=3)
    load()
    with django_assert_max_num_queries(9) as few:
        load()
    RewardFactory.create_batch(45, points_cost=100, per_member_limit=3)
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert load().status_code == 200


def test_detail_shows_cost_and_points_to_go(member_client):
    reward = RewardFactory(name="Espresso machine", points_cost=1300, description="Shiny.")
    body = member_client.get(reverse("rewards:detail", args=[reward.slug])).content.decode()
    assert "Espresso machine" in body and "300 points to go" in body
    assert reverse("rewards:redeem", args=[reward.slug]) not in body


def test_detail_explains_a_tier_refusal(member_client):
    reward = RewardFactory(points_cost=100, min_tier=Tier.objects.get(name="Silver"))
    body = member_client.get(reverse("rewards:detail", args=[reward.slug])).content.decode()
    assert "This reward is for Silver members and above." in body


def test_detail_of_an_inactive_reward_is_404(member_client):
    reward = RewardFactory(is_active=False)
    assert member_client.get(reverse("rewards:detail", args=[reward.slug])).status_code == 404


def test_confirm_page_shows_cost_and_balance_after_and_changes_nothing(member_client, member):
    reward = RewardFactory(points_cost=300, stock=4)
    before = snapshot(member, reward)
    response = member_client.get(reverse("rewards:redeem", args=[reward.slug]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "Balance after" in body and ">700<" in body and ">300<" in body
    assert len(confirm_key(response)) >= 16
    assert snapshot(member, reward) == before


def test_redeem_post_issues_a_voucher_and_a_double_submit_redeems_once(member_client, member):
    reward = RewardFactory(points_cost=300, stock=4)
    url = reverse("rewards:redeem", args=[reward.slug])
    key = confirm_key(member_client.get(url))
    response = member_client.post(url, {"idempotency_key": key})
    assert response.status_code == 302 and response["Location"] == reverse("rewards:vouchers")
    again = member_client.post(url, {"idempotency_key": key})
    assert again.status_code == 302
    assert Redemption.objects.count() == 1 and Voucher.objects.count() == 1
    assert balance(member) == 700
    redemption = Redemption.objects.get()
    assert redemption.member == member and redemption.actor == member.user


def test_redeem_refusal_shows_the_reason_on_the_form_and_changes_nothing(member_client, member):
    reward = RewardFactory(points_cost=5000)
    url = reverse("rewards:redeem", args=[reward.slug])
    before = snapshot(member, reward)
    response = member_client.post(url, {"idempotency_key": confirm_key(member_client.get(url))})
    assert response.status_code == 200
    assert "Not enough points: 5,000 needed, 1,000 available." in response.content.decode()
    assert snapshot(member, reward) == before


def test_redeem_without_a_key_is_a_form_error(member_client, member):
    reward = RewardFactory(points_cost=100)
    response = member_client.post(reverse("rewards:redeem", args=[reward.slug]), {})
    assert response.status_code == 200
    assert "This confirmation page has expired" in response.content.decode()
    assert not Redemption.objects.exists()


def test_donation_form_checks_the_minimum(member_client, member):
    reward = RewardFactory(kind=Reward.Kind.DONATION, value=None, charity="Food Bank", points_cost=100)
    url = reverse("rewards:redeem", args=[reward.slug])
    key = confirm_key(member_client.get(url))
    response = member_client.post(url, {"idempotency_key": key, "points": "50"})
    assert response.status_code == 200 and "errorlist" in response.content.decode()
    assert not Redemption.objects.exists()
    response = member_client.post(url, {"idempotency_key": key, "points": "250"})
    assert response.status_code == 302
    assert Redemption.objects.get().points_spent == 250 and balance(member) == 750


def test_physical_reward_form_needs_an_address(member_client, member):
    reward = RewardFactory(kind=Reward.Kind.FREE_PRODUCT, requires_shipping=True, points_cost=100, stock=3)
    url = reverse("rewards:redeem", args=[reward.slug])
    page = member_client.get(url)
    assert 'autocomplete="postal-code"' in page.content.decode()
    key = confirm_key(page)
    response = member_client.post(url, {"idempotency_key": key, "shipping_name": "Dana", "shipping_country": "N"})
    assert response.status_code == 200
    assert not Redemption.objects.exists()
    response = member_client.post(
        url,
        {
            "idempotency_key": key,
            "quantity": "2",
            "shipping_name": "Dana Demo",
            "shipping_line1": "Damrak 1",
            "shipping_postcode": "1012 LG",
            "shipping_city": "Amsterdam",
            "shipping_country": "nl",
        },
    )
    assert response.status_code == 302
    redemption = Redemption.objects.get()
    assert redemption.quantity == 2 and redemption.shipping_country == "NL"
    assert redemption.fulfilment_status == Redemption.Fulfilment.PENDING


def test_vouchers_page_lists_codes_with_inline_qr_and_other_redemptions(member_client, member):
    voucher = reward_redeem(member=member, reward=RewardFactory(points_cost=100), idempotency_key="a").voucher
    donation = RewardFactory(kind=Reward.Kind.DONATION, value=None, charity="Food Bank", points_cost=50)
    reward_redeem(member=member, reward=donation, idempotency_key="b", points=60)
    other = MemberFactory()
    points_give(other, 500)
    theirs = reward_redeem(member=other, reward=RewardFactory(points_cost=100), idempotency_key="c").voucher

    body = member_client.get(reverse("rewards:vouchers")).content.decode()
    assert voucher.code in body and "<svg" in body
    assert "Donated to Food Bank" in body
    assert theirs.code not in body
    assert reverse("rewards:voucher_cancel", args=[voucher.pk]) in body
    assert "http://" not in body.split("<svg", 1)[1].split("</svg>", 1)[0].replace("http://www.w3.org", "")


def test_member_cancels_their_voucher_from_the_page(member_client, member):
    voucher = reward_redeem(member=member, reward=RewardFactory(points_cost=100), idempotency_key="a").voucher
    url = reverse("rewards:voucher_cancel", args=[voucher.pk])
    vouchers = member_client.get(reverse("rewards:vouchers")).content.decode()
    assert f'href="{url}"' in vouchers  # the button asks first
    confirm = member_client.get(url)
    body = confirm.content.decode()
    assert confirm.status_code == 200 and "your 100 points come back" in body and "Yes, cancel the voucher" in body
    voucher.refresh_from_db()
    assert voucher.state == Voucher.State.ISSUED  # asking changes nothing
    response = member_client.post(url, follow=True)
    assert "your points are back" in response.content.decode()
    voucher.refresh_from_db()
    assert voucher.state == Voucher.State.CANCELLED and balance(member) == 1000


def test_cancel_after_grace_shows_the_reason(member_client, member):
    voucher = reward_redeem(
        member=member,
        reward=RewardFactory(points_cost=100),
        idempotency_key="a",
        now=timezone.now() - timedelta(days=2),
    ).voucher
    body = member_client.get(reverse("rewards:vouchers")).content.decode()
    assert reverse("rewards:voucher_cancel", args=[voucher.pk]) not in body
    response = member_client.post(reverse("rewards:voucher_cancel", args=[voucher.pk]), follow=True)
    assert "can only be cancelled within 24 hours" in response.content.decode()
    assert balance(member) == 900


def test_member_cannot_cancel_someone_elses_voucher(member_client):
    other = MemberFactory()
    points_give(other, 500)
    voucher = reward_redeem(member=other, reward=RewardFactory(points_cost=100), idempotency_key="x").voucher
    assert member_client.post(reverse("rewards:voucher_cancel", args=[voucher.pk])).status_code == 404
    voucher.refresh_from_db()
    assert voucher.state == Voucher.State.ISSUED


def test_vouchers_page_query_count_is_constant(member_client, member, django_assert_max_num_queries):
    reward = RewardFactory(points_cost=10, value=Decimal("1.00"))
    reward_redeem(member=member, reward=reward, idempotency_key="first")
    member_client.get(reverse("rewards:vouchers"))
    with django_assert_max_num_queries(10) as few:
        member_client.get(reverse("rewards:vouchers"))
    for n in range(30):
        reward_redeem(member=member, reward=reward, idempotency_key=f"more-{n}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert member_client.get(reverse("rewards:vouchers")).status_code == 200


def test_home_page_features_rewards(client):
    RewardFactory(name="Featured flat white", featured=True)
    RewardFactory(name="Not featured", featured=False)
    body = client.get(reverse("home")).content.decode()
    assert "Featured flat white" in body and "Not featured" not in body


def _confirm_button(body: str) -> str:
    return re.search(r'<button[^>]*data-testid="redeem-confirm"[^>]*>', body).group(0)


def test_confirm_page_with_too_few_points_shows_what_is_missing_and_disables_confirming(member_client, member):
    reward = RewardFactory(points_cost=1250, name="A free flat white")
    response = member_client.get(reverse("rewards:redeem", args=[reward.slug]))
    body = response.content.decode()
    assert "<title>Redeem: A free flat white" in body
    assert 'data-testid="redeem-missing">250<' in body and "Points missing" in body
    assert "you need 250 more points" in body and "This costs 1,250 points" in body
    assert 'data-testid="redeem-after"' not in body
    assert "−" not in body and ">-250<" not in body
    assert " disabled" in _confirm_button(body)


def test_confirm_page_recalculates_for_a_quantity_without_redeeming(member_client, member):
    reward = RewardFactory(points_cost=300, kind=Reward.Kind.FREE_PRODUCT, value=None)
    assert reward.allows_quantity
    url = reverse("rewards:redeem", args=[reward.slug])
    key = confirm_key(member_client.get(url))
    before = snapshot(member, reward)
    response = member_client.post(url, {"idempotency_key": key, "quantity": "5", "recalculate": "1"})
    body = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="redeem-cost">1,500<' in body and 'data-testid="redeem-missing">500<' in body
    assert " disabled" in _confirm_button(body) and "errorlist" not in body
    assert snapshot(member, reward) == before
    # Down to three: enough points, confirming is enabled again with the same key.
    response = member_client.post(url, {"idempotency_key": key, "quantity": "3", "recalculate": "1"})
    body = response.content.decode()
    assert 'data-testid="redeem-after">100<' in body and " disabled" not in _confirm_button(body)
    assert confirm_key(response) == key
    assert snapshot(member, reward) == before


def test_visitors_browse_the_catalogue_with_prices_and_join_to_redeem(client, django_assert_max_num_queries):
    gold = RewardFactory(name="Gold lounge", points_cost=12500, min_tier=Tier.objects.get(name="Gold"))
    RewardFactory(name="Five off", points_cost=500)
    RewardFactory(name="Hidden", is_active=False)
    with django_assert_max_num_queries(4):  # program settings, categories, count, page
        response = client.get(reverse("rewards:catalogue"))
    body = response.content.decode()
    assert response.status_code == 200
    assert "Gold lounge" in body and "12,500 points" in body and "Five off" in body and "Hidden" not in body
    assert "For Gold members and above" in body and "Join to redeem" in body
    assert reverse("rewards:redeem", args=[gold.slug]) not in body
    assert 'name="affordable"' not in body
    detail = client.get(reverse("rewards:detail", args=[gold.slug])).content.decode()
    assert "12,500 points" in detail and "Join to redeem" in detail and reverse("account_signup") in detail
    assert reverse("rewards:redeem", args=[gold.slug]) not in detail


def test_home_page_reward_cards_link_to_their_rewards(client):
    reward = RewardFactory(name="A free flat white", featured=True)
    body = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("rewards:detail", args=[reward.slug])}">A free flat white</a>' in body


def test_voucher_history_shows_dates_and_where_a_voucher_was_used(member_client, member):
    reward = RewardFactory(points_cost=100, name="Five off")
    used = reward_redeem(member=member, reward=reward, idempotency_key="used").voucher
    cancelled = reward_redeem(member=member, reward=reward, idempotency_key="cancelled").voucher
    purchase = buy(member, external_id="TILL-9", store="Utrecht Centraal").purchase
    voucher_use(code=used.code, purchase=purchase, purchase_reference="R-77")
    voucher_cancel(voucher=cancelled, by_member=True)
    body = member_client.get(reverse("rewards:vouchers")).content.decode()
    history = body.split('id="history-title"')[1]
    used.refresh_from_db()
    cancelled.refresh_from_db()
    for moment in (used.used_at, cancelled.cancelled_at, used.issued_at):
        assert f'datetime="{timezone.localtime(moment).isoformat()}"' in history
    assert "Utrecht Centraal" in history and "Cancelled" in history
