import pytest

from referrals.models import ReferralEvent, ReferralProgram
from referrals.rules import (
    Check,
    check_caps,
    check_self_referral,
    check_velocity,
    code_normalise,
    email_normalise,
    phone_normalise,
    strictest,
)

Outcome = ReferralEvent.Outcome


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Dana.Demo@Gmail.com", "danademo@gmail.com"),
        ("d.a.n.a.demo+friends@gmail.com", "danademo@gmail.com"),
        ("DanaDemo+x+y@googlemail.com", "danademo@gmail.com"),
        ("  dana@GMAIL.COM  ", "dana@gmail.com"),
        ("Dana.Demo+shop@Example.com", "dana.demo@example.com"),  # other domains keep their dots
        ("dana.demo@example.com", "dana.demo@example.com"),
        ("DANA@Example.COM.", "dana@example.com"),
        ("not-an-email", "not-an-email"),
    ],
)
def test_email_normalisation(given, expected):
    assert email_normalise(given) == expected


def test_dots_only_fold_for_gmail():
    assert email_normalise("da.na@example.com") != email_normalise("dana@example.com")
    assert email_normalise("da.na@gmail.com") == email_normalise("dana@googlemail.com")


@pytest.mark.parametrize(
    ("given", "expected"),
    [("+31 6 1234 5678", "612345678"), ("0031612345678", "612345678"), ("06-12345678", "612345678"), ("123", "")],
)
def test_phone_normalisation(given, expected):
    assert phone_normalise(given) == expected


def test_code_normalisation_forgives_case_spaces_and_dashes():
    assert code_normalise(" abcd-efgh ") == "ABCDEFGH"
    assert code_normalise("") == ""


def test_self_referral_passes_for_different_people():
    check = check_self_referral(
        referrer_email="a@example.com",
        friend_email="b@example.com",
        referrer_card="6270001",
        friend_cards={"6270002", ""},
        referrer_phone="",
        friend_phones={""},
    )
    assert check.outcome == Outcome.PASSED


def test_empty_phones_never_match():
    check = check_self_referral(
        referrer_email="a@example.com",
        friend_email="b@example.com",
        referrer_card="1",
        friend_cards={"2"},
        referrer_phone="",
        friend_phones={"", "12"},
    )
    assert check.outcome == Outcome.PASSED


def test_velocity_allows_up_to_the_limit():
    assert check_velocity(signups_last_hour=4, limit=5).outcome == Outcome.PASSED
    held = check_velocity(signups_last_hour=5, limit=5)
    assert held.outcome == Outcome.HELD
    assert "6 sign-ups" in held.reason


def test_caps_follow_the_cap_action():
    program = ReferralProgram(max_per_referrer_per_month=2, max_per_referrer_total=None, cap_action="reject")
    monthly, total = check_caps(program=program, qualified_this_month=2, qualified_total=99)
    assert monthly.outcome == Outcome.REJECTED and "cap 2" in monthly.reason
    assert total.outcome == Outcome.PASSED


def test_strictest_prefers_rejection_over_hold():
    checks = [Check("a", Outcome.HELD, "held"), Check("b", Outcome.REJECTED, "no"), Check("c", Outcome.PASSED)]
    assert strictest(checks).reason == "no"
    assert strictest([Check("c", Outcome.PASSED)]) is None
