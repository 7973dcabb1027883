"""Fixtures of the fault-injection suite: the private cluster, real Celery workers that can be killed, a client
of the broker. Everything here runs only under ``make test-faults`` (tests/faults/run.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery
from django.db import connection

from tests.faults.cluster import PrivateCluster

ROOT = Path(__file__).resolve().parents[2]
BROKER = os.environ.get("TEST_CELERY_BROKER_URL", "")


@pytest.fixture(scope="session")
def cluster() -> PrivateCluster:
    found = PrivateCluster.from_environment()
    if found is None:
        pytest.fail("The fault suite runs through `make test-faults` (tests/faults/run.py), on its own cluster.")
    return found


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    """Uploaded import files, shared with the workers (MEDIA_ROOT in their environment)."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def database_url(cluster, transactional_db) -> str:
    """The test database, as the suite's subprocesses (workers, gunicorn) reach it."""
    return cluster.url(connection.settings_dict["NAME"])


@pytest.fixture
def broker():
    """A client of the test broker, with the broker's database emptied before and after (no stale messages)."""
    import redis

    if not BROKER:
        pytest.fail("TEST_CELERY_BROKER_URL is needed")
    redis.Redis.from_url(BROKER).flushdb()
    client = Celery("faults-client", broker=BROKER, backend=BROKER)
    yield client
    client.close()
    redis.Redis.from_url(BROKER).flushdb()


class Worker:
    """A real ``celery worker`` process (solo pool: the task runs in this very process, so SIGKILL stops it
    mid-task exactly as ``kill -9`` of a production worker would)."""

    def __init__(self, *, queues: str, env: dict[str, str], log: Path):
        self.log = log
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "loyalty_site",
                "worker",
                "--pool=solo",
                "-Q",
                queues,
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"faults-{uuid.uuid4().hex[:8]}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def start_worker(database_url, broker, tmp_path, settings):
    """``start_worker(queues, **env)`` → a running worker on the test database and broker; all stopped at the end."""
    started: list[Worker] = []

    def start(queues: str, **extra: str) -> Worker:
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "CELERY_BROKER_URL": BROKER,
            "CELERY_RESULT_BACKEND": BROKER,
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "LOG_LEVEL": "WARNING",
            **extra,
        }
        worker = Worker(queues=queues, env=env, log=tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


def wait_for(predicate, *, timeout: float, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


#: A worker started after another was killed: it finds the killed worker's unacknowledged message at once (a
#: short visibility timeout, and a restore sweep every second), as a production worker does once the (long)
#: visibility timeout has passed.
REDELIVERING = {
    "CELERY_VISIBILITY_TIMEOUT": "2",
    "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    "CELERY_UNACKED_RESTORE_THROTTLE": "1",
}
