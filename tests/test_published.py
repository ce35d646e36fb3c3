"""Versions published in Redis on commit (PUBLISH_VERSIONS): a cached answer and a 304 read no
database, and nothing older than a committed write is ever served; a write Redis cannot be
told of is refused, whole. The protocol (cryptogroups.published) is also driven by a state
machine against a real Redis, with readers and writers interleaved in every order."""

from __future__ import annotations

import datetime

import pytest
from django.test import override_settings
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from cryptogroups import models, published
from tests.conftest import publishing_settings
from tests.redisserver import RedisServer

LIST = "/api/v1/groups/?platform=telegram"
PLATFORM = "/api/v1/platforms/telegram/"
EXCHANGE = "/api/v1/exchanges/okcoin/"
READS = [LIST, PLATFORM, EXCHANGE]


@pytest.mark.django_db
def test_a_cached_answer_and_a_304_read_no_database(api, publishing, django_assert_num_queries):
    for path in READS:
        first = api.get(path)
        assert first.status_code == 200, path
        with django_assert_num_queries(0):
            again = api.get(path)
        assert again.status_code == 200
        assert again.content == first.content
        assert again["ETag"] == first["ETag"]
        assert again["Last-Modified"] == first["Last-Modified"]
        with django_assert_num_queries(0):
            unchanged = api.get(path, HTTP_IF_NONE_MATCH=first["ETag"])
        assert unchanged.status_code == 304, path
        assert unchanged["ETag"] == first["ETag"]


@pytest.mark.django_db
def test_without_publication_a_cached_answer_reads_the_version(
    api, redis_server, django_assert_num_queries
):
    redis_server.client().flushdb()
    with override_settings(**{**publishing_settings(redis_server.url), "PUBLISH_VERSIONS": False}):
        for path in READS:
            api.get(path)
            with django_assert_num_queries(1):
                assert api.get(path).status_code == 200
        assert not list(redis_server.client().scan_iter(match=published.PREFIX + "*"))


@pytest.mark.django_db
def test_nothing_older_than_a_committed_write_is_served(
    api, curator_api, publishing, django_assert_num_queries, django_capture_on_commit_callbacks
):
    before = {path: api.get(path) for path in READS}
    for path in READS:
        api.get(path)  # served from the cache and the published versions
    with django_capture_on_commit_callbacks(execute=True):
        write = curator_api.patch(
            f"{PLATFORM}?reason=Renamed", {"name": "Telegram X"}, format="json"
        )
    assert write.status_code == 200, write.content

    platform = api.get(PLATFORM)
    assert platform.json()["name"] == "Telegram X"
    assert platform["ETag"] != before[PLATFORM]["ETag"]
    groups = api.get(LIST).json()["results"]
    assert groups
    assert {group["platform"]["name"] for group in groups} == {"Telegram X"}
    assert api.get(EXCHANGE).content == before[EXCHANGE].content
    # What the write published serves the next reads, with no query.
    for path in (PLATFORM, LIST):
        with django_assert_num_queries(0):
            again = api.get(path)
        assert again.status_code == 200
    # The 304 of the old copy is refused: the client gets the new body.
    stale = api.get(PLATFORM, HTTP_IF_NONE_MATCH=before[PLATFORM]["ETag"])
    assert stale.status_code == 200
    assert stale.json()["name"] == "Telegram X"


@pytest.mark.django_db
def test_a_record_that_leaves_the_public_api_is_not_served_again(
    api, curator_api, publishing, django_capture_on_commit_callbacks
):
    assert api.get(EXCHANGE).status_code == 200
    assert api.get(EXCHANGE).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        write = curator_api.patch(
            f"{EXCHANGE}?reason=Retracted", {"publication_status": "retracted"}, format="json"
        )
    assert write.status_code == 200, write.content
    assert api.get(EXCHANGE).status_code == 404
    assert api.get(EXCHANGE).status_code == 404


@pytest.mark.django_db
def test_a_slug_given_up_is_not_served_under_it(
    api, curator_api, publishing, django_capture_on_commit_callbacks
):
    assert api.get(EXCHANGE).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        write = curator_api.patch(f"{EXCHANGE}?reason=Renamed", {"slug": "okex-cn"}, format="json")
    assert write.status_code == 200, write.content
    assert api.get(EXCHANGE).status_code == 404
    assert api.get("/api/v1/exchanges/okex-cn/").status_code == 200


@pytest.mark.django_db
def test_a_write_redis_cannot_fence_is_refused_whole(api, curator_api, publishing):
    """Redis answers reads but takes no write (CLIENT PAUSE ... WRITE): readers would go on
    trusting what it holds, so the write must not commit."""
    before = api.get(PLATFORM)
    api.get(PLATFORM)
    client = publishing.client()
    client.execute_command("CLIENT", "PAUSE", 3000, "WRITE")
    try:
        write = curator_api.patch(
            f"{PLATFORM}?reason=Renamed", {"name": "Telegram X"}, format="json"
        )
    finally:
        client.execute_command("CLIENT", "UNPAUSE")
    assert write.status_code == 503, write.content
    assert write["Retry-After"]
    assert "not saved" in write.json()["errors"][0]["detail"]
    assert models.Platform.objects.get(slug="telegram").name == "Telegram"
    assert api.get(PLATFORM).content == before.content

    again = curator_api.patch(f"{PLATFORM}?reason=Renamed", {"name": "Telegram X"}, format="json")
    assert again.status_code == 200, again.content
    assert api.get(PLATFORM).json()["name"] == "Telegram X"


