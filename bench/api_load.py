"""The till's path under load, driven by wrk, against pgbench's hand-written earn in the same run (issue 14).

    .venv/bin/python bench/api_load.py [--seconds 10] [--rounds 2] [--connections 16] [--workers 3] [--threads 1]
        [--worker-class sync] [--server gunicorn|granian] [--members 2000] [--rebuild-seed] [--only purchase,…]

1. A PostgreSQL database of its own (``loyalty_apiload``), fresh each run: a file-level copy of
   ``loyalty_apiload_seed``, which is built once (migrate, ``seed_demo``, 2,000 more members through
   ``member_register``) and rebuilt with ``--rebuild-seed``. Then: an API key with the purchase, member and
   redemption scopes with a day of its stored answers (20,000 Idempotency-Key records, as a running till leaves them),
   a hot member with 5,000,000 points for redemptions, the demo member logged in (a real
   session cookie for ``/me/``), ``collectstatic`` and ``ANALYZE``.
2. gunicorn started as README's production command says (``DJANGO_ENV=production``, ``CACHE_URL`` on Redis db 7,
   flushed first; the key's throttle raised out of the way) on a free port, stopped at the end.
3. Rounds of wrk phases (``bench/api_load.lua``), each ``--seconds`` long at ``--connections``: purchases
   (three-line baskets, a fresh Idempotency-Key and external id per request), member reads, one hot member's
   redemptions, the dashboard ``/me/``, ``/terms/``, then pgbench running the same-shaped earn by hand (lock the
   account, insert the purchase, 3 lines, entry, lot, update balances) with 4 clients. A short untimed warm-up of
   every phase comes first.

Prints each figure per round, the totals with p50/p99, and the ratios: purchases/pgbench, member reads/pgbench,
/me/ / /terms/. ``uptime`` is printed before and after: other work on the machine moves absolute figures, the
ratios within one run are what compare.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _dataset import _literal, insert_select, setup_django

ROOT = Path(__file__).resolve().parent.parent
LUA = Path(__file__).resolve().parent / "api_load.lua"
PG = "postgres://postgres@127.0.0.1:5432"
SEED_DB = "loyalty_apiload_seed"
RUN_DB = "loyalty_apiload"
CACHE_URL = "redis://127.0.0.1:6379/7"
HOT_EMAIL = "bench-hot@example.com"
SERVER_ENV = {
    "DJANGO_ENV": "production",
    "DEBUG": "false",
    "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "WARNING",
    "CACHE_URL": CACHE_URL,
    # Production refuses to boot without a broker (integrations.checks); no worker consumes it here, so the
    # requests only queue their tasks, as production web nodes do.
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/8",
    "API_KEY_THROTTLE_RATE": "10000000/min",
}
PHASES = ["purchase", "member", "redeem", "me", "terms", "pgbench"]


def build_seed(members: int) -> None:
    """Runs in its own process (``--build-seed``): Django may set up only once per process."""
    os.environ.update(SERVER_ENV)
    setup_django(f"{PG}/{SEED_DB}", recreate=True)
    from django.core.management import call_command
    from django.db import connection

    from members.services import member_register

    started = time.perf_counter()
    call_command("seed_demo", verbosity=0)
    for index in range(members):
        member_register(email=f"bench-load-{index}@example.com", channel="bench")
    member_register(email=HOT_EMAIL, channel="bench")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    connection.close()
    print(f"seed database {SEED_DB}: demo data and {members:,} members in {time.perf_counter() - started:.0f} s")


def seed_exists() -> bool:
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        return bool(conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [SEED_DB]).fetchone())


def prepare_run(workdir: Path) -> dict:
    """The fresh database of this run, an API key, the hot member's points and a session cookie."""
    os.environ.update(SERVER_ENV)
    setup_django(f"{PG}/{RUN_DB}", template=SEED_DB)
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.utils import timezone

    from integrations.services import api_key_create
    from members.demo import DEMO_MEMBER_EMAIL
    from members.models import Member
    from members.services.ledger import points_adjust

    call_command("collectstatic", verbosity=0, interactive=False)
    key, raw_key = api_key_create(name="bench-load", scopes=["purchases:write", "members:read", "redemptions:write"])
    history_of_stored_answers(key.pk)
    hot = Member.objects.get(user__email=HOT_EMAIL)
    points_adjust(member=hot, points=5_000_000, reason="bench", actor=None)
    numbers = list(
        Member.objects.filter(user__email__startswith="bench-load-").order_by("pk").values_list("member_number", "pk")
    )
    ids = [pk for _, pk in numbers]
    if ids != list(range(ids[0], ids[0] + len(ids))):
        sys.exit("The bench members' ids are not contiguous; rebuild the seed (--rebuild-seed).")
    members_file = workdir / "members.txt"
    members_file.write_text("\n".join(number for number, _ in numbers) + "\n")
    client = Client()
    client.force_login(Member.objects.get(user__email=DEMO_MEMBER_EMAIL).user)
    cookie = client.cookies["sessionid"].value
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    connection.close()
    return {
        "key": raw_key,
        "hot": hot.member_number,
        "members_file": str(members_file),
        "id_range": (ids[0], ids[-1]),
        "cookie": f"sessionid={cookie}",
        "when": (timezone.now() - timedelta(hours=1)).isoformat(),
        "pgbench_script": pgbench_script(workdir, ids[0], ids[-1]),
    }


