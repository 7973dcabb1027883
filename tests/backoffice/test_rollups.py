"""Daily roll-ups: the reports give the same numbers from roll-ups plus a live tail as from the raw tables alone."""

import dataclasses
import io
import random
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from backoffice.accounting import liability_as_of, movements_for
from backoffice.analytics import dashboard_build, dashboard_get, purchase_stats
from backoffice.models import DailyActivity, DailyPoints, DailyTierMovement, RollupState
from backoffice.periods import Period, day_start
from backoffice.rollups import rollup_watermark
from backoffice.services.rollups import analytics_rollup
from backoffice.tasks import analytics_rollup_task
from members.exceptions import InsufficientPoints
from members.models import LedgerEntry, Member, PointsAccount, Purchase, Tier, TierHistory
from tests.backoffice.conftest import aware, buy, post
from tests.factories import MemberFactory

pytestmark = pytest.mark.django_db
Kind = LedgerEntry.Kind
CREDITS = [Kind.EARN, Kind.BONUS, Kind.REFERRAL, Kind.IMPORT, Kind.ADJUST, Kind.TRANSFER_IN]
DEBITS = [Kind.REDEEM, Kind.EXPIRE, Kind.ADJUST, Kind.DONATION, Kind.TRANSFER_OUT, Kind.FORFEIT]


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime.combine(day, time(hour, minute)))


def figures(dashboard) -> dict:
    values = dataclasses.asdict(dashboard)
    for key in ("computed_at", "rolled_through"):
        values.pop(key)
    return values


def random_history(rng: random.Random, today: date, *, days: int = 75, events: int = 260):
    """Members, purchases, ledger entries and tier moves spread over ``days`` days up to now, many of them close to
    local midnight, so a wrong day boundary anywhere shows."""
    members = [MemberFactory() for _ in range(5)]
    first_day = today - timedelta(days=days)
    for member in members:
        enrolled = local(first_day + timedelta(days=rng.randint(0, days - 1)), rng.choice([0, 12, 23]), 30)
        Member.objects.filter(pk=member.pk).update(enrolled_at=enrolled)
    bronze, silver = Tier.objects.get(name="Bronze"), Tier.objects.get(name="Silver")
    now = timezone.now()
    for number in range(events):
        day = first_day + timedelta(days=rng.randint(0, days))
        when = min(local(day, rng.choice([0, 0, 1, 9, 13, 22, 23, 23]), rng.randint(0, 59)), now)
        member = rng.choice(members)
        roll = rng.random()
        try:
            if roll < 0.3:
                buy(member, f"P{number}", when, f"{rng.randint(1, 90)}.{rng.randint(0, 99):02d}")
            elif roll < 0.55:
                post(member, rng.choice(CREDITS), points=rng.randint(1, 300), when=when, key=f"c{number}")
            elif roll < 0.65:
                post(member, Kind.CLAWBACK, pending=-rng.randint(1, 5), when=when, key=f"k{number}")
            elif roll < 0.9:
                post(member, rng.choice(DEBITS), points=-rng.randint(1, 200), when=when, key=f"d{number}")
            else:
                TierHistory.objects.create(
                    member=member, from_tier=bronze, to_tier=silver, reason="upgrade", created_at=when
                )
        except InsufficientPoints:
            continue
    return members


def assert_reports_match_live(rng: random.Random, today: date, *, days: int = 75, periods: int = 12):
    """Every report, with roll-ups, equals the same report read from the raw tables alone."""
    first_day = today - timedelta(days=days + 3)
    spans = [Period(start=today - timedelta(days=days), end=today), Period.last_days(1, today=today)]
    for _ in range(periods):
        start = first_day + timedelta(days=rng.randint(0, days))
        spans.append(Period(start=start, end=min(today, start + timedelta(days=rng.randint(0, 40)))))
    for period in spans:
        assert figures(dashboard_build(period)) == figures(dashboard_build(period, use_rollups=False)), period
        rolled, live = movements_for(period), movements_for(period, use_rollups=False)
        assert (rolled.opening, rolled.lines, rolled.closing) == (live.opening, live.lines, live.closing), period
        assert rolled.reconciles
        assert liability_as_of(period.end) == liability_as_of(period.end, use_rollups=False), period


