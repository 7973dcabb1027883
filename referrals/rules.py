"""The fraud rules, as pure functions: given the facts, each says passed / held / rejected and why.

Services gather the facts (one query each), call these, record every outcome as a ``ReferralEvent`` and apply
the strictest one. Nothing here touches the database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

from .models import ReferralEvent, ReferralProgram

Rule = ReferralEvent.Rule
Outcome = ReferralEvent.Outcome

#: Gmail ignores dots in the local part, and googlemail.com is the same mailbox.
GMAIL_DOMAINS = {"gmail.com", "googlemail.com"}
_SEVERITY = {Outcome.PASSED: 0, Outcome.HELD: 1, Outcome.REJECTED: 2}


@dataclass(frozen=True)
class Check:
    rule: str
    outcome: str
    reason: str = ""


def email_normalise(email: str) -> str:
    """The mailbox an address really delivers to, for comparing people rather than strings.

    Case is ignored everywhere and ``+tags`` are dropped; for Gmail (and googlemail.com, folded into gmail.com)
    dots in the local part are dropped too.
    """
    email = (email or "").strip().lower()
    if "@" not in email:
        return email
    local, domain = email.rsplit("@", 1)
    domain = domain.rstrip(".")
    local = local.split("+", 1)[0]
    if domain in GMAIL_DOMAINS:
        domain = "gmail.com"
        local = local.replace(".", "")
    return f"{local}@{domain}"


def phone_normalise(phone: str) -> str:
    """Digits that identify a phone line whatever the formatting: the last nine digits, so that
    ``+31 6 1234 5678``, ``0031612345678`` and ``06-12345678`` compare equal. Too short: empty."""
    digits = re.sub(r"\D", "", phone or "")
    return digits[-9:] if len(digits) >= 7 else ""


def code_normalise(code: str) -> str:
    """Codes are shown upper case and may be typed with spaces, dashes or in lower case."""
    return re.sub(r"[^0-9A-Za-z]", "", code or "").upper()


def check_self_referral(
    *,
    referrer_email: str,
    friend_email: str,
    referrer_card: str,
    friend_cards: set[str],
    referrer_phone: str,
    friend_phones: set[str],
) -> Check:
    if email_normalise(referrer_email) == email_normalise(friend_email):
        return Check(Rule.SELF_REFERRAL, Outcome.REJECTED, _("Same email address as the referrer (normalised)."))
    if referrer_card and referrer_card in {card for card in friend_cards if card}:
        return Check(Rule.SELF_REFERRAL, Outcome.REJECTED, _("Same card number as the referrer."))
    referrer_line = phone_normalise(referrer_phone)
    if referrer_line and referrer_line in {phone_normalise(phone) for phone in friend_phones}:
        return Check(Rule.SELF_REFERRAL, Outcome.REJECTED, _("Same phone number as the referrer."))
    return Check(Rule.SELF_REFERRAL, Outcome.PASSED)


def check_disposable_email(*, friend_email: str, is_disposable: bool) -> Check:
    if is_disposable:
        domain = friend_email.rsplit("@", 1)[-1].lower()
        return Check(
            Rule.DISPOSABLE_EMAIL,
            Outcome.REJECTED,
            _("Disposable email domain: %(domain)s.") % {"domain": domain},
        )
    return Check(Rule.DISPOSABLE_EMAIL, Outcome.PASSED)


def check_velocity(*, signups_last_hour: int, limit: int) -> Check:
    """``signups_last_hour`` counts the earlier sign-ups on the code; up to ``limit`` an hour pass."""
    if signups_last_hour >= limit:
        return Check(
            Rule.VELOCITY,
            Outcome.HELD,
            _("%(count)s sign-ups on this code within an hour (limit %(limit)s).")
            % {"count": signups_last_hour + 1, "limit": limit},
        )
    return Check(Rule.VELOCITY, Outcome.PASSED)


def check_caps(*, program: ReferralProgram, qualified_this_month: int, qualified_total: int) -> list[Check]:
    """The referrer's caps on qualified referrals; over a cap the program's ``cap_action`` applies."""
    over = Outcome.HELD if program.cap_action == ReferralProgram.CapAction.HOLD else Outcome.REJECTED
    checks = []
    monthly = program.max_per_referrer_per_month
    if monthly is not None and qualified_this_month >= monthly:
        checks.append(
            Check(
                Rule.MONTHLY_CAP,
                over,
                _("The referrer already has %(count)s qualified referrals this month (cap %(cap)s).")
                % {"count": qualified_this_month, "cap": monthly},
            )
        )
    else:
        checks.append(Check(Rule.MONTHLY_CAP, Outcome.PASSED))
    total = program.max_per_referrer_total
    if total is not None and qualified_total >= total:
        checks.append(
            Check(
                Rule.TOTAL_CAP,
                over,
                _("The referrer already has %(count)s qualified referrals in total (cap %(cap)s).")
                % {"count": qualified_total, "cap": total},
            )
        )
    else:
        checks.append(Check(Rule.TOTAL_CAP, Outcome.PASSED))
    return checks


def strictest(checks: list[Check]) -> Check | None:
    """The check that decides: a rejection beats a hold; None when every check passed."""
    failed = [check for check in checks if check.outcome != Outcome.PASSED]
    if not failed:
        return None
    return max(failed, key=lambda check: _SEVERITY[check.outcome])
