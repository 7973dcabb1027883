import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from members import hooks
from members.models import LedgerEntry, Member, PointsAccount
from members.services.enrollment import BirthdayLocked
from members.services.purchases import PurchaseLineInput, purchase_record
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
PROFILE = reverse("members:profile")


def _profile_data(**changes):
    data = {
        "first_name": "Mia",
        "last_name": "Meyer",
        "birthday": "",
        "phone": "",
        "email_notifications": "on",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_profile_page_links_to_security_export_and_closure(member_client):
    body = member_client.get(PROFILE).content.decode()
    for name in ("account_change_password", "account_email", "mfa_index", "members:export", "members:close"):
        assert reverse(name) in body


def test_profile_update_saves_through_the_service(member_client, member):
    response = member_client.post(
        PROFILE,
        _profile_data(first_name="Mina", birthday="1991-04-02", phone="+31 6 1234 5678", marketing_consent="on"),
    )
    assert response.status_code == 302
    member.refresh_from_db()
    member.user.refresh_from_db()
    assert member.user.first_name == "Mina"
    assert member.birthday == date(1991, 4, 2)
    assert member.phone == "+31 6 1234 5678"
    assert member.marketing_consent is True
    assert "Your profile has been saved." in member_client.get(PROFILE).content.decode()


def test_consent_can_be_withdrawn(member_client, member):
    Member.objects.filter(pk=member.pk).update(marketing_consent=True)
    member_client.post(PROFILE, _profile_data(email_notifications=None))
    member.refresh_from_db()
    assert member.marketing_consent is False and member.email_notifications is False


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"phone": "call me maybe"}, "phone", "Enter a phone number"),
        ({"birthday": "2999-01-01"}, "birthday", "cannot be in the future"),
        ({"birthday": "1700-01-01"}, "birthday", "check the year"),
        ({"birthday": "31/31/1990"}, "birthday", "Enter a valid date."),
        ({"first_name": "x" * 151}, "first_name", "at most 150 characters"),
    ],
)
def test_profile_form_errors_change_nothing(member_client, member, changes, field, message):
    response = member_client.post(PROFILE, _profile_data(**{"first_name": "Changed", **changes}))
    assert response.status_code == 200
    assert any(message in error for error in response.context["form"].errors[field])
    assert 'aria-invalid="true"' in response.content.decode()
    member.user.refresh_from_db()
    assert member.user.first_name == "Mia"


def test_birthday_once_set_is_read_only_and_a_tampered_post_is_ignored(member_client, member):
    Member.objects.filter(pk=member.pk).update(birthday=date(1990, 5, 17))
    page = member_client.get(PROFILE).content.decode()
    assert 'name="birthday"' in page and "disabled" in page.split('name="birthday"')[1].split(">")[0]
    response = member_client.post(PROFILE, _profile_data(birthday="1990-12-24"))
    assert response.status_code == 302
    member.refresh_from_db()
    assert member.birthday == date(1990, 5, 17)


def test_birthday_locked_by_the_service_is_shown_on_the_field(member_client, member, monkeypatch):
    # Staff set the birthday between the page load and the save: the service refuses, the form says why.
    def locked(**kwargs):
        raise BirthdayLocked()

    monkeypatch.setattr("members.views.member_update_profile", locked)
    response = member_client.post(PROFILE, _profile_data(birthday="1990-12-24"))
    assert response.status_code == 200
    assert response.context["form"].errors["birthday"] == [str(BirthdayLocked.default_message)]


