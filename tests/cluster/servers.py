"""Real PostgreSQL + pgvector and Mosquitto servers for the scale-out tests, on 127.0.0.1.

PostgreSQL 16 with pgvector comes from the `pgserver` wheel (the dev group): its bundled
`initdb`, `pg_ctl` and `postgres` are run here directly, so that the server listens on a
free TCP port of 127.0.0.1 (pgserver's own wrapper only opens a Unix socket) and can be
stopped and started again mid-test. PostgreSQL refuses to run as root: as root, the server
runs as the system user `pgserver` (created when missing, as pgserver itself does).
Mosquitto is Debian's broker (`scripts/install-system-deps.sh cluster`), with a throw-away
config that listens on 127.0.0.1 only.

    with PostgresServer() as pg, MosquittoBroker() as broker:
        pg.url        # postgresql://postgres@127.0.0.1:PORT/postgres
        broker.url    # mqtt://127.0.0.1:PORT
        broker.stop(); broker.start()   # a broker restart, same port
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

MOSQUITTO = Path("/usr/sbin/mosquitto")
PG_USER = "pgserver"
START_TIMEOUT_S = 30.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout_s:.0f} s")


def postgres_unavailable() -> str | None:
    """Why the PostgreSQL test server cannot run here, or None when it can."""
    try:
        import pgserver._commands  # noqa: F401
    except ImportError:
        return "the pgserver package is not installed (uv sync installs the dev group)"
    return None


def mosquitto_unavailable() -> str | None:
    if not MOSQUITTO.exists():
        return f"{MOSQUITTO} not found (scripts/install-system-deps.sh cluster)"
    return None


class PostgresServer:
    """A fresh PostgreSQL cluster in a temp folder, on a free port of 127.0.0.1."""

    def __init__(self) -> None:
        from pgserver._commands import POSTGRES_BIN_PATH

        self.bin = Path(POSTGRES_BIN_PATH)
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="tracker-pg-"))
        self.pgdata = self.root / "data"
        self._as_user: str | None = None
        if os.geteuid() == 0:
            self._prepare_for_system_user()
        self._run("initdb", "-D", str(self.pgdata), "-U", "postgres", "--auth=trust", "-E", "utf8")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _prepare_for_system_user(self) -> None:
        from pgserver.utils import (
            ensure_folder_permissions,
            ensure_prefix_permissions,
            ensure_user_exists,
        )

        entry = ensure_user_exists(PG_USER)
        assert entry is not None
        ensure_prefix_permissions(self.bin)
        ensure_folder_permissions(self.bin.parent, 0o555)
        os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._as_user = PG_USER

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [str(self.bin / program), *args],
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT_S,
            user=self._as_user,
            cwd=self.root,
        )

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c max_connections=200"
        self._run(
            "pg_ctl", "-D", str(self.pgdata), "-l", str(self.root / "log"), "-o", options, "-w",
            "start",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop at once (`-m immediate`: the data is thrown away, or recovered at the next
        start, as after a crash)."""
        self._run("pg_ctl", "-D", str(self.pgdata), "-m", "immediate", "-w", "stop")

    def fresh_database(self) -> str:
        """A new, empty database on this server; its URL."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as db:
            db.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class MosquittoBroker:
    """Mosquitto on a free port of 127.0.0.1, stoppable and restartable on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="tracker-mqtt-"))
        self.config = self.root / "mosquitto.conf"
        # Persistence keeps a subscriber's session (and the QoS 1 messages queued for it)
        # across a restart, as a production broker is set up. Mosquitto started as root runs
        # as the user `mosquitto`, who must be able to write there.
        self.root.chmod(0o777)
        self.config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {self.root}/\n",
            encoding="utf-8",
        )
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [str(MOSQUITTO), "-c", str(self.config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None

    def __enter__(self) -> MosquittoBroker:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)
