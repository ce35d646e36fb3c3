"""Deep pages by number, read from the list's waypoints (the sort keys of every
``WAYPOINT_STRIDE``-th record, kept beside the count), and a searched list's pages, read from
its kept matches: the same records as reading the whole list, in every order and with filters,
right again after a change, and for a pinned number of queries. The stride and the slices are
made small here so that the curated lists have many of them."""

from __future__ import annotations

import re

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from api import pagination
from cryptogroups import feed, models
from tests import factories as f
from tests.test_cursor import LISTS, by_page_number, crawl

pytestmark = pytest.mark.django_db

API = "/api/v1"

FILTERED = [
    ("groups", "platform=telegram&ordering=-member_count"),
    ("groups", "language=zh&ordering=name"),
    ("exchanges", "country=CN&ordering=-founded_date"),
]


def pages_read_whole(api, url: str, monkeypatch) -> list[str]:
    """The list's records page by page with no waypoint to seek from and no match kept."""
    monkeypatch.setattr(pagination, "WAYPOINT_STRIDE", 10**9)
    monkeypatch.setattr(pagination, "MAX_KEPT_MATCHES", -1)
    try:
        return by_page_number(api, url)
    finally:
        monkeypatch.undo()


examples = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@examples
@given(
    listing=st.sampled_from(
        [(resource, f"ordering={ordering}") for resource, ordering in LISTS] + FILTERED
    ),
    size=st.integers(1, 12),
    stride=st.integers(1, 9),
)
def test_every_page_by_number_holds_what_the_whole_list_holds(
    api, listing, size, stride, monkeypatch, settings
):
    """Each page, read by its number from the nearest waypoint before it, holds the records
    that reading the list from its start gives, in every order (empty values last, either way)
    and with filters; the same with the response cache on (a page built once) and off."""
    settings.API_CACHE_SECONDS = 0
    resource, query = listing
    url = f"{API}/{resource}/?{query}&page_size={size}"
    expected = pages_read_whole(api, url, monkeypatch)
    monkeypatch.setattr(pagination, "WAYPOINT_STRIDE", stride)
    assert by_page_number(api, url) == expected
    # Again: the waypoints now come from the cache.
    assert by_page_number(api, url) == expected


def test_pages_are_read_from_new_waypoints_after_a_change(api, monkeypatch, settings):
    """A group added at the start of the list shifts every record one place: the version moves
    and the waypoints found for the old one are not used for the new list."""
    settings.API_CACHE_SECONDS = 0
    monkeypatch.setattr(pagination, "WAYPOINT_STRIDE", 3)
    url = f"{API}/groups/?page_size=2"
    before = by_page_number(api, url)
    group = models.Group.objects.public().order_by("name", "slug").first()
    added = f.group(platform=group.platform, name="  " + group.name, slug="a-first-group")
    feed.flush()
    after = by_page_number(api, url)
    assert after == [added.slug, *before]


def test_a_deep_page_costs_one_query_more_once_per_version(
    api, django_assert_num_queries, monkeypatch, settings
):
    """The first deep page of a version finds the waypoints (one pass over the list's index);
    every deep page after it reads the version, the rows, their exchanges and their citations,
    as the first page does, the count and the waypoints coming from the cache."""
    settings.API_CACHE_SECONDS = 0
    monkeypatch.setattr(pagination, "WAYPOINT_STRIDE", 4)
    api.get(f"{API}/groups/?page_size=2")
    with django_assert_num_queries(5):
        first_deep = api.get(f"{API}/groups/?page_size=2&page=4")
    with django_assert_num_queries(4):
        again = api.get(f"{API}/groups/?page_size=2&page=4")
    with django_assert_num_queries(4):
        other = api.get(f"{API}/groups/?page_size=2&page=3")
    assert first_deep.status_code == again.status_code == other.status_code == 200
    assert first_deep.json() == again.json()
    assert first_deep.json()["results"] != other.json()["results"]


def test_with_no_count_kept_a_deep_page_skips_from_the_start(api, monkeypatch, settings):
    """With ``API_COUNT_CACHE_SECONDS=0`` nothing would keep the waypoints: no pass is made to
    find them (a deep page makes the queries the first page makes), and the page is the same."""
    settings.API_CACHE_SECONDS = 0
    monkeypatch.setattr(pagination, "WAYPOINT_STRIDE", 4)
    expected = api.get(f"{API}/groups/?page_size=2&page=4").json()
    settings.API_COUNT_CACHE_SECONDS = 0
    with CaptureQueriesContext(connection) as first:
        api.get(f"{API}/groups/?page_size=2&page=1")
    with CaptureQueriesContext(connection) as deep:
        response = api.get(f"{API}/groups/?page_size=2&page=4")
    assert response.json() == expected
    assert len(deep) == len(first)
    assert not [query for query in deep.captured_queries if "ROW_NUMBER" in query["sql"]]


