"""Two web nodes and two Celery workers on this machine, one PostgreSQL and one Redis: nothing lost, nothing twice.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/loyalty_two_nodes .venv/bin/python bench/two_nodes.py \
        [--purchases 2000] [--concurrency 8] [--members 200] [--workers 2] [--threads 4] [--max-seconds 600]

Migrates the database, enrols members, creates an API key and one member login, then starts, on free ports of
127.0.0.1 only, two gunicorn nodes and two Celery workers (every queue) sharing the database, the cache (Redis,
``BENCH_CACHE_URL``, default db 9) and the broker (``BENCH_BROKER_URL``, default db 10). It then

- posts ``--purchases`` purchases spread over both nodes (even indexes to A, odd to B), each tenth one retried
  with the same ``Idempotency-Key`` on the other node, and checks that every acknowledged external id is stored
  exactly once, with exactly one EARN entry, and that ``verify_ledger`` is clean;
- checks that the throttle counts the requests of both nodes under one key (its history in the shared cache);
- logs a member in on node A and opens their dashboard on node B with that session cookie;
- pings both workers through the broker;
- prints purchases/s, latency, and CPU-ms per purchase of the gunicorn workers and of the database's backends
  (``/proc``: user + system time before and after the load).

Everything stops by itself (``--max-seconds``, then the finally block terminates what it started).
"""

import argparse
import contextlib
import os
import random
import signal
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
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PASSWORD = "bench-two-nodes-" + uuid.uuid4().hex


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(FileNotFoundError):
            found += [int(child) for child in (task / "children").read_text().split()]
    return found


def backend_pids(database: str) -> list[int]:
    """PostgreSQL backends serving ``database`` (their title: ``postgres: … user database host(port) …``)."""
    pids = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, PermissionError, ProcessLookupError):
            continue
        if cmdline.startswith("postgres:") and f" {database} " in cmdline:
            pids.append(int(proc.name))
    return pids


def setup_data(members: int) -> tuple[list[str], str, int, str]:
    import django

    django.setup()
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)
    from allauth.account.models import EmailAddress

    from integrations.models import APIKey
    from integrations.services import api_key_create
    from members.models import Member
    from members.services import member_register
    from members.services.enrollment import MemberAlreadyExists

    numbers = []
    for index in range(members):
        email = f"bench-2n-{index}@example.com"
        existing = Member.objects.filter(user__email=email).values_list("member_number", flat=True).first()
        if existing:
            numbers.append(existing)
            continue
        try:
            numbers.append(member_register(email=email, channel="bench").member_number)
        except MemberAlreadyExists as exc:
            numbers.append(exc.member.member_number)
    login = Member.objects.select_related("user").get(member_number=numbers[0]).user
    login.set_password(PASSWORD)
    login.save(update_fields=["password"])
    EmailAddress.objects.update_or_create(user=login, email=login.email, defaults={"verified": True, "primary": True})
    APIKey.objects.filter(name="bench-2n").update(revoked_at=django.utils.timezone.now())
    api_key, raw_key = api_key_create(name="bench-2n", scopes=["purchases:write", "members:read"])
    from django.db import connection

    connection.close()
    return numbers, raw_key, api_key.pk, login.email


