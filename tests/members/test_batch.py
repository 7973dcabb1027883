"""The set-based jobs: expiry, release of pending points, expiry reminders, tier reviews, and their tasks."""

from datetime import UTC, date, datetime

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from members import hooks, tasks
from members.models import LedgerEntry, Member, PointsLot, ProgramSettings, Tier, TierHistory
from members.services import batch, points_adjust
from members.services.ledger import account_lock, ledger_post
from members.services.purchases import purchase_refund
from members.services.tiers import qualifying_activity_add
from tests.factories import MemberFactory
from tests.members.conftest import account_of, assert_consistent, buy, days, program_set

pytestmark = pytest.mark.django_db
Kind = LedgerEntry.Kind


@pytest.fixture
def events():
    seen = []

    def hook(event, payload, owner=""):
        seen.append((event, payload))

    hooks.register(hooks.points_changed, hook)
    yield seen
    hooks.points_changed.remove(hook)


# --- expiry ------------------------------------------------------------------------------------------------------


def test_fixed_expiry_expires_due_lots_only_and_is_idempotent(program, member, events):
    now = timezone.now()
    buy(member, "30", occurred_at=now - days(400), now=now - days(400))  # expired 35 days ago
    buy(member, "20", occurred_at=now - days(370), now=now - days(370))  # expired 5 days ago
    buy(member, "50", occurred_at=now - days(10), now=now - days(10))  # still good
    other = MemberFactory()
    buy(other, "7", occurred_at=now - days(380), now=now - days(380))
    assert account_of(member).balance == 100

    assert batch.points_expire_due(now=now, batch_size=1) == 57
    account = assert_consistent(member)
    assert account.balance == 50
    assert assert_consistent(other).balance == 0
    entries = list(LedgerEntry.objects.filter(account_id=member.pk, kind=Kind.EXPIRE).order_by("id"))
    assert [entry.points for entry in entries] == [-30, -20]
    assert [entry.balance_after for entry in entries] == [70, 50]
    lot = PointsLot.objects.get(pk=entries[0].source_id)
    assert entries[0].idempotency_key == f"expire:lot:{lot.pk}"
    assert (lot.remaining, lot.expired) == (0, 30) and lot.expired_at is not None
    assert {event for event, _payload in events} == {"points.expired"}
    expired_members = {m["member_number"]: m["points"] for _e, p in events for m in p["members"]}
    assert expired_members == {member.member_number: 50, other.member_number: 7}

    # Re-running (after a crash, or the next night) expires nothing twice.
    assert batch.points_expire_due(now=now) == 0
    assert batch.points_expire_due(now=now + days(1)) == 0
    assert LedgerEntry.objects.filter(kind=Kind.EXPIRE).count() == 3
    assert assert_consistent(member).balance == 50


def test_expiry_takes_only_what_is_left_of_partly_spent_lots(program, member):
    now = timezone.now()
    buy(member, "30", occurred_at=now - days(400), now=now - days(400))
    buy(member, "20", occurred_at=now - days(100), now=now - days(100))
    points_adjust(member=member, points=-25, reason="spent at the counter", actor=None)
    # Spending consumed the soonest-expiring lot first: 5 of the old lot remain.
    assert batch.points_expire_due(now=now) == 5
    assert assert_consistent(member).balance == 20


def test_expiry_of_a_crashed_chunk_rolls_back_and_reruns_cleanly(program, member, monkeypatch):
    now = timezone.now()
    buy(member, "30", occurred_at=now - days(400), now=now - days(400))

    def worker_lost(event, payload):
        # The chunk's lots, entries and balances are written by now; its transaction has not committed.
        raise RuntimeError("worker lost")

    monkeypatch.setattr(hooks, "points_changed", [worker_lost])
    with pytest.raises(RuntimeError):
        batch.points_expire_due(now=now)
    assert_consistent(member)
    assert PointsLot.objects.get(account_id=member.pk).remaining == 30
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.EXPIRE).exists()
    monkeypatch.setattr(hooks, "points_changed", [])
    assert batch.points_expire_due(now=now) == 30
    assert assert_consistent(member).balance == 0


