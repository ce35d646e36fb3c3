"""Cached public reads answered before the views, in one round trip to Redis.

A public list or detail that the cache holds is answered by the view with no query
(``PUBLISH_VERSIONS``), but through DRF's dispatch and three round trips to Redis: the rate
limit, the version (or the record's state), the body. This middleware answers the same request
with one script (``SCRIPT``) that counts the rate limit, reads the published version or state,
and returns the body stored under the key that version gives. The answer is the view's: the
same body, the same headers, the same 304 and the same rate-limit count.

It answers only what it can answer exactly, and hands everything else to the view:

- a ``GET`` of a resource's list or detail route (no format suffix, no ``format`` or
  ``publication_status`` parameter), asking for JSON (no ``Accept``, ``*/*`` or
  ``application/json``), with no credentials (no ``Authorization`` header, no session cookie)
  and no CSRF cookie (the CSRF middleware may renew one in its answer), to a view set that
  reads as RecordViewSet does;
- a version (or a public record's state) that Redis holds committed (cryptogroups.published),
  and a body stored under the key the view would read for it (api.cache): only a request the
  view answered with that body, for the same URL and media type, stores one;
- within the client's rate limit, and without a failed ``If-Match`` or
  ``If-Unmodified-Since`` (the view answers those with its 429 and 412).

A request it hands over after counting it is not counted twice (api.throttling). The key the
script builds from the published value is checked against the key the view's own functions
give for it, so a difference between the two readings hands the request over instead of
answering it. The script reads a key it builds (the body's), which a Redis cluster would
refuse: the response cache and the published versions live on one Redis server (``REDIS_URL``).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import logging
import math
import os
import threading
import time
from dataclasses import dataclass

import cachetools
from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import DisallowedHost, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.urls import Resolver404, get_urlconf, resolve
from django.utils.cache import cc_delim_re, patch_vary_headers
from redis.exceptions import NoScriptError

from cryptogroups import published
from cryptogroups.redis_cache import RedisCache
from cryptogroups.resources import RESOURCES

from . import cache as api_cache
from .renderers import JSONRenderer
from .throttling import AnonThrottle, Standing
from .views.conditional import conditional_response, entity_tag, set_validators, version_tag

logger = logging.getLogger(__name__)

#: What the key of a response holds in place of its version until the script reads it.
VERSION_MARK = "{version}"

# KEYS[1]: the rate limit's window, KEYS[2]: the floor, KEYS[3]: the published version or
# record state. ARGV[1]: "1" to count the request, ARGV[2]: seconds the count is kept,
# ARGV[3]: "list" or "detail", ARGV[4] and ARGV[5]: the response's key before and after its
# version, ARGV[6]: the longest body returned. Returns the count (false when not counted), the
# floor, the published value, the key read (false when none), and the body when it is no
# longer than ARGV[6], else its length (false when there is none).
SCRIPT = """
local count = false
if ARGV[1] == '1' then
  redis.call('SET', KEYS[1], 0, 'EX', ARGV[2], 'NX')
  count = redis.call('INCR', KEYS[1])
end
local floor = redis.call('GET', KEYS[2])
local held = redis.call('GET', KEYS[3])
local key = false
local body = false
if held then
  local counter, kind, payload = string.match(held, '^(%d+)|(%a)|(.*)$')
  if kind == 'v' then
    local version = false
    if ARGV[3] == 'list' then
      version = counter .. '.' .. payload
    elseif tonumber(counter) >= tonumber(floor or '0') then
      version = string.match(payload, '^([^|]+)|')
    end
    if version then
      key = ARGV[4] .. version .. ARGV[5]
      local length = redis.call('STRLEN', key)
      if length > tonumber(ARGV[6]) then
        body = length
      elseif length > 0 then
        body = redis.call('GET', key)
      end
    end
  end