@pytest.mark.django_db
def test_readers_answer_from_the_database_when_redis_is_down(api, publishing):
    first = api.get(PLATFORM)
    publishing.kill()
    try:
        again = api.get(PLATFORM)
        assert again.status_code == 200
        assert again.content == first.content
    finally:
        publishing.start()


# The protocol, against a real Redis: one resource with a few slugs, a committed "database" of
# digests and a counter, writers that fence, commit or roll back and publish late or never, and
# readers whose offers arrive late, from any snapshot. After every step, whatever Redis would
# serve is what the database holds.

SLUGS = ["a", "b", "c"]
RESOURCE = "things"


class Protocol(RuleBasedStateMachine):
    def __init__(self, server: RedisServer) -> None:
        super().__init__()
        self.server = server

    @initialize()
    def start(self) -> None:
        self.server.client().flushdb()
        self.counter = 0
        self.database = dict.fromkeys(SLUGS, "")
        self.writing: dict | None = None
        self.late_publications: list[tuple[int, list]] = []
        self.late_offers: list[tuple[str, int, str]] = []
        self.changes = 0

    @precondition(lambda self: self.writing is None)
    @rule(slugs=st.lists(st.sampled_from(SLUGS), min_size=1, max_size=3, unique=True))
    def fence(self, slugs: list[str]) -> None:
        self.changes += 1
        states = [(RESOURCE, slug, f"{slug}{self.changes}", None) for slug in slugs]
        published.fence(self.counter + 1, states)
        self.writing = {"counter": self.counter + 1, "states": states}

    @precondition(lambda self: self.writing is not None)
    @rule(publish=st.sampled_from(["now", "late", "never"]))
    def commit(self, publish: str) -> None:
        self.counter = self.writing["counter"]
        for _, slug, digest, _ in self.writing["states"]:
            self.database[slug] = digest
        if publish == "now":
            published.publish(self.counter, models_stamp(self.counter), self.writing["states"])
        elif publish == "late":
            self.late_publications.append((self.counter, self.writing["states"]))
        self.writing = None

    @precondition(lambda self: self.writing is not None)
    @rule()
    def roll_back(self) -> None:
        self.writing = None

    @rule(slug=st.sampled_from(SLUGS))
    def read(self, slug: str) -> None:
        """A reader's one-statement read of the database; its offer may arrive at once or
        late."""
        self.late_offers.append((slug, self.counter, self.database[slug]))

    @precondition(lambda self: self.late_offers)
    @rule(data=st.data())
    def offer(self, data) -> None:
        index = data.draw(st.integers(0, len(self.late_offers) - 1))
        slug, counter, digest = self.late_offers.pop(index)
        published.offer_record_state(RESOURCE, slug, counter, digest, None)
        published.offer_version(counter, models_stamp(counter))

    @precondition(lambda self: self.late_publications)
    @rule(data=st.data())
    def publish_late(self, data) -> None:
        index = data.draw(st.integers(0, len(self.late_publications) - 1))
        counter, states = self.late_publications.pop(index)
        published.publish(counter, models_stamp(counter), states)

    @rule(slug=st.sampled_from(SLUGS), back=st.integers(0, 3))
    def late_fence(self, slug: str, back: int) -> None:
        """A fence delivered late (its write timed out and rolled back): at any counter."""
        published.fence(max(0, self.counter + 1 - back), [(RESOURCE, slug, "", None)])

    @precondition(lambda self: self.writing is None)
    @rule(slug=st.sampled_from(SLUGS))
    def bypass(self, slug: str) -> None:
        """A change that does not name what it changes (the synthetic generator)."""
        published.raise_floor(self.counter + 1)
        self.counter += 1
        self.changes += 1
        self.database[slug] = f"{slug}{self.changes}"

    @invariant()
    def nothing_stale_is_served(self) -> None:
        if not hasattr(self, "database"):
            return
        for slug in SLUGS:
            served = published.record_state(RESOURCE, slug)
            if served is not None:
                assert served[0] == self.database[slug], (slug, served, self.database)
        version = published.version()
        if version is not None:
            assert version.counter == self.counter


def models_stamp(counter: int) -> datetime.datetime:
    """The time of the change of ``counter`` (one second apart, as the feed's)."""
    return datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=counter)


def test_the_protocol_never_serves_a_stale_value(redis_server):
    with override_settings(REDIS_URL=redis_server.url, PUBLISH_VERSIONS=True):
        run_state_machine_as_test(
            lambda: Protocol(redis_server),
            settings=hypothesis_settings(
                max_examples=150, stateful_step_count=40, deadline=None, derandomize=True
            ),
        )
