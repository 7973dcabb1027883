"""Purchases per second through the API under gunicorn, against the same load on a trivial authenticated read.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_api .venv/bin/python bench/api_purchases.py \
        [--requests 1500] [--concurrency 8] [--members 200] [--workers 2] [--threads 4]

Migrates the database, enrols members and creates an API key (idempotently), starts gunicorn on 127.0.0.1,
then runs the same number of requests with the same number of concurrent clients (httpx, bounded by a thread
pool) against ``POST /api/v1/purchases/`` (unique external ids and idempotency keys, members spread at random)
and ``GET /api/v1/members/{n}/``. Prints requests/s and p50/p95 latency for each and their ratio: what
recording a purchase (earning engine, ledger, lots, idempotency record, tier check) costs over authenticating
and reading a member.
"""

import argparse
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def setup_data(members: int) -> tuple[list[str], str]:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_site.settings")
    django.setup()
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    from integrations.models import APIKey
    from integrations.services import api_key_create
    from members.models import Member
    from members.services import member_register
    from members.services.enrollment import MemberAlreadyExists

    numbers = []
    for index in range(members):
        email = f"bench-api-{index}@example.com"
        existing = Member.objects.filter(user__email=email).values_list("member_number", flat=True).first()
        if existing:
            numbers.append(existing)
            continue
        try:
            numbers.append(member_register(email=email, channel="bench").member_number)
        except MemberAlreadyExists as exc:
            numbers.append(exc.member.member_number)
    APIKey.objects.filter(name="bench-api").update(revoked_at=django.utils.timezone.now())
    _, raw_key = api_key_create(name="bench-api", scopes=["purchases:write", "members:read"])
    from django.db import connection

    connection.close()
    return numbers, raw_key


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def run_load(base: str, raw_key: str, requests: int, concurrency: int, make_request) -> dict:
    headers = {"Authorization": f"Api-Key {raw_key}"}
    clients = [httpx.Client(base_url=base, headers=headers, timeout=30) for _ in range(concurrency)]
    latencies, statuses = [], {}

    def one(index: int):
        client = clients[index % concurrency]
        method, url, kwargs = make_request(index)
        start = time.perf_counter()
        response = client.request(method, url, **kwargs)
        return time.perf_counter() - start, response.status_code

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for latency, status in pool.map(one, range(requests)):
            latencies.append(latency)
            statuses[status] = statuses.get(status, 0) + 1
    elapsed = time.perf_counter() - started
    for client in clients:
        client.close()
    return {
        "rps": requests / elapsed,
        "p50": percentile(latencies, 0.50) * 1000,
        "p95": percentile(latencies, 0.95) * 1000,
        "statuses": statuses,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database of your own.")

    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True)
    numbers, raw_key = setup_data(args.members)
    port = free_port()
    env = {
        **os.environ,
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "API_KEY_THROTTLE_RATE": "1000000/min",
        "LOG_LEVEL": "WARNING",
    }
    gunicorn = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "gunicorn"),
            "loyalty_site.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(args.workers),
            "--threads",
            str(args.threads),
            "--log-level",
            "warning",
            # Longer than any pause between phases, so clients never reuse a connection the server just closed.
            "--keep-alive",
            "75",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/api/v1/members/", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        run_id = uuid.uuid4().hex[:8]
        rng = random.Random(7)
        members = [rng.choice(numbers) for _ in range(args.requests)]

        def purchase(index):
            body = {
                "member": members[index],
                "external_id": f"bench-{run_id}-{index}",
                "occurred_at": "2026-01-15T10:00:00+01:00",
                "channel": "in_store",
                "currency": "EUR",
                "lines": [
                    {"sku": "COFFEE", "category": "drinks", "quantity": 2, "unit_price": "3.50"},
                    {"sku": "CAKE", "category": "food", "quantity": 1, "unit_price": "4.25"},
                    {"sku": "BEANS", "category": "retail", "quantity": 1, "unit_price": "12.90"},
                ],
            }
            return "POST", "/api/v1/purchases/", {"json": body, "headers": {"Idempotency-Key": f"{run_id}-{index}"}}

        def member_read(index):
            return "GET", f"/api/v1/members/{members[index]}/", {}

        # Warm up both paths (connections, caches) before measuring.
        run_load(base, raw_key, 50, args.concurrency, member_read)
        purchases = run_load(base, raw_key, args.requests, args.concurrency, purchase)
        reads = run_load(base, raw_key, args.requests, args.concurrency, member_read)
    finally:
        gunicorn.terminate()
        gunicorn.wait(10)

    print(
        f"gunicorn {args.workers} workers × {args.threads} threads, {args.concurrency} concurrent clients, "
        f"{args.requests} requests each, {args.members} members"
    )
    for name, result in (("POST /api/v1/purchases/", purchases), ("GET /api/v1/members/{n}/", reads)):
        print(
            f"{name:28} {result['rps']:8.1f} req/s  p50 {result['p50']:6.1f} ms  p95 {result['p95']:6.1f} ms  "
            f"statuses {result['statuses']}"
        )
    print(f"purchases/s: {purchases['rps']:.1f}")
    print(f"throughput ratio read/purchase: {reads['rps'] / purchases['rps']:.2f}×")
    print(f"p50 latency ratio purchase/read: {purchases['p50'] / reads['p50']:.2f}×")


if __name__ == "__main__":
    main()