def wait_for(url: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not come up")


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else 0.0


def login_on_a_use_on_b(base_a: str, base_b: str, email: str) -> bool:
    """Cookies are sent by hand: with DEBUG off they are ``Secure``, and these nodes speak plain HTTP."""
    with httpx.Client(base_url=base_a, timeout=10) as node_a:
        node_a.get("/accounts/login/")
        token = node_a.cookies.get("csrftoken")
        response = node_a.post(
            "/accounts/login/",
            data={"login": email, "password": PASSWORD, "csrfmiddlewaretoken": token},
            headers={"Cookie": f"csrftoken={token}"},
        )
        session = response.cookies.get("sessionid") or node_a.cookies.get("sessionid")
    if not session:
        return False
    with httpx.Client(base_url=base_b, timeout=10) as node_b:
        dashboard = node_b.get("/me/", headers={"Cookie": f"sessionid={session}"})
    return dashboard.status_code == 200 and email in dashboard.text


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--purchases", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--members", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per node")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    parser.add_argument("--max-seconds", type=int, default=600)
    args = parser.parse_args()
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database of your own.")
    database = database_url.rsplit("/", 1)[1].split("?")[0]
    deadline = time.monotonic() + args.max_seconds

    def on_alarm(*_):
        raise TimeoutError(f"two_nodes: stopped after {args.max_seconds} s")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(args.max_seconds)

    shared = {
        "DJANGO_SETTINGS_MODULE": "loyalty_site.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "CACHE_URL": os.environ.get("BENCH_CACHE_URL", "redis://127.0.0.1:6379/9"),
        "CELERY_BROKER_URL": os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/10"),
        "API_KEY_THROTTLE_RATE": "1000000/min",
        "ACCOUNT_EMAIL_VERIFICATION": "optional",
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(shared)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True)
    numbers, raw_key, api_key_id, login_email = setup_data(args.members)
    from django.core.cache import cache

    cache.clear()  # the bench's own cache database: throttle histories and sessions of earlier runs
    env = {**os.environ, **shared}
    bin_dir = Path(sys.executable).parent
    ports = [free_port(), free_port()]
    started: list[subprocess.Popen] = []
    try:
        for port in ports:
            command = [str(bin_dir / "gunicorn"), "loyalty_site.wsgi", "--bind", f"127.0.0.1:{port}"]
            command += ["--workers", str(args.workers), "--threads", str(args.threads), "--log-level", "warning"]
            started.append(subprocess.Popen([*command, "--keep-alive", "75"], cwd=ROOT, env=env))
        for index in (1, 2):
            command = [
                str(bin_dir / "celery"),
                "-A",
                "loyalty_site",
                "worker",
                "-Q",
                "celery,webhooks,emails,batch,imports",
            ]
            command += ["-c", "1", "-n", f"bench2n{index}@%h", "--loglevel", "WARNING", "--without-heartbeat"]
            started.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL))
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for base in bases:
            wait_for(f"{base}/health/live", deadline)

        run_id = uuid.uuid4().hex[:8]
        rng = random.Random(7)
        members = [rng.choice(numbers) for _ in range(args.purchases)]
        headers = {"Authorization": f"Api-Key {raw_key}"}
        clients = [[httpx.Client(base_url=base, headers=headers, timeout=30) for base in bases] for _ in range(16)]

        def body(index: int) -> dict:
            return {
                "member": members[index],
                "external_id": f"2n-{run_id}-{index}",
                "occurred_at": "2026-01-15T10:00:00+01:00",
                "channel": "in_store",
                "currency": "EUR",
                "lines": [
                    {"sku": "COFFEE", "category": "drinks", "quantity": 2, "unit_price": "3.50"},
                    {"sku": "CAKE", "category": "food", "quantity": 1, "unit_price": "4.25"},
                ],
            }

        def one(index: int):
            pair = clients[index % len(clients)]
            node = index % 2
            sent.append(time.time())
            begin = time.perf_counter()
            response = pair[node].post(
                "/api/v1/purchases/", json=body(index), headers={"Idempotency-Key": f"{run_id}-{index}"}
            )
            latency = time.perf_counter() - begin
            retry = None
            if index % 10 == 0:  # the till did not hear back: the same request again, through the other node
                sent.append(time.time())
                retry = (
                    pair[1 - node]
                    .post("/api/v1/purchases/", json=body(index), headers={"Idempotency-Key": f"{run_id}-{index}"})
                    .status_code
                )
            return index, response.status_code, latency, retry

        sent: list[float] = []  # when each throttled request was sent (list.append is thread-safe)

        # Warm up: connections, caches, both nodes' workers.
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            list(pool.map(lambda i: clients[i % 16][i % 2].get(f"/api/v1/members/{numbers[0]}/"), range(40)))

        gunicorn_pids = [pid for proc in started[:2] for pid in children(proc.pid)]
        web_before = sum(cpu_seconds(pid) for pid in gunicorn_pids)
        db_before = {pid: cpu_seconds(pid) for pid in backend_pids(database)}
        load_started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=args.concurrency) as pool:
            results = list(pool.map(one, range(args.purchases)))
        elapsed = time.perf_counter() - load_started
        web_cpu = sum(cpu_seconds(pid) for pid in gunicorn_pids) - web_before
        db_cpu = sum(cpu_seconds(pid) - db_before.get(pid, 0.0) for pid in backend_pids(database))
        for pair in clients:
            for client in pair:
                client.close()

        acknowledged = {f"2n-{run_id}-{index}" for index, status, _l, _r in results if status in (200, 201)}
        statuses: dict[int, int] = {}
        for _index, status, _l, _retry in results:
            statuses[status] = statuses.get(status, 0) + 1
        retries = [retry for *_rest, retry in results if retry is not None]
        latencies = [latency for _i, _s, latency, _r in results]

        from django.core.management import call_command
        from django.db.models import Count

        from integrations.api.throttling import APIKeyRateThrottle
        from members.models import LedgerEntry, Purchase

        stored = dict(
            Purchase.objects.filter(external_id__startswith=f"2n-{run_id}-")
            .values_list("external_id")
            .annotate(n=Count("id"))
            .values_list("external_id", "n")
        )
        earns = dict(
            LedgerEntry.objects.filter(kind="earn", purchase__external_id__startswith=f"2n-{run_id}-")
            .values_list("purchase__external_id")
            .annotate(n=Count("id"))
            .values_list("purchase__external_id", "n")
        )
        lost = sorted(acknowledged - set(stored))
        doubled = sorted(external_id for external_id, n in stored.items() if n != 1)
        earn_wrong = sorted(external_id for external_id in stored if earns.get(external_id) != 1)
        call_command("verify_ledger")
        throttle = APIKeyRateThrottle()
        history = cache.get(throttle.cache_format % {"scope": throttle.scope, "ident": f"key-{api_key_id}"}) or []
        # DRF's throttle keeps the requests of the last minute: compare with what was sent in that minute.
        window_start = max(sent) - 60
        requests_made = sum(1 for at in sent if at >= window_start + 1)
        session_shared = login_on_a_use_on_b(bases[0], bases[1], login_email)
        from loyalty_site.celery import app

        replies = app.control.ping(timeout=3) or []
        workers_up = sorted(name for reply in replies for name in reply if name.startswith("bench2n"))
    finally:
        signal.alarm(0)
        for proc in started:
            proc.terminate()
        for proc in started:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()

    ok = not lost and not doubled and not earn_wrong and session_shared and len(workers_up) == 2
    # A per-node counter would hold at most about half of the requests (the other half went to the other node).
    # The shared one holds most of them, not all: DRF's throttle reads the history, appends and writes it back,
    # so two concurrent requests of one key can overwrite each other's entry (on one node as across two).
    ok = ok and len(history) > 0.6 * requests_made and len(acknowledged) == args.purchases
    print(
        f"2 nodes × gunicorn {args.workers} workers × {args.threads} threads, 2 Celery workers, "
        f"{args.concurrency} concurrent clients, {args.purchases} purchases (+{len(retries)} retries on the other node)"
    )
    print(
        f"purchases/s: {args.purchases / elapsed:.1f}  p50 {percentile(latencies, 0.5) * 1000:.1f} ms  "
        f"p95 {percentile(latencies, 0.95) * 1000:.1f} ms  statuses {statuses}  retries {sorted(set(retries))}"
    )
    print(
        f"acknowledged {len(acknowledged)}, stored {len(stored)}, lost {len(lost)}, stored twice {len(doubled)}, "
        f"purchases without exactly one EARN entry {len(earn_wrong)}"
    )
    print(
        f"throttle history under one key: {len(history)} entries; requests sent through both nodes in its minute: "
        f"{requests_made}"
    )
    print(f"session made on node A valid on node B: {session_shared}; workers answering: {workers_up}")
    print(
        f"CPU per purchase: web {web_cpu / args.purchases * 1000:.2f} ms (gunicorn workers), "
        f"database {db_cpu / args.purchases * 1000:.2f} ms (backends of {database})"
    )
    print("OK" if ok else "PROBLEMS FOUND")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
