"""What the staff exports contain: their columns and rows, read as the database cursor yields them.

The CSV itself (formula escaping, streaming) is written by :mod:`members.csvio`, like every CSV download.
"""

from __future__ import annotations

from backoffice.periods import Period
from members.models import LedgerEntry, Member
from rewards.models import Redemption


def _header(columns: list[tuple[str, str]]) -> list[str]:
    return [name for name, _path in columns]


MEMBER_COLUMNS = [
    ("member_number", "member_number"),
    ("card_number", "card_number"),
    ("email", "user__email"),
    ("first_name", "user__first_name"),
    ("last_name", "user__last_name"),
    ("status", "status"),
    ("tier", "tier__name"),
    ("enrolled_at", "enrolled_at"),
    ("last_purchase_at", "last_purchase_at"),
    ("marketing_consent", "marketing_consent"),
    ("balance", "account__balance"),
    ("pending", "account__pending"),
    ("owed", "account__owed"),
    ("lifetime_earned", "account__lifetime_earned"),
    ("lifetime_spent", "account__lifetime_spent"),
]


MEMBER_HEADER = _header(MEMBER_COLUMNS)


def members_rows():
    queryset = Member.objects.order_by("pk").values_list(*[path for _name, path in MEMBER_COLUMNS])
    yield from queryset.iterator(chunk_size=2000)


LEDGER_COLUMNS = [
    ("id", "pk"),
    ("created_at", "created_at"),
    ("member_number", "account__member__member_number"),
    ("kind", "kind"),
    ("points", "points"),
    ("pending_delta", "pending_delta"),
    ("owed_delta", "owed_delta"),
    ("balance_after", "balance_after"),
    ("idempotency_key", "idempotency_key"),
    ("description", "description"),
    ("purchase_external_id", "purchase__external_id"),
    ("actor", "actor__email"),
    ("reversal_of", "reversal_of_id"),
]


LEDGER_HEADER = _header(LEDGER_COLUMNS)


def ledger_rows(period: Period):
    queryset = (
        LedgerEntry.objects.filter(created_at__gte=period.start_at, created_at__lt=period.end_at)
        .order_by("created_at", "pk")
        .values_list(*[path for _name, path in LEDGER_COLUMNS])
    )
    yield from queryset.iterator(chunk_size=2000)


REDEMPTION_COLUMNS = [
    ("id", "pk"),
    ("created_at", "created_at"),
    ("member_number", "member__member_number"),
    ("reward", "reward__slug"),
    ("reward_name", "reward__name"),
    ("reward_kind", "reward__kind"),
    ("quantity", "quantity"),
    ("points_spent", "points_spent"),
    ("status", "status"),
    ("fulfilment_status", "fulfilment_status"),
    ("charity", "charity"),
    ("voucher_state", "voucher__state"),
    ("voucher_used_at", "voucher__used_at"),
    ("cancelled_at", "cancelled_at"),
    ("actor", "actor__email"),
]


REDEMPTION_HEADER = _header(REDEMPTION_COLUMNS)


def redemptions_rows(period: Period):
    """Redemptions created in the period. Voucher codes and shipping addresses stay out: codes are bearer
    credentials and addresses are personal data; the rewards admin has the shipping list for those who ship."""
    queryset = (
        Redemption.objects.filter(created_at__gte=period.start_at, created_at__lt=period.end_at)
        .order_by("created_at", "pk")
        .values_list(*[path for _name, path in REDEMPTION_COLUMNS])
    )
    yield from queryset.iterator(chunk_size=2000)