#: Stored answers the till's key left in the last day (the purge keeps 24 hours of them).
STORED_ANSWERS = 20_000


def history_of_stored_answers(api_key_id: int) -> None:
    """A running till's last day of Idempotency-Key records, so the table is not empty when ANALYZE runs.

    Without them the table starts empty and grows by every write of the run. A connection that prepares the
    key's look-up while it is tiny keeps a sequential scan for its life (seen: a third of the purchases of a 30 s
    phase read the whole table), a plan no program that has run for a day would get.
    """
    from integrations.models import IdempotencyRecord

    insert_select(
        IdempotencyRecord,
        {
            "api_key_id": str(int(api_key_id)),
            "key": "'history-' || g",
            "request_hash": "md5(g::text) || md5((g + 1)::text)",
            "state": "'completed'",
            "response_status": "201",
            "response_body": "'{\"history\": true}'::jsonb",
            "created_at": "now() - g * interval '4 seconds'",
            "locked_at": "now() - g * interval '4 seconds'",
            "completed_at": "now() - g * interval '4 seconds'",
        },
        f"FROM generate_series(1, {STORED_ANSWERS}) AS g",
    )


def pgbench_script(workdir: Path, low: int, high: int) -> str:
    """The earn by hand: lock the account, insert the purchase, its 3 lines, the entry and lot, update balances."""
    from members.models import LedgerEntry, PointsLot, Purchase, PurchaseLine

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
            "total": "24.15",
            "eligible_amount": "24.15",
            "points_earned": "24",
            "created_at": "now()",
        },
    )
    line_rows = []
    for number, (sku, category, quantity, price) in enumerate(
        [("COFFEE", "drinks", 2, "3.50"), ("CAKE", "food", 1, "4.25"), ("BEANS", "retail", 1, "12.90")], start=1
    ):
        cols, vals = values(
            PurchaseLine,
            {
                "purchase_id": ":p_id",
                "line_number": str(number),
                "sku": f"'{sku}'",
                "category": f"'{category}'",
                "quantity": str(quantity),
                "unit_price": price,
                "points": "8",
            },
        )
        line_rows.append(f"({vals})")
    l_cols = cols
    e_cols, e_vals = values(
        LedgerEntry,
        {
            "account_id": ":mid",
            "kind": "'earn'",
            "pending_delta": "24",
            "balance_after": "0",
            "idempotency_key": "'pgb-' || :r",
            "purchase_id": ":p_id",
            "created_at": "now()",
        },
    )
    lot_cols, lot_vals = values(
        PointsLot,
        {
            "account_id": ":mid",
            "entry_id": ":e_id",
            "amount": "24",
            "remaining": "24",
            "is_pending": "TRUE",
            "available_at": "now() + interval '14 days'",
            "expires_at": "now() + interval '2 years'",
            "created_at": "now()",
        },
    )
    script = "\n".join(
        [
            f"\\set mid random({low}, {high})",
            "\\set r random(1, 9000000000000000000)",
            "BEGIN;",
            "SELECT balance, pending, owed FROM members_pointsaccount WHERE member_id = :mid FOR UPDATE;",
            f"INSERT INTO members_purchase ({p_cols}) VALUES ({p_vals}) RETURNING id AS p_id \\gset",
            f"INSERT INTO members_purchaseline ({l_cols}) VALUES {', '.join(line_rows)};",
            f"INSERT INTO members_ledgerentry ({e_cols}) VALUES ({e_vals}) RETURNING id AS e_id \\gset",
            f"INSERT INTO members_pointslot ({lot_cols}) VALUES ({lot_vals});",
            "UPDATE members_pointsaccount SET pending = pending + 24, lifetime_earned = lifetime_earned + 24, "
            "updated_at = now() WHERE member_id = :mid;",
            "END;",
            "",
        ]
    )
    path = workdir / "earn.sql"
    path.write_text(script)
    return str(path)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_gunicorn(port: int, args, workdir: Path) -> subprocess.Popen:
    config = workdir / "gunicorn_bench.py"
    config.write_text(
        f"def post_worker_init(worker):\n    open({str(workdir)!r} + '/ready-' + str(worker.pid), 'w').close()\n"
    )
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "loyalty_site.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--timeout",
        "30",
        "--log-level",
        "warning",
        "--config",
        str(config),  # only marks each worker ready (wait_ready)
    ]
    if args.threads > 1:
        command += ["--threads", str(args.threads)]
    if args.worker_class != "sync":
        command += ["--worker-class", args.worker_class]
    env = {**os.environ, **SERVER_ENV, "DATABASE_URL": f"{PG}/{RUN_DB}"}
    print("server:", " ".join(command[1:]))
    return subprocess.Popen(command, cwd=ROOT, env=env)


