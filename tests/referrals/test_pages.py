import os
import re

import pytest
from allauth.account.models import EmailAddress
from django.core.management import call_command
from django.urls import resolve, reverse

from members.models import Member, PointsAccount
from members.views import MemberSignupView
from referrals.models import Referral, ReferralCode
from tests.factories import MemberFactory, UserFactory, referral_code_for, referral_purchase, referred_friend

pytestmark = pytest.mark.django_db
State = Referral.State
PASSWORD = "a-long-secret-42"


def _signup(client, email, **extra):
    return client.post(
        reverse("account_signup"), {"email": email, "password1": PASSWORD, "password2": PASSWORD, **extra}
    )


def _logged_in(client, member):
    client.force_login(member.user)
    return client


def test_referrals_page_needs_login(client):
    response = client.get(reverse("referrals:index"))
    assert response.status_code == 302
    assert reverse("account_login") in response["Location"]


def test_referrals_page_shows_code_share_link_and_qr_code(client):
    member = MemberFactory()
    response = _logged_in(client, member).get(reverse("referrals:index"))
    assert response.status_code == 200
    code = ReferralCode.objects.get(member=member).code
    body = response.content.decode()
    assert code in body
    assert f"http://testserver/r/{code}/" in body
    assert "<svg" in body and 'class="segno"' in body
    assert "No referrals yet" in body
    assert 'href="/referrals/" aria-current="page"' in body  # nav link


def test_whole_flow_share_link_signup_purchase_both_rewarded(client):
    referrer = MemberFactory(email="referrer@example.com")
    code = referral_code_for(referrer).code

    # The friend follows the share link: the code is remembered and they land on sign-up.
    response = client.get(reverse("referrals:landing", args=[code]))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("account_signup"))
    assert client.session["referral_code"] == code
    signup_page = client.get(response["Location"])
    assert f"Referral code {code} will be applied" in signup_page.content.decode()

    # They sign up on the real page without typing the code; the session carries it.
    assert _signup(client, "Friend.Person@example.com", first_name="Frida").status_code == 302
    friend = Member.objects.get(user__email="friend.person@example.com")
    referral = Referral.objects.get(friend=friend)
    assert referral.referrer == referrer and referral.state == State.PENDING
    assert "referral_code" not in client.session  # used once

    # Nothing is paid at sign-up; the first qualifying purchase pays both.
    assert PointsAccount.objects.get(pk=referrer.pk).balance == 0
    referral_purchase(friend, "42.00")
    assert PointsAccount.objects.get(pk=referrer.pk).balance == 500
    assert PointsAccount.objects.get(pk=friend.pk).balance == 250

    # The referrer sees it on their page.
    client.logout()
    body = _logged_in(client, referrer).get(reverse("referrals:index")).content.decode()
    assert "Frida" in body
    assert "Qualified (rewarded)" in body
    assert 'data-testid="referral-points">500<' in body


def _referral_input(page) -> str:
    """The sign-up page's referral code ``<input>`` tag."""
    [tag] = re.findall(r'<input[^>]*name="referral_code"[^>]*>', page.content.decode())
    return tag


def test_share_link_prefills_the_signup_forms_referral_code(client):
    code = referral_code_for(MemberFactory()).code
    landing = client.get(reverse("referrals:landing", args=[code]))
    page = client.get(landing["Location"])
    assert page.status_code == 200
    assert f'value="{code}"' in _referral_input(page)
    assert resolve(reverse("account_signup")).func.view_class is MemberSignupView


def test_signup_prefill_falls_back_to_the_session_and_the_link_wins_over_it(client):
    code = referral_code_for(MemberFactory()).code
    client.get(reverse("referrals:landing", args=[code]))
    assert f'value="{code}"' in _referral_input(client.get(reverse("account_signup")))
    other = referral_code_for(MemberFactory()).code
    page = client.get(reverse("account_signup"), {"referral_code": other})
    assert f'value="{other}"' in _referral_input(page)


def test_signup_without_a_code_has_an_empty_field_and_a_hostile_one_is_escaped(client):
    assert "value=" not in _referral_input(client.get(reverse("account_signup")))
    page = client.get(reverse("account_signup"), {"referral_code": '"><script>x</script>'})
    assert "<script>x" not in page.content.decode()
    assert 'value="&quot;&gt;&lt;script&gt;x&lt;/script&gt;"' in _referral_input(page)