SEARCHES = [
    ("groups", "search=wechat"),
    ("groups", "search=a&ordering=-member_count"),
    ("groups", "search=bitcoin telegram&platform=telegram"),
    ("groups", "search=zzzz-no-such-word"),
    ("sources", "search=china&ordering=published_date"),
    ("sources", "search=a"),
    ("regulatory-actions", "search=a&ordering=-effective_date"),
    ("organizations", "search=a&ordering=country"),
]


@examples
@given(
    listing=st.sampled_from(SEARCHES),
    size=st.integers(1, 12),
    kept_slice=st.integers(1, 9),
    most_kept=st.sampled_from([0, 3, 10**6]),
)
def test_every_page_of_a_search_holds_what_the_whole_search_holds(
    api, listing, size, kept_slice, most_kept, monkeypatch, settings
):
    """Each page of a searched list, read from its kept matches (in slices of any size), or
    sought as other lists are when there are more matches than are kept, holds the records that
    reading the list from its start gives; again once the matches come from the cache."""
    settings.API_CACHE_SECONDS = 0
    resource, query = listing
    url = f"{API}/{resource}/?{query}&page_size={size}"
    expected = pages_read_whole(api, url, monkeypatch)
    monkeypatch.setattr(pagination, "KEPT_SLICE", kept_slice)
    monkeypatch.setattr(pagination, "MAX_KEPT_MATCHES", most_kept)
    monkeypatch.setattr(pagination, "WAYPOINT_STRIDE", 2)
    assert by_page_number(api, url) == expected
    assert by_page_number(api, url) == expected


def test_a_search_counts_and_keeps_its_matches_in_one_query(
    api, django_assert_num_queries, monkeypatch, settings
):
    """The first request of a search finds its matches in order, which counts them too; every
    page after it, however deep, reads the version, the rows, their exchanges and their
    citations, as the first page of an unsearched list does with its count cached."""
    settings.API_CACHE_SECONDS = 0
    monkeypatch.setattr(pagination, "KEPT_SLICE", 3)
    url = f"{API}/groups/?search=wechat&page_size=1"
    total = api.get(f"{API}/groups/?page_size=2").json()["count"]
    with django_assert_num_queries(5):
        first = api.get(url)
    pages = first.json()["count"]
    assert pages >= 3
    with django_assert_num_queries(4):
        again = api.get(url)
    with django_assert_num_queries(4):
        last = api.get(f"{url}&page={pages}")
    assert first.json() == again.json()
    assert 0 < first.json()["count"] < total
    assert last.status_code == 200
    assert len(last.json()["results"]) == 1


def test_matches_dropped_from_the_cache_are_found_again(
    api, django_assert_num_queries, monkeypatch, settings
):
    """A slice of kept matches the cache has let go is found again, in one more query, and
    the page is the same."""
    settings.API_CACHE_SECONDS = 0
    monkeypatch.setattr(pagination, "KEPT_SLICE", 2)
    url = f"{API}/groups/?search=a&page_size=3&page=2"
    expected = api.get(url).json()
    with django_assert_num_queries(4):
        api.get(url)
    found_many = pagination.api_cache.get_many
    monkeypatch.setattr(
        pagination.api_cache, "get_many", lambda keys, seconds=None: found_many(keys[:-1], seconds)
    )
    with django_assert_num_queries(5):
        again = api.get(url)
    assert again.json() == expected


def test_a_search_sees_a_new_match_at_once(api, settings):
    """A matching group added at the start of the list moves the version: the matches kept for
    the old one are not used, and every page shifts by one."""
    settings.API_CACHE_SECONDS = 0
    url = f"{API}/groups/?search=wechat&page_size=2"
    before = by_page_number(api, url)
    group = models.Group.objects.public().order_by("name", "slug").first()
    added = f.group(platform=group.platform, name="  WeChat first", slug="a-first-wechat-group")
    feed.flush()
    assert by_page_number(api, url) == [added.slug, *before]


class CacheDown:
    """A cache server that does not answer."""

    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise ConnectionError("the cache server does not answer")

        return fail


def test_with_the_cache_down_pages_come_from_the_database(api, monkeypatch, settings):
    """When the cache does not answer, a deep page and a page of a search are read from the
    database, the same as with it, and no waypoint is found only to be thrown away."""
    settings.API_CACHE_SECONDS = 0
    monkeypatch.setattr(pagination, "WAYPOINT_STRIDE", 3)
    monkeypatch.setattr(pagination, "KEPT_SLICE", 2)
    deep = f"{API}/groups/?page_size=2&page=4"
    searched = f"{API}/groups/?search=wechat&page_size=1&page=3"
    expected = {url: api.get(url).json() for url in (deep, searched)}
    monkeypatch.setattr(pagination.api_cache, "cache", CacheDown())
    with CaptureQueriesContext(connection) as queries:
        assert {url: api.get(url).json() for url in (deep, searched)} == expected
    assert not [query for query in queries.captured_queries if "ROW_NUMBER" in query["sql"]]


