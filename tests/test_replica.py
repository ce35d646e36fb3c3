"""Reads from a streaming replica (cryptogroups.routers).

The end-to-end tests run the app as in production (gunicorn, tests/appserver.py) on a private
PostgreSQL primary and a real hot standby streamed from it (tests/pgserver.py), both on
loopback. They take their own servers, so they run the same whatever database the rest of the
suite uses. With the replica's replay paused, a record changed through the API shows which
server answered: the replica still has the old value, the primary the new one.

The in-process tests check the router's decisions one by one.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import SimpleNamespace

import httpx
import pytest
from django.conf import settings
from django.db import OperationalError, connections
from django.http import HttpResponse
from django.test import RequestFactory

from cryptogroups import routers
from cryptogroups.models import Organization
from tests.appserver import AppServer, manage, prepare_database
from tests.pgserver import PostgresServer, private_server
from tests.redisserver import RedisServer, require_redis

DBNAME = "cryptogroups"

#: The app's connections carry this name (libpq's PGAPPNAME), so that the servers' own views
#: (pg_stat_activity) tell them from the test's.
APP_NAME = "cryptogroups-replica-test"

CURATOR = "replica-curator"


def wait_for(condition: Callable[[], object], what: str, timeout: float = 30) -> object:
    """Poll ``condition`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.1)


def scalar(server: PostgresServer, sql: str, params=None):
    return server.execute(sql, DBNAME, params)[0][0]


def replayed_up_to_primary(primary: PostgresServer, replica: PostgresServer) -> bool:
    target = scalar(primary, "SELECT pg_current_wal_lsn()::text")
    return bool(
        scalar(replica, "SELECT coalesce(pg_last_wal_replay_lsn() >= %s::pg_lsn, false)", (target,))
    )


def app_connections(server: PostgresServer) -> int:
    """How many connections the app server holds to ``server``."""
    return scalar(
        server,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
        (DBNAME, APP_NAME),
    )


def stored_name(server: PostgresServer, slug: str) -> str:
    table = Organization._meta.db_table
    return scalar(server, f"SELECT name FROM {table} WHERE slug = %s", (slug,))


@dataclass
class Deployment:
    primary: PostgresServer
    replica: PostgresServer
    app: AppServer
    token: str
    slug: str  # a published organization, changed by the tests
    name: str  # its name as loaded

    def anonymous(self) -> httpx.Client:
        return self.app.client()

    def curator(self) -> httpx.Client:
        return self.app.client(headers={"Authorization": f"Token {self.token}"})

    @property
    def path(self) -> str:
        return f"/api/v1/organizations/{self.slug}/"


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    """A primary with the curated dataset and a curator, a hot standby streamed from it, and
    the app reading from both, with its response cache off (each read reaches a database)."""
    with private_server("cryptogroups-replica-") as primary:
        replica_root = primary.root.parent / "replica"
        try:
            primary.execute(f"CREATE DATABASE {DBNAME}")
            url = primary.url(DBNAME)
            prepare_database(url)
            with ThreadPoolExecutor(1) as pool:
                making = pool.submit(primary.replica, replica_root)
                # The curator is made while the replica is copied: it reaches it by streaming.
                manage("add_curator", CURATOR, DATABASE_URL=url)
                token = manage("issue_token", CURATOR, DATABASE_URL=url).stdout.strip()
                replica = making.result()
            replica.wait_ready()
            assert scalar(replica, "SELECT pg_is_in_recovery()")
            wait_for(lambda: replayed_up_to_primary(primary, replica), "the replica to catch up")
            slug, name = primary.execute(
                f"SELECT slug, name FROM {Organization._meta.db_table} WHERE publication_status"
                " = 'published' AND parent_id IS NULL ORDER BY slug LIMIT 1",
                DBNAME,
            )[0]
            with AppServer(
                workers=1,
                threads=2,
                DATABASE_URL=url,
                DATABASE_REPLICA_URL=replica.url(DBNAME),
                API_CACHE_SECONDS="0",
                PGAPPNAME=APP_NAME,
            ) as app:
                yield Deployment(primary, replica, app, token, slug, name)
        finally:
            leftover = PostgresServer(replica_root)
            if leftover.data.exists() and leftover.running():
                leftover.stop("immediate")


def read_name(client: httpx.Client, path: str, **kwargs) -> str:
    response = client.get(path, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()["name"]


# --- With a real streaming replica ----------------------------------------------------------


@pytest.mark.servers
def test_anonymous_reads_lag_on_the_replica_while_curators_read_their_writes(deployment):
    d = deployment
    new_name = f"{d.name} (renamed)"
    assert app_connections(d.replica) == 0, "nothing has read yet"

    d.replica.execute("SELECT pg_wal_replay_pause()", DBNAME)
    try:
        wait_for(
            lambda: scalar(d.replica, "SELECT pg_get_wal_replay_pause_state()") == "paused",
            "the replica's replay to pause",
        )
        with d.curator() as curator, d.anonymous() as anonymous:
            # A write succeeds while the replica replays nothing: it went to the primary. (The
            # replica is read-only: a write or a row lock there is refused, and the write fails.)
            written = curator.patch(
                d.path, params={"reason": "Replica routing test"}, json={"name": new_name}
            )
            assert written.status_code == 200, written.text
            assert written.json()["name"] == new_name
            assert stored_name(d.primary, d.slug) == new_name
            assert stored_name(d.replica, d.slug) == d.name

            # The curator reads the write at once, from the primary; so does any request
            # with a session cookie, which marks a logged-in user.
            assert read_name(curator, d.path) == new_name
            session = {"Cookie": f"{settings.SESSION_COOKIE_NAME}=x"}
            assert read_name(anonymous, d.path, headers=session) == new_name
            assert app_connections(d.replica) == 0, "requests with credentials read the primary"

            # Anonymous reads come from the paused replica: the old name, an older version.
            for _ in range(4):  # both threads of the worker
                assert read_name(anonymous, d.path) == d.name
            lagging = anonymous.get(d.path)
            current = curator.get(d.path)
            assert lagging.headers["ETag"] != current.headers["ETag"]
            assert anonymous.head(d.path).headers["ETag"] == lagging.headers["ETag"]
            listed = anonymous.get("/api/v1/organizations/", params={"page_size": 100})
            assert d.name in {record["name"] for record in listed.json()["results"]}
            assert new_name not in {record["name"] for record in listed.json()["results"]}
            assert app_connections(d.replica) >= 1
    finally:
        d.replica.execute("SELECT pg_wal_replay_resume()", DBNAME)

    # Once the replica has replayed the write, anonymous reads see it.
    with d.anonymous() as anonymous:
        wait_for(lambda: read_name(anonymous, d.path) == new_name, "the replica to replay")
        # The record's tag is the primary's: a request with a session cookie reads there.
        on_primary = anonymous.get(d.path, headers={"Cookie": f"{settings.SESSION_COOKIE_NAME}=x"})
        assert anonymous.get(d.path).headers["ETag"] == on_primary.headers["ETag"]


@pytest.mark.servers
def test_a_list_read_from_a_lagging_replica_carries_the_replicas_version(deployment):
    """With PUBLISH_VERSIONS the primary publishes each version in Redis, ahead of a lagging
    replica. An anonymous list reads the replica's rows, so it carries, and is cached under,
    the replica's version: a page built while the replica lagged is not served, once it has
    caught up, for the version it did not hold."""
    d = deployment
    listing = "/api/v1/organizations/?page_size=100"
    before = stored_name(d.primary, d.slug)
    new_name = f"{before} (published)"
    with (
        RedisServer(require_redis()) as cache_server,
        AppServer(
            workers=1,
            threads=2,
            DATABASE_URL=d.primary.url(DBNAME),
            DATABASE_REPLICA_URL=d.replica.url(DBNAME),
            REDIS_URL=cache_server.url,
            PUBLISH_VERSIONS="1",
            API_CACHE_SECONDS="3600",
            PGAPPNAME=APP_NAME,
        ) as app,
        app.client() as anonymous,
        app.client(headers={"Authorization": f"Token {d.token}"}) as curator,
    ):

        def names() -> set[str]:
            return {record["name"] for record in anonymous.get(listing).json()["results"]}

        assert before in names()
        d.replica.execute("SELECT pg_wal_replay_pause()", DBNAME)
        try:
            wait_for(
                lambda: scalar(d.replica, "SELECT pg_get_wal_replay_pause_state()") == "paused",
                "the replica's replay to pause",
            )
            written = curator.patch(
                d.path, params={"reason": "Published versions"}, json={"name": new_name}
            )
            assert written.status_code == 200, written.text
            for _ in range(3):  # built from the paused replica, then from the cache
                lagging = anonymous.get(listing)
                assert before in {record["name"] for record in lagging.json()["results"]}
            current = curator.get(listing)
            assert new_name in {record["name"] for record in current.json()["results"]}
            assert lagging.headers["ETag"] != current.headers["ETag"]
        finally:
            d.replica.execute("SELECT pg_wal_replay_resume()", DBNAME)
        wait_for(lambda: new_name in names(), "the list to show the replayed write")
        assert before not in names()


def feed_end(client: httpx.Client) -> str:
    """The cursor the changes feed is complete through, read to its end."""
    params = {"page_size": 500}
    while True:
        page = client.get("/api/v1/changes/", params=params).json()
        if page["next"] is None:
            return page["complete_through"]
        params["after"] = page["complete_through"]


@pytest.mark.servers
def test_the_feed_reads_the_primary_and_the_history_the_replica(deployment):
    """A record's history lags on the replica like the record does. The changes feed does
    not: a client carries its cursor from one app server to the next, and a cursor the primary
    gave must never be ahead of the feed it is given to, so the feed is read from the primary
    (with the replica paused, an anonymous reader sees the new entry at once)."""
    d = deployment
    name = f"{d.name} (fed)"
    with d.curator() as curator, d.anonymous() as anonymous:
        wait_for(lambda: replayed_up_to_primary(d.primary, d.replica), "the replica to catch up")
        start = feed_end(anonymous)
        history = f"{d.path}history/"
        d.replica.execute("SELECT pg_wal_replay_pause()", DBNAME)
        try:
            written = curator.patch(d.path, params={"reason": "Feed test"}, json={"name": name})
            assert written.status_code == 200, written.text

            fresh = curator.get("/api/v1/changes/", params={"after": start}).json()
            # The record first, then any record that embeds it (an action it issued).
            assert fresh["results"][0]["slug"] == d.slug
            assert fresh["results"][0]["data"]["name"] == name
            anonymous_page = anonymous.get("/api/v1/changes/", params={"after": start}).json()
            assert anonymous_page == fresh
            # The cursor the curator got (from the primary) is not "ahead" for anyone.
            after = anonymous.get("/api/v1/changes/", params={"after": fresh["complete_through"]})
            assert after.status_code == 200, after.text
            assert after.json()["results"] == []

            assert curator.get(history).json()["results"][0]["reason"] == "Feed test"
            assert anonymous.get(history).json()["results"][0]["reason"] != "Feed test"
        finally:
            d.replica.execute("SELECT pg_wal_replay_resume()", DBNAME)
        wait_for(
            lambda: anonymous.get(history).json()["results"][0]["reason"] == "Feed test",
            "the history's entry on the replica",
        )
        assert anonymous.get("/readyz").json()["database_replica"] == "ok"


@pytest.mark.servers
def test_primary_down_anonymous_reads_go_on_from_the_replica(deployment):
    """Anonymous reads of records need nothing from the primary; curators and the changes
    feed get the JSON 503 of an outage, and are served again once the primary is back."""
    d = deployment
    with d.curator() as curator, d.anonymous() as anonymous:
        expected = read_name(curator, d.path)
        wait_for(lambda: read_name(anonymous, d.path) == expected, "the replica to catch up")
    d.primary.stop("fast")
    try:
        with d.curator() as curator, d.anonymous() as anonymous:
            for _ in range(4):
                assert read_name(anonymous, d.path) == expected
            # The feed is read from the primary (its cursors come from there): a 503.
            feed = anonymous.get("/api/v1/changes/")
            assert feed.status_code == 503, feed.text
            refused = curator.get(d.path)
            assert refused.status_code == 503, refused.text
            assert refused.json()["errors"][0]["code"] == "service_unavailable"
            assert "Retry-After" in refused.headers
            written = curator.patch(d.path, params={"reason": "Down"}, json={"name": "x"})
            assert written.status_code == 503, written.text
            assert anonymous.get("/readyz").json()["database"] == "unavailable"
    finally:
        d.primary.start()
    with d.curator() as curator:
        wait_for(lambda: curator.get(d.path).status_code == 200, "the app to reconnect")
        assert read_name(curator, d.path) == expected


@pytest.mark.servers
def test_replica_down_anonymous_reads_fall_back_to_the_primary(deployment):
    d = deployment
    name = f"{d.name} (after the replica)"
    d.replica.stop("fast")
    with d.curator() as curator, d.anonymous() as anonymous:
        written = curator.patch(d.path, params={"reason": "Replica down test"}, json={"name": name})
        assert written.status_code == 200, written.text
        for _ in range(4):
            assert read_name(anonymous, d.path) == name
        assert anonymous.get("/readyz").json()["database_replica"] == "unavailable"
    assert "Replica unavailable" in d.app.tail(200)


# --- The router's decisions, in process --------------------------------------------------


def request(method: str = "GET", **extra):
    return RequestFactory().generic(method, "/api/v1/groups/", **extra)


@pytest.mark.parametrize(
    ("method", "extra", "eligible"),
    [
        ("GET", {}, True),
        ("HEAD", {}, True),
        ("OPTIONS", {}, True),
        ("POST", {}, False),
        ("PUT", {}, False),
        ("PATCH", {}, False),
        ("DELETE", {}, False),
        ("GET", {"HTTP_AUTHORIZATION": "Token abc"}, False),
        ("GET", {"HTTP_AUTHORIZATION": ""}, False),
        ("GET", {"HTTP_COOKIE": f"{settings.SESSION_COOKIE_NAME}=abc"}, False),
        ("GET", {"HTTP_COOKIE": "csrftoken=abc"}, True),
    ],
)
def test_which_requests_may_read_from_the_replica(method, extra, eligible):
    assert routers.replica_eligible(request(method, **extra)) is eligible


@pytest.fixture
def replica(monkeypatch):
    """A replica configured, reachable unless told otherwise; counts connection checks."""
    state = SimpleNamespace(reachable=True, checks=0, now=1000.0)

    def connect():
        state.checks += 1
        if not state.reachable:
            raise OperationalError("connection refused")

    monkeypatch.setitem(settings.DATABASES, routers.REPLICA, {})
    monkeypatch.setattr(routers, "connect_replica", connect)
    monkeypatch.setattr(routers, "_replica_down_until", 0.0)
    monkeypatch.setattr(routers, "time", SimpleNamespace(monotonic=lambda: state.now))
    return state


def reads_during(method: str = "GET", reads: int = 1, **extra) -> list[str]:
    """The aliases the router picks for reads made while the middleware handles a request."""
    router = routers.ReplicaRouter()
    seen = []

    def view(request):
        seen.extend(router.db_for_read(Organization) for _ in range(reads))
        seen.append(router.db_for_write(Organization))
        return HttpResponse()

    routers.route_requests(view)(request(method, **extra))
    return seen


def test_anonymous_reads_go_to_the_replica_and_writes_to_the_primary(replica):
    assert reads_during("GET", reads=3) == ["replica", "replica", "replica", "default"]
    assert replica.checks == 1, "the replica is checked once per request"
    assert reads_during("POST") == ["default", "default"]
    assert reads_during("GET", HTTP_AUTHORIZATION="Token abc") == ["default", "default"]
    assert replica.checks == 1


def test_reads_outside_requests_go_to_the_primary(replica):
    router = routers.ReplicaRouter()
    assert router.db_for_read(Organization) == "default"
    routers.route_requests(lambda request: HttpResponse())(request())
    assert router.db_for_read(Organization) == "default", "the mark ends with the request"
    assert replica.checks == 0


def test_the_mark_ends_with_a_request_that_fails(replica):
    def view(request):
        assert routers.read_alias() == "replica"
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        routers.route_requests(view)(request())
    assert routers.read_alias() == "default"


def test_reads_inside_a_transaction_on_the_primary_stay_on_it(replica, monkeypatch):
    primary = connections["default"]

    def view(request):
        monkeypatch.setattr(primary, "in_atomic_block", True)
        inside = routers.read_alias()
        monkeypatch.setattr(primary, "in_atomic_block", False)
        return HttpResponse(f"{inside} {routers.read_alias()}")

    response = routers.route_requests(view)(request())
    # A request whose first read was on the primary stays there: one server per request.
    assert response.content == b"default default"
    assert replica.checks == 0


def test_an_unreachable_replica_sends_reads_to_the_primary_for_a_while(replica):
    replica.reachable = False
    assert reads_during("GET", reads=2) == ["default", "default", "default"]
    assert replica.checks == 1
    replica.reachable = True
    replica.now += routers.REPLICA_RETRY_SECONDS - 1
    assert reads_during("GET") == ["default", "default"]
    assert replica.checks == 1, "not tried again within the retry time"
    replica.now += 2
    assert reads_during("GET") == ["replica", "default"]
    assert replica.checks == 2


def test_without_a_replica_everything_reads_the_primary(monkeypatch):
    monkeypatch.delitem(settings.DATABASES, routers.REPLICA, raising=False)
    assert reads_during("GET") == ["default", "default"]


def test_migrations_and_relations():
    router = routers.ReplicaRouter()
    assert router.allow_migrate("default", "cryptogroups") is True
    assert router.allow_migrate("replica", "cryptogroups") is False
    on_primary, on_replica, elsewhere = Organization(), Organization(), Organization()
    on_primary._state.db, on_replica._state.db, elsewhere._state.db = "default", "replica", "x"
    assert router.allow_relation(on_primary, on_replica) is True
    assert router.allow_relation(on_primary, elsewhere) is None
