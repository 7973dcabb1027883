"""Closing a partner's settlement month: its statement is frozen, its items settled once and for all."""

from __future__ import annotations

from datetime import date, datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice import settlement
from backoffice.models import SettlementItem, SettlementStatement
from members.exceptions import LoyaltyError
from members.models import Partner


class SettlementNotAllowed(LoyaltyError):
    code = "settlement_not_allowed"
    default_message = _("This period cannot be closed.")


def settlement_close(*, partner: Partner, month: date, actor, now: datetime | None = None) -> SettlementStatement:
    """Freeze ``partner``'s statement for ``month``: its totals and every item in it, as computed now.

    Months close in order (the one after the last closed; the first is the partner's first month with activity,
    or any month before it) and only once they are over. The partner's row is locked for the duration, so two
    staff closing at once cannot both succeed, and each item is unique across statements, so no point is ever
    settled twice.
    """
    now = now or timezone.now()
    month = settlement.month_start(month)
    _start_at, end_at = settlement.month_bounds(month)
    if end_at > now:
        raise SettlementNotAllowed(_("A month can be closed once it is over."), field="month")
    with transaction.atomic():
        Partner.objects.select_for_update().filter(pk=partner.pk).first()
        if SettlementStatement.objects.filter(partner=partner, month=month).exists():
            raise SettlementNotAllowed(_("This month is already closed."), field="month")
        first_open = settlement.first_open_month(partner)
        if first_open is None:
            # Nothing closed yet: the partner's first month with activity is the first to settle.
            earliest = settlement.first_activity_month(partner)
            first_open = earliest if earliest is not None and earliest < month else None
        if first_open is not None and month != first_open:
            raise SettlementNotAllowed(
                _("Close %(month)s first: months close in order.") % {"month": f"{first_open:%Y-%m}"}, field="month"
            )
        statement = settlement.statement_for(partner, month)
        closed = SettlementStatement.objects.create(
            partner=partner,
            month=month,
            currency=statement.currency,
            points_issued=statement.points_issued,
            points_clawed_back=statement.points_clawed_back,
            points_redeemed_vouchers=statement.points_redeemed_vouchers,
            points_redeemed_payments=statement.points_redeemed_payments,
            amount_issued=statement.amount_issued,
            amount_clawed_back=statement.amount_clawed_back,
            amount_redeemed=statement.amount_redeemed,
            net_amount=statement.net_amount,
            closed_at=now,
            closed_by=actor,
        )
        try:
            SettlementItem.objects.bulk_create(
                [
                    SettlementItem(
                        statement=closed,
                        kind=line.kind,
                        ref_id=line.ref_id,
                        moved_at=line.moved_at,
                        points=line.points,
                        rate=line.rate,
                        amount=line.amount,
                        late=line.late,
                    )
                    for line in statement.lines
                ],
                batch_size=2000,
            )
        except IntegrityError:
            raise SettlementNotAllowed(_("Another close settled some of these items; try again.")) from None
    return closed
