"""The front proxy as deployed: nginx (Debian's package, deploy/nginx/) in front of gunicorn
(gunicorn.conf.py, tests/appserver.py) on a unix socket, everything on loopback.

- 100 slow-loris connections (a header line every 3 s) leave ``/healthz`` answering within 1 s,
  and never reach gunicorn: nginx holds them and closes them at its header timeout.
- A forged X-Forwarded-For gains no fresh budget: nginx replaces it, so the 429 arrives at the
  limit; a listed load balancer's is believed. A client's X-Forwarded-Proto is replaced too.
- A body over the limit is refused by nginx (a JSON 413); the app never sees the request.
- Static files are served from disk, compressed, and cached for good when named by content.

nginx runs unprivileged (as ``nobody`` when the tests run as root) with its prefix, pid and
temporary files under a directory of the test's own. The test skips when nginx is missing,
and fails instead with ``REQUIRE_PG_TOOLS=1`` or ``REQUIRE_NGINX=1`` (CI). Its figures are
written to ``build/reliability/proxy.json`` (docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.conf import settings

from tests.appserver import AppServer
from tests.pgserver import free_port

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy" / "nginx"
FIGURES = ROOT / "build" / "reliability"

#: The anonymous budget of the stack under test (per minute).
LIMIT = 20
#: A listed load balancer: a loopback address of its own, which nginx believes.
LOAD_BALANCER = "127.0.0.2"
#: The body limit (the app's MAX_REQUEST_BYTES, which nginx enforces first).
MAX_BODY = 1024 * 1024


def nginx_binary() -> str:
    """Debian's nginx; skips the test when it is missing, unless the run requires it."""
    for candidate in (shutil.which("nginx"), "/usr/sbin/nginx"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    message = "nginx is not installed (apt-get install nginx-light)"
    if "1" in (os.environ.get("REQUIRE_PG_TOOLS"), os.environ.get("REQUIRE_NGINX")):
        pytest.fail(message)
    pytest.skip(message)


def render(template: Path, **values: str) -> str:
    """A template of deploy/nginx/ with its ``${CG_...}`` variables filled in, as envsubst
    fills them; nginx's own ``$variables`` are left alone. Every variable must be given."""
    text = template.read_text()
    missing = set(re.findall(r"\$\{(CG_[A-Z_]+)\}", text)) - set(values)
    assert not missing, f"{template.name}: no value for {sorted(missing)}"
    return re.sub(r"\$\{(CG_[A-Z_]+)\}", lambda m: values[m.group(1)], text)


class Nginx:
    """nginx with deploy/nginx/'s configuration, under ``prefix``, on a free loopback port."""

    def __init__(self, prefix: Path, app_socket: Path, static_root: Path):
        self.binary = nginx_binary()
        self.prefix = prefix
        self.port = free_port()
        self.log = prefix / "error.log"
        self.access_log = prefix / "access.log"
        site = prefix / "cryptogroups.conf"
        balancers = prefix / "load-balancers.conf"
        balancers.write_text(
            (DEPLOY / "load-balancers.conf").read_text() + f"set_real_ip_from {LOAD_BALANCER};\n"
        )
        site.write_text(
            render(
                DEPLOY / "cryptogroups.conf.template",
                CG_LISTEN=f"127.0.0.1:{self.port}",
                CG_SERVER_NAME="127.0.0.1",
                CG_APP=f"unix:{app_socket}",
                CG_STATIC_ROOT=str(static_root),
                CG_MAX_BODY=str(MAX_BODY),
                CG_LOAD_BALANCERS=str(balancers),
                CG_ACCESS_LOG=str(self.access_log),
            )
        )
        (prefix / "nginx.conf").write_text(
            render(
                DEPLOY / "nginx.conf.template", CG_PREFIX=str(prefix), CG_SITE=str(site)
            ).replace("worker_processes auto;", "worker_processes 1;")
        )
        self.process: subprocess.Popen | None = None
        self.base_url = f"http://127.0.0.1:{self.port}"

    def command(self, *args: str) -> list[str]:
        return [
            self.binary,
            "-p",
            str(self.prefix),
            "-c",
            str(self.prefix / "nginx.conf"),
            "-e",
            "stderr",
            *args,
        ]

    def user(self) -> dict:
        """Unprivileged: as nobody when the tests run as root (who then owns the prefix)."""
        if os.geteuid() != 0:
            return {}
        nobody = pwd.getpwnam("nobody")
        for path in [self.prefix, *self.prefix.rglob("*")]:
            os.chown(path, nobody.pw_uid, nobody.pw_gid)
        return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}

    def start(self, timeout: float = 30, ready: int = 200) -> Nginx:
        """Started once ``/healthz`` answers ``ready`` through it."""
        user = self.user()
        checked = subprocess.run(
            self.command("-t", "-q"), capture_output=True, text=True, timeout=30, **user
        )
        assert checked.returncode == 0, checked.stderr
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **user,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"nginx exited:\n{self.log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == ready:
                    return self
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"nginx did not answer within {timeout:.0f} s:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def client(self, local_address: str | None = None, **kwargs) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=local_address) if local_address else None
        return httpx.Client(
            base_url=self.base_url, timeout=kwargs.pop("timeout", 10), transport=transport, **kwargs
        )


