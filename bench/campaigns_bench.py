"""Campaign figures: earning with 20 running campaigns vs none, and audience size over a million members.

Run against PostgreSQL (migrated):
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_campaigns .venv/bin/python bench/campaigns_bench.py

Options: --purchases N (default 2000), --heavy-purchases N (500), --members N (1000000), --skip-earning,
--skip-audience.
The million members are bulk-generated once with INSERT … SELECT generate_series (emails @bench.invalid) and
reused on later runs. The bench's campaigns are ended when it finishes, so they never award anything afterwards.
"""

import argparse
import os
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_site.settings")

import django

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from campaigns.engine import campaigns_cache_invalidate  # noqa: E402
from campaigns.models import Campaign, Segment  # noqa: E402
from campaigns.segments import audience_split, segment_size  # noqa: E402
from members.models import Member, Tier  # noqa: E402
from members.services import member_enroll  # noqa: E402
from members.services.purchases import PurchaseLineInput, purchase_preview, purchase_record  # noqa: E402

RUN = str(int(time.time()))


class QueryCounter:
    """Counts statements without keeping them (CaptureQueriesContext would store thousands)."""

    def __init__(self):
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)

    def __enter__(self):
        self._wrapper = connection.execute_wrapper(self)
        self._wrapper.__enter__()
        return self

    def __exit__(self, *exc):
        return self._wrapper.__exit__(*exc)

    def __len__(self):
        return self.count


def bench_members(count: int) -> list[Member]:
    user_model = get_user_model()
    members = []
    for index in range(count):
        email = f"earn-bench-{index}@bench.invalid"
        user = user_model.objects.filter(email=email).first() or user_model.objects.create_user(email=email)
        members.append(member_enroll(user=user, marketing_consent=index % 2 == 0))
    return members


def _lines(index: int) -> list[PurchaseLineInput]:
    categories = ["coffee", "tea", "bakery", "homeware"]
    return [
        PurchaseLineInput(
            sku=f"SKU-{(index + k) % 40}",
            quantity=1 + k,
            unit_price=Decimal("7.50") + k,
            category=categories[(index + k) % 4],
        )
        for k in range(3)
    ]


def run_purchases(members, count: int, label: str) -> float:
    started = time.perf_counter()
    bonus = entries = 0
    with QueryCounter() as queries:
        for index in range(count):
            result = purchase_record(
                member=members[index % len(members)],
                external_id=f"{label}-{RUN}-{index}",
                source="bench",
                lines=_lines(index),
                channel="online" if index % 3 == 0 else "in_store",
                store="Main street",
                occurred_at=timezone.now(),
                currency="EUR",
            )
            bonus += result.purchase.points_bonus
            entries += len(result.bonus_entries)
    elapsed = time.perf_counter() - started
    print(
        f"  record  {label:<22} {count:>5} in {elapsed:7.2f} s = {count / elapsed:7.1f}/s, "
        f"{len(queries) / count:5.1f} queries and {entries / count:4.1f} bonus entries per purchase"
    )
    return count / elapsed


def run_previews(members, count: int, label: str) -> float:
    started = time.perf_counter()
    with QueryCounter() as queries:
        for index in range(count):
            purchase_preview(
                member=members[index % len(members)],
                lines=_lines(index),
                channel="online" if index % 3 == 0 else "in_store",
                store="Main street",
            )
    elapsed = time.perf_counter() - started
    print(
        f"  preview {label:<22} {count:>5} in {elapsed:7.2f} s = {count / elapsed:7.1f}/s, "
        f"{len(queries) / count:5.1f} queries each"
    )
    return count / elapsed


