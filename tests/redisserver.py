"""A private redis-server for the tests that need a real one."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time

import pytest
import redis

from tests.pgserver import free_port


def require_redis() -> str:
    """redis-server's path; skips when it is missing, fails under REQUIRE_PG_TOOLS=1 (CI)."""
    found = shutil.which("redis-server")
    if found is None:
        message = "redis-server is not installed"
        if os.environ.get("REQUIRE_PG_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


class RedisServer:
    """A private redis-server on a free loopback port, keeping nothing on disk."""

    def __init__(self, binary: str):
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 10) -> RedisServer:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.client().ping()
                return self
            except redis.RedisError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=2)

    def hits(self) -> int:
        return int(self.client().info("stats")["keyspace_hits"])

    def api_keys(self) -> int:
        return sum(1 for _ in self.client().scan_iter(match="*:api:*", count=1000))

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)  # also ends a stopped process
            self.process.wait(timeout=10)

    def signal(self, number: int) -> None:
        assert self.process is not None
        self.process.send_signal(number)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.kill()
