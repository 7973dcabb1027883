"""Rewards benchmark: redemptions per second (one hot member, many members) and the catalogue's query count.

Run against PostgreSQL (row locks are what is being measured):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_rewards .venv/bin/python bench/rewards_redeem.py

It migrates the database, then adds its own members and rewards (named after the run) on each run; nothing is
deleted, since ledger entries are append-only.
"""

import os
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_site.settings")

import django

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402

from members.models import User  # noqa: E402
from members.services import member_enroll, points_adjust  # noqa: E402
from rewards.models import Reward  # noqa: E402
from rewards.services import reward_redeem, rewards_set_active  # noqa: E402

RUN = uuid.uuid4().hex[:8]
THREADS = int(os.environ.get("BENCH_THREADS", "8"))
HOT_REDEMPTIONS = int(os.environ.get("BENCH_HOT", "300"))
MANY_MEMBERS = int(os.environ.get("BENCH_MEMBERS", "100"))
CATALOGUE_SIZE = 1000


def member(n, points):
    user = User.objects.create_user(email=f"bench-{RUN}-{n}@example.com", password=None)
    enrolled = member_enroll(user=user)
    points_adjust(member=enrolled, points=points, reason="bench", actor=None, idempotency_key=f"bench:{RUN}:{n}")
    return enrolled


def reward(slug, **fields):
    return Reward.objects.create(
        kind=fields.pop("kind", Reward.Kind.FIXED_DISCOUNT),
        slug=f"bench-{RUN}-{slug}",
        name=fields.pop("name", f"Bench {slug}"),
        points_cost=fields.pop("points_cost", 10),
        value=fields.pop("value", 1),
        **fields,
    )


def run_threads(work: list, threads: int) -> float:
    """Split ``work`` (callables) over ``threads`` threads; return the wall-clock seconds."""
    chunks = [work[i::threads] for i in range(threads)]
    barrier = threading.Barrier(threads + 1)
    errors = []

    def worker(chunk):
        barrier.wait()
        try:
            for call in chunk:
                call()
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    pool = [threading.Thread(target=worker, args=(chunk,)) for chunk in chunks]
    for thread in pool:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        raise errors[0]
    return elapsed


def redeem_call(m, r, key):
    return lambda: reward_redeem(member=m, reward=r, idempotency_key=key)


def main():
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}  run: {RUN}  threads: {THREADS}")
    call_command("migrate", verbosity=0)
    # Earlier runs' catalogue rewards would inflate this run's "small catalogue" baseline.
    rewards_set_active(
        reward_ids=Reward.objects.filter(slug__startswith="bench-").values_list("pk", flat=True), is_active=False
    )

    started = time.perf_counter()
    for _ in range(200):
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    print(f"round trip (SELECT 1):           {(time.perf_counter() - started) / 200 * 1000:8.2f} ms")

    unlimited = reward("unlimited")
    hot = member("hot", points=10 * HOT_REDEMPTIONS * 3)
    with CaptureQueriesContext(connection) as queries:
        reward_redeem(member=hot, reward=unlimited, idempotency_key=f"bench:{RUN}:count")
    print(f"statements per redemption:       {len(queries.captured_queries):8d} (incl. BEGIN/COMMIT)")

    started = time.perf_counter()
    for n in range(HOT_REDEMPTIONS):
        reward_redeem(member=hot, reward=unlimited, idempotency_key=f"bench:{RUN}:hot-seq:{n}")
    seq = time.perf_counter() - started
    print(f"one hot member, 1 thread:        {HOT_REDEMPTIONS / seq:8.0f} redemptions/s ({seq:.2f}s)")

    work = [redeem_call(hot, unlimited, f"bench:{RUN}:hot-par:{n}") for n in range(HOT_REDEMPTIONS)]
    elapsed = run_threads(work, THREADS)
    print(
        f"one hot member, {THREADS} threads:       {HOT_REDEMPTIONS / elapsed:8.0f} redemptions/s "
        "(serialised on the account lock)"
    )

    members = [member(n, points=1000) for n in range(MANY_MEMBERS)]
    per_member = 5
    work = [redeem_call(m, unlimited, f"bench:{RUN}:many:{m.pk}:{i}") for i in range(per_member) for m in members]
    elapsed = run_threads(work, THREADS)
    print(
        f"{MANY_MEMBERS} members, {THREADS} threads:        {len(work) / elapsed:8.0f} redemptions/s (unlimited stock)"
    )

    limited = reward("limited", stock=len(work))
    work = [redeem_call(m, limited, f"bench:{RUN}:stock:{m.pk}:{i}") for i in range(per_member) for m in members]
    elapsed = run_threads(work, THREADS)
    limited.refresh_from_db()
    print(
        f"{MANY_MEMBERS} members, {THREADS} threads:        {len(work) / elapsed:8.0f} redemptions/s "
        f"(one limited-stock reward, stock left {limited.stock})"
    )

    # Catalogue page: query count with a handful of rewards, then with 1,000 more.
    viewer = member("viewer", points=5000)
    client = Client()
    client.force_login(viewer.user)
    url = reverse("rewards:catalogue")

    def measure():
        client.get(url)  # warm caches (program settings, tiers)
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url)
            elapsed = time.perf_counter() - started
        assert response.status_code == 200
        return len(queries.captured_queries), elapsed * 1000, Reward.objects.filter(is_active=True).count()

    count, ms, total = measure()
    print(f"catalogue page, {total:5d} active rewards: {count} queries, {ms:.1f} ms")
    Reward.objects.bulk_create(
        [
            Reward(
                kind=Reward.Kind.FIXED_DISCOUNT,
                slug=f"bench-{RUN}-cat-{n}",
                name=f"Bench catalogue {n}",
                points_cost=100 + n,
                value=1,
                category=f"cat-{n % 12}",
                per_member_limit=3,
            )
            for n in range(CATALOGUE_SIZE)
        ]
    )
    count, ms, total = measure()
    print(f"catalogue page, {total:5d} active rewards: {count} queries, {ms:.1f} ms")


if __name__ == "__main__":
    main()