def test_export_is_a_json_download_of_everything_held_about_the_member(member_client, member, monkeypatch):
    purchase_record(
        member=member,
        external_id="EXP-1",
        lines=[
            PurchaseLineInput(sku="COF", quantity=2, unit_price=Decimal("7.50"), category="coffee"),
            PurchaseLineInput(sku="MUG", quantity=1, unit_price=Decimal("12.00")),
        ],
        channel="in_store",
        occurred_at=timezone.now() - timedelta(days=20),
        currency="EUR",
    )
    other = MemberFactory(email="other@example.com")
    purchase_record(
        member=other,
        external_id="NOT-MINE",
        lines=[PurchaseLineInput(sku="X", quantity=1, unit_price=Decimal("5"))],
        channel="online",
        occurred_at=timezone.now() - timedelta(days=20),
        currency="EUR",
    )
    monkeypatch.setattr(hooks, "export_providers", [lambda m: {"vouchers": [{"member": m.member_number}]}])

    response = member_client.get(reverse("members:export"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Content-Disposition"] == f'attachment; filename="loyalty-data-{member.member_number}.json"'
    assert "no-store" in response["Cache-Control"]
    data = json.loads(response.content)
    assert data["profile"]["email"] == "mia@example.com"
    assert data["profile"]["member_number"] == member.member_number
    assert data["account"]["balance"] == 27
    assert [p["external_id"] for p in data["purchases"]] == ["EXP-1"]
    assert [line["sku"] for line in data["purchases"][0]["lines"]] == ["COF", "MUG"]
    assert data["purchases"][0]["total"] == "27.00"
    assert [entry["points"] for entry in data["ledger"]] == [27]
    assert data["lots"][0]["remaining"] == 27
    assert [row["to"] for row in data["tier_history"]] == ["Bronze"]
    assert data["qualifying_activity"][0]["points"] == 27
    assert data["vouchers"] == [{"member": member.member_number}]
    assert "NOT-MINE" not in response.content.decode()


def test_export_query_count_is_fixed(client, member, django_assert_max_num_queries):
    from tests.site.conftest import add_history

    add_history(member, 50)
    client.force_login(member.user)
    # The members tables (action occurrences, feedback answers and point payments among them), plus what the
    # rewards, referrals and campaigns (3) apps add through export providers, and paid membership's
    # subscriptions, their history and savings (3).
    with django_assert_max_num_queries(24):
        assert client.get(reverse("members:export")).status_code == 200


CLOSE = reverse("members:close")


def test_close_page_warns_about_the_points_forfeited(member_client, member):
    PointsAccount.objects.filter(pk=member.pk).update(balance=1234, pending=56)
    body = member_client.get(CLOSE).content.decode()
    assert "You will lose <strong>1,234 points</strong> (worth €12.34)" in body
    assert "<strong>56 pending points</strong>" in body


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"password": "correct-horse-battery"}, "confirm", "Tick the box"),
        ({"confirm": "on", "password": "wrong"}, "password", "That password is not correct."),
        ({"confirm": "on"}, "password", "This field is required."),
    ],
)
def test_close_needs_the_box_ticked_and_the_password(member_client, member, data, field, message):
    response = member_client.post(CLOSE, data)
    assert response.status_code == 200
    assert any(message in error for error in response.context["form"].errors[field])
    member.refresh_from_db()
    assert member.status == Member.Status.ACTIVE


def test_closing_forfeits_points_anonymises_logs_out_and_says_goodbye(member_client, member):
    purchase_record(
        member=member,
        external_id="C-1",
        lines=[PurchaseLineInput(sku="X", quantity=1, unit_price=Decimal("80"))],
        channel="in_store",
        occurred_at=timezone.now() - timedelta(days=30),
        currency="EUR",
    )
    response = member_client.post(CLOSE, {"confirm": "on", "password": "correct-horse-battery"})
    assert response.status_code == 302 and response["Location"] == reverse("members:goodbye")
    goodbye = member_client.get(response["Location"])
    assert "Your membership is closed" in goodbye.content.decode()
    member.refresh_from_db()
    member.user.refresh_from_db()
    assert member.status == Member.Status.CLOSED
    assert member.user.email.endswith("@closed.invalid") and not member.user.is_active
    assert PointsAccount.objects.get(pk=member.pk).balance == 0
    assert LedgerEntry.objects.filter(account_id=member.pk, kind=LedgerEntry.Kind.FORFEIT, points=-80).exists()
    # Signed out: member pages now ask for a login.
    response = member_client.get(reverse("members:dashboard"))
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_a_closed_member_with_a_live_session_is_signed_out(member_client, member):
    # The user row stays active here, so only the member status stops them.
    Member.objects.filter(pk=member.pk).update(status=Member.Status.CLOSED)
    for name in ("members:dashboard", "members:activity", "members:profile", "members:export"):
        member_client.force_login(member.user)
        response = member_client.get(reverse(name))
        assert response.status_code == 302 and response["Location"] == reverse("home")
        assert "_auth_user_id" not in member_client.session