def test_a_page_across_the_empty_values_reads_the_values_then_the_empty_ones(
    api, django_assert_num_queries, monkeypatch, settings
):
    """By member count, the groups with a count come first and those without last. A page
    sought from a waypoint with a count reads the counts past it, and, when they end within
    the page, the empty ones after them: one query more. A page wholly within either part
    reads its rows in one query, as any deep page does."""
    settings.API_CACHE_SECONDS = 0
    monkeypatch.setattr(pagination, "WAYPOINT_STRIDE", 2)
    counted = models.Group.objects.filter(is_public=True, member_count__isnull=False).count()
    # The curated groups: an odd number with a count, so that a page of two holds both kinds.
    assert counted % 2 == 1
    assert counted > 2
    url = f"{API}/groups/?ordering=-member_count&page_size=2"
    expected = by_page_number(api, url)
    across = counted // 2 + 1  # the page that holds the last count and the first empty one
    api.get(f"{url}&page={across}")  # finds the waypoints
    # The version, the rows with a count, the rows without, their exchanges, their citations.
    with django_assert_num_queries(5):
        page = api.get(f"{url}&page={across}").json()
    assert [r["slug"] for r in page["results"]] == expected[(across - 1) * 2 : across * 2]
    assert [r["member_count"] is None for r in page["results"]] == [False, True]
    with django_assert_num_queries(4):
        within = api.get(f"{url}&page={across - 1}").json()
    assert [r["slug"] for r in within["results"]] == expected[(across - 2) * 2 : (across - 1) * 2]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the index is PostgreSQL's")
def test_a_page_past_a_key_seeks_in_the_index_by_its_first_term(api, monkeypatch, settings):
    """Past a key, by cursor (either way) or from a waypoint, every query that finds a
    page's records bounds the order's first term, empty values included: PostgreSQL seeks in
    the index instead of reading it from its start (with seq scans off, as at a million
    groups). The order is the one an index keeps with empty values
    (``group_public_size_order``)."""
    settings.API_CACHE_SECONDS = 0
    monkeypatch.setattr(pagination, "WAYPOINT_STRIDE", 2)
    url = f"{API}/groups/?ordering=-member_count&page_size=2"
    pages = [f"{url}&page={number}" for number in range(2, 7)]
    link = api.get(f"{url}&cursor=start").json()["next"]
    while link:
        body = api.get(link).json()
        pages += [link, body["previous"]]
        link = body["next"]
    api.get(pages[0])  # finds the waypoints
    # The conditions on the first term, in a query of the records or a subquery of their keys.
    keyset = re.compile(r'"member_count" (<|>|IS NULL|IS NOT NULL)')
    sought = 0
    for page in pages:
        with CaptureQueriesContext(connection) as queries:
            assert api.get(page).status_code == 200
        for query in queries.captured_queries:
            sql = query["sql"]
            if not keyset.search(sql):
                continue
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute(f"EXPLAIN {sql}")
                plan = "\n".join(row[0] for row in cursor.fetchall())
                cursor.execute("RESET enable_seqscan")
            assert re.search(r"Index Cond: \(+member_count", plan), plan
            sought += 1
    assert sought >= len(pages)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    counts=st.lists(st.sampled_from([None, 0, 7, 7, 50, 1_000]), min_size=1, max_size=14),
    ordering=st.sampled_from(["-member_count", "member_count", "member_count,-name"]),
    size=st.integers(1, 4),
    stride=st.integers(1, 3),
)
# A page whose waypoint has the last values but one and that starts two records past it, among
# the empty values: the values past the waypoint are counted to know how many empty ones to skip.
@example(counts=[7, 7, 50, 1_000, None, None, None], ordering="-member_count", size=1, stride=3)
def test_pages_past_keys_with_ties_and_empty_values_hold_the_whole_list(
    api, monkeypatch, settings, counts, ordering, size, stride
):
    """Groups whose sizes repeat and may be empty: by cursor forwards and backwards, and by
    number from waypoints, every page holds what reading the whole list gives, wherever the
    key falls (on a value, on a tie, on an empty value, at the turn from one to the other)."""
    settings.API_CACHE_SECONDS = 0
    with transaction.atomic():
        platform = f.platform()
        for number, count in enumerate(counts):
            f.group(
                platform=platform,
                name=f"Sized {number % 3}",
                member_count=count,
                member_count_qualifier=None if count is None else "exact",
            )
        feed.flush()
        url = f"{API}/groups/?platform={platform.slug}&ordering={ordering}&page_size={size}"
        expected = pages_read_whole(api, url, monkeypatch)
        assert len(expected) == len(counts)
        slugs, pages = crawl(api, f"{url}&cursor=start")
        assert slugs == expected
        back, link = [], pages[-1]["previous"]
        while link:
            body = api.get(link).json()
            back = [record["slug"] for record in body["results"]] + back
            link = body["previous"]
        assert back + [record["slug"] for record in pages[-1]["results"]] == expected
        monkeypatch.setattr(pagination, "WAYPOINT_STRIDE", stride)
        assert by_page_number(api, url) == expected
        transaction.set_rollback(True)
    monkeypatch.undo()