class Stack:
    def __init__(self, app: AppServer, proxy: Nginx):
        self.app, self.proxy = app, proxy

    def app_log_paths(self) -> list[str]:
        """The paths of the requests the app logged (its access log)."""
        paths = []
        for line in self.app.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("logger") == "cryptogroups.access":
                    paths.append(entry["path"])
        return paths

    def app_log_clients(self) -> list[str]:
        clients = []
        for line in self.app.log.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if entry.get("logger") == "cryptogroups.access":
                    clients.append(entry["client"])
        return clients


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    binary = nginx_binary()
    assert binary
    # nginx's user must reach its prefix (the gunicorn socket is there too) and the static
    # files the suite collected (tests/environment.py).
    prefix = Path(tempfile.mkdtemp(prefix="cryptogroups-nginx-"))
    static_root = Path(settings.STATIC_ROOT)
    static_root.chmod(static_root.stat().st_mode | 0o755)
    app_socket = prefix / "gunicorn.sock"
    app = AppServer(
        workers=2,
        threads=2,
        unix_socket=app_socket,
        DATABASE_URL=f"sqlite:///{prefix / 'unused.sqlite3'}",
        NUM_PROXIES="1",
        SECURE_PROXY_SSL_HEADER="1",
        THROTTLE_ANON_RATE=f"{LIMIT}/minute",
        STATIC_ROOT=str(static_root),
    )
    try:
        with app:
            proxy = Nginx(prefix, app_socket, static_root).start()
            try:
                yield Stack(app, proxy)
            finally:
                proxy.stop()
    finally:
        app.log.unlink(missing_ok=True)
        shutil.rmtree(prefix, ignore_errors=True)


def record(name: str, figures: dict) -> None:
    FIGURES.mkdir(parents=True, exist_ok=True)
    path = FIGURES / "proxy.json"
    known = json.loads(path.read_text()) if path.exists() else {}
    known[name] = figures
    path.write_text(json.dumps(known, indent=2) + "\n")


def fresh_window(seconds_needed: float = 20) -> None:
    """Wait for the next minute when this one ends too soon for what follows."""
    left = 60 - time.time() % 60
    if left < seconds_needed:
        time.sleep(left + 0.5)


# --- Slow clients -----------------------------------------------------------------------------

LORIS = 100
LORIS_SECONDS = 24.0
LINE_EVERY = 3.0


def slow_loris(port: int, stop: threading.Event, ended: list[float]) -> None:
    """LORIS connections, each sending a header line every LINE_EVERY seconds and never the
    blank line; ``ended`` gets, for each connection the proxy closes, when it did."""
    started = time.monotonic()
    connections = []
    for n in range(LORIS):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(f"GET /slowloris/{n} HTTP/1.1\r\nHost: 127.0.0.1\r\n".encode())
        connections.append(sock)
    open_ = set(range(LORIS))
    while not stop.wait(LINE_EVERY) and open_:
        for n in sorted(open_):
            try:
                connections[n].sendall(f"X-Loris-{n}: {time.monotonic():.0f}\r\n".encode())
            except OSError:
                open_.discard(n)
                ended.append(time.monotonic() - started)
    for sock in connections:
        sock.close()


