"""A list's count, waypoints and kept matches are kept under the last change to the fields they
read (api.depends), not under the dataset's version: an edit they do not read leaves them in
place, and whatever curators change, every page of every list, read with them kept, is the
list read whole with nothing kept, cut into pages. The stride and the slices are small so
that the curated lists have many of them."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from rest_framework.utils.urls import replace_query_param

from api import pagination
from api.pagination import MAX_PAGE_SIZE
from cryptogroups import feed, models, published
from cryptogroups.choices import PublicationStatus
from tests import factories as f
from tests.test_cursor import path_of

pytestmark = pytest.mark.django_db

API = "/api/v1"
WORDS = ["bitcoin", "kept", "plain"]


def pages_of(api, url: str) -> list[tuple[int, dict]]:
    """Every page of the list from ``url``, following ``next``: status and body (a 400 for a
    filter on a record no longer public ends it)."""
    pages = []
    while url:
        response = api.get(url)
        body = response.json()
        pages.append((response.status_code, body))
        url = response.status_code == 200 and body["next"] and path_of(body["next"])
    return pages


def read(api, url: str) -> tuple[list[tuple[int, dict]], int]:
    """Every page of the list from ``url``, and how many queries reading them took."""
    with CaptureQueriesContext(connection) as queries:
        pages = pages_of(api, url)
    return pages, len(queries.captured_queries)


def results(pages) -> list[dict]:
    return [record for _, body in pages for record in body["results"]]


@pytest.fixture
def small_steps(monkeypatch, settings):
    settings.API_CACHE_SECONDS = 0  # every page built: only counts and positions are kept
    monkeypatch.setattr(pagination, "WAYPOINT_STRIDE", 2)
    monkeypatch.setattr(pagination, "KEPT_SLICE", 2)


def describe(record, text: str) -> None:
    record.description = text
    record.save()
    feed.flush()  # what the write API does after its writes


def test_a_description_edit_keeps_the_count_and_the_waypoints(api, small_steps):
    """Counted once, then a group's description is edited: the groups' list by member count,
    every page of it, takes no count and no pass for waypoints (neither reads a description),
    and shows the new description; a search of descriptions finds its matches again. A member
    count edited moves the list's waypoints, not its count; a group withdrawn moves both."""
    url = f"{API}/groups/?ordering=-member_count&page_size=2"
    search = f"{API}/groups/?search=kept&page_size=2"
    read(api, url)
    first, kept = read(api, url)  # the count and the waypoints kept
    read(api, search)
    _, search_kept = read(api, search)
    group = models.Group.objects.public().order_by("-member_count", "slug")[2]

    describe(group, "A kept description.")
    pages, queries = read(api, url)
    assert queries == kept
    shown = {record["slug"]: record for record in results(pages)}
    assert shown[group.slug]["description"] == "A kept description."
    assert pages == [
        (status, {**body, "results": [shown[record["slug"]] for record in body["results"]]})
        for status, body in first
    ]
    found, queries = read(api, search)
    assert queries == search_kept + 1  # the matches, counted and kept in order in one query
    assert group.slug in {record["slug"] for record in results(found)}

    group.member_count, group.member_count_qualifier = 10**9, "exact"
    group.save()
    feed.flush()
    pages, queries = read(api, url)
    assert queries == kept + 1  # the waypoints: the order moved, not what is counted
    assert results(pages)[0]["slug"] == group.slug
    assert [body["count"] for _, body in pages] == [body["count"] for _, body in first]

    group.publication_status = PublicationStatus.DRAFT
    group.save()
    feed.flush()
    pages, queries = read(api, url)
    assert queries == kept + 2  # the count, the waypoints
    assert pages[0][1]["count"] == first[0][1]["count"] - 1


def test_an_edit_of_a_record_not_public_moves_nothing(api, small_steps):
    """A draft's member count edited: the public lists are as they were, kept as they were."""
    url = f"{API}/groups/?ordering=-member_count&page_size=2"
    read(api, url)
    before, kept = read(api, url)
    draft = f.group(
        platform=models.Platform.objects.public().first(),
        publication_status=PublicationStatus.DRAFT,
        member_count=5,
        member_count_qualifier="exact",
    )
    feed.flush()
    draft.member_count = 10**9
    draft.save()
    feed.flush()
    after, queries = read(api, url)
    assert queries == kept
    assert after == before


def test_with_published_versions_what_moved_is_read_beside_the_published_version(
    api, publishing, small_steps, django_capture_on_commit_callbacks
):
    """With ``PUBLISH_VERSIONS`` a list takes the dataset's version from Redis, and what moved
    from the database: a description edited keeps the count, a group withdrawn moves it."""
    url = f"{API}/groups/?ordering=-member_count&page_size=2"
    first, _ = read(api, url)  # the version read from the database, and published
    assert published.version() is not None
    _, kept = read(api, url)
    group = models.Group.objects.public().order_by("-member_count", "slug")[2]

    with django_capture_on_commit_callbacks(execute=True):
        describe(group, "A kept description.")
    assert published.version() is not None
    pages, queries = read(api, url)
    assert queries == kept
    assert [body["count"] for _, body in pages] == [body["count"] for _, body in first]

    with django_capture_on_commit_callbacks(execute=True):
        group.publication_status = PublicationStatus.DRAFT
        group.save()
        feed.flush()
    assert published.version() is not None
    pages, queries = read(api, url)
    assert queries == kept + 2  # the count, the waypoints
    assert pages[0][1]["count"] == first[0][1]["count"] - 1


