"""``make test-faults``: start a private PostgreSQL cluster, run the tests marked ``faults`` against it, remove it.

The tests kill Celery workers with SIGKILL and stop this cluster mid-stream; the machine's shared PostgreSQL
server is never touched. Extra arguments go to pytest. Needs TEST_CELERY_BROKER_URL (a Redis database the suite
may purge).
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.faults.cluster import PrivateCluster  # noqa: E402  (after the checkout is on the path)


def main(argv: list[str]) -> int:
    if not os.environ.get("TEST_CELERY_BROKER_URL"):
        print("test-faults needs TEST_CELERY_BROKER_URL, e.g. redis://127.0.0.1:6379/15", file=sys.stderr)
        return 2
    cluster = PrivateCluster.create()
    try:
        cluster.start()
        cluster.wait_ready()
        env = {
            **os.environ,
            **cluster.environment(),
            "DATABASE_URL": cluster.url("loyalty_faults"),
            "LOYALTY_FAULTS": "1",
        }
        env.pop("DATABASE_POOLER", None)
        command = [sys.executable, "-m", "pytest", "tests/faults", "-m", "faults", "-p", "no:cacheprovider", *argv]
        return subprocess.call(command, cwd=ROOT, env=env)
    finally:
        cluster.destroy()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
