import math
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from members.models import LedgerEntry, ProgramSettings
from members.services.purchases import PurchaseLineInput, purchase_record
from rewards.exceptions import (
    CancellationNotAllowed,
    VoucherAlreadyUsed,
    VoucherCancelled,
    VoucherExpired,
    VoucherNotFound,
)
from rewards.models import Redemption, Reward, Voucher
from rewards.rules import CODE_ALPHABET, CODE_BITS, voucher_code_new, voucher_code_normalise
from rewards.selectors import voucher_check
from rewards.services import reward_redeem, voucher_cancel, voucher_use, vouchers_expire_due
from rewards.tasks import expire_vouchers
from tests.factories import RewardFactory, StaffUserFactory
from tests.rewards.conftest import balance

pytestmark = pytest.mark.django_db

CODE_FORMAT = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")


def issue(member, key="v1", now=None, **reward_kwargs):
    reward = RewardFactory(**{"points_cost": 200, "stock": 10, **reward_kwargs})
    return reward_redeem(member=member, reward=reward, idempotency_key=key, now=now).voucher


def set_program(**fields):
    program = ProgramSettings.objects.get(pk=1)
    for name, value in fields.items():
        setattr(program, name, value)
    program.save()


# --- codes ---------------------------------------------------------------------------------------------------------


def test_codes_are_grouped_crockford_base32_with_at_least_64_bits():
    assert set(CODE_ALPHABET).isdisjoint("ILOU") and len(CODE_ALPHABET) == 32
    assert CODE_BITS >= 64
    assert math.log2(len(CODE_ALPHABET)) * 16 == CODE_BITS
    codes = {voucher_code_new() for _ in range(2000)}
    assert len(codes) == 2000
    assert all(CODE_FORMAT.match(code) for code in codes)
    # Every symbol of the alphabet turns up, in every position group: no obvious bias.
    assert set("".join(codes).replace("-", "")) == set(CODE_ALPHABET)


def test_codes_typed_sloppily_are_read_the_crockford_way():
    assert voucher_code_normalise(" 7k2m q9xd-4hrt 0bnw ") == "7K2M-Q9XD-4HRT-0BNW"
    assert voucher_code_normalise("7K2M-Q9XD-4HRT-OBNW") == "7K2M-Q9XD-4HRT-0BNW"  # O read as zero
    assert voucher_code_normalise("IL00-0000-0000-0000") == "1100-0000-0000-0000"


def test_issued_voucher_has_a_well_formed_code(member):
    assert CODE_FORMAT.match(issue(member).code)


# --- using at a till -------------------------------------------------------------------------------------------------


def test_use_consumes_the_voucher_once_with_the_purchase(member):
    voucher = issue(member)
    purchase = purchase_record(
        member=member,
        external_id="R-1",
        channel="in_store",
        occurred_at=timezone.now(),
        currency="EUR",
        lines=[PurchaseLineInput(sku="COF", quantity=1, unit_price=Decimal("7.50"))],
    ).purchase
    used = voucher_use(code=voucher.code.lower(), purchase=purchase, purchase_reference="till-7/0042")
    assert used.state == Voucher.State.USED and used.used_on_purchase == purchase
    voucher.refresh_from_db()
    assert voucher.state == Voucher.State.USED and voucher.purchase_reference == "till-7/0042"
    assert voucher.used_at is not None

    with pytest.raises(VoucherAlreadyUsed) as info:
        voucher_use(code=voucher.code)
    assert info.value.code == "voucher_used"
    assert info.value.message.startswith("This voucher was already used on ")
    voucher.refresh_from_db()
    assert voucher.used_on_purchase == purchase  # the refusal changed nothing


def test_use_with_the_same_idempotency_key_is_a_harmless_retry(member):
    voucher = issue(member)
    voucher_use(code=voucher.code, purchase_reference="r1", idempotency_key="till-7:0042")
    again = voucher_use(code=voucher.code, purchase_reference="r1", idempotency_key="till-7:0042")
    assert again.replayed
    with pytest.raises(VoucherAlreadyUsed):
        voucher_use(code=voucher.code, idempotency_key="till-8:0001")


def test_expired_voucher_is_refused_even_before_the_expiry_job_ran(member):
    voucher = issue(member)
    later = voucher.expires_at + timedelta(seconds=1)
    with pytest.raises(VoucherExpired) as info:
        voucher_use(code=voucher.code, now=later)
    assert info.value.code == "voucher_expired" and "expired on" in info.value.message
    voucher.refresh_from_db()
    assert voucher.state == Voucher.State.ISSUED


def test_cancelled_voucher_is_refused(member):
    voucher = issue(member)
    voucher_cancel(voucher=voucher)
    with pytest.raises(VoucherCancelled) as info:
        voucher_use(code=voucher.code)
    assert info.value.code == "voucher_cancelled"


def test_unknown_code_is_refused():
    with pytest.raises(VoucherNotFound):
        voucher_use(code="0000-0000-0000-0000")


