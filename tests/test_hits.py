"""Cached public reads answered before the views (api.hits): the answer the view gives, with
the same headers, the same 304s and the same rate-limit count, in one round trip to Redis and
no query; whatever it cannot answer exactly is left to the view."""

from __future__ import annotations

import contextlib
import pickle
import signal
from collections import Counter

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api import hits
from cryptogroups import published
from tests.conftest import publishing_settings, token_client
from tests.redisserver import RedisServer, require_redis
from tests.test_throttling import assert_throttled, rates

LIST = "/api/v1/groups/?platform=telegram"
DETAIL = "/api/v1/platforms/telegram/"
CACHED = [
    "/api/v1/groups/",
    LIST,
    "/api/v1/organizations/?page_size=5&page=2",
    "/api/v1/groups/?search=bitcoin",
    "/api/v1/exchanges/?ordering=-name",
    DETAIL,
    "/api/v1/exchanges/okcoin/",
    "/api/v1/organizations/tencent/",
    "/api/v1/sources/star-2017-09-16-wechat-crackdown/",
]
#: Reads the view answers whatever the cache holds: errors, curators' views, other formats,
#: other routes.
OTHERS = [
    "/api/v1/groups/?platform=telegram&unknown=1",
    "/api/v1/platforms/no-such-platform/",
    "/api/v1/groups/?format=json",
    "/api/v1/groups.json",
    "/api/v1/platforms/telegram.json",
    "/api/v1/groups/?publication_status=draft",
    "/api/v1/platforms/telegram/history/",
    "/api/v1/",
    "/api/v1/changes/",
    "/api/v1/no-such-resource/",
    "/api/v1/platforms/" + "x" * 250 + "/",  # longer than the paths whose routes are kept
]
ACCEPTS = [None, "*/*", "application/json", "text/html", "application/json; indent=2", "text/csv"]
#: Headers that differ between any two answers (the request's id, the rate limit's count).
VOLATILE = {"X-Request-ID", "RateLimit-Remaining", "RateLimit-Reset"}


class Spy:
    """Which requests api.hits answered (True) or left to the view (False)."""

    def __init__(self, monkeypatch) -> None:
        self.answered: list[bool] = []
        answer = hits.answer

        def spy(request):
            response = answer(request)
            self.answered.append(response is not None)
            return response

        monkeypatch.setattr(hits, "answer", spy)


@pytest.fixture
def spy(monkeypatch) -> Spy:
    return Spy(monkeypatch)


def view_only(monkeypatch):
    """Every request is left to the view."""
    monkeypatch.setattr(hits, "enabled", lambda: False)


def answer_of(response) -> tuple:
    headers = {name: value for name, value in response.headers.items() if name not in VOLATILE}
    content = response.content
    if response.get("Content-Type", "").startswith("text/html"):
        content = None  # the browsable API's page holds a token of its own each time
        headers.pop("Set-Cookie", None)
    return response.status_code, content, headers


def get(client, path: str, accept: str | None, conditions: dict):
    extra = dict(conditions)
    if accept is not None:
        extra["HTTP_ACCEPT"] = accept
    return client.get(path, **extra)