def start_granian(port: int, args, workdir: Path) -> subprocess.Popen:
    """Granian (a Rust HTTP server calling the WSGI app): keep-alive connections, HTTP parsed outside Python.
    Each worker process runs the app on one blocking thread, as a sync gunicorn worker does."""
    binary = Path(sys.executable).parent / "granian"
    if not binary.exists():
        sys.exit("--server granian: granian is not installed in this environment (it is not in the lock file)")
    command = [
        str(binary),
        "--interface",
        "wsgi",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(args.workers),
        "--blocking-threads",
        str(args.threads),
        "--runtime-mode",
        "st",
        "--no-ws",
        "--log-level",
        "warning",
        "loyalty_site.wsgi:application",
    ]
    env = {**os.environ, **SERVER_ENV, "DATABASE_URL": f"{PG}/{RUN_DB}"}
    print("server:", " ".join(command[1:]))
    return subprocess.Popen(command, cwd=ROOT, env=env)


def wait_ready(workdir: Path, workers: int) -> None:
    """Until every worker has loaded the app: gunicorn opens the port first, and on a loaded machine each worker
    takes seconds to import Django (``post_worker_init`` in the bench's gunicorn config marks each)."""
    deadline = time.monotonic() + 120
    while len(list(workdir.glob("ready-*"))) < workers:
        if time.monotonic() > deadline:
            sys.exit("gunicorn's workers did not start")
        time.sleep(0.2)


def wait_answering(port: int) -> None:
    """Granian has no worker hook: until /terms/ answers, then a moment for the other workers' imports."""
    import urllib.request

    deadline = time.monotonic() + 120
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/terms/", timeout=5) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit("the server did not start")
        time.sleep(0.5)
    time.sleep(3)


