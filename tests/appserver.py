"""The app as it runs in production, in a process of its own, for the tests that take its
database or cache away: gunicorn with ``gunicorn.conf.py`` on a free loopback port."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.pgserver import free_port

ROOT = Path(__file__).resolve().parent.parent


def environment(**overrides: str) -> dict[str, str]:
    """A production environment on loopback: DEBUG off, a fresh key, JSON logs, no response
    cache unless asked for, and rate limits out of the way of the tests' own load."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DEBUG", "DATABASE_URL", "DATABASE_REPLICA_URL", "REDIS_URL"}
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cryptogroups.settings",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "THROTTLE_ANON_RATE": "1000000/minute",
            "THROTTLE_USER_RATE": "1000000/minute",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(overrides)
    return env


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``manage.py`` in a process of its own, with the production environment."""
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment(**env),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result


def prepare_database(database_url: str) -> None:
    """Migrate the database and load the curated dataset into it."""
    manage("migrate", "--no-input", "-v", "0", DATABASE_URL=database_url)
    manage("load_dataset", "-v", "0", DATABASE_URL=database_url)


class AppServer:
    """gunicorn serving the app; ``with AppServer(DATABASE_URL=...) as app: app.get(...)``.
    It listens on a free loopback port, or on ``unix_socket`` when given (as behind nginx)."""

    def __init__(
        self, workers: int = 2, threads: int = 2, unix_socket: Path | None = None, **env: str
    ):
        self.port = free_port()
        self.unix_socket = unix_socket
        bind = f"unix:{unix_socket}" if unix_socket else f"127.0.0.1:{self.port}"
        self.env = environment(
            GUNICORN_BIND=bind,
            WEB_CONCURRENCY=str(workers),
            GUNICORN_THREADS=str(threads),
            **env,
        )
        self.log = Path(tempfile.mkstemp(prefix="cryptogroups-app-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None
        self.base_url = "http://127.0.0.1" if unix_socket else f"http://127.0.0.1:{self.port}"

    def transport(self) -> httpx.HTTPTransport | None:
        return httpx.HTTPTransport(uds=str(self.unix_socket)) if self.unix_socket else None

    def start(self, timeout: float = 60) -> AppServer:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n{self.tail()}")
            try:
                with self.client(timeout=2) as client:
                    if client.get("/healthz").status_code == 200:
                        return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {timeout:.0f} s:\n{self.tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def workers(self) -> set[int]:
        """The worker processes' ids (the master's children)."""
        assert self.process is not None
        children = set()
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    children.add(int(entry.name))
        return children

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(
            base_url=self.base_url,
            timeout=kwargs.pop("timeout", 10),
            transport=self.transport(),
            **kwargs,
        )

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
        self.log.unlink(missing_ok=True)