end
return {count, floor, held, key, body}
"""

#: The longest body the script returns. A longer one (a page of a list) is read with a GET of
#: its own, once the answer is known to be a 200: a script's reply is copied through Lua, which
#: costs more than a round trip for bodies of some tens of kilobytes, and a 304 needs none.
INLINE_BYTES = 16_384

#: Bodies longer than INLINE_BYTES are kept in each process's memory too, under their key in
#: Redis, up to this many bytes in all, entries' own overhead included (the least recently
#: used go first). A key names one version of one URL's answer (a list's holds the dataset's
#: version, a record's the digest of its representation), and the script still tells, on
#: every request, whether it is the current one. A copy is used only while the stored value
#: has the length it had when copied, so one written again (by a process that built it
#: differently) is read again.
LONG_BODIES_BYTES = 32 * 1024 * 1024
ENTRY_OVERHEAD_BYTES = 512


def _entry_size(entry: tuple[int, bytes]) -> int:
    return len(entry[1]) + ENTRY_OVERHEAD_BYTES


_long_bodies: cachetools.LRUCache = cachetools.LRUCache(LONG_BODIES_BYTES, getsizeof=_entry_size)
_long_bodies_lock = threading.Lock()

#: The media type of every answer given here (the JSON renderer's).
MEDIA_TYPE = JSONRenderer.media_type
ACCEPTED = {None, "*/*", MEDIA_TYPE}


@dataclass(frozen=True)
class Route:
    """A resource's list or detail route, as the view answers it."""

    kind: str  # "list" or "detail"
    resource: str  # the resource's path, as the published states name it
    #: What DRF's dispatch and the session middleware add to every answer of the route
    #: (Allow, Vary).
    headers: dict[str, str]


_routes: dict[object, Route | None] = {}
#: The middleware below this one (settings.MIDDLEWARE) that add headers to a public read.
_INNER = (
    XFrameOptionsMiddleware(lambda request: None),
    CommonMiddleware(lambda request: None),
)
#: The script's SHA-1, by which Redis runs it once it holds it (EVALSHA).
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode(), usedforsecurity=False).hexdigest()


def enabled() -> bool:
    return published.enabled() and api_cache.enabled() and isinstance(caches["default"], RedisCache)


#: How many paths' routes are kept, and the longest path kept (a longer one is resolved each
#: time): at most a few megabytes, whatever paths clients send.
ROUTES_KEPT = 10_000
ROUTE_PATH_KEPT = 200


def route(request: HttpRequest) -> tuple[Route, str | None] | None:
    """The list or detail route the path leads to, and the record's slug; None for any other
    path."""
    urlconf = request.urlconf if hasattr(request, "urlconf") else get_urlconf()
    path = request.path_info
    if len(path) > ROUTE_PATH_KEPT:
        return _route(urlconf, path)
    return _kept_route(urlconf, path)


def _route(urlconf: str | None, path: str) -> tuple[Route, str | None] | None:
    try:
        match = resolve(path, urlconf)
    except Resolver404:
        return None
    view = match.func
    if view not in _routes:
        _routes[view] = _route_of(view)
    found = _routes[view]
    if found is None or "format" in match.kwargs:
        return None
    return found, match.kwargs.get("slug")


_kept_route = functools.lru_cache(maxsize=ROUTES_KEPT)(_route)


def _route_of(view) -> Route | None:
    from .views.records import RecordViewSet

    cls = getattr(view, "cls", None)
    actions = dict(getattr(view, "actions", None) or {})
    if not (isinstance(cls, type) and issubclass(cls, RecordViewSet)):
        return None
    kind = {"list": "list", "retrieve": "detail"}.get(actions.get("get"))
    if kind is None or cls.renderer_classes[0] is not JSONRenderer:
        return None
    # Only what answers reads as RecordViewSet does: a view set that reads, or finishes an
    # answer, its own way is left to do so.
    # (The schema's decorators wrap list and retrieve in each view set: compare what they wrap.)
    if not all(
        inspect.unwrap(getattr(cls, name)) is inspect.unwrap(getattr(RecordViewSet, name))
        for name in ("list", "retrieve", "cached", "cache_key", "finalize_response", "initial")
    ):
        return None
    # The headers DRF's dispatch gives, from a view set up as its as_view() sets one up.
    instance = cls(**view.initkwargs)
    actions.setdefault("head", actions["get"])
    for method, action in actions.items():
        setattr(instance, method, getattr(instance, action))
    # As DRF's dispatch, then the view, leave every answer; then the session middleware adds
    # Cookie to Vary (DRF's session authentication reads the session). Every answer here is a
    # new response, with none of these headers yet: they are the same on each.
    blank = HttpResponse()
    for name, value in instance.default_response_headers.items():
        if name == "Vary":
            patch_vary_headers(blank, cc_delim_re.split(value))
        else:
            blank.headers[name] = value
    patch_vary_headers(blank, ("Cookie",))
    headers = {name: value for name, value in blank.headers.items() if name != "Content-Type"}
    return Route(kind, RESOURCES[cls.queryset.model].path, headers)


