"""Time the staff analytics dashboard and the points-accounting queries on 1,000,000 members (PostgreSQL).

    .venv/bin/python bench/analytics_bench.py [--members 1000000] [--repeat 3] [--keep-rollups] [--skip-live]

Uses (and creates if missing) the database named by BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/loyalty_bench_staff. The dataset is generated once with INSERT … SELECT
generate_series and reused on later runs: members enrolled over two years, three purchases each, an EARN entry per
purchase, a REDEEM entry for every fourth purchase, an EXPIRE entry for every seventh, tier history and accounts
whose balance is the sum of their entries. The per-entry ``balance_after`` values are synthetic (the queries timed
here do not read them).

Each run empties the daily roll-ups and times the back-fill (``analytics_rollup --all``) and a nightly run, then
the dashboard (30 and 365 days) cold and from the cache, the liability and the movements, each also computed live
without roll-ups (the pre-roll-up cost) and checked to give the same numbers.
"""

import argparse
import dataclasses
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/loyalty_bench_staff"


def ensure_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin_url = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


GENERATE = [
    (
        "users",
        """INSERT INTO members_user
               (password, is_superuser, first_name, last_name, is_staff, is_active, date_joined, email)
           SELECT '!', false, '', '', false, true, now(), 'bench' || g || '@example.com'
           FROM generate_series(1, %(n)s) g""",
    ),
    (
        "members",
        """INSERT INTO members_member (member_number, card_number, status, phone, marketing_consent,
               email_notifications, enrolled_at, enrollment_channel, tier_id, tier_achieved_at, user_id)
           SELECT 'B' || lpad(u.id::text, 11, '0'), '9' || lpad(u.id::text, 18, '0'), 'active', '', (u.id % 3 = 0),
                  true, now() - (u.id % 730) * interval '1 day' - (u.id % 86400) * interval '1 second', 'web',
                  (SELECT id FROM members_tier ORDER BY rank
                   OFFSET (CASE WHEN u.id % 20 = 0 THEN 2 WHEN u.id % 5 = 0 THEN 1 ELSE 0 END) LIMIT 1),
                  now(), u.id
           FROM members_user u WHERE u.email LIKE 'bench%@example.com'""",
    ),
    (
        "tier history",
        """INSERT INTO members_tierhistory (reason, qualifying_value, created_at, member_id, to_tier_id)
           SELECT 'enrolled', 0, m.enrolled_at, m.id, m.tier_id FROM members_member m
           UNION ALL
           SELECT 'upgrade', 1000, m.enrolled_at + interval '90 days', m.id, m.tier_id
           FROM members_member m WHERE m.id % 5 = 0 AND m.enrolled_at + interval '90 days' < now()""",
    ),
    (
        "purchases",
        """INSERT INTO members_purchase (external_id, source, channel, store, occurred_at, currency, total,
               eligible_amount, points_earned, points_bonus, refunded_total, points_clawed_back, created_at, member_id)
           SELECT 'P' || m.id || '-' || k, 'bench', 'in_store', 'Bench store', t.at, 'EUR', t.total, t.total,
                  floor(t.total)::bigint, 0, 0, 0, t.at, m.id
           FROM members_member m
           CROSS JOIN generate_series(1, 3) k
           CROSS JOIN LATERAL (
               SELECT m.enrolled_at + (now() - m.enrolled_at) * ((hashint4((m.id * 7 + k)::int) & 1023) / 1024.0) AS at,
                      round((5 + (hashint4((m.id * 13 + k)::int) & 8191) / 100.0)::numeric, 2) AS total
           ) t""",
    ),
    (
        "earn entries",
        """INSERT INTO members_ledgerentry (kind, points, pending_delta, owed_delta, balance_after, idempotency_key,
               description, created_at, account_id, purchase_id)
           SELECT 'earn', p.points_earned, 0, 0, p.points_earned, 'bench:earn:' || p.id, 'Purchase', p.occurred_at,
                  p.member_id, p.id
           FROM members_purchase p WHERE p.points_earned > 0""",
    ),
    (
        "redeem entries",
        """INSERT INTO members_ledgerentry (kind, points, pending_delta, owed_delta, balance_after, idempotency_key,
               description, created_at, account_id)
           SELECT 'redeem', -(p.points_earned / 2), 0, 0, 0, 'bench:redeem:' || p.id, 'Reward',
                  p.occurred_at + interval '10 days', p.member_id
           FROM members_purchase p
           WHERE p.id % 4 = 0 AND p.points_earned >= 2 AND p.occurred_at + interval '10 days' < now()""",
    ),
    (
        "expire entries",
        """INSERT INTO members_ledgerentry (kind, points, pending_delta, owed_delta, balance_after, idempotency_key,
               description, created_at, account_id)
           SELECT 'expire', -(p.points_earned * 3 / 10), 0, 0, 0, 'bench:expire:' || p.id, 'Expired',
                  p.occurred_at + interval '365 days', p.member_id
           FROM members_purchase p
           WHERE p.id % 7 = 0 AND p.points_earned >= 4 AND p.occurred_at + interval '365 days' < now()""",
    ),
    (
        "accounts",
        """INSERT INTO members_pointsaccount (member_id, balance, pending, owed, lifetime_earned, lifetime_spent,
               updated_at)
           SELECT m.id, COALESCE(s.balance, 0), 0, 0, COALESCE(s.earned, 0), COALESCE(s.spent, 0), now()
           FROM members_member m
           LEFT JOIN (
               SELECT account_id, SUM(points) AS balance, SUM(points) FILTER (WHERE kind = 'earn') AS earned,
                      -SUM(points) FILTER (WHERE kind = 'redeem') AS spent
               FROM members_ledgerentry GROUP BY account_id
           ) s ON s.account_id = m.id""",
    ),
    (
        "last purchase",
        """UPDATE members_member m SET last_purchase_at = p.last_at
           FROM (SELECT member_id, MAX(occurred_at) AS last_at FROM members_purchase GROUP BY member_id) p
           WHERE p.member_id = m.id""",
    ),
]