def test_voucher_check_reports_without_using(member, django_assert_num_queries):
    voucher = issue(member)
    with django_assert_num_queries(1):
        check = voucher_check(code=voucher.code)
    assert check.ok and check.voucher == voucher
    voucher.refresh_from_db()
    assert voucher.state == Voucher.State.ISSUED
    assert voucher_check(code="nope").error.code == "voucher_not_found"
    voucher_use(code=voucher.code)
    assert voucher_check(code=voucher.code).error.code == "voucher_used"


# --- cancelling ------------------------------------------------------------------------------------------------------


def test_member_cancels_within_grace_and_gets_points_and_stock_back(member):
    voucher = issue(member)
    assert balance(member) == 800
    cancelled = voucher_cancel(voucher=voucher, by_member=True, actor=member.user)
    assert cancelled.state == Voucher.State.CANCELLED and cancelled.cancelled_by == member.user
    assert balance(member) == 1000
    reward = Reward.objects.get(pk=voucher.reward_id)
    assert reward.stock == 10
    redemption = Redemption.objects.get(pk=voucher.redemption_id)
    assert redemption.status == Redemption.Status.CANCELLED and redemption.cancelled_at
    debit = LedgerEntry.objects.get(kind=LedgerEntry.Kind.REDEEM, source_id=redemption.pk)
    reversal = LedgerEntry.objects.get(kind=LedgerEntry.Kind.REVERSAL)
    assert reversal.reversal_of == debit and reversal.points == 200
    # A second cancel is a no-op, not a second refund.
    assert voucher_cancel(voucher=voucher, by_member=True).replayed
    assert balance(member) == 1000


def test_member_cannot_cancel_after_the_grace_period(member):
    set_program(voucher_cancel_grace_hours=24)
    now = timezone.now()
    voucher = issue(member, now=now)
    with pytest.raises(CancellationNotAllowed, match="within 24 hours") as info:
        voucher_cancel(voucher=voucher, by_member=True, now=now + timedelta(hours=24, seconds=1))
    assert info.value.code == "cancellation_not_allowed"
    voucher.refresh_from_db()
    assert voucher.state == Voucher.State.ISSUED and balance(member) == 800
    # Staff may still cancel an unused voucher.
    voucher_cancel(voucher=voucher, actor=StaffUserFactory(), now=now + timedelta(days=3))
    assert balance(member) == 1000


def test_used_or_expired_voucher_cannot_be_cancelled(member):
    used = issue(member, key="a")
    voucher_use(code=used.code)
    with pytest.raises(VoucherAlreadyUsed):
        voucher_cancel(voucher=used)
    expired = issue(member, key="b")
    with pytest.raises(VoucherExpired):
        voucher_cancel(voucher=expired, now=expired.expires_at)
    assert balance(member) == 600


# --- expiry ----------------------------------------------------------------------------------------------------------


def test_expiry_without_refund_is_one_set_based_update(member, django_assert_max_num_queries):
    set_program(refund_points_on_voucher_expiry=False)
    vouchers = [issue(member, key=f"k{n}") for n in range(4)]
    keep = vouchers[0]
    Voucher.objects.filter(pk=keep.pk).update(expires_at=timezone.now() + timedelta(days=1000))
    later = timezone.now() + timedelta(days=91)
    with django_assert_max_num_queries(4):
        assert vouchers_expire_due(now=later) == 3
    assert Voucher.objects.filter(state=Voucher.State.EXPIRED).count() == 3
    assert Voucher.objects.get(pk=keep.pk).state == Voucher.State.ISSUED
    assert balance(member) == 200  # no points back
    assert vouchers_expire_due(now=later) == 0


def test_expiry_in_chunks_gets_them_all(member):
    for n in range(5):
        issue(member, key=f"k{n}", points_cost=100)
    assert vouchers_expire_due(now=timezone.now() + timedelta(days=91), chunk_size=2) == 5


def test_expiry_with_refund_returns_points_but_not_stock(member):
    set_program(refund_points_on_voucher_expiry=True)
    voucher = issue(member)
    used = issue(member, key="used")
    voucher_use(code=used.code)
    assert vouchers_expire_due(now=timezone.now() + timedelta(days=91)) == 1
    voucher.refresh_from_db()
    assert voucher.state == Voucher.State.EXPIRED and voucher.expired_at
    assert balance(member) == 800
    assert Redemption.objects.get(pk=voucher.redemption_id).status == Redemption.Status.REFUNDED
    assert Reward.objects.get(pk=voucher.reward_id).stock == 9
    refund = LedgerEntry.objects.get(kind=LedgerEntry.Kind.REVERSAL)
    assert refund.reversal_of.source_id == voucher.redemption_id
    # Running again refunds nothing twice.
    assert vouchers_expire_due(now=timezone.now() + timedelta(days=92)) == 0
    assert balance(member) == 800


def test_expiry_task_calls_the_service(member):
    voucher = issue(member)
    Voucher.objects.filter(pk=voucher.pk).update(
        issued_at=timezone.now() - timedelta(days=2), expires_at=timezone.now() - timedelta(days=1)
    )
    assert expire_vouchers.delay().get() == 1


def test_beat_schedules_voucher_expiry(settings):
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "rewards.tasks.expire_vouchers" in tasks