class KeptLists(RuleBasedStateMachine):
    """Curators' edits of the fields lists filter, sort and search by, of visibility and of
    relations, in any order; after each, every page of every list is read with what is kept,
    and agrees with the list read whole (pages of 100) with nothing kept: the count, the
    records of each page and its links to the pages before and after it."""

    def __init__(self, api):
        super().__init__()
        self.api = api
        # Each run starts from the curated dataset: its changes are rolled back at the end,
        # and the cache emptied (the counters they reached will be reached again).
        self.atomic = transaction.atomic()
        self.atomic.__enter__()

    def teardown(self):
        transaction.set_rollback(True)
        self.atomic.__exit__(None, None, None)
        cache.clear()

    @initialize()
    def pick(self):
        self.groups = list(models.Group.objects.order_by("pk")[:6])
        self.platforms = list(models.Platform.objects.order_by("pk")[:3])
        self.exchanges = list(models.Exchange.objects.order_by("pk")[:3])
        platform, exchange = self.platforms[0], self.exchanges[0]
        self.urls = [
            f"{API}/groups/?page_size=2",
            f"{API}/groups/?ordering=-member_count&page_size=2",
            f"{API}/groups/?ordering=-updated_at&page_size=3",
            f"{API}/groups/?platform={platform.slug}&ordering=name&page_size=2",
            f"{API}/groups/?member_count_min=1000&page_size=2",
            f"{API}/groups/?exchange={exchange.slug}&page_size=1",
            f"{API}/groups/?search=bitcoin&page_size=2",
            f"{API}/groups/?search=kept&ordering=-name&page_size=1",
            f"{API}/platform-availabilities/?search=kept&page_size=1",
            f"{API}/exchange-responses/?search=kept&page_size=1",
            f"{API}/exchanges/?country=CN&ordering=name&page_size=1",
            f"{API}/platforms/?ordering=name&page_size=1",
        ]

    @rule(group=st.integers(0, 5), text=st.sampled_from(WORDS))
    def describe_group(self, group, text):
        describe(self.groups[group], f"A {text} group.")

    @rule(group=st.integers(0, 5), text=st.sampled_from(WORDS))
    def rename_group(self, group, text):
        self.groups[group].name = f"{text.title()} group {group}"
        self.save(self.groups[group])

    @rule(group=st.integers(0, 5), count=st.sampled_from([None, 0, 999, 1000, 10**6]))
    def count_members(self, group, count):
        self.groups[group].member_count = count
        self.groups[group].member_count_qualifier = None if count is None else "exact"
        self.save(self.groups[group])

    @rule(group=st.integers(0, 5), platform=st.integers(0, 2))
    def move_group(self, group, platform):
        self.groups[group].platform = self.platforms[platform]
        self.save(self.groups[group])

    @rule(group=st.integers(0, 5), published=st.booleans())
    def publish_group(self, group, published):
        self.groups[group].publication_status = (
            PublicationStatus.PUBLISHED if published else PublicationStatus.DRAFT
        )
        self.save(self.groups[group])

    @rule(platform=st.integers(0, 2), published=st.booleans(), text=st.sampled_from(WORDS))
    def edit_platform(self, platform, published, text):
        record = self.platforms[platform]
        record.publication_status = (
            PublicationStatus.PUBLISHED if published else PublicationStatus.DRAFT
        )
        record.name = f"{text.title()} messenger {platform}"
        self.save(record)

    @rule(
        exchange=st.integers(0, 2),
        text=st.sampled_from(WORDS),
        country=st.sampled_from(["CN", "HK"]),
    )
    def edit_exchange(self, exchange, text, country):
        record = self.exchanges[exchange]
        record.name, record.country = f"{text.title()} exchange {exchange}", country
        self.save(record)

    @rule(group=st.integers(0, 5), exchange=st.integers(0, 2), linked=st.booleans())
    def link(self, group, exchange, linked):
        links = models.GroupExchange.objects.filter(
            group=self.groups[group], exchange=self.exchanges[exchange]
        )
        if linked and not links.exists():
            models.GroupExchange.objects.create(
                group=self.groups[group], exchange=self.exchanges[exchange]
            )
        elif not linked:
            for found in links:
                found.delete()
        feed.flush()

    @staticmethod
    def save(record):
        record.save()
        feed.flush()

    @invariant()
    def lists_agree(self):
        if not hasattr(self, "urls"):
            return
        for url in self.urls:
            kept = pages_of(self.api, url)
            with override_settings(API_COUNT_CACHE_SECONDS=0):
                whole = pages_of(self.api, replace_query_param(url, "page_size", MAX_PAGE_SIZE))
            size = int(parse_qs(urlsplit(url).query)["page_size"][0])
            assert paged(kept) == paged_as(whole, size), url


def paged(pages) -> list[tuple]:
    """Each page as what is kept can alter: its status, its count, its records, and whether it
    links to a page after it and before it (a refusal as it is)."""
    return [
        (status, body["count"], body["results"], bool(body["next"]), bool(body["previous"]))
        if status == 200
        else (status, body)
        for status, body in pages
    ]


def paged_as(whole, size: int) -> list[tuple]:
    """The list read whole (pages of the largest size), cut into pages of ``size``, as
    ``paged`` describes them."""
    if whole[0][0] != 200:
        return paged(whole[:1])
    records, count = results(whole), whole[0][1]["count"]
    assert len(records) == count
    return [
        (200, count, records[start : start + size], start + size < count, start > 0)
        for start in range(0, max(count, 1), size)
    ]


def test_kept_counts_and_positions_follow_every_change(api, small_steps):
    run_state_machine_as_test(
        lambda: KeptLists(api),
        settings=settings(
            max_examples=20,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        ),
    )