def test_rollups_plus_live_tail_equal_the_live_reports_on_random_data():
    rng = random.Random(20261122)
    today = timezone.localdate()
    members = random_history(rng, today)
    assert LedgerEntry.objects.count() > 150 and Purchase.objects.count() > 40

    # Roll up only part of the history: the last three weeks stay live.
    run = analytics_rollup(today=today - timedelta(days=20))
    assert run.through == today - timedelta(days=21) and run.rows_changed > 0
    assert rollup_watermark().through == run.through
    assert_reports_match_live(rng, today)

    # Rows recorded after the run on days it already rolled up: a purchase a till sent late, an entry whose
    # transaction committed after the run, a back-dated tier move. The reports add them from the live side.
    late_day = today - timedelta(days=40)
    buy(members[0], "LATE-1", local(late_day, 23, 50), "77.70")
    post(members[1], Kind.ADJUST, points=123, when=local(late_day, 0, 5), key="late-entry")
    TierHistory.objects.create(member=members[2], reason="staff", created_at=local(late_day, 12))
    assert_reports_match_live(rng, today)

    # The next run picks the late day up again, and the full roll-up gives the same.
    run = analytics_rollup()
    assert run.start <= late_day and run.through == today - timedelta(days=1)
    assert DailyActivity.objects.get(day=late_day).purchases >= 1
    assert_reports_match_live(rng, today)


def test_purchase_cycle_telescopes_to_the_hand_computed_mean_gap():
    a, b, c = MemberFactory(), MemberFactory(), MemberFactory()
    day = date(2025, 5, 1)
    # A: gaps of 1.5 and 2.5 days; B: one gap of 10 days; C: one purchase, no gap.
    buy(a, "A1", local(day, 8), "10.00")
    buy(a, "A2", local(day + timedelta(days=1), 20), "10.00")
    buy(a, "A3", local(day + timedelta(days=4), 8), "10.00")
    buy(b, "B1", local(day, 9), "10.00")
    buy(b, "B2", local(day + timedelta(days=10), 9), "10.00")
    buy(c, "C1", local(day, 9), "10.00")
    stats = purchase_stats(Period(start=day, end=day + timedelta(days=30)))
    # Mean of the gaps (1.5 + 2.5 + 10) / 3 = 4.666…; telescoped: (4 + 10) / (2 + 1), the same.
    assert stats["average_purchase_cycle_days"] == Decimal("4.67")
    assert (stats["buyers"], stats["repeat_buyers"], stats["purchases"]) == (3, 2, 6)


def _lag_mean_gap_days(period: Period):
    """The purchase cycle as the LAG window defines it, straight from SQL (the old computation)."""
    if connection.vendor == "postgresql":
        gap = "EXTRACT(EPOCH FROM (occurred_at - previous_at)) / 86400.0"
    else:
        gap = "julianday(occurred_at) - julianday(previous_at)"
    sql = f"""
        SELECT AVG({gap}) FROM (
            SELECT occurred_at,
                   LAG(occurred_at) OVER (PARTITION BY member_id ORDER BY occurred_at, id) AS previous_at
            FROM members_purchase WHERE occurred_at >= %s AND occurred_at < %s
        ) gaps WHERE previous_at IS NOT NULL
    """  # noqa: S608 - the SQL only varies by backend; values are parameters
    with connection.cursor() as cursor:
        cursor.execute(sql, [period.start_at, period.end_at])
        (value,) = cursor.fetchone()
    return None if value is None else Decimal(str(value)).quantize(Decimal("0.01"))


def test_purchase_cycle_equals_the_lag_window_on_random_purchases():
    rng = random.Random(7)
    members = [MemberFactory() for _ in range(6)]
    start = date(2025, 1, 1)
    for number in range(80):
        when = local(start + timedelta(days=rng.randint(0, 90)), rng.randint(0, 23), rng.randint(0, 59))
        buy(rng.choice(members), f"R{number}", when, "12.00")
    for _ in range(15):
        first = start + timedelta(days=rng.randint(0, 80))
        period = Period(start=first, end=first + timedelta(days=rng.randint(0, 30)))
        assert purchase_stats(period)["average_purchase_cycle_days"] == _lag_mean_gap_days(period), period


def test_rollup_is_idempotent():
    member = MemberFactory()
    today = timezone.localdate()
    for offset in range(1, 6):
        post(member, Kind.IMPORT, points=100 * offset, when=local(today - timedelta(days=offset), 23, 59))
    buy(member, "I1", local(today - timedelta(days=2), 0, 1), "25.00")

    def snapshot():
        return [
            list(model.objects.order_by("pk").values()) for model in (DailyPoints, DailyActivity, DailyTierMovement)
        ]

    first = analytics_rollup(everything=True)
    assert first.rows_changed > 0
    before = snapshot()
    assert analytics_rollup().rows_changed == 0
    assert analytics_rollup(everything=True).rows_changed == 0
    assert snapshot() == before
    day = today - timedelta(days=3)
    row = DailyPoints.objects.get(day=day, kind=Kind.IMPORT)
    assert (row.points, row.pending_delta, row.entries) == (300, 0, 1)


