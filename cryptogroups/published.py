"""The public dataset's version and each record's public state, published in Redis on commit, so
that a cached answer and a 304 need no database round trip (``PUBLISH_VERSIONS``, with
``REDIS_URL``). Off, readers take both from the database, one query per request.

What is published mirrors what the changes feed recorded (``DatasetVersion`` and
``FeedState``), each value stamped with the dataset counter it belongs to:

- ``<counter>|v|<payload>``: a committed value, written by the writer after its commit, or by
  a reader that read it from the database together with the counter, in one statement (one
  snapshot).
- ``<counter>|f|``: a fence. A flush that changes a record's public state (or the dataset's
  version) fences its key with the counter its commit will have, *before* it commits. A
  reader treats a fence as a miss and asks the database.

One script (``OFFER``) writes every value, atomically in Redis: it never replaces a higher
counter, nor a committed value by anything of the same counter (not even by a fence: a fence
of a lower counter, delivered late, would let a reader's value of that counter in). Hence no
stale answer after a commit:

1. Before a change commits, every key it changes holds its fence or something newer. When Redis
   cannot take the fence, the flush raises ``PublicationUnavailable`` and the change does not
   commit (the write API answers 503; the admin's change stays pending for the next flush).
2. A committed value of counter ``c`` is what the database held at ``c``. It can only be
   written over a fence of counter ``c`` (the commit it belongs to) or older values.
3. A change of counter ``d > c`` fenced the key before it committed, so a value of ``c``
   offered afterwards is refused, and a value of ``c`` already there was replaced by the
   fence. What a reader finds committed is therefore current, for every commit that finished
   before the reader asked.

A change that bypasses the feed (the synthetic generator) cannot name the records it changes:
it raises the floor instead (``FLOOR_KEY``) to its counter, before it commits. A record's value
of a counter below the floor is a miss, and the script refuses to write one.

A writer that dies between its fence and its publication leaves the fence: readers ask the
database (one query) until a later commit or a reader publishes past it. Values expire after
``PUBLISHED_SECONDS``, which bounds memory, not staleness. Counters only grow: a database
restored to an earlier state must start with the published keys deleted
(docs/deployment.md).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings
from django.db import models

from .models import DatasetVersion
from .routers import may_read_replica

logger = logging.getLogger(__name__)

PREFIX = "cryptogroups:published:"
VERSION_KEY = PREFIX + "version"
FLOOR_KEY = PREFIX + "floor"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
#: How long a value is kept (a bound on memory; correctness does not depend on it).
PUBLISHED_SECONDS = 86_400

# KEYS[1]: the floor; KEYS[2..]: the keys; ARGV[1]: the counter; ARGV[2]: "f" (fence) or "v"
# (value); ARGV[3]: seconds to keep; ARGV[2 + i]: the payload of KEYS[i]. Returns how many keys
# were written.
OFFER = """
local counter = tonumber(ARGV[1])
local floor = tonumber(redis.call('GET', KEYS[1]) or '0')
if counter < floor then
  return 0
end
local written = 0
for i = 2, #KEYS do
  local key = KEYS[i]
  local held = redis.call('GET', key)
  local write = true
  if held then
    local held_counter, kind = string.match(held, '^(%d+)|(%a)|')
    held_counter = tonumber(held_counter)
    if held_counter == nil then
      write = true
    elseif held_counter > counter or (held_counter == counter and kind == 'v') then
      write = false
    end
  end
  if write then
    redis.call('SET', key, ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[2 + i], 'EX', ARGV[3])
    written = written + 1
  end
end
return written
"""

# KEYS[1]: the floor; ARGV[1]: a counter; ARGV[2]: seconds to keep. The floor only rises.
RAISE = """
local floor = tonumber(redis.call('GET', KEYS[1]) or '0')
if floor < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
end
return 1
"""


class PublicationUnavailable(Exception):
    """Redis did not take a fence: the change must not commit (see the module)."""


@dataclass(frozen=True)
class Version:
    """The public dataset's version, as ``DatasetVersion`` holds it."""

    counter: int
    changed_at: datetime


_local = threading.local()


def enabled() -> bool:
    return bool(settings.PUBLISH_VERSIONS)


def client() -> redis.Redis:
    """This thread's connection (redis-py's clients are safe to share, but a pool per thread
    keeps a stalled request from holding another's)."""
    url = settings.REDIS_URL
    held = getattr(_local, "client", None)
    if held is None or held[0] != url:
        connection = redis.Redis.from_url(
            url, socket_connect_timeout=0.25, socket_timeout=0.25, decode_responses=True
        )
        held = (
            url,
            connection,
            connection.register_script(OFFER),
            connection.register_script(RAISE),
        )
        _local.client = held
    return held[1]


def _offer(keys: list[str], counter: int, kind: str, payloads: list[str]) -> int:
    client()
    script = _local.client[2]
    return script(keys=[FLOOR_KEY, *keys], args=[counter, kind, PUBLISHED_SECONDS, *payloads])


def record_key(resource: str, slug: str) -> str:
    return f"{PREFIX}{resource}:{slug}"


def micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (no float on the way)."""
    return (moment - EPOCH) // MICROSECOND


def _micros(moment: datetime | None) -> str:
    return "" if moment is None else str(micros(moment))


def _moment(text: str) -> datetime | None:
    return EPOCH + int(text) * MICROSECOND if text else None


def _committed(value: str | None, floor: str | None = None) -> str | None:
    """The payload of a committed value at or above the floor; None for a fence or nothing."""
    if not value:
        return None
    counter, kind, payload = value.split("|", 2)
    if kind != "v" or int(counter) < int(floor or 0):
        return None
    return payload


def held_version(held: str | None) -> Version | None:
    """The version a value of ``VERSION_KEY`` holds; None for a fence or nothing."""
    payload = _committed(held)
    if payload is None:
        return None
    return Version(int(held.split("|", 1)[0]), _moment(payload))


def held_record_state(held: str | None, floor: str | None) -> tuple[str, datetime | None] | None:
    """The record state a value of its key holds, given the floor; None for a fence, a value
    below the floor, or nothing."""
    payload = _committed(held, floor)
    if payload is None:
        return None
    digest, text = payload.split("|", 1)
    return digest, _moment(text)


# --- Readers: None means "ask the database" -------------------------------------------------------


def version() -> Version | None:
    if not enabled():
        return None
    try:
        held = client().get(VERSION_KEY)
    except redis.RedisError:
        logger.warning("Redis unavailable; the version is read from the database.", exc_info=True)
        return None
    return held_version(held)


def current_version() -> Version | DatasetVersion:
    """The public dataset's version: published, or read from the database (and offered).

    A request whose reads may go to a streaming replica (cryptogroups.routers) reads the
    version there: the primary's published version may be ahead of the rows the replica
    gives, and a list built from them must carry, and be cached under, their own version. A
    version read there is not offered: it may be older than what the primary committed."""
    on_replica = may_read_replica()
    if not on_replica:
        held = version()
        if held is not None:
            return held
    row = DatasetVersion.current()
    if not on_replica:
        offer_version(row.counter, row.changed_at)
    return row


def counter_column() -> models.Subquery:
    """The dataset's counter, as a column of a reader's query: a state read with it is offered
    with the counter of the same snapshot."""
    return models.Subquery(DatasetVersion.objects.filter(pk=1).values("counter")[:1])


def record_state(resource: str, slug: str) -> tuple[str, datetime | None] | None:
    """The digest of the record's public representation and when it last changed, when the
    feed records one; an empty digest when the record is not public."""
    if not enabled():
        return None
    try:
        floor, held = client().mget(FLOOR_KEY, record_key(resource, slug))
    except redis.RedisError:
        logger.warning("Redis unavailable; the state is read from the database.", exc_info=True)
        return None
    return held_record_state(held, floor)


def offer_version(counter: int, changed_at: datetime) -> None:
    """A reader's version, read from the database: kept unless something newer is there."""
    _offer_quietly([VERSION_KEY], counter, [_micros(changed_at)])


def offer_record_state(
    resource: str, slug: str, counter: int, digest: str, changed_at: datetime | None
) -> None:
    """A reader's record state, read from the database with the counter, in one statement."""
    _offer_quietly([record_key(resource, slug)], counter, [f"{digest}|{_micros(changed_at)}"])


def _offer_quietly(keys: list[str], counter: int, payloads: list[str]) -> None:
    if not enabled():
        return
    try:
        _offer(keys, counter, "v", payloads)
    except redis.RedisError:
        logger.warning("Redis unavailable; nothing was published.", exc_info=True)


# --- Writers -----------------------------------------------------------------------------------

#: A record's public state as the feed records it: (resource, slug, digest, changed_at).
State = tuple[str, str, str, datetime | None]


def fence(counter: int, states: list[State]) -> None:
    """Before the commit of ``counter``: fence the version and every record state it changes.
    Raises PublicationUnavailable when Redis does not take them."""
    if not enabled():
        return
    keys = [
        VERSION_KEY,
        *dict.fromkeys(record_key(resource, slug) for resource, slug, *_ in states),
    ]
    try:
        _offer(keys, counter, "f", [""] * len(keys))
    except redis.RedisError as error:
        raise PublicationUnavailable(
            "The published versions could not be fenced: the change is not committed."
        ) from error


def publish(counter: int, changed_at: datetime, states: list[State]) -> None:
    """After the commit of ``counter``: its version and record states, for readers. A failure
    leaves the fences, which readers take for misses."""
    if not enabled():
        return
    # A key named twice in one flush (a slug given up and taken) holds the last state named.
    latest = {
        record_key(resource, slug): f"{digest}|{_micros(moment)}"
        for resource, slug, digest, moment in states
    }
    keys = [VERSION_KEY, *latest]
    payloads = [_micros(changed_at), *latest.values()]
    try:
        _offer(keys, counter, "v", payloads)
    except redis.RedisError:
        logger.warning("Redis unavailable; readers ask the database.", exc_info=True)


def raise_floor(counter: int) -> None:
    """Before a change that bypasses the feed commits with ``counter``: every record value
    published before it stops counting, and the version is fenced. Raises
    PublicationUnavailable when Redis does not answer."""
    if not enabled():
        return
    try:
        client()
        _local.client[3](keys=[FLOOR_KEY], args=[counter, PUBLISHED_SECONDS])
        _offer([VERSION_KEY], counter, "f", [""])
    except redis.RedisError as error:
        raise PublicationUnavailable(
            "The published versions could not be fenced: the change is not committed."
        ) from error
