"""Python time per request on the till's path, in one process, without HTTP or load (issue 14).

    .venv/bin/python bench/api_profile.py [--requests 500] [--only purchase,member,redeem,me,terms] [--profile N]

Runs on the database ``bench/api_load.py`` leaves behind (``loyalty_apiload``; run that once first), with the same
production settings and Redis cache. Each request goes through Django's WSGI handler, as gunicorn calls it, with
the same bodies and headers as the wrk script. Prints milliseconds per request and SQL statements per request for
each phase; ``--profile N`` prints the N functions with the most cumulative and own time per phase (cProfile).
CPU time, not wall time, is the figure to compare: it is what two cores share under load.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_load import CACHE_URL, HOT_EMAIL, PG, RUN_DB, SERVER_ENV  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--only", default="purchase,member,redeem,me,terms")
    parser.add_argument("--profile", type=int, default=0)
    parser.add_argument("--sql", action="store_true", help="print each phase's statements")
    args = parser.parse_args()
    os.environ.update(SERVER_ENV)
    os.environ["DATABASE_URL"] = f"{PG}/{RUN_DB}"
    os.environ["CACHE_URL"] = CACHE_URL
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "loyalty_site.settings")
    import django

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.signals import request_started
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from integrations.services import api_key_create
    from members.demo import DEMO_MEMBER_EMAIL
    from members.models import Member

    _, raw_key = api_key_create(
        name=f"profile-{uuid.uuid4().hex[:6]}", scopes=["purchases:write", "members:read", "redemptions:write"]
    )
    numbers = list(
        Member.objects.filter(user__email__startswith="bench-load-").values_list("member_number", flat=True)[:500]
    )
    hot = Member.objects.get(user__email=HOT_EMAIL).member_number
    client = Client()
    client.force_login(Member.objects.get(user__email=DEMO_MEMBER_EMAIL).user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    handler = WSGIHandler()
    import redis

    redis_calls = []
    execute_command = redis.Redis.execute_command

    def counted(self, *args, **options):
        redis_calls.append(" ".join(str(a) for a in args[:2]))
        return execute_command(self, *args, **options)

    redis.Redis.execute_command = counted
    # Django empties the statement log as each request starts; the counts below need it kept.
    request_started.disconnect(reset_queries)
    run = uuid.uuid4().hex[:8]
    when = (timezone.now() - timedelta(hours=1)).isoformat()  # as bench/api_load.py sends: campaigns apply
    counter = iter(range(10**9))

    def environ(method, path, body=b"", headers=None):
        env = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": "127.0.0.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "CONTENT_LENGTH": str(len(body)),
            "CONTENT_TYPE": "application/json",
        }
        for name, value in (headers or {}).items():
            env["HTTP_" + name.upper().replace("-", "_")] = value
        return env

    def request_for(phase):
        n = next(counter)
        auth = {"Authorization": f"Api-Key {raw_key}"}
        if phase == "purchase":
            body = {
                "member": numbers[n % len(numbers)],
                "external_id": f"prof-{run}-{n}",
                "occurred_at": when,
                "channel": "in_store",
                "currency": "EUR",
                "lines": [
                    {"sku": "COFFEE", "category": "drinks", "quantity": 2, "unit_price": "3.50"},
                    {"sku": "CAKE", "category": "food", "quantity": 1, "unit_price": "4.25"},
                    {"sku": "BEANS", "category": "retail", "quantity": 1, "unit_price": "12.90"},
                ],
            }
            return environ(
                "POST", "/api/v1/purchases/", json.dumps(body).encode(), {**auth, "Idempotency-Key": f"p-{run}-{n}"}
            )
        if phase == "member":
            return environ("GET", f"/api/v1/members/{numbers[n % len(numbers)]}/", headers=auth)
        if phase == "redeem":
            body = json.dumps({"reward": "free-flat-white", "quantity": 1}).encode()
            return environ(
                "POST", f"/api/v1/members/{hot}/redemptions/", body, {**auth, "Idempotency-Key": f"r-{run}-{n}"}
            )
        return environ("GET", {"me": "/me/", "terms": "/terms/"}[phase], headers={"Cookie": cookie})

    def serve(phase):
        statuses = []
        response = handler(request_for(phase), lambda status, headers: statuses.append(status))
        b"".join(response)
        response.close()
        if not statuses[0].startswith("20"):
            sys.exit(f"{phase}: {statuses[0]}")

    for phase in [p for p in args.only.split(",") if p]:
        for _ in range(30):  # warm: connections, caches, compiled regexes
            serve(phase)
        redis_calls.clear()
        with CaptureQueriesContext(connection) as queries:
            serve(phase)
        statements, redis_per_request = len(queries), list(redis_calls)
        if args.sql:
            for query in queries:
                print("   ", " ".join(query["sql"].split()) if os.environ.get("BENCH_SQL_FULL") else query["sql"][:160])
        cpu, wall = time.process_time(), time.perf_counter()
        profile = cProfile.Profile() if args.profile else None
        if profile:
            profile.enable()
        for _ in range(args.requests):
            serve(phase)
        if profile:
            profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        prepared = ""
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:  # this session's, so far: every phase run before adds its own
                cursor.execute("SELECT count(*) FROM pg_prepared_statements")
                prepared = f"  {cursor.fetchone()[0]} prepared so far"
        print(
            f"{phase:9} {cpu / args.requests * 1000:6.2f} ms CPU  {wall / args.requests * 1000:6.2f} ms wall  "
            f"{statements} statements  {len(redis_per_request)} Redis calls {redis_per_request}{prepared}",
            flush=True,
        )
        if profile:
            for order in ("cumulative", "tottime"):
                out = io.StringIO()
                pstats.Stats(profile, stream=out).sort_stats(order).print_stats(args.profile)
                print(out.getvalue())


if __name__ == "__main__":
    main()
