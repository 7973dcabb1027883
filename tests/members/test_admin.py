"""The staff console: program settings, member search and page, adjust points, the read-only ledger."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from members.models import LedgerEntry, PointsAccount, ProgramSettings
from members.services import points_adjust
from tests.factories import MemberFactory, SuperUserFactory, UserFactory
from tests.members.conftest import assert_consistent, buy

pytestmark = pytest.mark.django_db
Kind = LedgerEntry.Kind


@pytest.fixture
def staff_client(client):
    staff = SuperUserFactory()
    client.force_login(staff)
    client.staff = staff
    return client


def test_program_settings_are_one_editable_row(staff_client):
    response = staff_client.get(reverse("admin:members_programsettings_changelist"))
    assert response.status_code == 302 and response.url.endswith("/1/change/")
    page = staff_client.get(response.url)
    assert page.status_code == 200 and b"expiry_policy" in page.content
    data = {field: value for field, value in page.context["adminform"].form.initial.items() if value is not None}
    data.update({"pending_days": 7, "expiry_policy": "activity", "max_points_per_purchase": ""})
    saved = staff_client.post(response.url, data)
    assert saved.status_code == 302, saved.context["adminform"].form.errors if saved.context else saved
    program = ProgramSettings.objects.get()
    assert (program.pending_days, program.expiry_policy) == (7, "activity")


@pytest.mark.parametrize("page", ["tier", "earningrule"])
def test_tier_and_rule_lists(staff_client, page):
    assert staff_client.get(reverse(f"admin:members_{page}_changelist")).status_code == 200
    assert staff_client.get(reverse(f"admin:members_{page}_add")).status_code == 200


def test_member_search_by_email_name_member_and_card_number(staff_client):
    dana = MemberFactory(user=UserFactory(email="dana@example.com", first_name="Dana", last_name="Quist"))
    MemberFactory(user=UserFactory(email="other@example.com", first_name="Olaf", last_name="Other"))
    url = reverse("admin:members_member_changelist")
    spaced_card = " ".join(dana.card_number[i : i + 4] for i in range(0, len(dana.card_number), 4))
    queries = ("dana@example", "Quist", dana.member_number, dana.member_number.lower(), dana.card_number, spaced_card)
    for query in queries:
        response = staff_client.get(url, {"q": query})
        assert response.status_code == 200
        results = list(response.context["cl"].result_list)
        assert results == [dana], query


def test_member_page_shows_balances_lots_latest_entries_and_history(
    staff_client, program, member, django_assert_max_num_queries
):
    for n in range(30):
        buy(member, "3", external_id=f"X-{n}")
    url = reverse("admin:members_member_change", args=[member.pk])
    with django_assert_max_num_queries(20):
        response = staff_client.get(url)
    assert response.status_code == 200
    body = response.content.decode()
    assert "Spendable" in body and ">90<" in body
    assert f"{reverse('admin:members_ledgerentry_changelist')}?account={member.pk}" in body
    assert f"{reverse('admin:members_pointslot_changelist')}?account={member.pk}" in body
    assert body.count("Purchase X-") == 20  # latest entries only; the full ledger is a link
    assert "Enrolled" in body


def test_member_page_query_count_does_not_grow_with_history(staff_client, program, member, django_assert_num_queries):
    url = reverse("admin:members_member_change", args=[member.pk])
    buy(member, "3")
    staff_client.get(url)  # warm the per-process caches (content types, program settings)
    with CaptureQueriesContext(connection) as small:
        staff_client.get(url)
    for n in range(40):
        buy(member, "3", external_id=f"Y-{n}")
    with django_assert_num_queries(len(small.captured_queries)):
        staff_client.get(url)


def test_adjust_points_through_the_service(staff_client, program, member):
    url = reverse("admin:members_member_adjust_points", args=[member.pk])
    page = staff_client.get(url)
    assert page.status_code == 200
    token = page.context["form"].initial["token"]
    response = staff_client.post(url, {"points": 40, "reason": "Goodwill", "token": token})
    assert response.status_code == 302
    entry = LedgerEntry.objects.get(kind=Kind.ADJUST)
    assert (entry.points, entry.description, entry.actor) == (40, "Goodwill", staff_client.staff)
    # A double submit of the same form posts once.
    staff_client.post(url, {"points": 40, "reason": "Goodwill", "token": token})
    assert LedgerEntry.objects.filter(kind=Kind.ADJUST).count() == 1
    assert assert_consistent(member).balance == 40


def test_adjust_points_over_the_support_limit_waits_for_approval(staff_client, program, member):
    from backoffice.models import AdjustmentRequest, StaffAuditLog

    url = reverse("admin:members_member_adjust_points", args=[member.pk])
    response = staff_client.post(url, {"points": 5000, "reason": "Status match", "token": "t-big"})
    assert response.status_code == 302
    assert not LedgerEntry.objects.filter(kind=Kind.ADJUST).exists()
    assert AdjustmentRequest.objects.filter(member=member, points=5000).count() == 1
    assert StaffAuditLog.objects.exists()


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"points": 10, "reason": ""}, "reason", "required"),
        ({"points": 0, "reason": "x"}, "points", "at least one point"),
        ({"points": -500, "reason": "too much"}, None, "Not enough points"),
    ],
)
def test_adjust_points_shows_errors_and_changes_nothing(staff_client, program, member, data, field, message):
    url = reverse("admin:members_member_adjust_points", args=[member.pk])
    response = staff_client.post(url, {**data, "token": "t-1"})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert message in str(errors.get(field or "__all__"))
    assert not LedgerEntry.objects.exists()
    assert PointsAccount.objects.get(pk=member.pk).balance == 0


def test_ledger_is_read_only_and_filterable(staff_client, program, member):
    buy(member, "12")
    other = MemberFactory()
    buy(other, "5")
    entry = LedgerEntry.objects.get(account_id=member.pk)
    changelist = reverse("admin:members_ledgerentry_changelist")
    response = staff_client.get(changelist, {"account": member.pk})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [entry]
    assert staff_client.get(changelist, {"kind__exact": "earn"}).status_code == 200
    assert staff_client.get(changelist, {"created_at__gte": "2000-01-01 00:00:00+00:00"}).status_code == 200
    assert staff_client.get(reverse("admin:members_ledgerentry_add")).status_code == 403
    assert staff_client.get(reverse("admin:members_ledgerentry_delete", args=[entry.pk])).status_code == 403
    detail = staff_client.get(reverse("admin:members_ledgerentry_change", args=[entry.pk]))
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    posted = staff_client.post(reverse("admin:members_ledgerentry_change", args=[entry.pk]), {"points": 999})
    assert posted.status_code == 403
    assert LedgerEntry.objects.get(pk=entry.pk).points == 12


def test_reverse_entry_action_asks_for_a_reason_and_reverses_once(staff_client, program, member):
    entry = points_adjust(member=member, points=30, reason="typo", actor=None)
    changelist = reverse("admin:members_ledgerentry_changelist")
    selection = {"action": "reverse_entries", "_selected_action": [entry.pk]}
    confirm = staff_client.post(changelist, selection)
    assert confirm.status_code == 200 and b"Reverse entries" in confirm.content
    missing = staff_client.post(changelist, {**selection, "apply": "1", "reason": ""})
    assert missing.status_code == 200 and missing.context["form"].errors["reason"]
    assert not LedgerEntry.objects.filter(kind=Kind.REVERSAL).exists()
    done = staff_client.post(changelist, {**selection, "apply": "1", "reason": "wrong member"})
    assert done.status_code == 302
    staff_client.post(changelist, {**selection, "apply": "1", "reason": "again"})
    reversal = LedgerEntry.objects.get(kind=Kind.REVERSAL)
    assert (reversal.points, reversal.reversal_of_id, reversal.actor) == (-30, entry.pk, staff_client.staff)
    assert assert_consistent(member).balance == 0


def test_purchases_lots_accounts_and_tier_history_are_read_only_pages(staff_client, program, member):
    result = buy(member, "12")
    for name in ("purchase", "pointslot", "pointsaccount", "tierhistory"):
        assert staff_client.get(reverse(f"admin:members_{name}_changelist")).status_code == 200
        assert staff_client.get(reverse(f"admin:members_{name}_add")).status_code == 403
    page = staff_client.get(reverse("admin:members_purchase_change", args=[result.purchase.pk]))
    assert page.status_code == 200
    assert re.search(rb"SKU", page.content)
    assert b'name="_save"' not in page.content
