"""A cache of public responses and list counts that stays right across any number of app
servers: every key holds a version read from the database on each request, so a change makes
every older entry unreachable. A list's key holds the public dataset's version (its counter and
the time it last moved), which only changes to public data move; a record's key holds the
digest of its representation, so a change to one record leaves the others' entries in place.
Nothing is ever invalidated by hand, and an entry can only be served for the version it was
made for.

A list's count, its waypoints and a search's matches are kept under the list's filters and
the last change to the fields they read (api.depends: a description edited leaves the count
of a list filtered by platform in place), for ``API_COUNT_CACHE_SECONDS``. They stay exact: a
change to a field they read, or to any record's visibility, moves their key. They are kept
even when responses are not (``API_CACHE_SECONDS=0``): counting a million rows costs far more
than building a page.

A response is built once at a time: after a change, when many requests ask for the same URL,
one builds its answer and the others wait for it (``build_once``), up to
``BUILD_WAIT_SECONDS``, then build it themselves. They wait for the very entry they would have
built (the same key, so the same version): nothing older is served.

The cache is Django's: Redis when ``REDIS_URL`` is set (shared by all app servers), memory of
the process otherwise. When the cache server fails, requests are answered from the database,
as if the entry were missing; the failure is logged, and the request does not wait long
(short socket timeouts in the settings).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache

from cryptogroups import published

logger = logging.getLogger(__name__)


def version_key(version) -> str:
    """The public dataset's version in a key: its counter and the microsecond it moved (the
    form it is published in, see api.hits)."""
    return f"{version.counter}.{published.micros(version.changed_at)}"


def key(kind: str, version: str, *parts: str) -> str:
    """The key of an entry made for ``version``: the public dataset's (``version_key``) for
    lists and counts, the digest of its representation for a record."""
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]
    return f"api:{kind}:{version}:{digest}"


def enabled(seconds: int | None = None) -> bool:
    return (settings.API_CACHE_SECONDS if seconds is None else seconds) > 0


def get(cache_key: str, seconds: int | None = None) -> Any:
    """The cached value, or None when there is none (or the cache does not answer).
    ``seconds``: how long the kind of entry is kept (API_CACHE_SECONDS unless given; 0: not
    cached)."""
    if not enabled(seconds):
        return None
    try:
        return cache.get(cache_key)
    except Exception:
        logger.warning("Cache unavailable; answering from the database.", exc_info=True)
        return None


def set(cache_key: str, value: Any, seconds: int | None = None) -> None:
    seconds = settings.API_CACHE_SECONDS if seconds is None else seconds
    if not enabled(seconds):
        return
    try:
        cache.set(cache_key, value, seconds)
    except Exception:
        logger.warning("Cache unavailable; the response was not stored.", exc_info=True)


def get_many(cache_keys: list[str], seconds: int | None = None) -> dict[str, Any] | None:
    """The entries found among ``cache_keys``; None when the cache does not answer."""
    if not enabled(seconds):
        return {}
    try:
        return cache.get_many(cache_keys)
    except Exception:
        logger.warning("Cache unavailable; answering from the database.", exc_info=True)
        return None


def set_many(entries: dict[str, Any], seconds: int | None = None) -> None:
    seconds = settings.API_CACHE_SECONDS if seconds is None else seconds
    if not enabled(seconds):
        return
    try:
        cache.set_many(entries, seconds)
    except Exception:
        logger.warning("Cache unavailable; the entries were not stored.", exc_info=True)


def get_or_keep(cache_key: str, build: Callable[[], Any], seconds: int | None = None) -> Any:
    """The cached value, or ``build()``'s, stored for next time; None, without building, when
    the cache does not answer: for what is built only to be kept (it would be thrown away)."""
    if not enabled(seconds):
        return None
    try:
        value = cache.get(cache_key)
    except Exception:
        logger.warning("Cache unavailable; nothing is built to be kept.", exc_info=True)
        return None
    if value is None:
        value = build()
        set(cache_key, value, seconds)
    return value


#: How long a request waits for another that builds the same answer before it builds it too.
BUILD_WAIT_SECONDS = 5.0
#: How long a claim to build holds if its request dies without releasing it.
BUILD_CLAIM_SECONDS = 30


def build_once(cache_key: str, build: Callable[[], tuple[Any, bool]]) -> Any:
    """The answer stored under ``cache_key``, built by one request at a time. ``build()``
    returns the answer and whether it may be stored under the key. A request that finds
    another building waits for the entry (polling, up to BUILD_WAIT_SECONDS) and returns it;
    if the other stops without storing one, or the wait runs out, it builds the answer too.
    When the cache does not answer, every request builds."""
    claim = f"{cache_key}:building"
    try:
        claimed = cache.add(claim, 1, BUILD_CLAIM_SECONDS)
    except Exception:
        logger.warning("Cache unavailable; the response is built.", exc_info=True)
        claimed = None  # nothing to wait for, nothing to release
    if claimed is False:
        deadline = time.monotonic() + BUILD_WAIT_SECONDS
        delay = 0.005
        while time.monotonic() < deadline:
            time.sleep(delay)
            delay = min(delay * 2, 0.05)
            if (found := get(cache_key)) is not None:
                return found
            try:
                if not cache.has_key(claim):
                    break  # the builder stopped without storing the answer
            except Exception:
                break
    try:
        value, storable = build()
        if storable:
            set(cache_key, value)
        return value
    finally:
        if claimed:
            try:
                cache.delete(claim)
            except Exception:
                logger.warning("Cache unavailable; a claim to build is left to expire.")