def test_slow_clients_leave_the_probes_answering_within_a_second(stack):
    stop, ended = threading.Event(), []
    loris = threading.Thread(target=slow_loris, args=(stack.proxy.port, stop, ended))
    loris.start()
    latencies, failures = [], []
    try:
        time.sleep(1.0)  # every slow connection open
        deadline = time.monotonic() + LORIS_SECONDS
        while time.monotonic() < deadline:
            sent = time.monotonic()
            try:
                # A new connection each time, as a load balancer's probe.
                response = httpx.get(f"{stack.proxy.base_url}/healthz", timeout=1.0)
                latencies.append(time.monotonic() - sent)
                if response.status_code != 200:
                    failures.append(response.status_code)
            except httpx.HTTPError as error:
                failures.append(type(error).__name__)
            time.sleep(max(0.0, 0.5 - (time.monotonic() - sent)))
    finally:
        stop.set()
        loris.join(timeout=30)
    latencies.sort()
    figures = {
        "slow_connections": LORIS,
        "header_line_every_s": LINE_EVERY,
        "probes": len(latencies) + len(failures),
        "probe_failures": failures,
        "probe_latency_ms": {
            "p50": round(latencies[len(latencies) // 2] * 1000, 1),
            "max": round(latencies[-1] * 1000, 1),
        },
        "slow_connections_closed_by_the_proxy": len(ended),
        "closed_after_s": [round(min(ended), 1), round(max(ended), 1)] if ended else None,
    }
    record("slow_loris", figures)
    assert failures == [], figures
    assert len(latencies) >= LORIS_SECONDS, figures
    assert latencies[-1] < 1.0, figures
    # nginx closed every slow connection at its header timeout (10 s, plus a line's wait),
    # and not one reached the app.
    assert len(ended) == LORIS, figures
    assert max(ended) < 10 + 2 * LINE_EVERY + 1, figures
    assert not [path for path in stack.app_log_paths() if path.startswith("/slowloris")]


# --- Forwarded headers ------------------------------------------------------------------------


def test_a_forged_forwarded_for_gains_no_budget(stack):
    fresh_window(seconds_needed=15)
    statuses = []
    with stack.proxy.client() as client:
        first = client.get("/api/v1/", headers={"X-Forwarded-For": "198.51.100.1"})
        assert first.status_code == 200
        remaining = int(first.headers["RateLimit-Remaining"])
        for n in range(2, remaining + 4):
            response = client.get("/api/v1/", headers={"X-Forwarded-For": f"198.51.100.{n}"})
            statuses.append(response.status_code)
    # The budget of the one address the client has, spent request by request.
    assert statuses == [200] * remaining + [429] * 2, statuses
    record(
        "forged_forwarded_for",
        {"sent": len(statuses) + 1, "200": remaining + 1, "429": 2, "limit": LIMIT},
    )
    assert not {"198.51.100.1", "198.51.100.2"} & set(stack.app_log_clients())


def test_a_listed_load_balancer_names_the_client_and_the_scheme(stack):
    fresh_window(seconds_needed=10)
    with stack.proxy.client(local_address=LOAD_BALANCER) as balancer:
        budgets = [
            int(
                balancer.get(
                    "/api/v1/", headers={"X-Forwarded-For": address, "X-Forwarded-Proto": "https"}
                ).headers["RateLimit-Remaining"]
            )
            for address in ["203.0.113.7", "203.0.113.8", "203.0.113.7"]
        ]
        through_balancer = balancer.get(
            "/api/v1/", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
        )
    assert budgets == [LIMIT - 1, LIMIT - 1, LIMIT - 2]
    assert {"203.0.113.7", "203.0.113.8"} <= set(stack.app_log_clients())
    # The scheme shows in the links the API builds.
    assert all(url.startswith("https://") for url in through_balancer.json().values())
    # A client's claim is replaced (from an address of its own: 127.0.0.1 spent its budget).
    with stack.proxy.client(local_address="127.0.0.3") as client:
        direct = client.get("/api/v1/", headers={"X-Forwarded-Proto": "https"})
    assert direct.status_code == 200
    assert all(url.startswith("http://") for url in direct.json().values())


# --- Bodies -----------------------------------------------------------------------------------


def raw_request(port: int, head: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        header, _, rest = data.partition(b"\r\n\r\n")
        lines = header.decode("iso-8859-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        length = int(headers.get("Content-Length", "0"))
        while len(rest) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        return int(lines[0].split()[1]), headers, rest


def test_a_body_over_the_limit_is_refused_by_the_proxy(stack):
    head = (
        "POST /api/v1/platforms/?reason=oversized HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n"
    )
    status, headers, body = raw_request(stack.proxy.port, head)
    assert status == 413
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "type": "client_error",
        "errors": [
            {
                "code": "request_too_large",
                "detail": f"The body is over {MAX_BODY} bytes, the most that is read.",
                "attr": None,
            }
        ],
    }
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])
    # A body at the limit is read in full and passed on: the app answers (401, no token).
    at_limit = head.replace(str(MAX_BODY + 1), str(MAX_BODY)).replace("oversized", "at-limit")
    status, _, _ = raw_request(stack.proxy.port, at_limit, b" " * MAX_BODY)
    assert status == 401, stack.proxy.log.read_text()[-3000:]
    time.sleep(0.5)  # the app's log line is written after its answer
    platforms = [path for path in stack.app_log_paths() if path == "/api/v1/platforms/"]
    assert platforms == ["/api/v1/platforms/"]  # the request at the limit only


# --- Static files -----------------------------------------------------------------------------


def test_static_files_are_served_by_the_proxy_and_cached_for_good(stack):
    with stack.proxy.client() as client:
        page = client.get("/api/docs/")
        assert page.status_code == 200
        assets = re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js))"', page.text)
        assert assets
        for asset in assets:
            response = client.get(asset, headers={"Accept-Encoding": "gzip"})
            assert response.status_code == 200, asset
            assert response.headers["Content-Encoding"] == "gzip"
            assert "immutable" in response.headers["Cache-Control"]
            assert response.headers["X-Content-Type-Options"] == "nosniff"
        missing = client.get("/static/no-such-file.css")
    assert missing.status_code == 404
    assert missing.json()["errors"][0]["code"] == "not_found"


