"""The admin index is the console's front page: the staff pages first, today's key figures from the reports'
selectors, a member search, and a query count that does not grow with the data."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backoffice.home import key_figures
from members.models import LedgerEntry
from rewards.services import reward_redeem, voucher_cancel
from tests.backoffice.conftest import post
from tests.factories import MemberFactory, RewardFactory

pytestmark = pytest.mark.django_db
INDEX = reverse("admin:index")


def _figure(body: str, name: str) -> str:
    return re.search(rf'data-figure="{name}">(?:<a [^>]*>)?([^<]*)<', body).group(1)


def _history(members: int):
    reward = RewardFactory(points_cost=250)
    for _index in range(members):
        member = MemberFactory()
        post(member, LedgerEntry.Kind.EARN, points=1000, key=f"earn-{member.pk}", when=timezone.now())
        kept = reward_redeem(member=member, reward=reward, idempotency_key=f"kept-{member.pk}")
        cancelled = reward_redeem(member=member, reward=reward, idempotency_key=f"cancelled-{member.pk}")
        voucher_cancel(voucher=cancelled.voucher, by_member=True)
        assert kept.voucher


def test_the_index_links_the_staff_pages_and_shows_todays_figures(admin_client):
    _history(2)
    body = admin_client.get(INDEX).content.decode()
    for name in ("staff:analytics", "staff:liability", "staff:import_new", "staff:exports", "staff:member_find"):
        assert reverse(name) in body, name
    # The staff section comes before the admin's model list.
    assert body.index("staff-home") < body.index('id="content-main"')
    assert _figure(body, "members") == "2"
    assert _figure(body, "issued") == "2,000"
    assert _figure(body, "redeemed") == "500"  # two vouchers kept; the cancelled ones are net out
    assert _figure(body, "liability") == "1,500"
    assert _figure(body, "held") == _figure(body, "approvals") == _figure(body, "failed") == "0"
    figures = key_figures()
    assert (figures.points_redeemed, figures.liability_points) == (500, 1500)


def test_the_index_query_count_does_not_grow_with_the_data(admin_client, django_assert_num_queries):
    _history(1)
    admin_client.get(INDEX)  # warm caches
    with CaptureQueriesContext(connection) as small:
        assert admin_client.get(INDEX).status_code == 200
    _history(6)
    with django_assert_num_queries(len(small.captured_queries)):
        assert admin_client.get(INDEX).status_code == 200


def test_staff_without_reports_see_their_links_but_no_figures(client, support):
    client.force_login(support)
    body = client.get(INDEX).content.decode()
    assert "key-figures" not in body
    assert reverse("staff:analytics") not in body
    assert reverse("staff:member_find") in body


def test_member_search_opens_the_member_360_or_says_none_matched(admin_client):
    member = MemberFactory(email="find.me@example.com")
    for query in (member.member_number, member.card_number, "FIND.ME@example.com"):
        response = admin_client.get(reverse("staff:member_find"), {"q": query})
        assert response["Location"] == reverse("staff:member_360", kwargs={"member_id": member.pk}), query
    missing = admin_client.get(reverse("staff:member_find"), {"q": "M999999"}, follow=True)
    assert "No member has the number, card or email address M999999." in missing.content.decode()
