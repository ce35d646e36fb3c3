"""Faults the app survives: PostgreSQL restarted under load, a curator's write cut off by an
outage (before it starts, and in the middle of its transaction), and the cache server killed or
hung.

Each test runs the app as production does (gunicorn with gunicorn.conf.py, tests/appserver.py)
against a private PostgreSQL server (tests/pgserver.py) and, for the cache, a private
redis-server, all on loopback. None uses the suite's database, so they run the same whether the
suite runs on SQLite or PostgreSQL. Every wait and every request is bounded in time. They skip
when PostgreSQL's server binaries or redis-server are missing, and fail instead when
``REQUIRE_PG_TOOLS=1`` (CI).

Each test writes what it measured to ``build/reliability/<test>.json``; docs/reliability.md
explains the promises and quotes the figures.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import itertools
import json
import logging
import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.appserver import AppServer, manage, prepare_database
from tests.pgserver import PostgresServer, private_server, require_tools
from tests.redisserver import RedisServer, require_redis

pytestmark = pytest.mark.servers

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "build" / "reliability"

#: The database the curated dataset, a curator and a token are prepared in once; each test
#: works on a copy of its own (CREATE DATABASE ... TEMPLATE).
TEMPLATE = "faults_template"
CURATOR = "fault-curator"

#: Seconds any single HTTP request may take before the test counts it as a failure.
REQUEST_TIMEOUT = 10.0
#: Seconds the database stays down in the restart test (from the stop command's start).
DOWN_SECONDS = 3.0
#: Seconds after the database accepts connections again (``pg_ctl start -w`` returned) during
#: which a request may still be answered 503. A request sent before that moment may be handled
#: while the server still refuses; one sent after it finds a server that accepts, and a
#: worker's first query either opens a new connection or finds its old one dead by the health
#: check (CONN_HEALTH_CHECKS: one failed ``SELECT 1``) and reconnects, both in milliseconds on
#: loopback. One second covers pg_ctl's readiness polling and scheduling on two shared cores;
#: a 503 to a request sent later means the app did not recover by itself.
GRACE_SECONDS = 1.0
#: Seconds after the restart within which every client must be answered 200 again.
RECOVERY_BOUND = 10.0
#: Client threads sending requests during the restart test.
CLIENTS = 6
#: The slowest answer allowed while the cache server is down or hung: a request makes at most
#: five cache operations (rate limit, response, list count: read and store), each given up
#: after the settings' 0.25 s socket timeout, plus the database's own work.
CACHE_OUTAGE_BOUND = 2.0

#: A mix of reads: lists, details, filters, searches and the changes feed.
READS = [
    "/api/v1/groups/",
    "/api/v1/exchanges/",
    "/api/v1/regulatory-actions/",
    "/api/v1/organizations/?page_size=5&page=2",
    "/api/v1/groups/okcoin-telegram-group/",
    "/api/v1/exchanges/okcoin/",
    "/api/v1/platforms/telegram/",
    "/api/v1/regulatory-actions/cn-2017-ico-ban/",
    "/api/v1/groups/?platform=telegram",
    "/api/v1/regulatory-actions/?jurisdiction=CN&announced_after=2017-09-01"
    "&announced_before=2017-09-30",
    "/api/v1/exchange-responses/?response_type=halt_all_trading&response_type=suspend_otc",
    "/api/v1/exchanges/?search=shanghai",
    "/api/v1/groups/?search=bitcoin",
    "/api/v1/changes/?page_size=50",
]

#: The record the restart test's curator changes again and again: none of READS shows it.
WRITTEN = "/api/v1/organizations/cbrc/"
#: The record the write tests change, and a new one they create.
RECORD = "/api/v1/organizations/pboc/"
NEW_ORGANIZATION = {
    "slug": "fault-test-regulator",
    "name": "Fault Test Regulator",
    "org_type": "regulator",
    "country": "CN",
    "publication_status": "published",
    "citations": [
        {
            "source": "scmp-btcchina-halt",
            "field": None,
            "quote": "A quote.",
            "verbatim": False,
            "support": "stated",
        }
    ],
}


# Servers ----------------------------------------------------------------------------------------


@dataclass
class Cluster:
    """The private PostgreSQL server of this module, with a prepared template database."""

    server: PostgresServer
    token: str
    names: Iterator[int] = field(default_factory=itertools.count)

    def new_database(self) -> str:
        """A fresh copy of the template, with the curated dataset and the curator."""
        if not self.server.running():
            self.server.start()
        name = f"faults_{next(self.names)}"
        # FILE_COPY, not PostgreSQL 15's default WAL_LOG: a sequence copied by WAL_LOG keeps the
        # template's pre-logged values, and after a crash (stop -m immediate) it hands out
        # again numbers its own database has already committed (duplicate keys in the history).
        self.server.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE} STRATEGY FILE_COPY")
        return name


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    require_tools()
    with private_server(prefix="cryptogroups-faults-") as server:
        server.execute(f"CREATE DATABASE {TEMPLATE}")
        url = server.url(TEMPLATE)
        prepare_database(url)
        # The curator and its token, by the commands curators are given (one process for both).
        commands = (
            "from django.core.management import call_command; "
            f"call_command('add_curator', {CURATOR!r}); call_command('issue_token', {CURATOR!r})"
        )
        output = manage("shell", "-c", commands, DATABASE_URL=url).stdout
        token = output.strip().splitlines()[-1]
        yield Cluster(server, token)


@pytest.fixture(autouse=True)
def _quiet_clients(caplog):
    """Thousands of requests: httpx's line per request would bury a failure's message."""
    caplog.set_level(logging.WARNING, logger="httpx")


@pytest.fixture
def dbname(cluster: Cluster) -> Iterator[str]:
    """A database of the test's own, dropped after it."""
    name = cluster.new_database()
    yield name
    if cluster.server.running():
        cluster.server.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def redis_binary() -> str:
    """Asked for before the PostgreSQL server, so that a missing redis-server skips first."""
    return require_redis()


