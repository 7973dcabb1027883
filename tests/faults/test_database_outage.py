"""PostgreSQL stopped (as a crash: ``pg_ctl stop -m immediate``) during a stream of purchases sent to a
production-like server (gunicorn, DJANGO_ENV=production), then started again. Every purchase the server
acknowledged is recorded exactly once, the outage answers 503 with ``Retry-After`` (never a 500), a client that
retries with the same Idempotency-Key gets every purchase in, and the server recovers without a restart."""

import os
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
import pytest
from django.db import connection

from integrations.services import api_key_create
from members.models import LedgerEntry, Purchase
from tests.factories import MemberFactory
from tests.faults.cluster import free_port
from tests.faults.conftest import BROKER, ROOT, wait_for

pytestmark = [pytest.mark.faults, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

CLIENTS = 3
PURCHASES_PER_CLIENT = 40
OUTAGE_SECONDS = 3


@pytest.fixture
def server(database_url, broker, tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_ENV": "production",
        "SECRET_KEY": "faults-" + "x" * 50,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": BROKER,
        "CELERY_RESULT_BACKEND": BROKER,
        "LOG_LEVEL": "WARNING",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    log = tmp_path / "gunicorn.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "loyalty_site.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            str(CLIENTS + 1),
            "--worker-class",
            "gthread",
            "--timeout",
            "60",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"

    def up():
        try:
            return httpx.get(f"{base}/health/live", timeout=1).status_code < 500
        except httpx.HTTPError:
            return process.poll() is not None  # died: stop waiting, the assertion below says so

    wait_for(up, timeout=60, interval=0.2, what="gunicorn")
    assert process.poll() is None, log.read_text()
    yield base, process, log
    process.terminate()
    process.wait(timeout=30)


def _body(member, external_id):
    return {
        "member": member.member_number,
        "external_id": external_id,
        "occurred_at": "2026-01-15T10:00:00+01:00",
        "channel": "in_store",
        "currency": "EUR",
        "lines": [{"sku": "COFFEE", "quantity": 2, "unit_price": "3.50"}],
    }


def test_purchases_during_a_database_outage_are_recorded_exactly_once(cluster, server):
    base, process, _log = server
    member = MemberFactory()
    _key, raw_key = api_key_create(name="Till", scopes=["purchases:write"])
    headers = {"Authorization": f"Api-Key {raw_key}"}

    acknowledged: dict[str, dict] = {}
    statuses: Counter = Counter()
    unexpected: list[str] = []
    lock = threading.Lock()
    outage = {"began": None, "ended": None}

    def till(number: int):
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            for index in range(PURCHASES_PER_CLIENT):
                external_id = f"F-{number}-{index}"
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline:
                    try:
                        response = http.post(
                            "/api/v1/purchases/",
                            json=_body(member, external_id),
                            headers={"Idempotency-Key": f"key-{external_id}"},
                        )
                    except httpx.TransportError as error:
                        with lock:
                            statuses[type(error).__name__] += 1
                        time.sleep(0.2)
                        continue
                    with lock:
                        statuses[response.status_code] += 1
                    if response.status_code == 201:
                        with lock:
                            acknowledged[external_id] = response.json()
                        break
                    if response.status_code == 503 and "Retry-After" in response.headers:
                        assert response.json()["error"]["code"] == "service_unavailable"
                        time.sleep(0.2)  # shorter than Retry-After: the test hurries the retries along
                        continue
                    with lock:
                        unexpected.append(f"{response.status_code} {response.text[:300]}")
                    return

    tills = [threading.Thread(target=till, args=(number,)) for number in range(CLIENTS)]
    for thread in tills:
        thread.start()
    wait_for(lambda: len(acknowledged) >= CLIENTS * PURCHASES_PER_CLIENT // 4, timeout=120, what="purchases")
    outage["began"] = len(acknowledged)
    cluster.stop("immediate")
    time.sleep(OUTAGE_SECONDS)
    cluster.start()
    cluster.wait_ready()
    outage["ended"] = len(acknowledged)
    for thread in tills:
        thread.join(timeout=180)

    assert not unexpected, unexpected
    assert statuses[503] > 0, statuses  # the outage was felt, and answered as the API promises
    assert statuses[500] == 0, statuses
    assert process.poll() is None, "the server died"
    expected = {f"F-{number}-{index}" for number in range(CLIENTS) for index in range(PURCHASES_PER_CLIENT)}
    assert set(acknowledged) == expected, f"not every purchase got in: {statuses}"

    connection.close()  # this process's connection died with the server too
    stored = list(Purchase.objects.filter(member=member).values_list("external_id", flat=True))
    assert sorted(stored) == sorted(expected)  # each exactly once
    for external_id, body in acknowledged.items():
        assert body["external_id"] == external_id
    assert LedgerEntry.objects.filter(account__member=member, kind=LedgerEntry.Kind.EARN).count() == len(expected)
    member.account.refresh_from_db()
    assert member.account.balance == sum(
        LedgerEntry.objects.filter(account__member=member).values_list("points", flat=True)
    )
