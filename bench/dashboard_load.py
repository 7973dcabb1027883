"""Member dashboard under concurrent load, against a trivial page in the same run.

Starts gunicorn on 127.0.0.1 with production settings and the given database, gives one member 10,000 ledger
entries (bulk, with their purchases and lots), logs that member in (a real session cookie), then sends the same
concurrent load to the dashboard and to /terms/ and prints p50/p95/p99 latency, requests per second and the
dashboard/trivial ratio.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_site .venv/bin/python bench/dashboard_load.py
    options: --entries 10000 --clients 8 --requests 500 --workers 4 --max-seconds 120 --port 8911
"""

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BENCH_EMAIL = "bench-dashboard@example.com"

SERVER_ENV = {
    "DJANGO_ENV": "production",
    "DEBUG": "false",
    "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "WARNING",
    # Production refuses to boot without a broker (integrations.checks); no worker consumes it here, so the
    # requests only queue their tasks, as production web nodes do.
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/8",
}


def setup_django():
    os.environ.update(SERVER_ENV)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_site.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def prepare_database(entries: int):
    """Migrate, collect static files, and return a logged-in session cookie for a member with ``entries``."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
    call_command("collectstatic", verbosity=0, interactive=False)
    member = bench_member(entries)
    from django.db import connection
    from django.test import Client

    if connection.vendor == "postgresql":
        # Fresh planner statistics, as autovacuum would give a real database after a bulk load.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")

    client = Client()
    client.force_login(member.user)
    return member, client.cookies["sessionid"].value


def bench_member(entries: int):
    from allauth.account.models import EmailAddress
    from django.db import transaction
    from django.utils import timezone

    from members.models import LedgerEntry, Member, PointsAccount, PointsLot, Purchase, QualifyingActivity, User
    from members.services import member_enroll

    user = User.objects.filter(email=BENCH_EMAIL).first()
    if user is None:
        user = User.objects.create_user(email=BENCH_EMAIL, password=None, first_name="Bench")
        EmailAddress.objects.create(user=user, email=BENCH_EMAIL, verified=True, primary=True)
    member = member_enroll(user=user)
    existing = LedgerEntry.objects.filter(account_id=member.pk).count()
    if existing >= entries:
        print(f"member {member.member_number} already has {existing} ledger entries")
        return member

    started = time.perf_counter()
    now = timezone.now()
    start = now - timedelta(hours=entries - existing + 1)
    points = 12
    with transaction.atomic():
        account = PointsAccount.objects.select_for_update().get(pk=member.pk)
        purchases = Purchase.objects.bulk_create(
            [
                Purchase(
                    member=member,
                    external_id=f"BENCH-{existing + index}",
                    source="bench",
                    store=f"Store {index % 20}",
                    occurred_at=start + timedelta(hours=index),
                    currency="EUR",
                    total=Decimal(points),
                    eligible_amount=Decimal(points),
                    points_earned=points,
                )
                for index in range(entries - existing)
            ],
            batch_size=2000,
        )
        balance = account.balance
        rows = []
        for index, purchase in enumerate(purchases):
            balance += points
            rows.append(
                LedgerEntry(
                    account_id=member.pk,
                    kind=LedgerEntry.Kind.EARN,
                    points=points,
                    balance_after=balance,
                    idempotency_key=f"bench:{member.pk}:{existing + index}",
                    description=f"Purchase {purchase.external_id}",
                    purchase=purchase,
                    created_at=purchase.occurred_at,
                )
            )
        rows = LedgerEntry.objects.bulk_create(rows, batch_size=2000)
        PointsLot.objects.bulk_create(
            [
                PointsLot(
                    account_id=member.pk,
                    entry=entry,
                    amount=points,
                    remaining=points,
                    available_at=entry.created_at,
                    # A spread of expiry dates, some within the dashboard's 30-day window.
                    expires_at=entry.created_at + timedelta(days=730 - (index % 800)),
                    created_at=entry.created_at,
                )
                for index, entry in enumerate(rows)
            ],
            batch_size=2000,
        )
        added = points * len(rows)
        PointsAccount.objects.filter(pk=member.pk).update(
            balance=balance, lifetime_earned=account.lifetime_earned + added
        )
        month = date(now.year, now.month, 1)
        for _ in range(12):
            QualifyingActivity.objects.update_or_create(
                member=member, month=month, defaults={"points": 300, "spend": Decimal("300"), "purchases": 25}
            )
            month = (month - timedelta(days=1)).replace(day=1)
    print(f"gave member {member.member_number} {len(rows)} ledger entries in {time.perf_counter() - started:.1f}s")
    return Member.objects.get(pk=member.pk)


def start_server(port: int, workers: int) -> subprocess.Popen:
    env = {**os.environ, **SERVER_ENV}
    process = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "loyalty_site.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/terms/", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise SystemExit("gunicorn exited during start-up")
        time.sleep(0.3)
    process.terminate()
    raise SystemExit("gunicorn did not answer within 30s")


def run_load(url: str, cookie: str, *, clients: int, requests: int, max_seconds: float):
    """``clients`` threads, each with its own connection, send up to ``requests`` GETs (or stop at the deadline)."""
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + max_seconds

    def client_loop():
        nonlocal errors
        own, own_errors = [], 0
        with httpx.Client(headers={"Cookie": f"sessionid={cookie}"}, timeout=30) as http:
            for _ in range(requests):
                if time.monotonic() > deadline:
                    break
                started = time.perf_counter()
                response = http.get(url)
                elapsed = time.perf_counter() - started
                if response.status_code != 200:
                    own_errors += 1
                own.append(elapsed)
        with lock:
            latencies.extend(own)
            errors += own_errors

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for future in [pool.submit(client_loop) for _ in range(clients)]:
            future.result()
    wall = time.perf_counter() - started
    latencies.sort()
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "errors": errors,
        "p50_ms": quantiles[49] * 1000,
        "p95_ms": quantiles[94] * 1000,
        "p99_ms": quantiles[98] * 1000,
        "rps": len(latencies) / wall,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=500, help="per client")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--max-seconds", type=float, default=120, help="time limit per phase")
    parser.add_argument("--port", type=int, default=8911)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL"):
        raise SystemExit("Set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/loyalty_site).")

    setup_django()
    from django.db import connection

    member, cookie = prepare_database(args.entries)
    connection.close()
    server = start_server(args.port, args.workers)
    try:
        base = f"http://127.0.0.1:{args.port}"
        check = httpx.get(f"{base}/me/", headers={"Cookie": f"sessionid={cookie}"}, timeout=10)
        if check.status_code != 200 or 'data-testid="balance"' not in check.text:
            raise SystemExit(f"dashboard not served to the bench member (HTTP {check.status_code})")
        for path in ("/me/", "/terms/"):  # warm each worker's caches and connections
            run_load(base + path, cookie, clients=args.clients, requests=25, max_seconds=30)
        results = {}
        for label, path in (("dashboard /me/", "/me/"), ("trivial /terms/", "/terms/")):
            results[label] = run_load(
                base + path, cookie, clients=args.clients, requests=args.requests, max_seconds=args.max_seconds
            )
    finally:
        server.terminate()
        server.wait(timeout=10)

    print(
        f"\ndatabase: {connection.vendor}; member {member.member_number} with {args.entries} ledger entries; "
        f"gunicorn {args.workers} sync workers; {args.clients} concurrent clients x {args.requests} requests\n"
    )
    print(f"{'view':<18} {'requests':>8} {'errors':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>8}")
    for label, row in results.items():
        print(
            f"{label:<18} {row['requests']:>8} {row['errors']:>6} {row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} "
            f"{row['p99_ms']:>8.1f} {row['rps']:>8.1f}"
        )
    dash, trivial = results["dashboard /me/"], results["trivial /terms/"]
    print(
        f"\nratio dashboard/trivial: p50 x{dash['p50_ms'] / trivial['p50_ms']:.2f}, "
        f"p95 x{dash['p95_ms'] / trivial['p95_ms']:.2f}, throughput x{dash['rps'] / trivial['rps']:.2f}"
    )


if __name__ == "__main__":
    main()