def make_campaigns(*, applying: int) -> list[Campaign]:
    """20 running campaigns of every earning kind; all but ``applying`` of them are limited to other stores."""
    now = timezone.now()
    window = {
        "status": Campaign.Status.ACTIVE,
        "starts_at": now - timezone.timedelta(hours=1),
        "ends_at": now + timezone.timedelta(days=1),
        "launched_at": now,
    }
    consent = Segment.objects.get_or_create(name="bench: consenting", defaults={"marketing_consent": "yes"})[0]
    spenders = Segment.objects.get_or_create(name="bench: spenders", defaults={"spend_min": Decimal("20")})[0]
    campaigns = []
    for index in range(10):
        campaigns.append(
            Campaign(
                name=f"bench {RUN} multiplier {index}",
                kind=Campaign.Kind.MULTIPLIER,
                multiplier=Decimal("1.5"),
                categories=[["coffee", "tea", "bakery", "homeware"][index % 4]],
                priority=index,
                stackable=index % 3 != 0,
                per_member_cap=100_000,
                budget_points=10_000_000,
                **window,
            )
        )
    for index in range(5):
        campaigns.append(
            Campaign(
                name=f"bench {RUN} spend {index}",
                kind=Campaign.Kind.FIXED_BONUS,
                trigger=Campaign.Trigger.SPEND_OVER,
                threshold_spend=Decimal(20 + index * 5),
                bonus_points=10,
                budget_points=10_000_000,
                holdout_percent=10,
                **window,
            )
        )
    for index in range(3):
        campaigns.append(
            Campaign(
                name=f"bench {RUN} segment {index}",
                kind=Campaign.Kind.MULTIPLIER,
                multiplier=Decimal("2"),
                segment=consent if index % 2 else spenders,
                **window,
            )
        )
    for index in range(2):
        campaigns.append(
            Campaign(
                name=f"bench {RUN} nth {index}",
                kind=Campaign.Kind.FIXED_BONUS,
                trigger=Campaign.Trigger.NTH_PURCHASE,
                trigger_count=3 + index,
                trigger_period=Campaign.Period.MONTH,
                bonus_points=50,
                **window,
            )
        )
    for index, campaign in enumerate(campaigns):
        if index % (20 // applying) != 0:
            campaign.stores = [f"Store {index}"]
    Campaign.objects.bulk_create(campaigns)
    campaigns_cache_invalidate()
    return campaigns


def end_bench_campaigns() -> None:
    Campaign.objects.filter(name__startswith=f"bench {RUN}").exclude(status=Campaign.Status.ENDED).update(
        status=Campaign.Status.ENDED, ended_at=timezone.now()
    )
    campaigns_cache_invalidate()


def bench_earning(purchases: int, heavy: int) -> None:
    print("Earning (3 lines a purchase, 200 members, points pending):")
    running = Campaign.objects.filter(status__in=Campaign.LIVE_STATUSES, kind__in=Campaign.EARNING_KINDS)
    running_ids = list(running.values_list("pk", flat=True))
    Campaign.objects.filter(pk__in=running_ids).update(status=Campaign.Status.PAUSED)  # other campaigns sit out
    campaigns_cache_invalidate()
    try:
        members = bench_members(200)
        run_purchases(members, 50, "warm-up")
        none_preview = run_previews(members, purchases, "no campaigns")
        none = run_purchases(members, purchases, "no campaigns")
        try:
            make_campaigns(applying=2)
            light_preview = run_previews(members, purchases, "20 running, 2 apply")
            light = run_purchases(members, purchases, "20 running, 2 apply")
            end_bench_campaigns()
            make_campaigns(applying=20)
            heavy_preview = run_previews(members, heavy, "20 running, all apply")
            heavy_rate = run_purchases(members, heavy, "20 running, all apply")
        finally:
            end_bench_campaigns()
        print(
            f"  ratio (time per purchase vs none): record {none / light:.2f}× with 2 of 20 applying, "
            f"{none / heavy_rate:.2f}× with all 20 applying; preview {none_preview / light_preview:.2f}× and "
            f"{none_preview / heavy_preview:.2f}×"
        )
    finally:
        Campaign.objects.filter(pk__in=running_ids).update(status=Campaign.Status.ACTIVE)
        campaigns_cache_invalidate()


def generate_members(count: int) -> None:
    generated = Member.objects.filter(member_number__startswith="B")
    existing = generated.count()
    if existing >= count and generated.filter(account__isnull=False).count() >= count:
        print(f"  reusing {existing:,} generated members")
        return
    started = time.perf_counter()
    tiers = list(Tier.objects.order_by("rank").values_list("pk", flat=True))
    user_table, member_table = get_user_model()._meta.db_table, Member._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {user_table} (password, is_superuser, first_name, last_name, email, is_staff, is_active,
                                      date_joined)
            SELECT '!', false, 'Bench', 'Member' || i, 'bench-' || i || '@bench.invalid', false, true, now()
            FROM generate_series(%s, %s) AS i
            ON CONFLICT (email) DO NOTHING
            """,
            [existing + 1, count],
        )
        cursor.execute(
            f"""
            INSERT INTO {member_table} (user_id, member_number, card_number, status, tier_id, tier_achieved_at,
                birthday, phone, marketing_consent, email_notifications, enrolled_at, enrollment_channel,
                last_purchase_at)
            SELECT u.id, 'B' || lpad(g.i::text, 9, '0'), 'BENCH' || lpad(g.i::text, 12, '0'), 'active',
                   (ARRAY[%s, %s, %s]::bigint[])[1 + (g.i %% 10 > 6)::int + (g.i %% 10 = 9)::int], now(),
                   date '1960-01-01' + (g.i * 37 %% 18000), '', g.i %% 3 = 0, true,
                   now() - make_interval(days => g.i %% 1500), 'bench',
                   CASE WHEN g.i %% 7 = 0 THEN NULL ELSE now() - make_interval(days => g.i %% 400) END
            FROM generate_series(%s, %s) AS g(i)
            JOIN {user_table} u ON u.email = 'bench-' || g.i || '@bench.invalid'
            ON CONFLICT DO NOTHING
            """,
            [*tiers[:3], existing + 1, count],
        )
        cursor.execute(
            f"""
            INSERT INTO members_pointsaccount (member_id, balance, pending, owed, lifetime_earned, lifetime_spent,
                                               updated_at)
            SELECT m.id, (m.id * 7919) %% 3000, 0, 0, (m.id * 7919) %% 3000, 0, now()
            FROM {member_table} m
            WHERE m.member_number LIKE 'B%%'
              AND NOT EXISTS (SELECT 1 FROM members_pointsaccount a WHERE a.member_id = m.id)
            """,
            [],
        )
        cursor.execute(
            f"""
            INSERT INTO members_qualifyingactivity (member_id, month, points, spend, purchases)
            SELECT m.id, date_trunc('month', now() - make_interval(months => k))::date,
                   (m.id * k) %% 500, ((m.id * k) %% 500)::numeric, 1 + (m.id + k) %% 4
            FROM {member_table} m, generate_series(0, 2) AS k
            WHERE m.member_number LIKE 'B%%' AND m.id %% 2 = 0
            ON CONFLICT DO NOTHING
            """,
            [],
        )
        cursor.execute("ANALYZE")
    print(
        f"  generated up to {count:,} members (users, accounts, 3 months of activity for half) "
        f"in {time.perf_counter() - started:.1f} s"
    )


def timed(label: str, func, repeat: int = 3):
    best, result = None, None
    for _ in range(repeat):
        started = time.perf_counter()
        result = func()
        elapsed = time.perf_counter() - started
        best = elapsed if best is None else min(best, elapsed)
    print(f"  {label:<58} {best:6.2f} s  → {result}")


def bench_audience(count: int) -> None:
    print(f"Audience size over {count:,} members (best of 3, one statement each):")
    generate_members(count)
    total = Member.objects.count()
    print(f"  members in the database: {total:,}")
    segments = {
        "everyone (no segment)": None,
        "consent + purchased within 90 days": Segment(name="b1", marketing_consent="yes", purchased_within_days=90),
        "12-month spend ≥ 300 and ≥ 3 purchases": Segment(
            name="b2", spend_min=Decimal("300"), purchases_min=3, spend_period=Segment.SpendPeriod.TWELVE_MONTHS
        ),
        "lapsed 180 days with balance ≥ 500 (win-back)": Segment(name="b3", no_purchase_for_days=180, balance_min=500),
        "birthday month 5, enrolled in the last 2 years": Segment(
            name="b4", birthday_month=5, enrolled_from=(timezone.now() - timezone.timedelta(days=730)).date()
        ),
    }
    for label, segment in segments.items():
        if segment is not None:
            segment.pk = 0  # unsaved: no list rows, no tiers
        timed(label, lambda segment=segment: f"{segment_size(segment):,}")
    campaign = Campaign(pk=0, name="split", kind=Campaign.Kind.MULTIPLIER, holdout_percent=10)
    campaign.segment = None
    timed("audience + 10% holdout split (everyone)", lambda: "{:,} / {:,}".format(*audience_split(campaign)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--purchases", type=int, default=2000)
    parser.add_argument("--heavy-purchases", type=int, default=500)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--skip-earning", action="store_true")
    parser.add_argument("--skip-audience", action="store_true")
    args = parser.parse_args()
    print(f"Database: {connection.vendor} {connection.settings_dict['NAME']}")
    if not args.skip_earning:
        bench_earning(args.purchases, args.heavy_purchases)
    if not args.skip_audience:
        if connection.vendor != "postgresql":
            sys.exit("The audience bench generates members with PostgreSQL's generate_series.")
        bench_audience(args.members)


if __name__ == "__main__":
    main()