# What the tests observe -------------------------------------------------------------------------


@dataclass
class Sample:
    """One request of the load: when it was sent and answered, and how."""

    client: int
    path: str
    sent: float
    received: float
    status: int | None = None
    digest: str | None = None
    error: str | None = None
    retry_after: str | None = None
    content_type: str = ""
    body: dict | None = None  # kept for answers other than 200 only
    sequence: int | None = None  # a write's number


def written_value(sequence: int) -> str:
    return f"Written during the restart test, number {sequence}."


class Load:
    """Client threads sending the reads in turn, and a curator changing one record again and
    again (``WRITTEN``), each as fast as it is answered, until stopped."""

    def __init__(self, base_url: str, paths: list[str], token: str, clients: int = CLIENTS):
        self.base_url = base_url
        self.paths = paths
        self.token = token
        self.samples: list[Sample] = []
        self.writes: list[Sample] = []
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self.read, args=(number,), daemon=True)
            for number in range(clients)
        ]
        self.threads.append(threading.Thread(target=self.write, args=(clients,), daemon=True))

    def read(self, number: int) -> None:
        with httpx.Client(base_url=self.base_url, timeout=REQUEST_TIMEOUT) as client:
            for turn in itertools.count(number):
                if self.stopping.is_set():
                    return
                path = self.paths[turn % len(self.paths)]
                request = client.build_request("GET", path)
                self.samples.append(send(client, number, request, path))

    def write(self, number: int) -> None:
        headers = {"Authorization": f"Token {self.token}"}
        with httpx.Client(base_url=self.base_url, timeout=REQUEST_TIMEOUT, headers=headers) as c:
            for sequence in itertools.count():
                if self.stopping.is_set():
                    return
                request = c.build_request(
                    "PATCH",
                    WRITTEN,
                    params={"reason": f"restart-{sequence}"},
                    json={"description": written_value(sequence)},
                )
                self.writes.append(send(c, number, request, WRITTEN, sequence))
                time.sleep(0.05)

    def start(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)
        assert not any(thread.is_alive() for thread in self.threads), "a client did not stop"

    def wait_for(self, condition, timeout: float, what: str) -> float:
        """Wait until ``condition(reads, writes)`` holds; returns when, fails past the
        timeout."""
        deadline = time.monotonic() + timeout
        while not condition(list(self.samples), list(self.writes)):
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout:.0f} s")
            time.sleep(0.05)
        return time.monotonic()


def send(client: httpx.Client, number: int, request: httpx.Request, path: str, sequence=None):
    """Send the request; what came back, and when, as a Sample."""
    sent = time.monotonic()
    try:
        response = client.send(request)
    except httpx.HTTPError as error:
        return Sample(number, path, sent, time.monotonic(), error=repr(error), sequence=sequence)
    sample = Sample(
        number,
        path,
        sent,
        time.monotonic(),
        status=response.status_code,
        digest=hashlib.sha256(response.content).hexdigest(),
        retry_after=response.headers.get("Retry-After"),
        content_type=response.headers.get("Content-Type", ""),
        sequence=sequence,
    )
    if response.status_code != 200:
        try:
            sample.body = response.json()
        except ValueError:
            sample.body = {"not_json": response.text[:200]}
    return sample


def is_outage_answer(status: int | None, body, retry_after: str | None, content_type: str):
    """A 503 in the API's error shape, saying when to retry."""
    return (
        status == 503
        and content_type.startswith("application/json")
        and isinstance(body, dict)
        and body.get("type") == "server_error"
        and [error.get("code") for error in body.get("errors", [])] == ["service_unavailable"]
        and retry_after is not None
        and retry_after.isdigit()
        and int(retry_after) > 0
    )