def conditions_for(kind: str, first) -> dict:
    etag, modified = first.get("ETag"), first.get("Last-Modified")
    return {
        "none": {},
        "current": {"HTTP_IF_NONE_MATCH": etag} if etag else {},
        "other": {"HTTP_IF_NONE_MATCH": '"other"'},
        "any": {"HTTP_IF_NONE_MATCH": "*"},
        "since": {"HTTP_IF_MODIFIED_SINCE": modified} if modified else {},
        "failed match": {"HTTP_IF_MATCH": '"other"'},
        "unmodified since": {"HTTP_IF_UNMODIFIED_SINCE": "Sat, 01 Jan 2000 00:00:00 GMT"},
    }[kind]


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(CACHED + OTHERS),
    accept=st.sampled_from(ACCEPTS),
    kind=st.sampled_from(
        ["none", "current", "other", "any", "since", "failed match", "unmodified since"]
    ),
)
@pytest.mark.django_db
def test_an_answer_before_the_view_is_the_views_answer(api, publishing, path, accept, kind):
    api.cookies.clear()  # the browsable API's pages set a CSRF cookie
    with pytest.MonkeyPatch.context() as patch:
        view_only(patch)
        first = get(api, path, accept, {})
        get(api, path, accept, {})  # stored, if the view stores it
        conditions = conditions_for(kind, first)
        expected = get(api, path, accept, conditions)
    with pytest.MonkeyPatch.context() as patch:
        watched = Spy(patch)
        found = get(api, path, accept, conditions)
    assert answer_of(found) == answer_of(expected)
    # It answers exactly the cached JSON reads it may answer, and leaves the rest.
    plain = accept in (None, "*/*", "application/json")
    sent = kind in ("none", "current", "other", "any", "since")
    assert watched.answered == [path in CACHED and plain and sent], (path, accept, kind)


@pytest.mark.django_db
def test_a_cached_read_is_one_script_in_redis_and_no_query(
    api, publishing, spy, django_assert_num_queries
):
    redis = publishing.client()
    sizes = []
    for path in CACHED:
        first = api.get(path)
        assert first.status_code == 200, path
        sizes.append(len(first.content))
        for conditions in ({}, {"HTTP_IF_NONE_MATCH": first["ETag"]}):
            before = commands(redis)
            with django_assert_num_queries(0):
                again = api.get(path, **conditions)
            # One script, and what it runs: the rate limit (SET, INCR), the floor and the
            # version or the record's state (GET), the body's length (STRLEN); then the body
            # (GET: in the script up to INLINE_BYTES, after it above, the first time), unless
            # the answer is a 304, which reads no body.
            expected = SCRIPT_RUN + Counter({} if conditions else {"get": 1})
            assert commands(redis) - before == expected, path
            assert again.status_code == (304 if conditions else 200)
            assert again["ETag"] == first["ETag"]
            if not conditions:
                assert again.content == first.content
        # A long body is now kept in the process too: the script alone answers.
        before = commands(redis)
        assert api.get(path).content == first.content
        read = Counter({"get": 1}) if len(first.content) <= hits.INLINE_BYTES else Counter()
        assert commands(redis) - before == SCRIPT_RUN + read, path
    assert spy.answered.count(True) == 3 * len(CACHED)
    # Bodies read in the script and after it.
    assert min(sizes) < hits.INLINE_BYTES < max(sizes)


SCRIPT_RUN = Counter({"evalsha": 1, "set": 1, "incr": 1, "get": 2, "strlen": 1})


def commands(redis) -> Counter:
    """Commands Redis has run, other than the INFO that asks."""
    stats = redis.info("commandstats")
    return Counter(
        {
            name.removeprefix("cmdstat_"): entry["calls"]
            for name, entry in stats.items()
            if name != "cmdstat_info"
        }
    )


@pytest.mark.django_db
def test_a_write_is_served_at_once(
    api, curator_api, publishing, spy, django_capture_on_commit_callbacks
):
    before = api.get(DETAIL)
    assert api.get(DETAIL).content == before.content
    assert api.get(LIST).status_code == 200
    assert api.get(LIST).status_code == 200
    assert spy.answered[-3:] == [True, False, True]
    with django_capture_on_commit_callbacks(execute=True):
        write = curator_api.patch(f"{DETAIL}?reason=Renamed", {"name": "Telegram X"}, format="json")
    assert write.status_code == 200, write.content
    spy.answered.clear()
    for _ in range(2):
        assert api.get(DETAIL).json()["name"] == "Telegram X"
        assert {g["platform"]["name"] for g in api.get(LIST).json()["results"]} == {"Telegram X"}
        stale = api.get(DETAIL, HTTP_IF_NONE_MATCH=before["ETag"])
        assert stale.status_code == 200
        assert stale.json()["name"] == "Telegram X"
    # Built by the view once after the write, then answered before it.
    assert spy.answered == [False, False, True, True, True, True]