def test_submitting_the_prefilled_form_attaches_the_referral(client):
    referrer = MemberFactory()
    code = referral_code_for(referrer).code
    page = client.get(reverse("account_signup"), {"referral_code": code})
    prefilled = re.search(r'value="([^"]*)"', _referral_input(page)).group(1)
    assert _signup(client, "prefilled@example.com", referral_code=prefilled).status_code == 302
    assert Referral.objects.get(friend__user__email="prefilled@example.com").referrer == referrer


def test_signup_form_code_field_attaches_the_referral(client):
    referrer = MemberFactory()
    code = referral_code_for(referrer).code
    response = _signup(client, "typed@example.com", referral_code=code.lower())
    assert response.status_code == 302
    referral = Referral.objects.get(friend__user__email="typed@example.com")
    assert referral.referrer == referrer


def test_signup_with_an_unknown_code_says_so_beside_the_field_and_clearing_it_joins(client):
    response = _signup(client, "nocode@example.com", referral_code="zzzz9999")
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert list(errors) == ["referral_code"]
    assert "We don't know the referral code ZZZZ9999" in errors["referral_code"][0]
    assert "We don&#x27;t know the referral code ZZZZ9999" in response.content.decode()
    assert not Member.objects.filter(user__email="nocode@example.com").exists()
    # Corrected (cleared): the sign-up goes through without a referral.
    assert _signup(client, "nocode@example.com", referral_code="").status_code == 302
    assert Member.objects.filter(user__email="nocode@example.com").exists()
    assert not Referral.objects.exists()


def test_signup_with_a_disposable_address_records_a_rejected_referral(client):
    code = referral_code_for(MemberFactory()).code
    assert _signup(client, "burner@yopmail.com", referral_code=code).status_code == 302
    referral = Referral.objects.get(friend__user__email="burner@yopmail.com")
    assert referral.state == State.REJECTED
    assert referral.reason == "Disposable email domain: yopmail.com."


def test_landing_with_an_invalid_code_stores_nothing_and_says_so_on_the_signup_page(client):
    response = client.get(reverse("referrals:landing", args=["NOSUCH22"]))
    assert response.status_code == 302
    assert response["Location"] == reverse("account_signup") + "?referral_code=NOSUCH22"
    assert "referral_code" not in client.session
    page = client.get(response["Location"]).content.decode()
    assert "We don&#x27;t know the referral code NOSUCH22 from this link" in page
    assert 'value="NOSUCH22"' in _referral_input(client.get(response["Location"]))


def test_landing_for_a_member_goes_to_their_referrals_page(client):
    member = MemberFactory()
    code = referral_code_for(MemberFactory()).code
    response = _logged_in(client, member).get(reverse("referrals:landing", args=[code]))
    assert response["Location"] == reverse("referrals:index")


def test_referrals_page_query_count_does_not_grow_with_referrals(client, django_assert_max_num_queries):
    referrer = MemberFactory()
    _logged_in(client, referrer)
    client.get(reverse("referrals:index"))  # creates the code
    for _ in range(2):
        referred_friend(referrer)
    with django_assert_max_num_queries(8) as few:
        client.get(reverse("referrals:index"))
    for _ in range(8):
        referred_friend(referrer)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(reverse("referrals:index"))
    assert response.content.decode().count("<tr>") == 11  # header + 10 referrals


def test_staff_without_membership_gets_404(client):
    staff = UserFactory(is_staff=True)
    EmailAddress.objects.create(user=staff, email=staff.email, verified=True, primary=True)
    client.force_login(staff)
    assert client.get(reverse("referrals:index")).status_code == 404


def test_demo_seed_gives_the_demo_member_a_qualified_referral():
    with open(os.devnull, "w") as devnull:
        call_command("seed_demo", stdout=devnull)
        call_command("seed_demo", stdout=devnull)
    demo = Member.objects.get(user__email="demo@example.com")
    assert ReferralCode.objects.filter(member=demo).exists()
    referral = Referral.objects.get(referrer=demo)
    assert referral.state == State.QUALIFIED


def test_share_buttons_are_progressive_the_link_works_without_javascript(client):
    member = MemberFactory()
    body = _logged_in(client, member).get(reverse("referrals:index")).content.decode()
    code = referral_code_for(member).code
    assert f'href="http://testserver/r/{code}/"' in body
    assert re.search(r"<button[^>]*data-share-copy hidden>", body)
    assert re.search(r"<button[^>]*data-share-native hidden>", body)
    assert "js/share.js" in body