def generate(members: int) -> None:
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM members_member")
        have = cursor.fetchone()[0]
    if have >= members:
        print(f"reusing dataset: {have:,} members")
        return
    if have:
        sys.exit(f"the bench database has {have:,} members, fewer than {members:,}; drop it and run again")
    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for label, sql in GENERATE:
            step = time.perf_counter()
            # Only the first statement takes a parameter; the others use % as the modulo operator.
            cursor.execute(sql, {"n": members}) if "%(n)s" in sql else cursor.execute(sql)
            print(f"  {label:<16} {cursor.rowcount:>10,} rows  {time.perf_counter() - step:6.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    print(f"generated in {time.perf_counter() - started:.0f} s")


def timed(label: str, func, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        runs.append(time.perf_counter() - started)
    median = statistics.median(runs)
    print(f"  {label:<52} median {median * 1000:9.1f} ms   (best {min(runs) * 1000:.1f} ms)", flush=True)
    return median


def once(label: str, func):
    started = time.perf_counter()
    result = func()
    summary = f"{result.start} … {result.through}, {result.rows_changed:,} rows changed"
    print(f"  {label:<52} {time.perf_counter() - started:9.2f} s   ({summary})", flush=True)
    return result


def load() -> str:
    with open("/proc/loadavg") as handle:
        return " ".join(handle.read().split()[:3])


def rollups_reset() -> None:
    """Empty the roll-ups, so the back-fill is timed from scratch on every run."""
    from django.db import connection

    from backoffice.models import DailyActivity, DailyPoints, DailyTierMovement, RollupState

    with connection.cursor() as cursor:
        for model in (DailyPoints, DailyActivity, DailyTierMovement):
            cursor.execute(f"TRUNCATE {model._meta.db_table}")
    RollupState.objects.filter(pk=1).update(
        rolled_through=None, ledger_entry_id=0, purchase_id=0, member_id=0, tier_history_id=0, rolled_at=None
    )


def tuned(func, *args):
    """Run one dashboard step with the session settings the dashboard runs its queries under."""
    from backoffice.analytics import report_settings

    with report_settings():
        return func(*args)


def figures(dashboard) -> dict:
    values = dataclasses.asdict(dashboard)
    values.pop("computed_at")
    values.pop("rolled_through")
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep-rollups", action="store_true", help="skip the back-fill; use the roll-ups there are")
    parser.add_argument("--skip-live", action="store_true", help="skip timing the live (pre-roll-up) computation")
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    ensure_database(url)
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_site.settings")
    # Measure what production runs: DEBUG off (no query logging).
    os.environ["DEBUG"] = "false"
    os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
    os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost")
    os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    call_command("migrate", verbosity=0)
    generate(args.members)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT COUNT(*) FROM members_member), (SELECT COUNT(*) FROM members_purchase), "
            "(SELECT COUNT(*) FROM members_ledgerentry)"
        )
        members, purchases, entries = cursor.fetchone()
    print(f"dataset: {members:,} members, {purchases:,} purchases, {entries:,} ledger entries; load {load()}")

    from backoffice import accounting, analytics
    from backoffice.periods import Period
    from backoffice.rollups import rollup_watermark
    from backoffice.services.rollups import analytics_rollup

    today = timezone.localdate()
    print("roll-ups:")
    if not args.keep_rollups:
        rollups_reset()
        once("back-fill, every day (analytics_rollup --all)", lambda: analytics_rollup(everything=True))
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE members_dailypoints, members_dailyactivity, members_dailytiermovement")
    once("nightly run (last 3 days)", analytics_rollup)
    once("nightly run again (idempotent)", analytics_rollup)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT COUNT(*) FROM members_dailypoints), (SELECT COUNT(*) FROM members_dailyactivity), "
            "(SELECT COUNT(*) FROM members_dailytiermovement)"
        )
        print("  roll-up rows: points {:,}, activity {:,}, tier movements {:,}".format(*cursor.fetchone()))
    watermark = rollup_watermark()
    print(f"  rolled through {watermark.through}; load {load()}")

    results = {}
    for days in (30, 365):
        period = Period.last_days(days, today=today)
        print(f"dashboard, last {days} days (load {load()}):")
        steps = [
            ("buyers, repeat buyers, purchase cycle (one pass)", lambda p=period: tuned(analytics.purchase_stats, p)),
            ("points by day and kind (roll-ups + live)", lambda p=period: analytics.points_days(p, watermark)),
            ("enrolments, purchases, revenue (roll-ups+live)", lambda p=period: analytics.activity_days(p, watermark)),
            ("tier distribution (now)", lambda: tuned(analytics.tier_distribution)),
            ("tier movements (roll-ups + live)", lambda p=period: analytics.tier_movements(p, watermark)),
        ]
        for label, func in steps:
            timed(label, func, args.repeat)
        results[days, "cold"] = timed(
            "whole dashboard, cold (dashboard_build)", lambda p=period: analytics.dashboard_build(p), args.repeat
        )
        analytics.dashboard_get(period)
        results[days, "warm"] = timed(
            "whole dashboard, warm (dashboard_get, cached)", lambda p=period: analytics.dashboard_get(p), args.repeat
        )
        if not args.skip_live:
            results[days, "live"] = timed(
                "whole dashboard, live only (no roll-ups)",
                lambda p=period: analytics.dashboard_build(p, use_rollups=False),
                args.repeat,
            )
            same = figures(analytics.dashboard_build(period)) == figures(
                analytics.dashboard_build(period, use_rollups=False)
            )
            print(f"  same numbers with and without roll-ups: {'yes' if same else 'NO'}")

    print(f"points accounting (load {load()}):")
    a_year_ago = today - timedelta(days=365)
    checks = [
        ("liability as of today", lambda live: accounting.liability_as_of(today, use_rollups=not live)),
        ("liability as of a year ago", lambda live: accounting.liability_as_of(a_year_ago, use_rollups=not live)),
        (
            "movements, last 30 days",
            lambda live: accounting.movements_for(Period.last_days(30, today=today), use_rollups=not live),
        ),
        (
            "movements, last 365 days",
            lambda live: accounting.movements_for(Period.last_days(365, today=today), use_rollups=not live),
        ),
    ]
    for label, func in checks:
        timed(f"{label} (roll-ups + live)", lambda f=func: f(False), args.repeat)
        if not args.skip_live:
            timed(f"{label} (live only)", lambda f=func: f(True), args.repeat)
            rolled, live = func(False), func(True)
            same = (
                rolled == live
                if isinstance(rolled, accounting.Liability)
                else (rolled.opening, rolled.lines, rolled.closing) == (live.opening, live.lines, live.closing)
            )
            print(f"  same numbers with and without roll-ups: {'yes' if same else 'NO'}")
    print(f"done; load {load()}")


if __name__ == "__main__":
    main()