def test_gunicorn_closes_the_connection_after_a_body_it_did_not_read(stack):
    """The app's own 413 (for a request that reaches gunicorn without nginx): the answer says
    ``Connection: close`` and the connection is closed, so what the client still sends of the
    body is never read as its next request. It used to say keep-alive, and then drop it."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(stack.app.unix_socket))
        sock.sendall(
            (
                "POST /api/v1/platforms/?reason=x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/json\r\nContent-Length: {2 * MAX_BODY}\r\n\r\n"
            ).encode()
            + b" " * 65536
        )
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head = data.partition(b"\r\n\r\n")[0].decode("iso-8859-1").split("\r\n")
        assert head[0].startswith("HTTP/1.1 413")
        assert "Connection: close" in head[1:]
        deadline = time.monotonic() + 10
        while (chunk := sock.recv(65536)) and time.monotonic() < deadline:
            pass  # the rest of the answer, then the end of the connection
        assert chunk == b""


def read_answer(sock: socket.socket) -> tuple[list[str], bytes]:
    """One answer with a Content-Length: its head's lines and its body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the connection was closed: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("iso-8859-1").split("\r\n")
    length = next(int(line.split(": ")[1]) for line in lines if line.startswith("Content-Length"))
    while len(body) < length:
        body += sock.recv(65536)
    return lines, body


def test_an_answer_that_needs_no_body_still_reads_it_and_keeps_the_connection(stack):
    """A write without credentials is a 401 whatever its body: the app reads the body first
    (within the limit), so the connection serves the next request. Left unread, gunicorn
    drained 64 KiB of it and closed the connection it had just said it would keep, and nginx,
    still sending the body, answered 502."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(stack.app.unix_socket))
        sock.sendall(
            (
                "POST /api/v1/platforms/?reason=x HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"Content-Type: application/json\r\nContent-Length: {MAX_BODY}\r\n\r\n"
            ).encode()
            + b" " * MAX_BODY
        )
        head, _ = read_answer(sock)
        assert head[0].startswith("HTTP/1.1 401")
        assert "Connection: keep-alive" in head[1:]
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head, body = read_answer(sock)
        assert head[0].startswith("HTTP/1.1 200")
        assert json.loads(body) == {"status": "ok"}


@pytest.mark.parametrize(
    ("head", "status", "code"),
    [
        ("GET /a b c\r\n\r\n", 400, "invalid"),
        (f"GET /{'x' * 9000} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414, "uri_too_long"),
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: {'x' * 9000}\r\n\r\n",
            400,
            "headers_too_large",
        ),
    ],
    ids=["malformed", "uri_too_long", "header_too_large"],
)
def test_the_proxys_own_errors_are_json(stack, head, status, code):
    answered, headers, body = raw_request(stack.proxy.port, head)
    assert answered == status
    assert headers["Content-Type"] == "application/json"
    assert json.loads(body)["errors"][0]["code"] == code
    assert re.fullmatch(r"[0-9a-f]{32}", headers["X-Request-ID"])


def test_the_proxy_answers_503_in_json_while_the_app_server_is_down(tmp_path):
    prefix = Path(tempfile.mkdtemp(prefix="cryptogroups-nginx-"))
    try:
        proxy = Nginx(prefix, prefix / "no-app.sock", Path(settings.STATIC_ROOT))
        proxy.start(ready=503)
        try:
            response = httpx.get(f"{proxy.base_url}/api/v1/", timeout=10)
        finally:
            proxy.stop()
    finally:
        shutil.rmtree(prefix, ignore_errors=True)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["errors"][0]["code"] == "service_unavailable"
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