@pytest.mark.django_db
def test_a_request_with_credentials_is_left_to_the_view(api, curator, publishing, spy):
    expected = api.get(DETAIL)
    assert api.get(DETAIL).content == expected.content
    spy.answered.clear()
    with_token = token_client(curator)
    assert with_token.get(DETAIL).content == expected.content
    api.force_login(User.objects.get(pk=curator.pk))
    assert api.get(DETAIL).content == expected.content
    assert spy.answered == [False, False]


@pytest.mark.django_db
def test_a_request_with_a_csrf_cookie_is_left_to_the_view(api, publishing, spy):
    """The CSRF middleware renews a malformed CSRF cookie in its answer."""
    expected = api.get(DETAIL)
    assert api.get(DETAIL).content == expected.content
    api.cookies["csrftoken"] = "malformed"
    renewed = api.get(DETAIL)
    assert renewed.content == expected.content
    assert renewed.cookies["csrftoken"].value != "malformed"
    assert spy.answered == [False, True, False]


@pytest.mark.django_db
def test_a_fenced_version_or_state_is_left_to_the_view(api, publishing, spy):
    """A change about to commit fences what it changes (cryptogroups.published): until it is
    published, the view answers from the database."""
    redis = publishing.client()
    for path, key in (
        (LIST, published.VERSION_KEY),
        (DETAIL, published.record_key("platforms", "telegram")),
    ):
        expected = api.get(path)
        assert api.get(path).content == expected.content
        counter = int(redis.get(key).split(b"|", 1)[0])
        redis.set(key, f"{counter + 1}|f|")
        assert api.get(path).content == expected.content
    assert spy.answered == [False, True, False, False, True, False]


@pytest.mark.django_db
def test_a_long_body_written_again_is_read_again(api, publishing, spy):
    """A copy of a long body kept in the process is used while the stored value is the one it
    copied: one written again (another length) is read again."""
    redis = publishing.client()
    first = api.get(LIST)
    assert len(first.content) > hits.INLINE_BYTES
    assert api.get(LIST).content == first.content  # read, and copied
    (key,) = redis.keys("cryptogroups:1:api:list:*")
    rewritten = first.content.replace(b"telegram", b"TELEGRAM")
    assert rewritten != first.content
    redis.set(key, pickle.dumps(rewritten + b" "))
    assert api.get(LIST).content == rewritten + b" "
    assert spy.answered == [False, True, True]


@pytest.mark.django_db
def test_short_bodies_are_not_kept_in_the_process(api, publishing):
    first = api.get(DETAIL)
    assert len(first.content) <= hits.INLINE_BYTES
    assert api.get(DETAIL, HTTP_IF_NONE_MATCH='"other"').content == first.content
    assert api.get(DETAIL).content == first.content
    assert len(hits._long_bodies) == 0


@pytest.mark.django_db
def test_the_rate_limit_counts_each_request_once(api, publishing, spy):
    with rates(anon="4/minute"):
        assert api.get(DETAIL).status_code == 200  # built: left to the view
        cached = api.get(DETAIL)
        built = api.get("/api/v1/exchanges/okcoin/")
        again = api.get(DETAIL)
        throttled = api.get(DETAIL)
    assert spy.answered == [False, True, False, True, False]
    assert [r["RateLimit-Remaining"] for r in (cached, built, again)] == ["2", "1", "0"]
    assert again.status_code == 200
    assert_throttled(throttled, 4)


@contextlib.contextmanager
def own_redis(anon: str):
    """A Redis server of the test's own, published to as production does, with the anonymous
    rate given: for tests that flush, stall or cut it, which no other test should share."""
    with (
        RedisServer(require_redis()) as own,
        override_settings(**publishing_settings(own.url)),
        rates(anon=anon),
    ):
        yield own


