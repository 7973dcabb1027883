from datetime import timedelta

import pytest
from django.utils import timezone

from members.models import Member
from referrals.exceptions import AlreadyReferred, ReferralCodeInvalid, ReferralError, SelfReferral
from referrals.models import Referral, ReferralEvent
from referrals.services import referral_attach, referral_code_get_or_create
from tests.factories import (
    DisposableEmailDomainFactory,
    MemberFactory,
    referral_code_for,
    referral_program_set,
    referral_purchase,
    referred_friend,
)

pytestmark = pytest.mark.django_db
State = Referral.State
Rule = ReferralEvent.Rule
Outcome = ReferralEvent.Outcome


def _outcomes(referral):
    return {event.rule: (event.outcome, event.reason) for event in referral.events.all()}


def test_code_is_short_unambiguous_and_stable():
    member = MemberFactory()
    code = referral_code_get_or_create(member=member)
    assert len(code.code) == 8
    assert not set(code.code) & set("01OIL")
    assert referral_code_get_or_create(member=member) == code


def test_clean_referral_is_pending_with_every_rule_recorded_as_passed():
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer, request_meta={"ip": "192.0.2.7"})
    assert referral.state == State.PENDING
    assert referral.referrer == referrer and referral.friend == friend
    assert referral.signup_ip == "192.0.2.7"
    outcomes = _outcomes(referral)
    assert set(outcomes) == {
        Rule.SELF_REFERRAL,
        Rule.DISPOSABLE_EMAIL,
        Rule.VELOCITY,
        Rule.MONTHLY_CAP,
        Rule.TOTAL_CAP,
    }
    assert {outcome for outcome, _ in outcomes.values()} == {Outcome.PASSED}


def test_code_is_matched_case_and_dash_insensitively():
    referrer = MemberFactory()
    code = referral_code_for(referrer).code
    _, referral = referred_friend(referrer, code=f" {code[:4].lower()}-{code[4:]} ")
    assert referral.state == State.PENDING


def test_unknown_code_is_refused_and_records_nothing():
    with pytest.raises(ReferralCodeInvalid) as error:
        referral_attach(friend=MemberFactory(), code="NOPE2345")
    assert error.value.field == "referral_code"
    assert not Referral.objects.exists()


def test_code_of_a_closed_member_is_refused():
    referrer = MemberFactory()
    code = referral_code_for(referrer).code
    Member.objects.filter(pk=referrer.pk).update(status=Member.Status.CLOSED)
    with pytest.raises(ReferralCodeInvalid):
        referral_attach(friend=MemberFactory(), code=code)


def test_own_code_is_refused():
    member = MemberFactory()
    with pytest.raises(SelfReferral):
        referral_attach(friend=member, code=referral_code_for(member).code)
    assert not Referral.objects.exists()


@pytest.mark.parametrize(
    ("referrer_email", "friend_email"),
    [
        ("dana.demo@gmail.com", "danademo+2@gmail.com"),
        ("DanaDemo@gmail.com", "dana.demo@googlemail.com"),
        ("sam@example.org", "SAM+alt@Example.org"),
    ],
)
def test_same_normalised_email_is_rejected_as_self_referral(referrer_email, friend_email):
    referrer = MemberFactory(email=referrer_email)
    _, referral = referred_friend(referrer, email=friend_email)
    assert referral.state == State.REJECTED
    assert referral.reason == "Same email address as the referrer (normalised)."
    assert _outcomes(referral)[Rule.SELF_REFERRAL] == (Outcome.REJECTED, referral.reason)


def test_dots_make_a_different_person_outside_gmail():
    referrer = MemberFactory(email="sam.smith@example.org")
    _, referral = referred_friend(referrer, email="samsmith@example.org")
    assert referral.state == State.PENDING


def test_same_card_number_is_rejected_as_self_referral():
    referrer = MemberFactory()
    _, referral = referred_friend(referrer, request_meta={"card_number": referrer.card_number})
    assert referral.state == State.REJECTED
    assert referral.reason == "Same card number as the referrer."


def test_same_phone_is_rejected_as_self_referral():
    referrer = MemberFactory(phone="+31 6 1234 5678")
    _, referral = referred_friend(referrer, phone="06-12345678")
    assert referral.state == State.REJECTED
    assert referral.reason == "Same phone number as the referrer."
    assert _outcomes(referral)[Rule.SELF_REFERRAL][0] == Outcome.REJECTED


