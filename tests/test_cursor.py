"""Paging by key (``cursor``), as a crawler meets it: the same records in the same order as the
page numbers give, links both ways, pages that do not shift when records are added, cursors
that cannot be forged or reused in another order, and a pinned number of queries."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryptogroups import feed, models
from tests import factories as f

pytestmark = pytest.mark.django_db

API = "/api/v1"


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def crawl(api, url: str) -> tuple[list[str], list[dict]]:
    """Follow ``next`` from ``url`` to the end: the slugs in order, and every page's body."""
    slugs, pages = [], []
    while url:
        response = api.get(url)
        assert response.status_code == 200, response.json()
        body = response.json()
        pages.append(body)
        slugs += [record["slug"] for record in body["results"]]
        url = body["next"] and path_of(body["next"])
    return slugs, pages


def refusal(response, attr: str = "cursor") -> str:
    """The detail of a 400 that names ``attr`` alone."""
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert [error["attr"] for error in errors] == [attr]
    return errors[0]["detail"]


def by_page_number(api, url: str) -> list[str]:
    return crawl(api, url)[0]


def examples(count: int):
    """Hypothesis's settings for these crawls: ``count`` lists, each read through HTTP."""
    return settings(
        max_examples=count,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


LISTS = [
    ("groups", "name"),
    ("groups", "-member_count"),
    ("groups", "member_count,-name"),
    ("groups", "-created_at"),
    ("organizations", "country"),
    ("regulatory-actions", "-effective_date"),
    ("sources", "published_date"),
]


@examples(30)
@given(listing=st.sampled_from(LISTS), size=st.integers(1, 40))
def test_a_crawl_by_cursor_reads_what_the_page_numbers_read(api, listing, size):
    """Every record once, in the list's order, whatever the order (empty values last, either
    way) and the page size; the count is the list's on every page."""
    resource, ordering = listing
    query = f"ordering={ordering}&page_size={size}"
    expected = by_page_number(api, f"{API}/{resource}/?{query}")
    slugs, pages = crawl(api, f"{API}/{resource}/?{query}&cursor=start")
    assert slugs == expected
    assert {page["count"] for page in pages} == {len(expected)}
    assert pages[0]["previous"] is None
    assert pages[-1]["next"] is None
    assert all(len(page["results"]) == size for page in pages[:-1])


@examples(20)
@given(listing=st.sampled_from(LISTS), size=st.integers(1, 5))
def test_previous_links_walk_back_through_the_same_pages(api, listing, size):
    """From the last page back to the first, whatever the order: across the empty values
    too, which are read backwards before the values."""
    resource, ordering = listing
    slugs, pages = crawl(
        api, f"{API}/{resource}/?ordering={ordering}&page_size={size}&cursor=start"
    )
    assert len(pages) > 1
    url = pages[-1]["previous"]
    back = [pages[-1]["results"]]
    while url:
        body = api.get(path_of(url)).json()
        back.append(body["results"])
        url = body["previous"]
    assert [r["slug"] for page in reversed(back) for r in page] == slugs
    assert [len(page) for page in reversed(back)] == [len(p["results"]) for p in pages]


def test_the_next_page_does_not_shift_when_records_are_added_before_it(api):
    platform = f.platform()
    names = [f"Keyset {n:02d}" for n in range(10)]
    for name in names:
        f.group(platform=platform, name=name)
    first = api.get(f"{API}/groups/?platform={platform.slug}&page_size=4&cursor=start").json()
    # Added before the cursor: page numbers would now repeat the fourth record.
    f.group(platform=platform, name="Keyset 00 bis")
    f.group(platform=platform, name="Keyset 01 bis")
    feed.flush()  # as the commit does: the version the count is kept under moves
    second = api.get(path_of(first["next"])).json()
    assert [g["name"] for g in first["results"]] == names[:4]
    assert [g["name"] for g in second["results"]] == names[4:8]
    assert second["count"] == 12


def test_a_cursor_keeps_the_filters_in_its_links(api):
    platform = f.platform()
    for n in range(5):
        f.group(platform=platform, name=f"Filtered {n}")
    f.group(name="Filtered elsewhere")
    slugs, pages = crawl(api, f"{API}/groups/?platform={platform.slug}&page_size=2&cursor=start")
    assert len(slugs) == 5
    assert pages[0]["count"] == 5
    query = parse_qs(urlsplit(pages[0]["next"]).query)
    assert query["platform"] == [platform.slug]
    assert query["page_size"] == ["2"]
    assert "page" not in query


def test_the_end_of_a_list_and_an_empty_list(api):
    empty = api.get(f"{API}/groups/?search=no-such-group-anywhere&cursor=start").json()
    assert empty == {"count": 0, "next": None, "previous": None, "results": []}
    platform = f.platform()
    f.group(platform=platform)
    only = api.get(f"{API}/groups/?platform={platform.slug}&cursor=start").json()
    assert only["count"] == 1
    assert only["next"] is None
    assert only["previous"] is None


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("cursor=start&page=2", "Give either 'cursor' or 'page', not both."),
        ("cursor=abc", "Not a cursor of this list"),
        ("cursor=" + "a" * 1001, "Not a cursor of this list"),
        ("cursor=a%20b", "Not a cursor of this list"),
    ],
)
def test_a_bad_cursor_is_a_400_naming_it(api, query, named):
    assert named in refusal(api.get(f"{API}/groups/?{query}"))


def test_a_forged_cursor_is_refused(api):
    body = api.get(f"{API}/groups/?page_size=2&cursor=start").json()
    cursor = parse_qs(urlsplit(body["next"]).query)["cursor"][0]
    forged = cursor[:-3] + ("AAA" if not cursor.endswith("AAA") else "BBB")
    response = api.get(f"{API}/groups/?page_size=2&cursor={forged}")
    assert "Not a cursor of this list" in refusal(response)


def test_a_cursor_is_refused_in_another_order(api):
    body = api.get(f"{API}/groups/?page_size=2&ordering=name&cursor=start").json()
    cursor = parse_qs(urlsplit(body["next"]).query)["cursor"][0]
    message = refusal(api.get(f"{API}/groups/?page_size=2&ordering=-name&cursor={cursor}"))
    assert "'name,slug'" in message
    assert "'-name,slug'" in message


def test_a_cursor_is_for_lists_only(api):
    slug = models.Group.objects.public().values_list("slug", flat=True).first()
    response = api.get(f"{API}/groups/{slug}/history/?cursor=start")
    assert refusal(response).startswith("Unknown query parameter.")


def test_a_page_by_cursor_costs_one_query_more_than_a_page_by_number(
    api, django_assert_num_queries, settings
):
    """A page by number reads its keys in a subquery of its rows' query; a page by cursor
    reads them on their own, since its links carry the keys of its first and last records.
    Beyond that, both read the version, the rows, their exchanges and their citations; the
    count is kept in the cache."""
    settings.API_CACHE_SECONDS = 0
    body = api.get(f"{API}/groups/?page_size=5&cursor=start").json()
    api.get(f"{API}/groups/?page_size=5&page=2")
    with django_assert_num_queries(5):
        by_cursor = api.get(path_of(body["next"]))
    with django_assert_num_queries(4):
        by_number = api.get(f"{API}/groups/?page_size=5&page=2")
    assert by_cursor.json()["results"] == by_number.json()["results"]