def test_activity_expiry_expires_everything_of_inactive_members(member):
    program_set(pending_days=0, expiry_policy=ProgramSettings.ExpiryPolicy.ACTIVITY, expiry_months=6)
    now = timezone.now()
    buy(member, "10", occurred_at=now - days(250), now=now - days(250))
    buy(member, "15", occurred_at=now - days(200), now=now - days(200))
    active = MemberFactory()
    buy(active, "40", occurred_at=now - days(300), now=now - days(300))
    buy(active, "5", occurred_at=now - days(20), now=now - days(20))
    assert PointsLot.objects.filter(expires_at__isnull=False).count() == 0

    assert batch.points_expire_due(now=now) == 25
    assert assert_consistent(member).balance == 0
    assert assert_consistent(active).balance == 45
    assert batch.points_expire_due(now=now) == 0


def test_activity_expiry_counts_from_enrolment_without_purchases(member):
    program_set(pending_days=0, expiry_policy=ProgramSettings.ExpiryPolicy.ACTIVITY, expiry_months=6)
    points_adjust(member=member, points=80, reason="welcome", actor=None)
    Member.objects.filter(pk=member.pk).update(enrolled_at=timezone.now() - days(200))
    assert batch.points_expire_due() == 80
    assert assert_consistent(member).balance == 0


def test_no_expiry_policy_expires_nothing(member):
    program_set(pending_days=0, expiry_policy=ProgramSettings.ExpiryPolicy.NONE)
    now = timezone.now()
    buy(member, "10", occurred_at=now - days(2000), now=now - days(2000))
    assert batch.points_expire_due(now=now) == 0
    assert account_of(member).balance == 10


# --- release of pending points -----------------------------------------------------------------------------------


def test_release_makes_pending_points_spendable_once(member):
    program_set(pending_days=14, expiry_policy=ProgramSettings.ExpiryPolicy.FIXED, expiry_months=12)
    now = timezone.now()
    first = buy(member, "30", occurred_at=now - days(20), now=now - days(20))
    buy(member, "12", occurred_at=now - days(15), now=now - days(15))
    buy(member, "5", occurred_at=now - days(2), now=now - days(2))
    account = account_of(member)
    assert (account.balance, account.pending) == (0, 47)

    assert batch.points_release_pending(now=now, batch_size=1) == 42
    account = assert_consistent(member)
    assert (account.balance, account.pending) == (42, 5)
    releases = list(LedgerEntry.objects.filter(kind=Kind.RELEASE).order_by("id"))
    assert [(e.points, e.pending_delta, e.balance_after) for e in releases] == [(30, -30, 30), (12, -12, 42)]
    assert releases[0].purchase_id == first.purchase.pk
    assert batch.points_release_pending(now=now) == 0
    assert batch.points_release_pending(now=now + days(13)) == 5
    assert assert_consistent(member).pending == 0


def test_release_nets_owed_points(member):
    program_set(pending_days=14, expiry_policy=ProgramSettings.ExpiryPolicy.FIXED, expiry_months=12)
    now = timezone.now()
    old = buy(member, "40", occurred_at=now - days(30), now=now - days(30))
    batch.points_release_pending(now=now - days(1))
    points_adjust(member=member, points=-35, reason="spent", actor=None)
    purchase_refund(purchase=old.purchase, refund_id="R1")  # 40 to claw back, 5 there: 35 owed
    assert (account_of(member).balance, account_of(member).owed) == (0, 35)
    buy(member, "50", occurred_at=now - days(15), now=now - days(15))  # pending, so nothing netted yet
    assert account_of(member).owed == 35

    assert batch.points_release_pending(now=now) == 50
    account = assert_consistent(member)
    assert (account.balance, account.pending, account.owed) == (15, 0, 0)
    assert LedgerEntry.objects.filter(kind=Kind.SETTLEMENT, account_id=member.pk).get().points == -35
    assert batch.points_release_pending(now=now) == 0


def test_fully_clawed_back_pending_lot_leaves_the_pending_set(member):
    program_set(pending_days=14)
    now = timezone.now()
    result = buy(member, "20", occurred_at=now - days(15), now=now - days(15))
    purchase_refund(purchase=result.purchase, refund_id="R1")
    assert batch.points_release_pending(now=now) == 0
    assert not PointsLot.objects.filter(is_pending=True).exists()
    assert not LedgerEntry.objects.filter(kind=Kind.RELEASE).exists()
    assert_consistent(member)


# --- reminders ---------------------------------------------------------------------------------------------------


