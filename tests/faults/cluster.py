"""A private PostgreSQL cluster for the fault-injection suite, so that stopping "the database" never touches the
machine's shared server: ``initdb`` into a temporary directory, ``pg_ctl`` on a free port of 127.0.0.1.

PostgreSQL refuses to run as root: as root, the cluster belongs to (and runs as) the ``postgres`` system user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

PG_BIN = Path(os.environ.get("FAULTS_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PrivateCluster:
    def __init__(self, root: Path, port: int, user: str | None):
        self.root, self.port, self.user = root, port, user
        self.data = root / "data"
        self.log = root / "postgres.log"

    # --- lifecycle ---------------------------------------------------------------------------------------------

    @classmethod
    def create(cls) -> PrivateCluster:
        root = Path(tempfile.mkdtemp(prefix="loyalty-faults-pg-"))
        user = "postgres" if os.geteuid() == 0 else None
        if user:
            entry = pwd.getpwnam(user)
            os.chown(root, entry.pw_uid, entry.pw_gid)
        cluster = cls(root, free_port(), user)
        cluster._pg("initdb", "-D", str(cluster.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        return cluster

    @classmethod
    def from_environment(cls) -> PrivateCluster | None:
        """The cluster ``tests/faults/run.py`` started, as the tests see it (None outside that runner)."""
        root = os.environ.get("FAULTS_PG_ROOT")
        if not root:
            return None
        return cls(Path(root), int(os.environ["FAULTS_PG_PORT"]), os.environ.get("FAULTS_PG_USER") or None)

    def environment(self) -> dict[str, str]:
        return {"FAULTS_PG_ROOT": str(self.root), "FAULTS_PG_PORT": str(self.port), "FAULTS_PG_USER": self.user or ""}

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        # fsync off: a test cluster's durability is not what is under test, and the machine's disk is shared.
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off -c max_connections=60"
        self._pg("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        """``immediate`` is a crash as far as clients are concerned: every connection drops at once."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def is_ready(self) -> bool:
        probe = subprocess.run([str(PG_BIN / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)], check=False)
        return probe.returncode == 0

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.is_ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the private cluster did not come up; see {self.log}")
            time.sleep(0.1)

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # ---------------------------------------------------------------------------------------------------------

    def _pg(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [str(PG_BIN / program), *args]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        return subprocess.run(command, check=check, capture_output=True, text=True, cwd=self.root)
