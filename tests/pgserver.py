"""Private PostgreSQL servers for the tests that stop, restart or replicate a database.

Each server is a cluster of its own (initdb) in a temporary folder, listening on a free
loopback port, so that a test can restart it, or stream it to a replica, without touching the
server the rest of the suite uses. The binaries are those of the installed PostgreSQL
(``pg_config --bindir``). PostgreSQL refuses to run as root: as root, the servers run as the
``postgres`` system user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import pytest


def bindir() -> Path | None:
    """Where initdb, pg_ctl and pg_basebackup are, or None."""
    pg_config = shutil.which("pg_config")
    candidates = []
    if pg_config:
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        candidates.append(Path(result.stdout.strip()))
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)
    for candidate in candidates:
        if (candidate / "initdb").exists() and (candidate / "pg_basebackup").exists():
            return candidate
    return None


def require_tools() -> Path:
    """The binaries' folder; skips the test when they are missing, unless the run requires
    them (REQUIRE_PG_TOOLS=1, as in CI), in which case the test fails."""
    found = bindir()
    if found is None:
        message = "PostgreSQL's server binaries (initdb, pg_ctl, pg_basebackup) are not installed"
        if os.environ.get("REQUIRE_PG_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root needs the postgres system user to run servers")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One PostgreSQL cluster in ``root``, listening on 127.0.0.1:``port``."""

    def __init__(self, root: Path, port: int | None = None):
        self.bin = require_tools()
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = port or free_port()

    # -- running commands as the server's user

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        command = [str(self.bin / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, check=False, cwd=self.root
        )
        if result.returncode != 0:
            raise subprocess.CalledProcessError(
                result.returncode, command, result.stdout, result.stderr
            )
        return result

    def own(self, path: Path) -> None:
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(path, entry.pw_uid, entry.pw_gid)

    # -- life cycle

    def init(self) -> PostgresServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self.own(self.root)
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        self.configure(
            wal_level="replica",
            max_wal_senders="4",
            hot_standby="on",
            fsync="off",
            full_page_writes="off",
        )
        with (self.data / "pg_hba.conf").open("a") as hba:
            hba.write("host replication postgres 127.0.0.1/32 trust\n")
        return self

    def configure(self, **options: str) -> None:
        """Settings in postgresql.auto.conf (the last line for a name wins)."""
        lines = ["listen_addresses = '127.0.0.1'", f"port = {self.port}"]
        lines.append(f"unix_socket_directories = '{self.root}'")
        lines += [f"{name} = '{value}'" for name, value in options.items()]
        with (self.data / "postgresql.auto.conf").open("a") as conf:
            conf.write("\n".join(lines) + "\n")

    def start(self) -> PostgresServer:
        self.run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")
        return self

    def stop(self, mode: str = "fast") -> None:
        self.run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        try:
            self.run("pg_ctl", "-D", str(self.data), "status")
        except subprocess.CalledProcessError:
            return False
        return True

    def replica(self, root: Path) -> PostgresServer:
        """A streaming replica of this server, made by pg_basebackup, started."""
        replica = PostgresServer(root)
        root.mkdir(parents=True, exist_ok=True)
        replica.own(root)
        self.run(
            "pg_basebackup",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-D",
            str(replica.data),
            "-R",
            "-X",
            "stream",
            # An immediate checkpoint, not one spread over minutes.
            "-c",
            "fast",
        )
        replica.configure(hot_standby="on")
        return replica.start()

    # -- clients

    def url(self, dbname: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    def execute(self, sql: str, dbname: str = "postgres", params=None) -> list[tuple]:
        with psycopg.connect(self.url(dbname), autocommit=True, connect_timeout=5) as conn:
            cursor = conn.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.execute("SELECT 1")
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


@contextlib.contextmanager
def private_server(prefix: str = "cryptogroups-pg-"):
    """A fresh, started server, stopped and removed afterwards."""
    require_tools()
    root = Path(tempfile.mkdtemp(prefix=prefix))
    server = PostgresServer(root / "primary")
    server.own(root)
    try:
        yield server.init().start()
    finally:
        if server.data.exists() and server.running():
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)
