"""Rate limits that clients can see.

Each client has a budget of requests per window: anonymous clients by address, authenticated
ones by account (rates in ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``, from the environment).
The windows are fixed and counted with the cache's atomic increment, so every app server
sharing the cache (Redis) counts the same budget.

Every throttled response says where the client stands, in the headers of the IETF draft
"RateLimit header fields for HTTP" (api.middleware.api_headers): ``RateLimit-Limit``,
``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds until the window ends) and
``RateLimit-Policy``. Past the limit the answer is a 429 with ``Retry-After``.

Without a shared cache (no ``REDIS_URL``) each process's cache is its own memory, and a client's
budget would be multiplied by the number of worker processes. gunicorn.conf.py then names a
SQLite file for the instance (``RATE_LIMIT_FILE``), and every worker counts there
(:class:`FileCounter`): the limit holds across the workers of an app server. Several app
servers need Redis to share one budget.

A cache (or counting file) that cannot be reached does not block the API: the request is let
through, and the failure is logged.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core import checks
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

PERIODS = {
    **dict.fromkeys(["s", "sec", "second"], 1),
    **dict.fromkeys(["m", "min", "minute"], 60),
    **dict.fromkeys(["h", "hour"], 3600),
    **dict.fromkeys(["d", "day"], 86400),
}


@dataclass(frozen=True)
class Rate:
    limit: int
    window: int  # seconds

    @classmethod
    def parse(cls, text: str | None) -> Rate | None:
        """``"120/minute"`` → 120 requests per 60 s; ``off`` (or nothing) → no limit."""
        if not text or text.strip().lower() == "off":
            return None
        number, _, period = text.partition("/")
        try:
            limit = int(number)
            window = PERIODS[period.strip().lower()]
        except (ValueError, KeyError):
            raise ValueError(
                f"A rate is N/second, N/minute, N/hour, N/day or off, not {text!r}."
            ) from None
        if limit < 1:
            raise ValueError(f"A rate allows at least one request, not {text!r}.")
        return cls(limit, window)


@dataclass(frozen=True)
class Standing:
    """Where a client stands in its current window."""

    scope: str
    rate: Rate
    count: int
    reset: int  # seconds until the window ends

    @property
    def remaining(self) -> int:
        return max(self.rate.limit - self.count, 0)


class FixedWindowThrottle(BaseThrottle):
    scope = ""

    def applies(self, request) -> bool:
        raise NotImplementedError

    def ident(self, request) -> str:
        raise NotImplementedError

    def rate(self) -> Rate | None:
        # Read on each request, so that a change of settings (or of a test's) takes effect.
        return Rate.parse(api_settings.DEFAULT_THROTTLE_RATES.get(self.scope))

    def allow_request(self, request, view) -> bool:
        rate = self.rate()
        if rate is None or not self.applies(request):
            return True
        if getattr(request._request, "uncounted", False):
            return True  # the cache did not answer api.hits: let through, as counted() does
        standing = getattr(request._request, "ratelimit", None)
        if standing is None or standing.scope != self.scope:
            # Not counted yet (api.hits counts an anonymous read it then hands over).
            key, timeout, window_end = self.window(request, rate)
            count = counted(key, timeout=timeout)
            if count is None:
                return True
            standing = Standing(self.scope, rate, count, math.ceil(window_end - time.time()))
            request._request.ratelimit = standing
        self.standing = standing
        return standing.count <= standing.rate.limit

    def window(self, request, rate: Rate) -> tuple[str, int, float]:
        """The key the request is counted under in the current window, how long the count is
        kept, and when the window ends."""
        window = int(time.time() // rate.window)
        key = f"throttle:{self.scope}:{self.ident(request)}:{window}"
        return key, rate.window + 1, (window + 1) * rate.window

    def wait(self) -> float | None:
        return self.standing.reset


class AnonThrottle(FixedWindowThrottle):
    """Anonymous clients, by address (see ``NUM_PROXIES``)."""

    scope = "anon"

    def applies(self, request) -> bool:
        return not (request.user and request.user.is_authenticated)

    def ident(self, request) -> str:
        return self.get_ident(request)


class UserThrottle(FixedWindowThrottle):
    """Authenticated clients, by account."""

    scope = "user"

    def applies(self, request) -> bool:
        return bool(request.user and request.user.is_authenticated)

    def ident(self, request) -> str:
        return str(request.user.pk)


def counted(key: str, timeout: int) -> int | None:
    """This request counted under ``key``: the count so far, or None when nothing can count
    (the request is then let through)."""
    counter = file_counter()
    if counter is not None:
        try:
            return counter.incr(key, timeout)
        except sqlite3.Error:
            logger.warning("Rate limit not counted: its file is unavailable.", exc_info=True)
            return None
    if isinstance(caches["default"], RedisCache):
        try:
            return redis_counted(key, timeout)
        except Exception:
            logger.warning("Rate limit not counted: the cache is unavailable.", exc_info=True)
            return None
    try:
        # add() is a no-op when the key exists; incr() is atomic on Redis.
        cache.add(key, 0, timeout=timeout)
        return cache.incr(key)
    except ValueError:
        # The key expired between add() and incr(): this request opens the window.
        try:
            cache.set(key, 1, timeout=timeout)
        except Exception:
            logger.warning("Rate limit not counted: the cache is unavailable.", exc_info=True)
        return 1
    except Exception:
        logger.warning("Rate limit not counted: the cache is unavailable.", exc_info=True)
        return None


def redis_counted(key: str, timeout: int) -> int:
    """The count under ``key`` in one round trip: the window is opened (with its expiry) if it
    is not there, then counted, in one pipeline (what ``add()`` then ``incr()`` do in two)."""
    backend = caches["default"]
    key = backend.make_and_validate_key(key)
    client = backend._cache.get_client(key, write=True)
    pipeline = client.pipeline(transaction=False)
    pipeline.set(key, 0, ex=timeout, nx=True)
    pipeline.incr(key)
    return pipeline.execute()[1]


class FileCounter:
    """Counts shared by the processes of one host, in an SQLite file: each increment is one
    atomic statement (SQLite locks the file), so every worker sees every other's requests.
    Entries are dropped once their window has passed. Each thread has its own connection."""

    #: The longest a request waits for another process's increment before it is let through.
    BUSY_MS = 250
    #: Seconds between purges of expired counts (by each process).
    PURGE_EVERY = 60

    def __init__(self, path: str):
        self.path = path
        self.local = threading.local()
        self.purged = 0.0

    def connection(self) -> sqlite3.Connection:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self.path, timeout=self.BUSY_MS / 1000, isolation_level=None
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=OFF")  # counts need not survive a crash
            connection.execute(
                "CREATE TABLE IF NOT EXISTS counts "
                "(key TEXT PRIMARY KEY, count INTEGER NOT NULL, expires REAL NOT NULL)"
            )
            self.local.connection = connection
        return connection

    def incr(self, key: str, timeout: int) -> int:
        connection = self.connection()
        now = time.time()
        (count,) = connection.execute(
            "INSERT INTO counts (key, count, expires) VALUES (?, 1, ?) "
            "ON CONFLICT (key) DO UPDATE SET count = count + 1 RETURNING count",
            (key, now + timeout),
        ).fetchone()
        if now - self.purged > self.PURGE_EVERY:
            self.purged = now
            connection.execute("DELETE FROM counts WHERE expires < ?", (now,))
        return count


_file_counters: dict[str, FileCounter] = {}


def file_counter() -> FileCounter | None:
    """The host's counting file, when there is no shared cache and the app server named one
    (gunicorn.conf.py sets ``RATE_LIMIT_FILE``); None otherwise (one process: its cache)."""
    path = settings.RATE_LIMIT_FILE
    if settings.REDIS_URL or not path:
        return None
    if path not in _file_counters:
        _file_counters[path] = FileCounter(path)
    return _file_counters[path]


def check_rates(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A system check: every configured rate must parse (THROTTLE_*_RATE in the environment),
    so that a typo stops the deployment instead of failing requests."""
    errors = []
    for scope, text in api_settings.DEFAULT_THROTTLE_RATES.items():
        try:
            Rate.parse(text)
        except ValueError as error:
            errors.append(checks.Error(f"Rate limit {scope!r}: {error}", id="api.E001"))
    return errors
