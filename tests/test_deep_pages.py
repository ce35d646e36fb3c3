"""Deep pages by number, read from the list's waypoints (the sort keys of every
``WAYPOINT_STRIDE``-th record, kept beside the count): the same records as reading the whole
list, in every order and with filters, right again after a change, and for a pinned number of
queries. The stride is made small here so that the curated lists have many waypoints."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from api import pagination
from cryptogroups import feed, models
from tests import factories as f
from tests.test_cursor import LISTS, by_page_number

pytestmark = pytest.mark.django_db

API = "/api/v1"

FILTERED = [
    ("groups", "platform=telegram&ordering=-member_count"),
    ("groups", "language=zh&ordering=name"),
    ("exchanges", "country=CN&ordering=-founded_date"),
]


def pages_read_whole(api, url: str, monkeypatch) -> list[str]:
    """The list's records page by page with no waypoint to seek from."""
    monkeypatch.setattr(pagination, "WAYPOINT_STRIDE", 10**9)
    try:
        return by_page_number(api, url)
    finally:
        monkeypatch.undo()


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
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
