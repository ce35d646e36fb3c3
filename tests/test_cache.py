"""The cache of public responses and counts: served again without the database, never stale
after a change, never used for curators' views, and no obstacle when the cache server fails."""

from __future__ import annotations

import pytest
from django.core.cache.backends.base import BaseCache
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from cryptogroups import models

pytestmark = pytest.mark.django_db

LIST = "/api/v1/groups/?platform=telegram"


class FailingCache(BaseCache):
    """A cache server that does not answer."""

    def __init__(self, location, params):
        super().__init__(params)

    def get(self, key, default=None, version=None):
        raise ConnectionError("cache server unreachable")

    def set(self, key, value, timeout=None, version=None):
        raise ConnectionError("cache server unreachable")

    def clear(self):
        pass


def test_a_repeated_read_is_served_from_the_cache(api, django_assert_num_queries):
    first = api.get(LIST)
    assert first.status_code == 200
    with django_assert_num_queries(1):  # the dataset's version, for the key and the ETag
        again = api.get(LIST)
    assert again.status_code == 200
    assert again.content == first.content
    assert again["ETag"] == first["ETag"]
    assert again["Content-Type"] == "application/json"


def test_a_change_makes_the_cached_response_unreachable(api, curator_api):
    before = api.get("/api/v1/platforms/telegram/").json()
    response = curator_api.patch(
        "/api/v1/platforms/telegram/?reason=x", {"name": "Telegram Messenger"}, format="json"
    )
    assert response.status_code == 200

    after = api.get("/api/v1/platforms/telegram/").json()
    assert before["name"] == "Telegram"
    assert after["name"] == "Telegram Messenger"
    groups = api.get(LIST).json()["results"]
    assert {group["platform"]["name"] for group in groups} == {"Telegram Messenger"}


def test_every_page_of_a_list_shares_its_count(api, django_assert_num_queries):
    first = api.get("/api/v1/sources/?page_size=5&ordering=title")
    count = first.json()["count"]
    # Page 2, in another order: version, page; the count is the first page's.
    with django_assert_num_queries(2):
        second = api.get("/api/v1/sources/?page_size=5&page=2")
    assert second.json()["count"] == count == models.Source.objects.count()


def queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_curators_views_are_not_cached(curator_api):
    url = "/api/v1/groups/?publication_status=published&publication_status=draft"
    curator_api.get(url)  # the first request also fills the user's permission cache
    second = queries(curator_api, url)
    assert second > 4  # the token, the version, the count, the page and its lists
    assert queries(curator_api, url) == second
    assert curator_api.get(url)["Cache-Control"] == "private"


def test_the_browsable_api_is_not_served_from_the_cache(api):
    api.get(LIST)
    response = api.get(LIST, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


@override_settings(CACHES={"default": {"BACKEND": "tests.test_cache.FailingCache"}})
def test_when_the_cache_server_fails_the_database_answers(api):
    response = api.get(LIST)
    assert response.status_code == 200
    assert {group["platform"]["slug"] for group in response.json()["results"]} == {"telegram"}
    assert api.get("/api/v1/platforms/telegram/").json()["slug"] == "telegram"


@override_settings(API_CACHE_SECONDS=0, API_COUNT_CACHE_SECONDS=0)
def test_the_cache_can_be_turned_off(api):
    first = queries(api, LIST)
    assert first > 1
    assert queries(api, LIST) == first


@override_settings(API_CACHE_SECONDS=0)
def test_counts_stay_cached_when_responses_are_not(api):
    """Responses are built again on every request, but the list's count is read once per
    version of the dataset: with both caches off, a list costs one query more."""
    with override_settings(API_COUNT_CACHE_SECONDS=0):
        queries(api, LIST)
        uncounted = queries(api, LIST)
    queries(api, LIST)  # fills the count's cache
    assert queries(api, LIST) == uncounted - 1


@override_settings(
    CACHES={
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/15",
            "KEY_PREFIX": "cryptogroups-test",
        }
    }
)
def test_redis_holds_responses_for_every_app_server(api, django_assert_num_queries):
    from django.core.cache import cache

    try:
        cache.clear()
    except Exception:
        pytest.skip("no Redis at 127.0.0.1:6379")
    first = api.get(LIST)
    with django_assert_num_queries(1):
        again = api.get(LIST)
    assert again.content == first.content
    cache.clear()


def test_one_request_builds_an_answer_while_the_others_wait_for_it():
    """Three requests for the same missing entry: one builds it; the others get its answer
    without building."""
    import threading
    import time

    from api import cache as api_cache

    builds = []
    started = threading.Event()

    def build():
        builds.append(threading.current_thread().name)
        started.set()
        time.sleep(0.3)
        return b"the answer", True

    answers = {}

    def ask(name):
        answers[name] = api_cache.build_once("api:test:coalesced", build)

    first = threading.Thread(target=ask, args=("first",), name="first")
    first.start()
    started.wait(5)
    others = [threading.Thread(target=ask, args=(n,), name=n) for n in ("second", "third")]
    for thread in others:
        thread.start()
    for thread in [first, *others]:
        thread.join(10)
    assert builds == ["first"]
    assert answers == dict.fromkeys(("first", "second", "third"), b"the answer")


def test_a_waiting_request_builds_when_the_builder_stores_nothing():
    import threading

    from api import cache as api_cache

    calls = []
    started = threading.Event()
    release = threading.Event()

    def unstorable():
        calls.append("builder")
        started.set()
        release.wait(5)
        return b"built for one request", False

    def own():
        calls.append("waiter")
        return b"built again", True

    builder = threading.Thread(target=api_cache.build_once, args=("api:test:unstored", unstorable))
    builder.start()
    started.wait(5)
    waiter_answer = {}
    waiter = threading.Thread(
        target=lambda: waiter_answer.update(v=api_cache.build_once("api:test:unstored", own))
    )
    waiter.start()
    release.set()
    builder.join(10)
    waiter.join(10)
    assert calls == ["builder", "waiter"]
    assert waiter_answer["v"] == b"built again"