def test_reminders_once_per_lot_date_and_respecting_preferences(program, member, django_capture_on_commit_callbacks):
    program_set(expiry_reminder_days=30)
    now = timezone.now()
    buy(member, "30", occurred_at=now - days(350), now=now - days(350))  # expires in ~15 days
    buy(member, "12", occurred_at=now - days(345), now=now - days(345))  # expires in ~20 days
    buy(member, "50", occurred_at=now - days(10), now=now - days(10))  # not soon
    quiet = MemberFactory()
    quiet.email_notifications = False
    quiet.save()
    buy(quiet, "9", occurred_at=now - days(350), now=now - days(350))

    with django_capture_on_commit_callbacks(execute=True):
        assert batch.expiry_reminders_send(now=now) == 1
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [member.user.email]
    assert "42" in message.subject
    assert "30 points on" in message.body and "12 points on" in message.body
    assert "50 points" not in message.body

    with django_capture_on_commit_callbacks(execute=True):
        assert batch.expiry_reminders_send(now=now + days(1)) == 0
    assert len(mail.outbox) == 1
    assert PointsLot.objects.filter(reminder_sent_at__isnull=False).count() == 2


def test_activity_reminder_is_due_again_after_new_activity(member, django_capture_on_commit_callbacks):
    program_set(pending_days=0, expiry_policy=ProgramSettings.ExpiryPolicy.ACTIVITY, expiry_months=6)
    now = timezone.now()
    buy(member, "25", occurred_at=now - days(170), now=now - days(170))
    with django_capture_on_commit_callbacks(execute=True):
        assert batch.expiry_reminders_send(now=now) == 1
        assert batch.expiry_reminders_send(now=now) == 0
    # A purchase moves the date; when the new date approaches the member is reminded again.
    buy(member, "5", occurred_at=now + days(1), now=now + days(1))
    later = now + days(171)
    with django_capture_on_commit_callbacks(execute=True):
        assert batch.expiry_reminders_send(now=later) == 1
    assert len(mail.outbox) == 2
    assert "30" in mail.outbox[1].body


# --- tier reviews ------------------------------------------------------------------------------------------------


def _tiers():
    return {tier.name: tier for tier in Tier.objects.all()}


def test_tier_review_downgrades_one_step_and_keeps_qualified_members(program, events):
    tiers = _tiers()
    today = timezone.localdate()
    gold_low = MemberFactory()
    gold_ok = MemberFactory()
    silver_low = MemberFactory()
    not_due = MemberFactory()
    for member in (gold_low, gold_ok, not_due):
        Member.objects.filter(pk=member.pk).update(tier=tiers["Gold"], tier_review_at=today)
    Member.objects.filter(pk=not_due.pk).update(tier_review_at=today + days(1))
    Member.objects.filter(pk=silver_low.pk).update(tier=tiers["Silver"], tier_review_at=today - days(3))
    qualifying_activity_add(member=gold_ok, when=timezone.now(), points=6000, spend=0)
    qualifying_activity_add(member=gold_low, when=timezone.now(), points=10, spend=0)

    assert batch.tiers_evaluate(today=today) == 3
    gold_low.refresh_from_db()
    gold_ok.refresh_from_db()
    silver_low.refresh_from_db()
    not_due.refresh_from_db()
    assert gold_low.tier == tiers["Silver"]  # soft landing: one step, not to Bronze
    assert gold_ok.tier == tiers["Gold"]
    assert silver_low.tier == tiers["Bronze"]
    assert not_due.tier == tiers["Gold"]
    next_review = today.replace(year=today.year + 1) if not (today.month == 2 and today.day == 29) else None
    if next_review:
        assert gold_low.tier_review_at == gold_ok.tier_review_at == next_review
    assert silver_low.tier_review_at is None  # nothing below the entry tier
    history = TierHistory.objects.filter(reason__in=["downgrade", "retained"])
    assert {(h.member_id, h.reason, h.to_tier.name) for h in history} == {
        (gold_low.pk, "downgrade", "Silver"),
        (gold_ok.pk, "retained", "Gold"),
        (silver_low.pk, "downgrade", "Bronze"),
    }
    assert history.get(member=gold_ok).qualifying_value == 6000
    changed = sorted(p["member_number"] for e, p in events if e == "tier.changed")
    assert changed == sorted([gold_low.member_number, silver_low.member_number])

    # Nobody is due any more: a second run the same day changes nothing.
    assert batch.tiers_evaluate(today=today) == 0