def wrk(port: int, phase: str, seconds: float, connections: int, data: dict, run: str) -> dict:
    env = {
        **os.environ,
        "BENCH_RUN": run,
        "BENCH_KEY": data["key"],
        "BENCH_MEMBERS": data["members_file"],
        "BENCH_HOT": data["hot"],
        "BENCH_WHEN": data["when"],
        "BENCH_COOKIE": data["cookie"],
    }
    env["BENCH_MODE"] = {"me": "get", "terms": "get"}.get(phase, phase)
    env["BENCH_PATH"] = {"me": "/me/", "terms": "/terms/"}.get(phase, "")
    output = subprocess.run(
        [
            "wrk",
            f"-t{min(2, connections)}",
            f"-c{connections}",
            f"-d{seconds:g}s",
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            f"http://127.0.0.1:{port}",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"^RESULT (.*)$", output, re.M)
    result = json.loads(match.group(1))
    result["rps"] = result["requests"] / result["seconds"]
    return result


def pgbench(script: str, seconds: float) -> dict:
    output = subprocess.run(
        ["pgbench", "-n", "-c", "4", "-j", "2", "-T", str(int(seconds)), "-f", script, f"{PG}/{RUN_DB}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    tps = float(re.search(r"tps = ([\d.]+)", output).group(1))
    latency = re.search(r"latency average = ([\d.]+) ms", output)
    return {"rps": tps, "p50": float(latency.group(1)) if latency else 0.0, "p99": 0.0, "statuses": {}}


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    # README's production command: sync workers, one more than the cores (measured against gthread, bench/README).
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--server", choices=["gunicorn", "granian"], default="gunicorn")
    parser.add_argument("--members", type=int, default=2000)
    parser.add_argument("--rebuild-seed", action="store_true")
    parser.add_argument("--build-seed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--only", default=",".join(PHASES), help="comma-separated phases")
    args = parser.parse_args()
    if args.build_seed:
        build_seed(args.members)
        return
    for tool in ("wrk", "pgbench", "redis-cli"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is needed")
    if args.rebuild_seed or not seed_exists():
        subprocess.run([sys.executable, __file__, "--build-seed", "--members", str(args.members)], check=True)
    phases = [phase for phase in args.only.split(",") if phase]
    subprocess.run(["redis-cli", "-n", "7", "flushdb"], check=True, capture_output=True)
    workdir = Path(tempfile.mkdtemp(prefix="api_load_"))
    data = prepare_run(workdir)
    port = free_port()
    print("load before:", uptime())
    server = (start_granian if args.server == "granian" else start_gunicorn)(port, args, workdir)
    results: dict[str, list[dict]] = {phase: [] for phase in phases}
    run = uuid.uuid4().hex[:8]
    try:
        if args.server == "granian":
            wait_answering(port)
        else:
            wait_ready(workdir, args.workers)
        for phase in phases:  # warm-up, untimed: connections, caches, compiled queries in every worker
            if phase != "pgbench":
                wrk(port, phase, 3, args.connections, data, f"{run}w")
        for number in range(1, args.rounds + 1):
            for phase in phases:
                if phase == "pgbench":
                    result = pgbench(data["pgbench_script"], args.seconds)
                else:
                    result = wrk(port, phase, args.seconds, args.connections, data, f"{run}r{number}")
                results[phase].append(result)
                print(
                    f"round {number} {phase:9} {result['rps']:8.1f}/s  p50 {result['p50']:7.1f} ms  "
                    f"p99 {result['p99']:7.1f} ms  {result['statuses']}",
                    flush=True,
                )
    finally:
        server.terminate()
        server.wait(15)
        shutil.rmtree(workdir, ignore_errors=True)
    print("load after: ", uptime())
    print(
        f"{args.server} {args.workers} workers × {args.threads} threads ({args.worker_class}), wrk {args.connections} "
        f"connections, {args.rounds} rounds × {args.seconds:g} s per phase, {args.members:,} members"
    )
    total = {}
    for phase, rounds in results.items():
        rps = sum(r["rps"] for r in rounds) / len(rounds)
        p50 = max(r["p50"] for r in rounds)
        p99 = max(r["p99"] for r in rounds)
        total[phase] = rps
        label = {"pgbench": "pgbench earn, 4 clients (latency avg)"}.get(phase, phase)
        print(f"{label:38} {rps:8.1f}/s  p50 ≤ {p50:6.1f} ms  p99 ≤ {p99:6.1f} ms")
    if "pgbench" in total:
        for phase in ("purchase", "member", "redeem"):
            if phase in total:
                print(f"{phase} / pgbench: {total[phase] / total['pgbench']:.3f}")
    if "me" in total and "terms" in total:
        print(f"/me/ / /terms/: {total['me'] / total['terms']:.2f}")


if __name__ == "__main__":
    main()