def test_self_referral_rule_can_be_switched_off():
    referral_program_set(check_self_referral=False)
    referrer = MemberFactory(email="dana@gmail.com")
    _, referral = referred_friend(referrer, email="d.ana@gmail.com")
    assert referral.state == State.PENDING
    assert Rule.SELF_REFERRAL not in _outcomes(referral)


def test_seeded_disposable_domain_is_refused():
    _, referral = referred_friend(MemberFactory(), email="someone@mailinator.com")
    assert referral.state == State.REJECTED
    assert referral.reason == "Disposable email domain: mailinator.com."
    assert _outcomes(referral)[Rule.DISPOSABLE_EMAIL] == (Outcome.REJECTED, referral.reason)


def test_staff_added_domain_and_its_subdomains_are_refused():
    DisposableEmailDomainFactory(domain="Burner.Example")  # saved lower case
    _, referral = referred_friend(MemberFactory(), email="x@mx.burner.example")
    assert referral.state == State.REJECTED
    assert "burner.example" in referral.reason


def test_disposable_rule_can_be_switched_off():
    referral_program_set(check_disposable_email=False)
    _, referral = referred_friend(MemberFactory(), email="someone@yopmail.com")
    assert referral.state == State.PENDING


def test_velocity_holds_a_burst_of_signups_on_one_code():
    referral_program_set(velocity_max_per_hour=2)
    referrer = MemberFactory()
    now = timezone.now()
    states = [referred_friend(referrer, now=now + timedelta(minutes=i))[1].state for i in range(3)]
    assert states == [State.PENDING, State.PENDING, State.HELD]
    held = Referral.objects.get(state=State.HELD)
    assert held.reason == "3 sign-ups on this code within an hour (limit 2)."
    assert _outcomes(held)[Rule.VELOCITY] == (Outcome.HELD, held.reason)
    # An hour later the code is quiet again.
    _, later = referred_friend(referrer, now=now + timedelta(minutes=62))
    assert later.state == State.PENDING


def _qualified_referral(referrer):
    friend, referral = referred_friend(referrer)
    referral_purchase(friend, "25.00")
    referral.refresh_from_db()
    assert referral.state == State.QUALIFIED
    return referral


def test_monthly_cap_holds_by_default():
    referral_program_set(max_per_referrer_per_month=1)
    referrer = MemberFactory()
    _qualified_referral(referrer)
    _, referral = referred_friend(referrer)
    assert referral.state == State.HELD
    assert referral.reason == "The referrer already has 1 qualified referrals this month (cap 1)."
    assert _outcomes(referral)[Rule.MONTHLY_CAP][0] == Outcome.HELD


def test_total_cap_rejects_when_configured_to():
    referral_program_set(max_per_referrer_per_month=None, max_per_referrer_total=1, cap_action="reject")
    referrer = MemberFactory()
    _qualified_referral(referrer)
    _, referral = referred_friend(referrer)
    assert referral.state == State.REJECTED
    assert referral.reason == "The referrer already has 1 qualified referrals in total (cap 1)."
    assert _outcomes(referral)[Rule.TOTAL_CAP] == (Outcome.REJECTED, referral.reason)


def test_caps_can_be_switched_off():
    referral_program_set(max_per_referrer_total=1, check_caps=False)
    referrer = MemberFactory()
    _qualified_referral(referrer)
    _, referral = referred_friend(referrer)
    assert referral.state == State.PENDING


def test_rejection_wins_over_hold_when_several_rules_fail():
    referral_program_set(velocity_max_per_hour=0)
    _, referral = referred_friend(MemberFactory(), email="x@yopmail.com")
    assert referral.state == State.REJECTED
    assert _outcomes(referral)[Rule.VELOCITY][0] == Outcome.HELD


def test_attaching_again_is_idempotent_and_a_second_referrer_is_refused():
    referrer = MemberFactory()
    friend, referral = referred_friend(referrer)
    assert referral_attach(friend=friend, code=referral_code_for(referrer).code) == referral
    with pytest.raises(AlreadyReferred):
        referral_attach(friend=friend, code=referral_code_for(MemberFactory()).code)
    assert Referral.objects.count() == 1


def test_disabled_program_accepts_no_new_referrals():
    referral_program_set(is_enabled=False)
    referrer = MemberFactory()
    with pytest.raises(ReferralError):
        referral_attach(friend=MemberFactory(), code=referral_code_for(referrer).code)
    assert not Referral.objects.exists()
