"""Ledger benchmark (issue 3): 1,000,000 members with 10,000,000 ledger entries on PostgreSQL, then

1. earning through ``purchase_record`` (ops/s over 10,000 purchases, one client) against ``pgbench`` running the
   same transaction written by hand (lock the account, insert purchase, entry and lot, update the account),
   with the statements per earn counted;
2. the set-based expiry job over ~1,000,000 due lots against a per-lot ORM loop timed on a 10,000-lot sample.

Usage: ``.venv/bin/python bench/ledger_bench.py [--members 1000000] [--purchases 10000] [--reuse | --from-seed]``
(``BENCH_DATABASE_URL`` picks the database; it is dropped and rebuilt unless ``--reuse``). A fresh dataset is also
saved as ``<database>_seed``; ``--from-seed`` starts from a copy of it, so the expiry job finds its million due
lots again without regenerating.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import tempfile
import time
from decimal import Decimal

from _dataset import _literal, database_exists, database_snapshot, insert_select, setup_django, timed

ENTRIES_PER_MEMBER = 10
LOTS_PER_MEMBER = 5


def generate(members: int) -> None:
    from django.db import connection
    from django.utils import timezone

    from members.models import LedgerEntry, Member, PointsAccount, PointsLot, Tier, User

    tier_id = Tier.objects.order_by("rank").values_list("pk", flat=True).first() or "NULL"
    series = f"FROM generate_series(1, {members}) AS m"
    print(
        f"Generating {members:,} members, {members * ENTRIES_PER_MEMBER:,} entries, "
        f"{members * LOTS_PER_MEMBER:,} lots…",
        flush=True,
    )
    with timed("users"):
        insert_select(
            User,
            {
                "id": "m",
                "email": "'bench' || m || '@example.com'",
                "password": "'!'",
                "date_joined": "now() - interval '3 years'",
                "is_active": "TRUE",
            },
            series,
        )
    with timed("members"):
        insert_select(
            Member,
            {
                "id": "m",
                "user_id": "m",
                "member_number": "'B' || lpad(m::text, 9, '0')",
                "card_number": "'699' || lpad(m::text, 13, '0')",
                "tier_id": str(tier_id),
                "enrolled_at": "now() - interval '3 years'",
                "last_purchase_at": "now() - (m % 400) * interval '1 day'",
            },
            series,
        )
    with timed("accounts"):
        insert_select(
            PointsAccount,
            {
                "member_id": "m",
                "balance": "250",
                "lifetime_earned": "500",
                "lifetime_spent": "250",
                "updated_at": "now()",
            },
            series,
        )
    # Per member: five earns of 100 (k = 1..5) and five redemptions of 50 (k = 6..10).
    entry_from = f"FROM generate_series(1, {members}) AS m CROSS JOIN generate_series(1, {ENTRIES_PER_MEMBER}) AS k"
    with timed("ledger entries"):
        insert_select(
            LedgerEntry,
            {
                "id": f"(m - 1) * {ENTRIES_PER_MEMBER} + k",
                "account_id": "m",
                "kind": "CASE WHEN k <= 5 THEN 'earn' ELSE 'redeem' END",
                "points": "CASE WHEN k <= 5 THEN 100 ELSE -50 END",
                "balance_after": "CASE WHEN k <= 5 THEN 100 * k ELSE 500 - 50 * (k - 5) END",
                "idempotency_key": f"'bench:' || ((m - 1) * {ENTRIES_PER_MEMBER} + k)",
                "description": "'bench'",
                "created_at": "now() - (400 - k * 30) * interval '1 day'",
            },
            entry_from,
        )
    # Lot 1 of every member is due to expire (1,000,000 expiring lots); redemptions used lots 2-4.
    lot_from = f"FROM generate_series(1, {members}) AS m CROSS JOIN generate_series(1, {LOTS_PER_MEMBER}) AS k"
    with timed("lots"):
        insert_select(
            PointsLot,
            {
                "id": f"(m - 1) * {LOTS_PER_MEMBER} + k",
                "account_id": "m",
                "entry_id": f"(m - 1) * {ENTRIES_PER_MEMBER} + k",
                "amount": "100",
                "remaining": "CASE k WHEN 1 THEN 100 WHEN 4 THEN 50 WHEN 5 THEN 100 ELSE 0 END",
                "available_at": "now() - (400 - k * 30) * interval '1 day'",
                "expires_at": "CASE WHEN k = 1 THEN now() - interval '1 day' ELSE now() + k * interval '60 days' END",
                "created_at": "now() - (400 - k * 30) * interval '1 day'",
            },
            lot_from,
        )
    with connection.cursor() as cursor, timed("sequences and VACUUM ANALYZE"):
        for model in (User, Member, LedgerEntry, PointsLot):
            table = model._meta.db_table
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
        # A production database of this size has long been vacuumed; without this, autovacuum's first passes over
        # the fresh tables would run during the timings and take a core from whichever side runs then.
        cursor.execute("VACUUM ANALYZE")
    print(f"  at {timezone.now():%Y-%m-%d %H:%M}", flush=True)


def _pgbench_script(members: int) -> str:
    """The earn transaction written by hand, columns taken from the models so it stays in step with them."""
    from members.models import LedgerEntry, PointsLot, Purchase

    def values(model, overrides):
        cols, vals = [], []
        for field in model._meta.concrete_fields:
            if field.primary_key:
                continue
            cols.append(field.column)
            vals.append(overrides.get(field.column) or _literal(field))
        return ", ".join(cols), ", ".join(vals)

    p_cols, p_vals = values(
        Purchase,
        {
            "member_id": ":mid",
            "external_id": "'pgb-' || :r",
            "source": "'pgbench'",
            "channel": "'in_store'",
            "occurred_at": "now()",
            "currency": "'EUR'",
            "total": "42.50",
            "eligible_amount": "42.50",
            "points_earned": "42",
            "created_at": "now()",
        },
    )
    e_cols, e_vals = values(
        LedgerEntry,
        {
            "account_id": ":mid",
            "kind": "'earn'",
            "pending_delta": "42",
            "balance_after": "0",
            "idempotency_key": "'pgb-' || :r",
            "purchase_id": ":p_id",
            "created_at": "now()",
        },
    )
    l_cols, l_vals = values(
        PointsLot,
        {
            "account_id": ":mid",
            "entry_id": ":e_id",
            "amount": "42",
            "remaining": "42",
            "is_pending": "TRUE",
            "available_at": "now() + interval '14 days'",
            "expires_at": "now() + interval '2 years'",
            "created_at": "now()",
        },
    )
    return "\n".join(
        [
            f"\\set mid random(1, {members})",
            "\\set r random(1, 9000000000000000000)",
            "BEGIN;",
            "SELECT balance, pending, owed FROM members_pointsaccount WHERE member_id = :mid FOR UPDATE;",
            f"INSERT INTO members_purchase ({p_cols}) VALUES ({p_vals}) RETURNING id AS p_id \\gset",
            f"INSERT INTO members_ledgerentry ({e_cols}) VALUES ({e_vals}) RETURNING id AS e_id \\gset",
            f"INSERT INTO members_pointslot ({l_cols}) VALUES ({l_vals});",
            "UPDATE members_pointsaccount SET pending = pending + 42, lifetime_earned = lifetime_earned + 42, "
            "updated_at = now() WHERE member_id = :mid;",
            "END;",
            "",
        ]
    )


def bench_earning(members: int, purchases: int, url: str, results: dict, rounds: int = 5) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from members.models import Member
    from members.services.purchases import PurchaseLineInput, purchase_record

    rng = random.Random(7)
    warm_up = purchases // 5
    member_ids = [rng.randint(1, members) for _ in range(purchases + warm_up + 2)]
    by_id = Member.objects.in_bulk(set(member_ids))
    lines = [
        PurchaseLineInput(sku="COF-250", category="coffee", quantity=2, unit_price=Decimal("7.50")),
        PurchaseLineInput(sku="CAKE", category="bakery", quantity=1, unit_price=Decimal("3.50")),
    ]
    run = int(time.time())

    def earn(index):
        return purchase_record(
            member=by_id[member_ids[index]],
            external_id=f"bench-{run}-{index}",
            lines=lines,
            channel="in_store",
            store="Bench",
            occurred_at=timezone.now(),
            currency="EUR",
            source="bench",
        )

    earn(purchases + 1)  # warm the process's caches (program settings, tiers, rules, webhook subscriptions)
    with CaptureQueriesContext(connection) as ctx:
        earn(purchases)
    statements = [q["sql"].split()[0].upper() for q in ctx.captured_queries]
    # WITH statements are several writes grouped into one round trip (see members/services/sql.py).
    print(f"  statements per earn: {len(statements)} ({', '.join(statements)})")
    results["statements per earn"] = len(statements)

    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(_pgbench_script(members))

    def pgbench(transactions: int) -> float:
        """Seconds pgbench takes for ``transactions`` (from its own tps figure, so connecting is not counted)."""
        out = subprocess.run(
            ["pgbench", "-n", "-c", "1", "-j", "1", "-t", str(transactions), "-f", script.name, url],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        tps = float(next(line for line in out.splitlines() if line.startswith("tps")).split("=")[1].split()[0])
        return transactions / tps

    # An untimed warm-up of both sides first (the first minutes on a freshly copied dataset are slow while its
    # pages find their way into memory), then interleaved rounds: both sides meet the same checkpoints and the
    # same cache state, so the ratio compares code, not timing luck.
    start = time.perf_counter()
    for index in range(purchases + 2, purchases + 2 + warm_up):
        earn(index)
    warm_service = warm_up / (time.perf_counter() - start)
    warm_pgbench = warm_up / pgbench(warm_up)
    print(f"  warm-up, untimed: {warm_up:,} earns at {warm_service:,.0f}/s, pgbench {warm_pgbench:,.0f} tps")
    # The dataset starts with no purchases, and this machine's PostgreSQL runs without autovacuum: analyse what
    # the warm-up wrote, as autovacuum would, and reconnect (as CONN_MAX_AGE does within a minute), or the foreign
    # key checks keep the plans made while members_purchase was empty and scan it whole on every earn.
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.close()
    service_seconds = pgbench_seconds = 0.0
    done = 0
    for round_number in range(rounds):
        size = purchases // rounds + (1 if round_number < purchases % rounds else 0)
        start = time.perf_counter()
        for index in range(done, done + size):
            earn(index)
        round_service = time.perf_counter() - start
        round_pgbench = pgbench(size)
        print(
            f"    round {round_number + 1}: service {size / round_service:,.0f}/s,"
            f" pgbench {size / round_pgbench:,.0f} tps"
        )
        service_seconds += round_service
        pgbench_seconds += round_pgbench
        done += size
    service_rate = purchases / service_seconds
    tps = purchases / pgbench_seconds
    print(
        f"  purchase_record: {purchases:,} purchases in {service_seconds:.1f} s = {service_rate:,.0f} ops/s"
        f" ({rounds} rounds, interleaved with pgbench)"
    )
    print(f"  pgbench, same transaction by hand: {purchases:,} in {pgbench_seconds:.1f} s = {tps:,.0f} tps")
    ratio = service_rate / tps
    print(f"  service / pgbench = {ratio:.2f} (target >= 0.25)")
    results.update({"earn ops/s": service_rate, "pgbench tps": tps, "earn ratio": ratio})


def bench_expiry(sample: int, results: dict) -> None:
    from django.db import connection, transaction
    from django.db.models import F
    from django.utils import timezone

    from members.models import LedgerEntry, PointsAccount, PointsLot
    from members.services.batch import points_expire_due

    now = timezone.now()
    due = PointsLot.objects.filter(remaining__gt=0, is_pending=False, expires_at__lte=now)
    total_due = due.count()
    print(f"  due lots: {total_due:,}")
    if total_due <= sample:
        print("  not enough due lots left to compare (a --reuse run after an expiry run); rebuild without --reuse")
        return

    # The naive way, for comparison: one transaction and four statements per lot.
    sample_ids = list(due.order_by("id").values_list("id", flat=True)[:sample])
    start = time.perf_counter()
    for lot_id in sample_ids:
        with transaction.atomic():
            lot = PointsLot.objects.get(pk=lot_id)
            account = PointsAccount.objects.select_for_update().get(pk=lot.account_id)
            LedgerEntry(
                account=account,
                kind=LedgerEntry.Kind.EXPIRE,
                points=-lot.remaining,
                balance_after=account.balance - lot.remaining,
                idempotency_key=f"expire:lot:{lot.pk}",
                created_at=now,
            ).save(force_insert=True)
            PointsAccount.objects.filter(pk=account.pk).update(balance=F("balance") - lot.remaining)
            PointsLot.objects.filter(pk=lot.pk).update(expired=lot.remaining, remaining=0, expired_at=now)
    loop_elapsed = time.perf_counter() - start
    loop_rate = len(sample_ids) / loop_elapsed
    print(
        f"  per-lot ORM loop: {len(sample_ids):,} lots in {loop_elapsed:.1f} s = {loop_rate:,.0f} lots/s "
        f"(1M lots would take {1_000_000 / loop_rate:,.0f} s)"
    )

    start = time.perf_counter()
    expired_points = points_expire_due(now=now)
    set_elapsed = time.perf_counter() - start
    set_lots = total_due - len(sample_ids)
    set_rate = set_lots / set_elapsed
    print(
        f"  set-based points_expire_due: {set_lots:,} lots ({expired_points:,} points) in {set_elapsed:.1f} s "
        f"= {set_rate:,.0f} lots/s"
    )
    print(f"  speed-up over the loop: {set_rate / loop_rate:.0f}x (target >= 20x, and 1M lots < 60 s)")
    start = time.perf_counter()
    again = points_expire_due(now=now)
    print(f"  re-run (idempotent): {again} points in {time.perf_counter() - start:.2f} s")
    connection.close()
    results.update({"expiry lots/s": set_rate, "expiry seconds": set_elapsed, "loop lots/s": loop_rate})


def checkpoint() -> None:
    """Write out what earlier steps left dirty (generating or copying gigabytes, the previous phase) before a timed
    phase, so that the checkpoints it forces do not land on whichever measurement runs next."""
    from django.db import connection

    with timed("CHECKPOINT before timing"), connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--purchases", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=10_000, help="lots for the per-lot ORM loop")
    start = parser.add_mutually_exclusive_group()
    start.add_argument("--reuse", action="store_true", help="keep an existing dataset")
    start.add_argument("--from-seed", action="store_true", help="start from a copy of the saved fresh dataset")
    args = parser.parse_args()
    import os
    from urllib.parse import urlparse

    from _dataset import DEFAULT_URL

    seed = urlparse(os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)).path.lstrip("/") + "_seed"
    template = None
    if args.from_seed:
        if not database_exists(os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL), seed):
            raise SystemExit(f"No saved dataset {seed}: run once without --from-seed first.")
        template = seed
    with timed("preparing the database"):
        url = setup_django(recreate=not (args.reuse or args.from_seed), template=template)
    from members.models import Member

    if not (args.reuse or args.from_seed) or not Member.objects.exists():
        generate(args.members)
        with timed(f"saving the fresh dataset as {seed}"):
            database_snapshot(url, seed)
    members = Member.objects.count()
    results: dict = {}
    checkpoint()
    print("Earning:")
    bench_earning(members, args.purchases, url, results)
    checkpoint()
    print("Expiry:")
    bench_expiry(args.sample, results)
    verify_start = time.perf_counter()
    from django.core.management import call_command

    try:
        call_command("verify_ledger")
        print(f"verify_ledger: clean in {time.perf_counter() - verify_start:.1f} s")
    except SystemExit as exc:
        print(f"verify_ledger exited {exc.code}")


if __name__ == "__main__":
    main()