def test_rollup_rechecks_the_last_days_for_late_commits():
    """An entry whose id the run had already seen but whose transaction committed after the run read its day (so
    it is below the id mark) is picked up by the next run, which recomputes the two days before the last one."""
    member = MemberFactory()
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)
    post(member, Kind.IMPORT, points=500, when=local(yesterday, 12))
    analytics_rollup()
    late = post(member, Kind.ADJUST, points=40, when=local(yesterday, 23, 59))
    # Pretend the run had seen the late entry's id: only the re-check of the last days can find it now.
    RollupState.objects.filter(pk=1).update(ledger_entry_id=late.pk)
    assert DailyPoints.objects.filter(day=yesterday, kind=Kind.ADJUST).count() == 0
    run = analytics_rollup()
    assert run.start == yesterday - timedelta(days=2)
    assert DailyPoints.objects.get(day=yesterday, kind=Kind.ADJUST).points == 40


def test_rollup_picks_up_a_late_purchase_on_an_old_day():
    member = MemberFactory()
    today = timezone.localdate()
    buy(member, "OLD-1", local(today - timedelta(days=30), 10), "10.00")
    analytics_rollup()
    buy(member, "OLD-2", local(today - timedelta(days=30), 18), "15.00")  # sent by the till a month late
    run = analytics_rollup()
    assert run.start == today - timedelta(days=30)
    row = DailyActivity.objects.get(day=today - timedelta(days=30))
    assert (row.purchases, row.revenue) == (2, Decimal("25.00"))


def test_days_are_local_calendar_days():
    member = MemberFactory()
    day = date(2025, 3, 30)  # the clocks go forward in Amsterdam: a 23-hour day
    post(member, Kind.IMPORT, points=10, when=day_start(day))
    post(member, Kind.IMPORT, points=20, when=day_start(day + timedelta(days=1)) - timedelta(microseconds=1))
    post(member, Kind.IMPORT, points=40, when=day_start(day + timedelta(days=1)))
    analytics_rollup(today=date(2025, 4, 2))
    assert DailyPoints.objects.get(day=day, kind=Kind.IMPORT).points == 30
    assert DailyPoints.objects.get(day=day + timedelta(days=1), kind=Kind.IMPORT).points == 40


def test_management_command_backfills_and_repairs():
    member = MemberFactory()
    post(member, Kind.IMPORT, points=250, when=aware(2025, 2, 3, 12))
    post(member, Kind.REDEEM, points=-50, when=aware(2025, 2, 4, 12))
    out = io.StringIO()
    call_command("analytics_rollup", "--all", stdout=out)
    assert "Rolled up 2025-02-03" in out.getvalue()
    assert DailyPoints.objects.aggregate(total=Sum("points"))["total"] == 200
    assert RollupState.objects.get().rolled_through == timezone.localdate() - timedelta(days=1)
    # A row removed by hand (or a day rolled up wrongly) comes back with --since.
    DailyPoints.objects.filter(day=date(2025, 2, 4)).delete()
    call_command("analytics_rollup", "--since", "2025-02-01", stdout=out)
    assert DailyPoints.objects.get(day=date(2025, 2, 4), kind=Kind.REDEEM).points == -50
    with pytest.raises(CommandError):
        call_command("analytics_rollup", "--since", "04/02/2025")


def test_nothing_to_roll_up():
    run = analytics_rollup()
    assert run.start is None and run.rows_changed == 0
    assert rollup_watermark().through == timezone.localdate() - timedelta(days=1)


def test_rollups_in_another_time_zone_are_not_used():
    member = MemberFactory()
    post(member, Kind.IMPORT, points=100, when=aware(2025, 2, 4, 0, 30))  # 23:30 UTC on the 3rd
    analytics_rollup()
    assert DailyPoints.objects.get(kind=Kind.IMPORT).day == date(2025, 2, 4)
    with timezone.override("UTC"):
        # Reports drawn in UTC days cannot use Amsterdam days: they read the ledger.
        assert rollup_watermark() is None
        assert dashboard_build(Period(start=date(2025, 2, 3), end=date(2025, 2, 3))).points_issued == 100