def assert_outage_answer(response: httpx.Response) -> None:
    try:
        body = response.json()
    except ValueError:
        body = response.text[:300]
    assert is_outage_answer(
        response.status_code,
        body,
        response.headers.get("Retry-After"),
        response.headers.get("Content-Type", ""),
    ), (response.status_code, dict(response.headers), body)


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def seconds(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def record_figures(request: pytest.FixtureRequest, figures: dict) -> None:
    """Write the test's figures to build/reliability/<test>.json."""
    FIGURES.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")
    document = {
        "test": request.node.nodeid,
        "recorded_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpu_count": os.cpu_count(),
        **figures,
    }
    (FIGURES / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")


def snapshot(server: PostgresServer, dbname: str) -> dict[str, tuple[int, str]]:
    """Every row of every table of the app (records, links, many-to-many tables, history, the
    feed, its state and pending changes, the dataset's version): a count and a digest of the
    rows' text per table, read directly from the database."""
    tables = [
        row[0]
        for row in server.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename LIKE 'cryptogroups%' ORDER BY tablename",
            dbname,
        )
    ]
    assert len(tables) > 20, tables
    query = " UNION ALL ".join(
        f"SELECT '{table}', count(*), "
        f"md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM \"{table}\" t"
        for table in tables
    )
    return {name: (count, digest) for name, count, digest in server.execute(query, dbname)}


def public_reads(client: httpx.Client) -> dict[str, bytes]:
    """What a client sees of the record the writes touch: it, its history, the feed."""
    paths = [
        RECORD,
        f"{RECORD}history/",
        "/api/v1/changes/?page_size=500",
        "/api/v1/organizations/",
    ]
    reads = {}
    for path in paths:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
        reads[path] = response.content
    return reads


def lock_waits(server: PostgresServer, dbname: str, others: list[int], until, timeout=15.0):
    """The sessions of the database, other than ``others``, waiting for a lock: (pid, the
    transaction's id, the statement), as soon as there is one, or once ``until()`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        waiting = server.execute(
            "SELECT pid, backend_xid::text, query FROM pg_stat_activity "
            "WHERE datname = %s AND wait_event_type = 'Lock' AND NOT pid = ANY(%s)",
            dbname,
            [dbname, others],
        )
        if waiting or until():
            return waiting
        assert time.monotonic() < deadline, "no session waited for a lock"
        time.sleep(0.05)


def changed_tables(before: dict, after: dict) -> list[str]:
    return sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )


def curator_client(app: AppServer, token: str) -> httpx.Client:
    return app.client(headers={"Authorization": f"Token {token}"}, timeout=REQUEST_TIMEOUT)


# 1a. PostgreSQL restarted under load -------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "cache_seconds"),
    [
        pytest.param("fast", "0", id="fast-cache_off"),
        pytest.param("immediate", "3600", id="immediate-cache_on"),
    ],
)
def test_postgres_restart_under_load(request, cluster, dbname, mode, cache_seconds):
    """Clients reading continuously, and a curator writing, while PostgreSQL is stopped
    (``fast``: sessions ended cleanly; ``immediate``: a crash, recovered at start) and started
    ~3 s later: every answer is a 200 (201...) or a JSON 503 with Retry-After, 503s only while
    the server is down, 200s again by themselves right after, reads the same bytes as before,
    from the same gunicorn workers. Every write answered 200 is kept, whole: its history entry,
    its feed entry, and the record ends with the last one. Without the response cache every
    request reads the database; with it, every request still reads the dataset's version, so
    the cache hides nothing of the outage."""
    server = cluster.server
    with AppServer(DATABASE_URL=server.url(dbname), API_CACHE_SECONDS=cache_seconds) as app:
        with app.client(timeout=REQUEST_TIMEOUT) as client:
            baseline = {}
            for path in READS:
                response = client.get(path)
                assert response.status_code == 200, (path, response.text[:300])
                baseline[path] = hashlib.sha256(response.content).hexdigest()
        workers_before = app.workers()
        assert len(workers_before) == 2, workers_before

        load = Load(app.base_url, READS, cluster.token).start()
        try:
            load.wait_for(
                lambda reads, writes: (
                    sum(s.status == 200 for s in reads) >= 20
                    and any(s.status == 200 for s in writes)
                ),
                timeout=15,
                what="20 reads and a write answered before the restart",
            )
            stop_began = time.monotonic()
            server.stop(mode)
            stopped = time.monotonic()
            with app.client(timeout=REQUEST_TIMEOUT) as probe:
                live_while_down = probe.get("/healthz")
                ready_while_down = probe.get("/readyz")
            time.sleep(max(0.0, DOWN_SECONDS - (time.monotonic() - stop_began)))
            start_began = time.monotonic()
            server.start()
            started = time.monotonic()

            def recovered(reads: list[Sample], writes: list[Sample]) -> bool:
                fresh = Counter(s.client for s in reads if s.status == 200 and s.sent > started)
                return (
                    len(fresh) == CLIENTS
                    and min(fresh.values()) >= 3
                    and any(s.status == 200 and s.sent > started for s in writes)
                )

            all_recovered = load.wait_for(
                recovered, timeout=RECOVERY_BOUND, what="every client answered 200 again"
            )
            time.sleep(0.5)  # and stays so
        finally:
            load.stop()
            if not server.running():
                server.start()
        workers_after = app.workers()
        master_alive = app.process.poll() is None
        with app.client(timeout=REQUEST_TIMEOUT) as client:
            ready = client.get("/readyz")

    # What the database kept of the writes: their history entries (by reason), their feed
    # entries (by the value written), and the record's value.
    slug = WRITTEN.rstrip("/").rsplit("/", 1)[1]
    kept = {
        int(reason.removeprefix("restart-"))
        for (reason,) in server.execute(
            "SELECT history_change_reason FROM cryptogroups_historicalorganization "
            "WHERE slug = %s AND history_change_reason LIKE 'restart-%%'",
            dbname,
            [slug],
        )
    }
    fed = [
        value
        for (value,) in server.execute(
            "SELECT data->>'description' FROM cryptogroups_change "
            "WHERE resource = 'organizations' AND slug = %s",
            dbname,
            [slug],
        )
    ]
    (final,) = server.execute(
        "SELECT description FROM cryptogroups_organization WHERE slug = %s", dbname, [slug]
    )[0]
    acknowledged = {s.sequence for s in load.writes if s.status == 200}
    refused = {s.sequence for s in load.writes if s.status == 503}

    reads = load.samples
    samples = reads + load.writes
    errors = [s for s in samples if s.error]
    unavailable = [s for s in samples if s.status == 503]
    others = [s for s in samples if s.status not in (200, 503) and not s.error]
    after_restart = [s for s in reads if s.status == 200 and s.sent > started]
    ok_latencies = [s.received - s.sent for s in reads if s.status == 200]
    first_ok = min((s.received for s in after_restart), default=None)
    record_figures(
        request,
        {
            "stop_mode": mode,
            "api_cache_seconds": int(cache_seconds),
            "gunicorn": {"workers": 2, "threads": 2},
            "clients": {"readers": CLIENTS, "writers": 1},
            "requests": len(samples),
            "reads": len(reads),
            "writes": len(load.writes),
            "status_200": sum(s.status == 200 for s in samples),
            "status_503": len(unavailable),
            "other_statuses": len(others),
            "connection_errors": len(errors),
            "writes_acknowledged": len(acknowledged),
            "writes_refused_503": len(refused),
            "acknowledged_writes_lost": len(acknowledged - kept),
            "writes_kept_without_their_feed_entry": sum(written_value(n) not in fed for n in kept),
            "refused_writes_kept": len(refused & kept),
            "stop_command_s": seconds(stopped - stop_began),
            "start_command_s": seconds(started - start_began),
            "database_down_s": seconds(started - stop_began),
            "unavailable_seen_by_clients_s": seconds(
                max(s.received for s in unavailable) - min(s.received for s in unavailable)
            )
            if unavailable
            else 0.0,
            "first_503_after_stop_began_s": seconds(
                min((s.received for s in unavailable), default=stop_began) - stop_began
            ),
            "last_503_after_start_returned_s": seconds(
                max((s.received for s in unavailable), default=started) - started
            ),
            "first_200_after_start_returned_s": seconds(
                None if first_ok is None else first_ok - started
            ),
            "all_clients_200_after_start_returned_s": seconds(all_recovered - started),
            "grace_s": GRACE_SECONDS,
            "recovery_bound_s": RECOVERY_BOUND,
            "read_latency_200_ms": {
                "p50": seconds(1000 * percentile(ok_latencies, 0.5)),
                "p99": seconds(1000 * percentile(ok_latencies, 0.99)),
                "max": seconds(1000 * max(ok_latencies)),
            },
            "same_worker_pids": workers_before == workers_after,
            "while_down": {
                "healthz": live_while_down.status_code,
                "readyz": ready_while_down.status_code,
            },
        },
    )

    assert not errors, errors[:5]
    assert not others, [(s.path, s.status, s.body) for s in others[:5]]
    wrong = [
        s
        for s in unavailable
        if not is_outage_answer(s.status, s.body, s.retry_after, s.content_type)
    ]
    assert not wrong, [(s.path, s.body, s.retry_after, s.content_type) for s in wrong[:5]]
    # The outage was seen, and only while it lasted.
    assert unavailable, "no request met the outage: the test did not test it"
    outside = [
        s for s in unavailable if s.received < stop_began or s.sent > started + GRACE_SECONDS
    ]
    assert not outside, [
        (s.path, round(s.sent - started, 3), round(s.received - stop_began, 3)) for s in outside[:5]
    ]
    assert any(s.status == 200 and s.received < stop_began for s in reads)
    assert after_restart
    # Every 200, before, during and after, is the same representation.
    changed = [s for s in reads if s.status == 200 and s.digest != baseline[s.path]]
    assert not changed, [s.path for s in changed[:5]]
    # No acknowledged write is lost; each write kept is whole (history and feed), none
    # appears that was not sent, and the record holds the last one kept.
    assert acknowledged <= kept, sorted(acknowledged - kept)
    assert kept <= acknowledged | refused, sorted(kept - acknowledged - refused)
    assert [n for n in sorted(kept) if written_value(n) not in fed] == []
    assert final == written_value(max(kept))
    # While the database was down the process was alive and said it was not ready.
    assert live_while_down.status_code == 200, live_while_down.text
    assert ready_while_down.status_code == 503, ready_while_down.text
    assert ready_while_down.json()["database"] == "unavailable"
    # Nothing was restarted: the same workers answer, the master still runs, and it is ready.
    assert workers_after == workers_before
    assert master_alive
    assert ready.status_code == 200, ready.text


# 1b. A curator's write during an outage ----------------------------------------------------------


def test_writes_while_the_database_is_down_fail_cleanly(request, cluster, dbname):
    """With the database stopped, a curator's POST, PATCH and DELETE are JSON 503s; once it is
    back, the record, its history, the version and the feed are exactly as before, and the same
    writes then go through."""
    server = cluster.server
    with (
        AppServer(DATABASE_URL=server.url(dbname), API_CACHE_SECONDS="0") as app,
        curator_client(app, cluster.token) as curator,
    ):
        before = snapshot(server, dbname)
        reads_before = public_reads(curator)
        writes = {
            "POST": lambda: curator.post(
                "/api/v1/organizations/", params={"reason": "outage test"}, json=NEW_ORGANIZATION
            ),
            "PATCH": lambda: curator.patch(
                RECORD, params={"reason": "outage test"}, json={"description": "Changed."}
            ),
            "DELETE": lambda: curator.delete(RECORD, params={"reason": "outage test"}),
        }
        stop_began = time.monotonic()
        server.stop("fast")
        try:
            answers = {method: write() for method, write in writes.items()}
        finally:
            server.start()
        down = time.monotonic() - stop_began
        for answer in answers.values():
            assert_outage_answer(answer)

        after = snapshot(server, dbname)
        assert changed_tables(before, after) == []
        assert public_reads(curator) == reads_before

        # The same writes go through now: they were refused for the outage only, and the
        # snapshot sees what a write changes.
        retried = {method: write().status_code for method, write in writes.items()}
        assert retried == {"POST": 201, "PATCH": 200, "DELETE": 204}
        written = changed_tables(before, snapshot(server, dbname))
        assert "cryptogroups_organization" in written
        assert "cryptogroups_historicalorganization" in written
        assert "cryptogroups_change" in written
        assert "cryptogroups_datasetversion" in written

    record_figures(
        request,
        {
            "writes_during_outage": {method: a.status_code for method, a in answers.items()},
            "retry_after": {method: a.headers.get("Retry-After") for method, a in answers.items()},
            "database_down_s": seconds(down),
            "tables_changed_by_the_failed_writes": 0,
            "writes_after_restart": retried,
        },
    )


@pytest.mark.parametrize("fault", ["terminate", "immediate"])
def test_a_write_cut_off_mid_transaction_leaves_nothing(request, cluster, dbname, fault):
    """A curator's PATCH is held in the middle of its transaction (the record row updated, its
    history and pending feed rows inserted, the feed's entry waiting on a lock another session
    holds on the feed's table); then its database session is killed (``terminate``:
    pg_terminate_backend) or the whole server crashes (``immediate``). The client gets a JSON
    503; nothing of the write is visible afterwards, and the same write then goes through."""
    server = cluster.server
    with (
        AppServer(DATABASE_URL=server.url(dbname), API_CACHE_SECONDS="0") as app,
        curator_client(app, cluster.token) as curator,
    ):
        before = snapshot(server, dbname)
        reads_before = public_reads(curator)
        patch = {"description": "Half-written description."}

        blocker = psycopg.connect(server.url(dbname), connect_timeout=5)
        answer: dict = {}
        try:
            blocker.execute('LOCK TABLE "cryptogroups_change" IN EXCLUSIVE MODE')
            (blocker_pid,) = blocker.execute("SELECT pg_backend_pid()").fetchone()

            def write() -> None:
                started = time.monotonic()
                try:
                    answer["response"] = curator.patch(
                        RECORD, params={"reason": "cut off"}, json=patch
                    )
                except httpx.HTTPError as error:
                    answer["error"] = repr(error)
                answer["seconds"] = time.monotonic() - started

            writer = threading.Thread(target=write, daemon=True)
            writer.start()

            # The write is waiting for the lock, in the middle of its transaction.
            waiting = lock_waits(server, dbname, [blocker_pid], until=lambda: not writer.is_alive())
            assert len(waiting) == 1, (waiting, answer)
            pid, xid, query = waiting[0]
            assert query.startswith('INSERT INTO "cryptogroups_change"'), query
            # What it has written so far, read before the fault and checked after it: the
            # record's row (the old version's xmax is the write's transaction) and, by the locks
            # it holds, the history and pending-change rows (the version is bumped after the
            # feed's entries are written).
            (xmax,) = server.execute(
                "SELECT xmax::text FROM cryptogroups_organization WHERE slug = 'pboc'", dbname
            )[0]
            written = {
                row[0]
                for row in server.execute(
                    "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE l.pid = %s AND l.granted AND l.mode = 'RowExclusiveLock' "
                    "AND c.relkind = 'r'",
                    dbname,
                    [pid],
                )
            }

            fault_began = time.monotonic()
            if fault == "terminate":
                server.execute("SELECT pg_terminate_backend(%s)", dbname, [pid])
            else:
                server.stop("immediate")
            writer.join(timeout=REQUEST_TIMEOUT + 5)
            answered = time.monotonic() - fault_began
            assert not writer.is_alive(), "the write was not answered"
        finally:
            with contextlib.suppress(psycopg.Error):
                blocker.close()
            if not server.running():
                server.start()

        assert "error" not in answer, answer
        assert_outage_answer(answer["response"])

        after = snapshot(server, dbname)
        assert changed_tables(before, after) == []
        assert public_reads(curator) == reads_before
        # And the fault did cut the write in the middle of one transaction.
        assert xid is not None
        assert xmax == xid, f"the record's row was not written by the blocked transaction {xid}"
        assert {
            "cryptogroups_organization",
            "cryptogroups_historicalorganization",
            "cryptogroups_pendingchange",
        } <= written, written

        # The lock the write held is gone and the app writes again: the same change goes
        # through whole, one history entry and its feed entries.
        retry = curator.patch(RECORD, params={"reason": "after the fault"}, json=patch)
        assert retry.status_code == 200, retry.text[:300]
        assert retry.json()["description"] == patch["description"]
        final = snapshot(server, dbname)
        history = final["cryptogroups_historicalorganization"][0]
        assert history == before["cryptogroups_historicalorganization"][0] + 1
        assert final["cryptogroups_change"][0] > before["cryptogroups_change"][0]
        assert final["cryptogroups_pendingchange"][0] == 0

    record_figures(
        request,
        {
            "fault": fault,
            "blocked_statement": query.split("(")[0].strip(),
            "tables_written_before_the_fault": sorted(written),
            "client_status": answer["response"].status_code,
            "retry_after": answer["response"].headers.get("Retry-After"),
            "answered_after_fault_s": seconds(answered),
            "tables_changed_by_the_cut_write": len(changed_tables(before, after)),
            "retry_status": retry.status_code,
        },
    )


class SavedDespite503(AssertionError):
    """A write was answered 503, and it was saved."""


def test_a_write_answered_503_was_not_saved(request, cluster, dbname):
    """A 503 to a write says nothing was saved, even when the database fails right after the
    write commits. The write is held before its commit (as above), a second session queues for
    an exclusive lock on the record's table behind it, and the write is let go: it commits, the
    second session gets the table. If the request still reads the table after its commit, it
    now waits, and the server crashes (``immediate``) at that moment."""
    server = cluster.server
    value = "Committed before the crash."
    with (
        AppServer(DATABASE_URL=server.url(dbname), API_CACHE_SECONDS="0") as app,
        curator_client(app, cluster.token) as curator,
    ):
        blocker = psycopg.connect(server.url(dbname), connect_timeout=5)
        queued = psycopg.connect(server.url(dbname), connect_timeout=5)
        answer: dict = {}
        crashed = False
        try:
            blocker.execute('LOCK TABLE "cryptogroups_change" IN EXCLUSIVE MODE')
            (blocker_pid,) = blocker.execute("SELECT pg_backend_pid()").fetchone()
            (queued_pid,) = queued.execute("SELECT pg_backend_pid()").fetchone()
            queued.commit()

            def write() -> None:
                try:
                    answer["response"] = curator.patch(
                        RECORD, params={"reason": "crash after commit"}, json={"description": value}
                    )
                except httpx.HTTPError as error:
                    answer["error"] = repr(error)

            writer = threading.Thread(target=write, daemon=True)
            writer.start()
            waiting = lock_waits(server, dbname, [blocker_pid], until=lambda: not writer.is_alive())
            assert len(waiting) == 1, (waiting, answer)
            write_pid = waiting[0][0]

            def take_the_table() -> None:
                queued.execute('LOCK TABLE "cryptogroups_organization" IN ACCESS EXCLUSIVE MODE')

            taker = threading.Thread(target=take_the_table, daemon=True)
            taker.start()
            queue = lock_waits(server, dbname, [blocker_pid, write_pid], until=lambda: False)
            assert [row[0] for row in queue] == [queued_pid], queue
            blocker.rollback()  # the write goes on and commits; the queued session gets the table
            taker.join(timeout=REQUEST_TIMEOUT)
            assert not taker.is_alive(), "the write did not commit"
            (seen,) = queued.execute(
                "SELECT description FROM cryptogroups_organization WHERE slug = 'pboc'"
            ).fetchone()
            assert seen == value, "the write did not commit"

            # Answered already (nothing after the commit reads the table), or waiting for it.
            after_commit = lock_waits(
                server, dbname, [blocker_pid, queued_pid], until=lambda: not writer.is_alive()
            )
            if after_commit:
                crashed = True
                server.stop("immediate")
            writer.join(timeout=REQUEST_TIMEOUT + 5)
            assert not writer.is_alive(), "the write was not answered"
        finally:
            for connection in (blocker, queued):
                with contextlib.suppress(psycopg.Error):
                    connection.close()
            if not server.running():
                server.start()

    (saved,) = server.execute(
        "SELECT description FROM cryptogroups_organization WHERE slug = 'pboc'", dbname
    )[0]
    assert "error" not in answer, answer
    response = answer["response"]
    record_figures(
        request,
        {
            "crashed_after_commit": crashed,
            "statement_waiting_after_commit": after_commit[0][2].split(" FROM ")[0][:60]
            if after_commit
            else None,
            "client_status": response.status_code,
            "saved": saved == value,
        },
    )
    assert response.status_code in (200, 503), response.text[:300]
    if response.status_code == 503:
        if saved == value:
            raise SavedDespite503("the write was answered 503, and it was saved")
    else:
        assert saved == value


# 1c. The cache server goes away ------------------------------------------------------------------

CACHED_READS = [
    "/api/v1/groups/?platform=telegram",
    "/api/v1/exchanges/okcoin/",
    "/api/v1/exchanges/?search=shanghai",
    RECORD,
]


@pytest.mark.parametrize("fault", ["killed", "hung"])
def test_the_api_answers_without_its_cache_server(request, redis_binary, cluster, dbname, fault):
    """Redis is killed (SIGKILL; then started again on the same port) or hung (SIGSTOP; then
    SIGCONT). Meanwhile reads answer 200 with the same bodies, from the database, within the
    cache's timeouts; a curator's write goes through (rate limits fail open); /readyz names the
    cache as unavailable (``degraded``, still 200) and /healthz stays 200. Afterwards /readyz
    is ``ok`` again, the cache is used again, and it serves nothing older than the write."""
    server = cluster.server
    with (
        RedisServer(redis_binary) as cache_server,
        AppServer(
            DATABASE_URL=server.url(dbname), REDIS_URL=cache_server.url, API_CACHE_SECONDS="3600"
        ) as app,
        app.client(timeout=REQUEST_TIMEOUT) as client,
        curator_client(app, cluster.token) as curator,
    ):
        bodies = {}
        for path in CACHED_READS:
            for _ in range(2):
                response = client.get(path)
                assert response.status_code == 200, (path, response.text[:300])
            bodies[path] = response.content
        hits = cache_server.hits()
        for path in CACHED_READS:
            assert client.get(path).content == bodies[path]
        assert cache_server.hits() - hits >= len(CACHED_READS), "the cache is not in use"
        assert client.get("/readyz").status_code == 200

        fault_began = time.monotonic()
        if fault == "killed":
            cache_server.kill()
        else:
            cache_server.signal(signal.SIGSTOP)
        try:
            latencies = {}
            for path in CACHED_READS:
                started = time.monotonic()
                response = client.get(path)
                latencies[path] = time.monotonic() - started
                assert response.status_code == 200, (path, response.text[:300])
                assert response.content == bodies[path], path
            # Readiness names the cache as down; the server stays in service (degraded, 200):
            # an outage of the cache every app server shares must not pull them all.
            ready = client.get("/readyz")
            assert ready.json() == {"status": "degraded", "database": "ok", "cache": "unavailable"}
            assert ready.status_code == 200, ready.text
            ready_code, ready_body = ready.status_code, ready.json()
            assert client.get("/healthz").status_code == 200

            started = time.monotonic()
            write = curator.patch(
                RECORD, params={"reason": "cache outage"}, json={"description": "Written."}
            )
            write_seconds = time.monotonic() - started
            assert write.status_code == 200, write.text[:300]
            read = client.get(RECORD)
            assert read.status_code == 200
            assert read.json()["description"] == "Written."
        finally:
            recovery_began = time.monotonic()
            if fault == "killed":
                cache_server.start()  # the same port
            else:
                cache_server.signal(signal.SIGCONT)
        outage = recovery_began - fault_began

        deadline = time.monotonic() + 10
        while (ready := client.get("/readyz")).json()["status"] != "ok":
            assert time.monotonic() < deadline, ready.text
            time.sleep(0.1)
        assert ready.json() == {"status": "ok", "database": "ok", "cache": "ok"}
        recovered = time.monotonic() - recovery_began
        # Nothing from before the write is served, whatever the cache still holds.
        assert client.get(RECORD).json()["description"] == "Written."
        hits = cache_server.hits()
        for path in CACHED_READS:
            first = client.get(path)
            assert first.status_code == 200
            assert client.get(path).content == first.content
        assert cache_server.hits() - hits >= len(CACHED_READS), "the cache is not used again"
        assert cache_server.api_keys() >= len(CACHED_READS)

    slowest = max(latencies.values())
    record_figures(
        request,
        {
            "fault": fault,
            "reads_during_outage": len(latencies),
            "read_latency_during_outage_ms": {
                "p50": seconds(1000 * percentile(list(latencies.values()), 0.5)),
                "max": seconds(1000 * slowest),
            },
            "write_during_outage": {
                "status": write.status_code,
                "ms": seconds(1000 * write_seconds),
            },
            "readyz_during_outage": {"status_code": ready_code, **ready_body},
            "bound_s": CACHE_OUTAGE_BOUND,
            "cache_down_s": seconds(outage),
            "ready_again_after_s": seconds(recovered),
        },
    )
    assert slowest < CACHE_OUTAGE_BOUND, latencies
    assert write_seconds < CACHE_OUTAGE_BOUND, write_seconds


def test_published_versions_serve_nothing_a_write_replaced(redis_binary, cluster, dbname):
    """PUBLISH_VERSIONS=1, gunicorn with several workers: cached answers read no database, yet
    right after a write every worker serves the new state; while Redis is hung (SIGSTOP) a
    write is refused with a 503 and nothing is saved, and once Redis answers again nothing
    of the refused write shows."""
    server = cluster.server
    with (
        RedisServer(redis_binary) as cache_server,
        AppServer(
            workers=3,
            DATABASE_URL=server.url(dbname),
            REDIS_URL=cache_server.url,
            API_CACHE_SECONDS="3600",
            PUBLISH_VERSIONS="1",
        ) as app,
        app.client(timeout=REQUEST_TIMEOUT) as client,
        curator_client(app, cluster.token) as curator,
    ):
        paths = [RECORD, "/api/v1/organizations/", "/api/v1/groups/?platform=telegram"]
        for _ in range(10):
            for path in paths:
                assert client.get(path).status_code == 200, path
        published = list(cache_server.client().scan_iter(match="cryptogroups:published:*"))
        assert len(published) >= 2, published

        write = curator.patch(RECORD, params={"reason": "published"}, json={"description": "One."})
        assert write.status_code == 200, write.text[:300]
        for _ in range(12):  # every worker, several times
            assert client.get(RECORD).json()["description"] == "One."
        listed = client.get("/api/v1/organizations/", params={"page_size": 100}).json()
        assert {o["description"] for o in listed["results"] if o["url"].endswith(RECORD)} == {
            "One."
        }

        cache_server.signal(signal.SIGSTOP)
        try:
            refused = curator.patch(RECORD, params={"reason": "hung"}, json={"description": "Two."})
            assert refused.status_code == 503, refused.text[:300]
            assert refused.headers["Retry-After"]
            during = client.get(RECORD)
            assert during.status_code == 200
            assert during.json()["description"] == "One."
        finally:
            cache_server.signal(signal.SIGCONT)
        for _ in range(12):
            assert client.get(RECORD).json()["description"] == "One."
        again = curator.patch(RECORD, params={"reason": "again"}, json={"description": "Three."})
        assert again.status_code == 200, again.text[:300]
        for _ in range(12):
            assert client.get(RECORD).json()["description"] == "Three."
