import os
import subprocess
import sys
from pathlib import Path

import pytest
from celery import Celery

from loyalty_site.celery import app, ping

ROOT = Path(__file__).resolve().parents[2]
BROKER = os.environ.get("TEST_CELERY_BROKER_URL", "")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def test_task_runs_eagerly_without_a_broker(settings):
    assert settings.CELERY_TASK_ALWAYS_EAGER
    assert ping.delay().get(timeout=5) == "pong"


def test_tasks_that_must_not_be_lost_are_acked_late():
    assert app.conf.task_acks_late is True
    assert app.conf.task_reject_on_worker_lost is True


@pytest.mark.celery_worker
def test_task_runs_through_a_real_worker_on_redis():
    if not BROKER:
        if IN_CI:
            pytest.fail("CI must set TEST_CELERY_BROKER_URL so the real-worker test runs.")
        pytest.skip("set TEST_CELERY_BROKER_URL=redis://127.0.0.1:6379/15 to run against a real worker")
    env = {**os.environ, "CELERY_BROKER_URL": BROKER, "CELERY_RESULT_BACKEND": BROKER}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "loyalty_site",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "-n",
            f"test-{os.getpid()}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    # A client app of its own sends to the broker, so the eager settings of the app under test stay untouched.
    client = Celery("test-client", broker=BROKER, backend=BROKER)
    try:
        result = client.send_task("loyalty_site.ping")
        assert result.get(timeout=60) == "pong"
    finally:
        client.close()
        worker.terminate()
        worker.wait(timeout=30)
