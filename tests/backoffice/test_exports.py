"""CSV exports stream the right rows and neutralise spreadsheet formulas."""

import csv
import io
from unittest import mock

import pytest
from django.urls import reverse

from backoffice.models import StaffAuditLog
from members.models import LedgerEntry
from rewards.models import Reward
from rewards.services import reward_redeem, voucher_cancel
from tests.backoffice.conftest import aware, post
from tests.factories import MemberFactory, RewardFactory

pytestmark = pytest.mark.django_db


def rows(response):
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_members_export(client, auditor):
    first = MemberFactory(email="ann@example.com", first_name="=HYPERLINK(1)", last_name="Smith")
    post(first, LedgerEntry.Kind.IMPORT, points=70, when=aware(2025, 1, 1, 12))
    MemberFactory(email="bob@example.com", first_name="Bob", last_name="Jones")
    client.force_login(auditor)
    data = rows(client.get(reverse("staff:export_members")))
    header = data[0]
    assert header[:3] == ["member_number", "card_number", "email"]
    by_email = {row[2]: dict(zip(header, row, strict=True)) for row in data[1:]}
    assert set(by_email) == {"ann@example.com", "bob@example.com"}
    ann = by_email["ann@example.com"]
    assert ann["first_name"] == "'=HYPERLINK(1)"
    assert (ann["balance"], ann["tier"], ann["member_number"]) == ("70", "Bronze", first.member_number)
    assert StaffAuditLog.objects.filter(action=StaffAuditLog.Action.EXPORTED, object_repr="members").exists()


def test_ledger_export_for_a_period(client, auditor, member):
    post(member, LedgerEntry.Kind.IMPORT, points=100, when=aware(2025, 1, 31, 23, 30))
    post(member, LedgerEntry.Kind.REDEEM, points=-40, when=aware(2025, 2, 1, 0, 10))
    post(member, LedgerEntry.Kind.EXPIRE, points=-10, when=aware(2025, 3, 1, 0, 0))
    client.force_login(auditor)
    data = rows(client.get(reverse("staff:export_ledger"), {"start": "2025-02-01", "end": "2025-02-28"}))
    assert data[0][:5] == ["id", "created_at", "member_number", "kind", "points"]
    assert [(row[2], row[3], row[4], row[7]) for row in data[1:]] == [(member.member_number, "redeem", "-40", "60")]


def test_ledger_export_rejects_a_bad_period(client, auditor):
    client.force_login(auditor)
    response = client.get(reverse("staff:export_ledger"), {"start": "2025-02-10", "end": "2025-02-01"})
    assert response.status_code == 400


def test_redemptions_export_for_a_period(client, auditor, member, manager):
    post(member, LedgerEntry.Kind.IMPORT, points=2000, when=aware(2025, 1, 1, 9))
    coffee = RewardFactory(slug="coffee", name="=Free coffee", points_cost=300)
    charity = RewardFactory(
        slug="trees", name="Plant trees", kind=Reward.Kind.DONATION, value=None, charity="Forest", points_cost=100
    )
    reward_redeem(member=member, reward=coffee, idempotency_key="before", now=aware(2025, 1, 31, 23, 59))
    first = reward_redeem(member=member, reward=coffee, idempotency_key="a", now=aware(2025, 2, 1, 0, 5))
    reward_redeem(member=member, reward=charity, points=250, idempotency_key="b", now=aware(2025, 2, 10, 12))
    second = reward_redeem(member=member, reward=coffee, idempotency_key="c", actor=manager, now=aware(2025, 2, 20))
    voucher_cancel(voucher=second.voucher, actor=manager, now=aware(2025, 2, 21))
    reward_redeem(member=member, reward=coffee, idempotency_key="after", now=aware(2025, 3, 1, 0, 0))

    client.force_login(auditor)
    data = rows(client.get(reverse("staff:export_redemptions"), {"start": "2025-02-01", "end": "2025-02-28"}))
    header = data[0]
    assert "shipping_name" not in header and "code" not in header and "idempotency_key" not in header
    got = [dict(zip(header, row, strict=True)) for row in data[1:]]
    assert [
        (r["id"], r["member_number"], r["reward"], r["reward_name"], r["points_spent"], r["status"], r["voucher_state"])
        for r in got
    ] == [
        (str(first.pk), member.member_number, "coffee", "'=Free coffee", "300", "completed", "issued"),
        (mock.ANY, member.member_number, "trees", "Plant trees", "250", "completed", ""),
        (str(second.pk), member.member_number, "coffee", "'=Free coffee", "300", "cancelled", "cancelled"),
    ]
    assert got[1]["charity"] == "Forest" and got[2]["actor"] == manager.email and got[2]["cancelled_at"]
    assert StaffAuditLog.objects.filter(action=StaffAuditLog.Action.EXPORTED, object_repr="redemptions").exists()


def test_redemptions_export_needs_the_redemption_view_permission(client, support, marketer):
    for user in (support, marketer):
        client.force_login(user)
        response = client.get(reverse("staff:export_redemptions"), {"start": "2025-02-01", "end": "2025-02-28"})
        assert response.status_code == 403
