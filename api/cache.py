"""A cache of public responses and list counts that stays right across any number of app
servers: every key holds a version read from the database on each request, so a change makes
every older entry unreachable. A list's key holds the public dataset's version (its counter and
the time it last moved), which only changes to public data move; a record's key holds the
digest of its representation, so a change to one record leaves the others' entries in place.
Nothing is ever invalidated by hand, and an entry can only be served for the version it was
made for.

A list's count is kept the same way, under the public dataset's version and the list's
filters, for ``API_COUNT_CACHE_SECONDS`` (it stays exact: a change to public data moves the
version). It is kept even when responses are not (``API_CACHE_SECONDS=0``): counting a
million rows costs far more than building a page.

The cache is Django's: Redis when ``REDIS_URL`` is set (shared by all app servers), memory of
the process otherwise. When the cache server fails, requests are answered from the database,
as if the entry were missing; the failure is logged, and the request does not wait long
(short socket timeouts in the settings).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)


def version_key(version) -> str:
    return f"{version.counter}.{int(version.changed_at.timestamp() * 1_000_000)}"


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


def get_or_set(cache_key: str, build: Callable[[], Any], seconds: int | None = None) -> Any:
    """The cached value, or ``build()``'s, stored for next time."""
    value = get(cache_key, seconds)
    if value is None:
        value = build()
        set(cache_key, value, seconds)
    return value
