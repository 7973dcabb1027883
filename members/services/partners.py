"""Coalition partners: their details, stores, earning rules and rate history.

A partner's rates are history that settlement values points against (``backoffice.settlement``), so a rate is
never edited: a new price is a new row from a moment on. A new row may not start in the past once points have
moved at the partner, so no amount already owed (or already frozen in a closed statement) changes afterwards.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import audit
from ..exceptions import LoyaltyError
from ..models import LedgerEntry, Partner, PartnerRate, PartnerStore

#: How far in the past a new rate may start (the time a form takes to submit).
RATE_BACKDATE_TOLERANCE = timedelta(minutes=5)


class PartnerRateNotAllowed(LoyaltyError):
    code = "partner_rate_not_allowed"
    default_message = _("This rate cannot be added.")


def partner_save(*, partner: Partner, actor) -> Partner:
    """Create or change a partner (audited like every program rule)."""
    return audit.rule_save(partner, actor=actor)


def partner_store_save(*, store: PartnerStore, actor) -> PartnerStore:
    return audit.rule_save(store, actor=actor)


def partner_rate_errors(
    *, partner: Partner, effective_from: datetime | None, price: Decimal | None, reimbursement: Decimal | None, now=None
) -> dict[str, str]:
    """What is wrong with a new rate row, by field (empty when it may be added)."""
    now = now or timezone.now()
    errors: dict[str, str] = {}
    if effective_from is None:
        errors["effective_from"] = _("Say from when the rate applies.")
    elif effective_from < now - RATE_BACKDATE_TOLERANCE and partner.pk is not None:
        moved = LedgerEntry.objects.filter(partner=partner, created_at__gte=effective_from).exists()
        if moved:
            errors["effective_from"] = _(
                "Points have moved at this partner since then: a rate can start now or later, not in the past."
            )
    if (
        effective_from is not None
        and partner.pk is not None
        and PartnerRate.objects.filter(partner=partner, effective_from=effective_from).exists()
    ):
        errors["effective_from"] = _("A rate already starts at this moment.")
    for field, value in (("price_per_point_issued", price), ("reimbursement_per_point_redeemed", reimbursement)):
        if value is None or value < 0:
            errors[field] = _("Enter an amount of zero or more.")
    return errors


def partner_rate_add(
    *,
    partner: Partner,
    effective_from: datetime,
    price_per_point_issued: Decimal,
    reimbursement_per_point_redeemed: Decimal,
    actor=None,
    now: datetime | None = None,
) -> PartnerRate:
    """Add a rate row from ``effective_from`` on (refused per :func:`partner_rate_errors`)."""
    errors = partner_rate_errors(
        partner=partner,
        effective_from=effective_from,
        price=price_per_point_issued,
        reimbursement=reimbursement_per_point_redeemed,
        now=now,
    )
    if errors:
        field, message = next(iter(errors.items()))
        raise PartnerRateNotAllowed(message, field=field)
    with transaction.atomic():
        rate = PartnerRate(
            partner=partner,
            effective_from=effective_from,
            price_per_point_issued=price_per_point_issued,
            reimbursement_per_point_redeemed=reimbursement_per_point_redeemed,
        )
        return audit.rule_save(rate, actor=actor)
