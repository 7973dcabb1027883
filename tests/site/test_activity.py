from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import pytest
from django.urls import reverse
from django.utils import timezone

from members.models import LedgerEntry
from members.selectors import ActivityCursor
from members.services import points_adjust
from tests.factories import MemberFactory
from tests.site.conftest import add_history

pytestmark = pytest.mark.django_db
URL = reverse("members:activity")


def _ids(response):
    return [entry.pk for entry in response.context["page"].entries]


def _walk(client, url, link):
    """Follow ``link`` ('older_url' or 'newer_url') from ``url`` until it runs out; return every page's ids."""
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        pages.append(_ids(response))
        next_link = response.context.get(link)
        url = URL + next_link if next_link else None
    return pages


def test_activity_lists_entries_newest_first_with_the_purchase_behind_them(member_client, member):
    add_history(member, 3)
    points_adjust(member=member, points=5, reason="Sorry for the wait", actor=None)
    response = member_client.get(URL)
    body = response.content.decode()
    assert response.status_code == 200
    entries = response.context["page"].entries
    assert entries[0].kind == LedgerEntry.Kind.ADJUST
    assert "Sorry for the wait" in body
    assert f"Purchase H{member.pk}-2" in body and "Store 2" in body
    assert [e.created_at for e in entries] == sorted((e.created_at for e in entries), reverse=True)


def test_keyset_pages_cover_every_entry_once_in_both_directions(member_client, member):
    add_history(member, 60)
    expected = list(
        LedgerEntry.objects.filter(account_id=member.pk).order_by("-created_at", "-id").values_list("id", flat=True)
    )
    older_pages = _walk(member_client, URL, "older_url")
    assert [len(page) for page in older_pages] == [25, 25, 10]
    assert [pk for page in older_pages for pk in page] == expected

    # From the last page, "Newer" walks back to the first, page by page.
    last = member_client.get(URL)
    for _ in range(2):
        last = member_client.get(URL + last.context["older_url"])
    newer_pages = _walk(member_client, URL + last.context["newer_url"], "newer_url")
    assert newer_pages == older_pages[:2][::-1]
    assert "newer_url" not in member_client.get(URL).context


def test_entries_with_the_same_timestamp_are_not_skipped_across_pages(member_client, member):
    add_history(member, 30, same_time=True)
    assert LedgerEntry.objects.filter(account_id=member.pk).values("created_at").distinct().count() == 1
    pages = _walk(member_client, URL, "older_url")
    ids = [pk for page in pages for pk in page]
    assert len(ids) == len(set(ids)) == 30


def test_filter_by_kind_and_dates_and_links_keep_the_filters(member_client, member):
    add_history(member, 40, start=timezone.now() - timedelta(days=80))
    points_adjust(member=member, points=7, reason="Adjusted", actor=None)
    response = member_client.get(URL, {"kind": "adjust"})
    assert [entry.kind for entry in response.context["page"].entries] == ["adjust"]

    day = timezone.localdate(timezone.now() - timedelta(days=80))
    response = member_client.get(URL, {"kind": "earn", "date_from": day.isoformat(), "date_to": day.isoformat()})
    entries = response.context["page"].entries
    assert entries and all(timezone.localdate(entry.created_at) == day for entry in entries)

    response = member_client.get(URL, {"kind": "earn"})
    query = parse_qs(urlparse(response.context["older_url"]).query)
    assert query["kind"] == ["earn"] and "before" in query
    second = member_client.get(URL + response.context["older_url"])
    assert all(entry.kind == "earn" for entry in second.context["page"].entries)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"date_from": "2024-13-45"}, "date_from", "Enter a valid date."),
        ({"date_from": "2025-05-02", "date_to": "2025-05-01"}, "date_to", "on or after the start date"),
        ({"kind": "steal"}, "kind", "Select a valid choice."),
        ({"before": "forged"}, "before", "not valid any more"),
        ({"after": "1700000000.0:1"}, "after", "not valid any more"),
    ],
)
def test_invalid_filters_are_form_errors_not_server_errors(member_client, member, params, field, message):
    add_history(member, 2)
    response = member_client.get(URL, params)
    assert response.status_code == 400
    assert any(message in error for error in response.context["form"].errors[field])
    assert message in response.content.decode()
    assert response.context["page"] is None


def test_a_cursor_signed_for_another_purpose_is_rejected():
    token = ActivityCursor(created_at=timezone.now(), id=5).encode()
    assert ActivityCursor.decode(token).id == 5
    with pytest.raises(ValueError):
        ActivityCursor.decode(token.replace(":5:", ":6:"))


def test_activity_never_shows_another_members_entries(member_client, member):
    other = MemberFactory(email="other@example.com")
    add_history(other, 5)
    add_history(member, 2)
    other_entry = LedgerEntry.objects.filter(account_id=other.pk).first()
    response = member_client.get(URL)
    assert len(response.context["page"].entries) == 2
    assert f"H{other.pk}-" not in response.content.decode()
    # A cursor taken from another member's entry only positions the page; it never reveals their rows.
    cursor = ActivityCursor(created_at=other_entry.created_at, id=other_entry.pk).encode()
    response = member_client.get(URL, {"before": cursor})
    assert all(entry.account_id == member.pk for entry in response.context["page"].entries)


def test_empty_history_and_empty_filter_results_say_so(member_client, member):
    assert "No activity yet." in member_client.get(URL).content.decode()
    add_history(member, 1)
    assert "Nothing matches these filters." in member_client.get(URL, {"kind": "expire"}).content.decode()


@pytest.mark.parametrize("entries", [3, 300])
def test_activity_query_count_does_not_grow_with_history(client, member, entries, django_assert_max_num_queries):
    add_history(member, entries)
    client.force_login(member.user)
    first = client.get(URL)
    older = first.context.get("older_url") or ""
    client.get(URL)  # warm caches
    with django_assert_max_num_queries(4):
        assert client.get(URL, {"kind": "earn"}).status_code == 200
    # The first, unfiltered page also lists the latest tier moves (one more query).
    with django_assert_max_num_queries(5 if not older else 4):
        assert client.get(URL + older).status_code == 200
