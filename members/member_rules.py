"""Rules about what a member tells us about themselves, shared by the site's profile form and the members API.

Pure functions over plain values; each caller words the refusal its own way (the form speaks to the member, the
API to an integration).
"""

from __future__ import annotations

from datetime import date

#: Nobody enrolling is older than this: a birthday further back is a typing error (or year 1, which the birthday
#: campaigns' date arithmetic cannot even move back from).
MAX_AGE_YEARS = 120


def birthday_problem(birthday: date, *, today: date) -> str | None:
    """``"future"``, ``"too_old"`` or None."""
    if birthday > today:
        return "future"
    if birthday.year < today.year - MAX_AGE_YEARS:
        return "too_old"
    return None