def answerable(request: HttpRequest) -> bool:
    if request.method != "GET" or "HTTP_AUTHORIZATION" in request.META:
        return False
    # A session may be a curator's; a CSRF cookie may be renewed by the CSRF middleware.
    cookies = request.COOKIES
    if settings.SESSION_COOKIE_NAME in cookies or settings.CSRF_COOKIE_NAME in cookies:
        return False
    if request.META.get("HTTP_ACCEPT") not in ACCEPTED:
        return False
    try:
        query = request.GET
    except TooManyFieldsSent:
        return False
    return "format" not in query and "publication_status" not in query


def answer(request: HttpRequest) -> HttpResponseBase | None:
    """The cached answer to the request, or None to let the view answer it."""
    if not (enabled() and answerable(request)):
        return None
    found = route(request)
    if found is None:
        return None
    found_route, slug = found
    try:
        uri = request.build_absolute_uri()
    except DisallowedHost:
        return None
    throttle = AnonThrottle()
    rate = throttle.rate()
    window_key, timeout, window_end = (
        throttle.window(request, rate) if rate is not None else ("", 0, 0.0)
    )
    if found_route.kind == "list":
        state_key = published.VERSION_KEY
    else:
        state_key = published.record_key(found_route.resource, slug)
    backend = caches["default"]
    parts = backend.make_key(api_cache.key(found_route.kind, VERSION_MARK, uri, MEDIA_TYPE)).split(
        VERSION_MARK
    )
    if len(parts) != 2:
        return None  # a KEY_FUNCTION that does not keep the key whole
    head, tail = parts
    try:
        client = backend._cache.get_client(head, write=True)
        count, floor, held, read_key, body = run_script(
            client,
            keys=[
                backend.make_and_validate_key(window_key) if rate else "-",
                published.FLOOR_KEY,
                state_key,
            ],
            args=[
                "1" if rate else "0",
                timeout,
                found_route.kind,
                head,
                tail,
                0 if conditional(request) else INLINE_BYTES,
            ],
        )
    except Exception:
        logger.warning("Cache unavailable; the view answers.", exc_info=True)
        # Not counted (a rate limit fails open): the view does not wait on the cache again.
        request.uncounted = True
        return None
    if count is not None:
        # Counted: the view, if it answers instead, takes this standing (api.throttling).
        request.ratelimit = Standing(
            throttle.scope, rate, count, math.ceil(window_end - time.time())
        )
        if count > rate.limit:
            return None
    validators = _validators(found_route.kind, request, _text(held), _text(floor))
    if validators is None or body is None:
        return None
    version, etag, stamp = validators
    if read_key is None or read_key.decode() != head + version + tail:
        return None
    response = conditional_response(request, etag, stamp) if preconditions(request) else None
    if response is not None and response.status_code != 304:
        return None  # a 412: the view answers it in the API's error shape
    if response is None:
        if isinstance(body, int):  # its length: the body is kept here, or read now
            body = long_body(
                read_key, body, api_cache.key(found_route.kind, version, uri, MEDIA_TYPE)
            )
            if body is None:
                return None
        else:
            try:
                body = backend._cache._serializer.loads(body)
            except Exception:
                logger.warning("A cached body could not be read; the view answers.", exc_info=True)
                return None
        response = HttpResponse(body, content_type=MEDIA_TYPE)
    # As DRF's dispatch, the view and the session middleware leave the answer (Route), then
    # the common and the clickjacking middleware, which give the length and X-Frame-Options.
    for name, value in found_route.headers.items():
        response.headers[name] = value
    set_validators(response, etag, stamp)
    for middleware in _INNER:
        response = middleware.process_response(request, response)
    return response