def test_a_time_zone_change_rebuilds_the_rollups_in_the_new_days(settings):
    member = MemberFactory()
    post(member, Kind.IMPORT, points=100, when=aware(2025, 2, 4, 0, 30))  # 23:30 UTC on the 3rd
    analytics_rollup()
    settings.TIME_ZONE = "UTC"
    run = analytics_rollup()
    assert run.start <= date(2025, 2, 3)
    assert list(DailyPoints.objects.filter(kind=Kind.IMPORT).values_list("day", "points")) == [(date(2025, 2, 3), 100)]
    assert rollup_watermark() is not None
    period = Period(start=date(2025, 2, 3), end=date(2025, 2, 4))
    assert figures(dashboard_build(period)) == figures(dashboard_build(period, use_rollups=False))


def test_nightly_task_and_beat_entry():
    member = MemberFactory()
    post(member, Kind.IMPORT, points=100, when=timezone.now() - timedelta(days=3))
    assert "rows changed" in analytics_rollup_task.delay().get(timeout=5)
    assert DailyPoints.objects.filter(kind=Kind.IMPORT).exists()
    entry = settings.CELERY_BEAT_SCHEDULE["analytics-rollup"]
    assert entry["task"] == analytics_rollup_task.name


def test_liability_and_movements_reconcile_with_balances_after_rollup():
    rng = random.Random(99)
    today = timezone.localdate()
    random_history(rng, today, days=40, events=150)
    analytics_rollup(today=today - timedelta(days=5))
    everything = movements_for(Period(start=today - timedelta(days=60), end=today))
    totals = PointsAccount.objects.aggregate(balance=Sum("balance"), pending=Sum("pending"))
    assert everything.opening == 0 and everything.reconciles
    assert everything.closing == totals["balance"] + totals["pending"]
    assert liability_as_of(today).outstanding == everything.closing


def _history(members, days: int, today: date):
    for number in range(days):
        when = local(today - timedelta(days=number + 1), 12)
        member = members[number % len(members)]
        buy(member, f"H{days}-{number}", when, "20.00")
        post(member, Kind.ADJUST, points=5, when=when, key=f"h{days}-{number}")


def test_dashboard_page_queries_do_not_grow_with_history(client, marketer, django_assert_max_num_queries):
    client.force_login(marketer)
    members = [MemberFactory() for _ in range(3)]
    today = timezone.localdate()
    query = {"start": (today - timedelta(days=364)).isoformat(), "end": today.isoformat()}
    client.get(reverse("staff:analytics"))  # per-process caches (content types, program settings) warm up
    counts = []
    for days in (3, 120):
        _history(members, days, today)
        analytics_rollup(everything=True)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("staff:analytics"), query)
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(27):
        client.get(reverse("staff:analytics"), {**query, "start": (today - timedelta(days=30)).isoformat()})


def test_dashboard_is_cached_per_period_and_rollup_run(client, marketer, django_assert_max_num_queries):
    member = MemberFactory()
    today = timezone.localdate()
    post(member, Kind.IMPORT, points=100, when=local(today - timedelta(days=2), 12))
    period = Period.last_days(30, today=today)
    first = dashboard_get(period)
    assert first.points_issued == 100 and first.computed_at is not None
    post(member, Kind.IMPORT, points=5, when=local(today, 0, 1))
    with django_assert_max_num_queries(1):  # the watermark; the dashboard comes from the cache
        assert dashboard_get(period).computed_at == first.computed_at
    analytics_rollup()  # a finished run is a new key
    fresh = dashboard_get(period)
    assert fresh.points_issued == 105 and fresh.rolled_through == today - timedelta(days=1)
    client.force_login(marketer)
    body = client.get(reverse("staff:analytics")).content.decode()
    assert 'id="computed-at">Computed at' in body and "rolled up through" in body


def test_seed_demo_rolls_up_and_stays_idempotent():
    call_command("seed_demo", stdout=io.StringIO())
    state = RollupState.objects.get()
    assert state.rolled_through == timezone.localdate() - timedelta(days=1)
    # The demo baskets are dated up to 200 days back; their points were posted today, so they are still live.
    rows = list(DailyActivity.objects.order_by("pk").values())
    assert sum(row["purchases"] for row in rows) >= 5
    call_command("seed_demo", stdout=io.StringIO())
    assert list(DailyActivity.objects.order_by("pk").values()) == rows


def test_rollup_admin_lists_are_read_only(client):
    from tests.factories import SuperUserFactory

    member = MemberFactory()
    post(member, Kind.IMPORT, points=100, when=timezone.now() - timedelta(days=3))
    analytics_rollup()
    client.force_login(SuperUserFactory())
    for name in ("rollupstate", "dailypoints", "dailyactivity"):
        assert client.get(reverse(f"admin:backoffice_{name}_changelist")).status_code == 200, name
    assert client.get(reverse("admin:backoffice_dailypoints_add")).status_code == 403
