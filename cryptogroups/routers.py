"""Reads from a streaming replica, writes to the primary (``DATABASE_REPLICA_URL``).

Which requests read from the replica
    Only anonymous reads: a request whose method is safe (GET, HEAD, OPTIONS) and that carries
    no credentials (no ``Authorization`` header, no session cookie). ``route_requests`` marks
    such a request for the length of its handling; everything else reads from the primary:
    writes, every request of a curator (token or session), management commands, the admin,
    and code run outside a request. A curator therefore always reads what was just written
    (read-your-writes), and token and session lookups never meet a lagging replica.

    An anonymous read may lag behind the primary by the replica's replay delay. Within one
    request every read goes to the same server, so the dataset version a response is tagged
    and cached with (api/cache.py) is the version its body was built from; with published
    versions too, which such a request does not take from Redis (``may_read_replica``).

What never reads from the replica
    Writes go to the primary (``db_for_write``), and so do ``select_for_update()`` and every
    queryset Django runs for a write (``get_or_create``, ``update``, deletions). Plain reads
    made inside a transaction on the primary (``transaction.atomic()``) go to the primary too,
    whatever the request: the write API and the changes feed's flush (cryptogroups/feed.py) read
    under the dataset lock, and a stale read there would write stale data. Migrations run on
    the primary only.

When the replica is down
    A marked request checks the replica once, at its first read (the connection is reused
    between requests and checked as Django checks it, ``CONN_HEALTH_CHECKS``). When the replica
    cannot be reached the request reads from the primary instead, and so does every anonymous
    read of the process for the next ``REPLICA_RETRY_SECONDS``, without trying the replica
    again; the failure is logged once. The primary always holds data at least as new as the
    replica's, so falling back never serves anything older. A replica that fails in the middle
    of a request is not retried on the primary within that request (its earlier reads came from
    the replica): that request is answered with the JSON 503 of database outages.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpRequest, HttpResponse

logger = logging.getLogger(__name__)

#: The primary, which takes every write.
PRIMARY = DEFAULT_DB_ALIAS

#: The replica's alias in ``DATABASES`` (set by the settings from ``DATABASE_REPLICA_URL``).
REPLICA = "replica"

#: Methods that read only.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

#: Seconds a process reads from the primary after it failed to reach the replica.
REPLICA_RETRY_SECONDS = 10.0


@dataclass
class ReplicaRead:
    """The mark of a request that may read from the replica; ``alias`` is the server its
    reads go to, decided at its first read."""

    alias: str | None = None


#: Set by ``route_requests`` for the requests that may read from the replica.
_marked: contextvars.ContextVar[ReplicaRead | None] = contextvars.ContextVar(
    "cryptogroups_replica_read", default=None
)

# Until when (time.monotonic()) this process reads from the primary, after it failed to reach
# the replica; shared by its threads.
_replica_down_until = 0.0
_replica_down_lock = threading.Lock()


def replica_eligible(request: HttpRequest) -> bool:
    """Whether the request may read from the replica: a safe method and no credentials."""
    return (
        request.method in SAFE_METHODS
        and "HTTP_AUTHORIZATION" not in request.META
        and settings.SESSION_COOKIE_NAME not in request.COOKIES
    )


def route_requests(get_response: Callable[[HttpRequest], HttpResponse]):
    """Mark the requests that may read from the replica, for as long as they are handled."""

    def middleware(request: HttpRequest) -> HttpResponse:
        token = _marked.set(ReplicaRead() if replica_eligible(request) else None)
        try:
            return get_response(request)
        finally:
            _marked.reset(token)

    return middleware


def connect_replica() -> None:
    """Make sure the replica's connection of this thread works: a connection kept from an
    earlier request is checked (and dropped if it fails) and a new one is opened if needed.
    Raises DatabaseError when the replica cannot be reached."""
    connection = connections[REPLICA]
    connection.close_if_health_check_failed()
    connection.ensure_connection()


def replica_reachable() -> bool:
    """Whether the replica can be read now; after a failure, False for a while without trying."""
    global _replica_down_until
    if REPLICA not in settings.DATABASES:
        return False
    if time.monotonic() < _replica_down_until:
        return False
    try:
        connect_replica()
    except DatabaseError as error:
        with _replica_down_lock:
            first = time.monotonic() >= _replica_down_until
            _replica_down_until = time.monotonic() + REPLICA_RETRY_SECONDS
        if first:
            logger.warning(
                "Replica unavailable; anonymous reads go to the primary for %.0f s: %s",
                REPLICA_RETRY_SECONDS,
                error,
            )
        return False
    return True


def read_from_primary() -> None:
    """Send the rest of the current request's reads to the primary. Called before the
    request's first read, by views whose answers must never be older than an answer the
    primary gave: the changes feed, whose cursors a client carries from one server to the
    next (a lagging replica would find such a cursor ahead of its feed)."""
    mark = _marked.get()
    if mark is not None:
        mark.alias = PRIMARY


def may_read_replica() -> bool:
    """Whether the current request's reads go, or may go, to the replica."""
    mark = _marked.get()
    return mark is not None and mark.alias != PRIMARY


def read_alias() -> str:
    """The database the current read goes to."""
    mark = _marked.get()
    if mark is None:
        return PRIMARY
    if connections[PRIMARY].in_atomic_block:
        # A transaction on the primary reads what it is about to write on: never stale.
        if mark.alias is None:
            mark.alias = PRIMARY
        return PRIMARY
    if mark.alias is None:
        mark.alias = REPLICA if replica_reachable() else PRIMARY
    return mark.alias


class ReplicaRouter:
    """Anonymous reads to the replica, everything else to the primary (see the module)."""

    def db_for_read(self, model, **hints) -> str:
        return read_alias()

    def db_for_write(self, model, **hints) -> str:
        return PRIMARY

    def allow_relation(self, obj1, obj2, **hints) -> bool | None:
        """Rows of either server may be related: the replica holds the primary's data."""
        if {obj1._state.db, obj2._state.db} <= {PRIMARY, REPLICA}:
            return True
        return None

    def allow_migrate(self, db: str, app_label: str, model_name=None, **hints) -> bool:
        """Migrations run on the primary only; the replica receives them by replication."""
        return db == PRIMARY