def run_script(client, keys: list[str], args: list) -> list:
    """The script's reply, from this thread's connection to the client's server
    (``held_connection``): the command is sent on it as is, without the client's per-command
    layers (its retries, its instrumentation) or the pool's (its lock, its check that the
    connection has nothing to read, its metrics), which cost a cached answer more than Redis
    takes to run the script. Redis loads the script the first time it is sent whole (EVAL);
    after that, it is run by its SHA-1. A connection that fails is closed, and opened again by
    the next request."""
    connection = held_connection(client.connection_pool)
    try:
        connection.send_command("EVALSHA", SCRIPT_SHA, len(keys), *keys, *args)
        try:
            return connection.read_response()
        except NoScriptError:
            connection.send_command("EVAL", SCRIPT, len(keys), *keys, *args)
            return connection.read_response()
    except BaseException:
        connection.disconnect()
        raise


_held = threading.local()


def held_connection(pool):
    """This thread's own connection to the pool's server, made as the pool makes its own and
    kept for the thread's life (a thread serves one request at a time), outside the pool: a
    thread that ends takes it with it, closed when it is collected. A connection made in
    another process (before a fork), or for another pool (the settings changed), is replaced."""
    held = _held.__dict__.get("connection")
    if held is not None and held[0] is pool and held[1] == os.getpid():
        return held[2]
    if held is not None and held[1] == os.getpid():
        held[2].disconnect()
    connection = pool.connection_class(**pool.connection_kwargs)
    _held.connection = (pool, os.getpid(), connection)
    return connection


def long_body(redis_key: bytes, length: int, cache_key: str) -> bytes | None:
    """A body longer than INLINE_BYTES, stored with ``length`` bytes under ``redis_key`` (the
    response cache's ``cache_key``): this process's copy, or the cache's (then copied here);
    None when the cache does not have it."""
    with _long_bodies_lock:
        entry = _long_bodies.get(redis_key)
    if entry is not None and entry[0] == length:
        return entry[1]
    body = api_cache.get(cache_key)
    if body is not None and len(body) > INLINE_BYTES:
        entry = (length, body)
        if _entry_size(entry) <= LONG_BODIES_BYTES:
            with _long_bodies_lock:
                _long_bodies[redis_key] = entry
    return body


def forget() -> None:
    """Drop this process's copies of long bodies."""
    with _long_bodies_lock:
        _long_bodies.clear()


def conditional(request: HttpRequest) -> bool:
    """Whether the request may be answered 304 (then its body is not read at first)."""
    return "HTTP_IF_NONE_MATCH" in request.META or "HTTP_IF_MODIFIED_SINCE" in request.META


#: The headers Django's conditional answer reads (django.utils.cache.get_conditional_response).
PRECONDITIONS = (
    "HTTP_IF_MATCH",
    "HTTP_IF_UNMODIFIED_SINCE",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
)


def preconditions(request: HttpRequest) -> bool:
    """Whether the request has a condition for Django's conditional answer to weigh: without
    one, that answer is to send the body."""
    meta = request.META
    return any(name in meta for name in PRECONDITIONS)


def _text(value: bytes | None) -> str | None:
    return value.decode() if value is not None else None


def _validators(kind: str, request, held: str | None, floor: str | None):
    """The version in the response's key, its ETag and its Last-Modified, read from the
    published value as the view reads it; None when the view would not use the cache."""
    if kind == "list":
        version = published.held_version(held)
        if version is None:
            return None
        return (
            api_cache.version_key(version),
            version_tag(version.counter, request.get_full_path(), MEDIA_TYPE),
            version.changed_at,
        )
    state = published.held_record_state(held, floor)
    if state is None or not state[0]:
        return None
    digest, stamp = state
    return digest, entity_tag(digest, MEDIA_TYPE), stamp