@pytest.mark.django_db
def test_a_script_redis_has_forgotten_is_sent_whole_and_counts_once(api, spy):
    """After a restart or a SCRIPT FLUSH, Redis no longer knows the script by its SHA-1: it is
    sent whole (EVAL), which loads it, and the request is counted once. (A server of the
    test's own: the flush resets its Lua interpreter, which no other test should share.)"""
    with own_redis(anon="10/minute") as own:
        redis = own.client()
        expected = api.get(DETAIL)  # built: left to the view
        redis.script_flush()
        before = commands(redis)
        forgotten = api.get(DETAIL)
        sent_whole = commands(redis) - before
        before = commands(redis)
        known = api.get(DETAIL)
        by_sha = commands(redis) - before
    assert spy.answered == [False, True, True]
    assert forgotten.content == known.content == expected.content
    assert sent_whole["evalsha"] == sent_whole["eval"] == 1
    assert sent_whole["incr"] == 1
    assert by_sha == SCRIPT_RUN + Counter({"get": 1})  # and the body, in the script
    assert [r["RateLimit-Remaining"] for r in (expected, forgotten, known)] == ["9", "8", "7"]


@pytest.mark.django_db
def test_without_its_cache_server_the_view_answers(api, publishing, spy):
    expected = api.get(DETAIL)
    down = "redis://127.0.0.1:1/0"  # nothing listens there
    with override_settings(**publishing_settings(down)):
        answer = api.get(DETAIL)
    assert answer.status_code == 200
    assert answer.content == expected.content
    assert "RateLimit-Remaining" not in answer  # not counted: the rate limit fails open
    assert spy.answered == [False, False]


@pytest.mark.django_db
def test_a_head_request_is_left_to_the_view(api, publishing, spy):
    api.get(DETAIL)
    api.get(DETAIL)
    head = api.head(DETAIL)
    assert head.status_code == 200
    assert spy.answered == [False, True, False]


@pytest.mark.django_db
def test_a_connection_the_server_closed_is_opened_again(api, spy):
    """Each thread keeps its own connection for the script; one the server has closed (a
    restart, a timeout, CLIENT KILL) fails one request at most, which the view answers, and
    the next request opens a new one."""
    with own_redis(anon="10/minute") as own:
        redis = own.client()
        expected = api.get(DETAIL)  # built: left to the view
        assert api.get(DETAIL).content == expected.content
        killed = redis.client_kill_filter(_type="normal", skipme=True)
        after = [api.get(DETAIL) for _ in range(3)]
    assert killed >= 1
    assert all(r.status_code == 200 and r.content == expected.content for r in after)
    assert spy.answered[:2] == [False, True]
    assert spy.answered[-2:] == [True, True]


@pytest.mark.django_db
def test_a_reply_that_came_too_late_is_not_read_as_the_next_ones(api, spy):
    """A script whose reply does not come in time (the server stalled) is left to the view,
    and its connection is closed: the reply, when it comes, is not read as the answer to the
    next request's script."""
    okcoin = "/api/v1/exchanges/okcoin/"
    with own_redis(anon="100/minute") as own:
        expected = {path: api.get(path).content for path in (DETAIL, okcoin)}  # built
        assert [api.get(path).content for path in (DETAIL, okcoin)] == list(expected.values())
        own.signal(signal.SIGSTOP)
        try:
            stalled = api.get(DETAIL)
        finally:
            own.signal(signal.SIGCONT)
        after = [(path, api.get(path)) for path in (okcoin, DETAIL, okcoin)]
    assert stalled.status_code == 200
    assert stalled.content == expected[DETAIL]
    for path, response in after:
        assert response.status_code == 200, path
        assert response.content == expected[path], path
    assert spy.answered == [False, False, True, True, False, True, True, True]