def test_tier_review_in_small_chunks_reviews_everyone_once(program, events):
    tiers = _tiers()
    today = timezone.localdate()
    gold = MemberFactory.create_batch(7)
    Member.objects.filter(pk__in=[m.pk for m in gold]).update(tier=tiers["Gold"], tier_review_at=today)
    keepers = gold[::2]  # members 0, 2, 4, 6 qualify; the chunks of two mix keepers and leavers
    for member in keepers:
        qualifying_activity_add(member=member, when=timezone.now(), points=6000, spend=0)

    assert batch.tiers_evaluate(today=today, batch_size=2) == 7
    by_tier = dict(Member.objects.filter(pk__in=[m.pk for m in gold]).values_list("pk", "tier__name"))
    assert by_tier == {m.pk: ("Gold" if m in keepers else "Silver") for m in gold}
    assert TierHistory.objects.filter(reason="retained").count() == 4
    assert TierHistory.objects.filter(reason="downgrade").count() == 3
    assert len([e for e, _payload in events if e == "tier.changed"]) == 3
    assert batch.tiers_evaluate(today=today, batch_size=2) == 0


def test_calendar_year_review_counts_the_year_just_ended(program):
    program_set(tier_period=ProgramSettings.TierPeriod.CALENDAR_YEAR, tier_basis=ProgramSettings.TierBasis.SPEND)
    tiers = _tiers()
    kept, dropped = MemberFactory(), MemberFactory()
    review = date(2030, 1, 1)
    Member.objects.filter(pk__in=[kept.pk, dropped.pk]).update(tier=tiers["Silver"], tier_review_at=review)
    qualifying_activity_add(member=kept, when=datetime(2029, 6, 1, tzinfo=UTC), points=0, spend=1500)
    qualifying_activity_add(member=dropped, when=datetime(2028, 6, 1, tzinfo=UTC), points=0, spend=1500)
    assert batch.tiers_evaluate(today=date(2030, 1, 2)) == 2
    kept.refresh_from_db()
    dropped.refresh_from_db()
    assert kept.tier == tiers["Silver"] and kept.tier_review_at == date(2031, 1, 1)
    assert dropped.tier == tiers["Bronze"]


# --- tasks -------------------------------------------------------------------------------------------------------


def test_tasks_call_the_services(program, member, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    now = timezone.now()
    buy(member, "30", occurred_at=now - days(400), now=now - days(400))
    assert tasks.expire_points.delay().get() == 30
    assert tasks.release_pending_points.delay().get() == 0
    assert tasks.send_expiry_reminders.delay().get() == 0
    assert tasks.evaluate_tiers.delay().get() == 0
    for name in ("release_pending_points", "expire_points", "send_expiry_reminders", "evaluate_tiers"):
        task = getattr(tasks, name)
        assert task.name == f"members.tasks.{name}"
        assert task.acks_late


def test_beat_schedule_names_existing_tasks(settings):
    from importlib import import_module

    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    for name in names:
        module, function = name.rsplit(".", 1)
        assert hasattr(import_module(module), function), name


def test_ledger_post_and_batch_share_locks(program, member):
    # The batch jobs and ledger_post agree on lot states: a spend after an expiry run sees the right lots.
    now = timezone.now()
    buy(member, "30", occurred_at=now - days(400), now=now - days(400))
    buy(member, "20", occurred_at=now, now=now)
    batch.points_expire_due(now=now)
    with transaction.atomic():
        account = account_lock(member_id=member.pk)
        ledger_post(account=account, kind=Kind.REDEEM, points=-20, idempotency_key="spend-1")
    assert assert_consistent(member).balance == 0


def test_tasks_enqueued_by_name_are_registered():
    """Services queue these by name (``task_enqueue_on_commit``): a renamed task fails here, not in production."""
    from celery import current_app

    for name in (
        "campaigns.tasks.campaign_manual_bonus",
        "campaigns.tasks.campaign_birthday",
        "campaigns.tasks.campaign_emails",
        "members.staff.import_job_run",
        "members.tasks.send_tier_news",
        "integrations.tasks.webhook_deliver_task",
    ):
        assert name in current_app.tasks, name
