"""The benchmark's floor (bench/floor.py) answers every query it mirrors with the API's bytes, so
that bench/run.py compares like with like; it is routed by bench.urls only. Also: the parts
of the harness that read wrk's output and choose what to request."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.test import override_settings

from bench import floor, run
from cryptogroups import models
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def bench(client):
    """A test client on bench.urls (the API and the floor), with an empty response cache."""
    cache.clear()
    with override_settings(ROOT_URLCONF="bench.urls"):
        yield client
    cache.clear()


def assert_same_bytes(client, query: str = "", slug: str | None = None) -> bytes:
    """The API's and the floor's answers to the same query are 200s with the same bytes."""
    path = f"groups/{slug}/" if slug else "groups/"
    api = client.get(f"/api/v1/{path}{query}")
    built = client.get(f"/floor/{path}{query}")
    assert api.status_code == 200, api.content
    assert built.status_code == 200, built.content
    assert built["Content-Type"] == "application/json"
    assert built.content == api.content
    return api.content


def public_groups() -> list[models.Group]:
    return list(models.Group.objects.public().order_by("name", "slug"))


def test_the_first_page_of_the_list(bench):
    body = assert_same_bytes(bench, "?page_size=100")
    assert b'"count":%d' % len(public_groups()) in body


@pytest.mark.parametrize("size", [1, 2, 3])
def test_every_page_with_its_next_and_previous_links(bench, size):
    # The first page drops ``page`` from its neighbours' links, the others set it; the
    # parameters are sorted by name, as DRF's pagination writes them.
    pages = -(-len(public_groups()) // size)
    assert pages > 2
    for number in range(1, pages + 1):
        assert_same_bytes(bench, f"?page={number}&page_size={size}")
        assert_same_bytes(bench, f"?page_size={size}&page={number}")


def test_pages_of_other_sizes_and_the_default_size(bench):
    for size in (1, 3, 7, 20, 100):
        pages = -(-len(public_groups()) // size)
        assert_same_bytes(bench, f"?page_size={size}&page={max(1, pages - 1)}")
        assert_same_bytes(bench, f"?page_size={size}&page={pages}")
    assert_same_bytes(bench)
    assert_same_bytes(bench, "?page=1")


def test_each_platform_filter(bench):
    platforms = models.Platform.objects.public().values_list("slug", flat=True)
    assert platforms
    for slug in platforms:
        assert_same_bytes(bench, f"?platform={slug}&page_size=100")
        if models.Group.objects.public().filter(platform__slug=slug).count() > 2:
            assert_same_bytes(bench, f"?page_size=2&platform={slug}&page=2")


def test_each_group_in_detail(bench):
    groups = public_groups()
    assert groups
    for group in groups:
        assert_same_bytes(bench, slug=group.slug)


@pytest.mark.parametrize("word", ["bitcoin", "WeChat", "TELEGRAM", "group", "petition", "zzzq"])
def test_a_search_for_one_word(bench, word):
    body = assert_same_bytes(bench, f"?search={word}&page_size=100")
    assert_same_bytes(bench, f"?search={word}&page_size=1&page=1")
    if word == "zzzq":
        assert body.startswith(b'{"count":0,"next":null,"previous":null,"results":[]')


def test_a_search_on_a_later_page(bench):
    assert_same_bytes(bench, "?search=telegram&page_size=1&page=2")


def test_what_is_not_public_stays_out_of_both(bench):
    """Drafts, groups on a platform whose operator is a draft, exchange links to a draft
    exchange, and sparse records: the floor's idea of public is the API's."""
    hidden_operator = f.organization(publication_status="draft")
    parent = f.organization(publication_status="draft")
    child = f.organization(parent=parent)
    shown = f.platform(operator=f.organization())
    f.group(platform=f.platform(operator=hidden_operator), name="A hidden operator")
    f.group(platform=f.platform(operator=child), name="A hidden parent")
    f.group(platform=f.platform(publication_status="draft"), name="A draft platform")
    f.group(platform=shown, publication_status="draft", name="A draft group")
    group = f.group(
        platform=shown,
        name="A sparse group\u2028with a line separator\u2029and a paragraph one",
        description="",
    )
    models.GroupExchange.objects.create(group=group, exchange=f.exchange(), affiliation="official")
    models.GroupExchange.objects.create(
        group=group, exchange=f.exchange(publication_status="draft")
    )
    models.GroupExchange.objects.create(
        group=group, exchange=f.exchange(operator=f.organization(publication_status="draft"))
    )
    f.cite(group, field_name="name")
    f.cite(group)

    body = assert_same_bytes(bench, "?page_size=100")
    assert b"\\u2028" in body
    assert b"A hidden" not in body
    assert b"A draft" not in body
    assert_same_bytes(bench, slug=group.slug)
    assert_same_bytes(bench, f"?platform={shown.slug}&page_size=100")
    assert_same_bytes(bench, "?search=sparse&page_size=100")


def test_the_floor_is_not_routed_in_production(client):
    assert client.get("/floor/groups/").status_code == 404
    assert client.get(f"/floor/groups/{public_groups()[0].slug}/").status_code == 404


def test_the_ceiling_answers_as_many_bytes_as_asked_the_same_each_time(bench):
    first = bench.get("/floor/constant/?bytes=1000")
    assert first.status_code == 200
    assert first["Content-Type"] == "application/json"
    assert len(first.content) == 1000
    assert first.content == bench.get("/floor/constant/?bytes=1000").content
    for bad in ("?bytes=1", "?bytes=x", f"?bytes={floor.MAX_CONSTANT_BYTES + 1}"):
        assert bench.get(f"/floor/constant/{bad}").status_code == 404, bad


def test_the_ceiling_rows_put_cached_reads_against_as_many_bytes(bench, monkeypatch):
    sizes = {"/api/v1/groups/?page_size=100": 5000, "/api/v1/groups/g/": 1200}
    monkeypatch.setattr(run, "get", lambda port, path, headers=None: (200, {}, b"x" * sizes[path]))
    found = run.endpoints(
        {
            "platform": "p",
            "group": "g",
            "deep_page": 2,
            "word": "w",
            "deep_cursor": "c",
        },
        etag='"1-abc"',
    )
    ceiling = {e.name: e for e in run.ceiling_endpoints(0, found, '"1-abc"')}
    assert ceiling["list hit"].baseline == "/floor/constant/?bytes=5000"
    assert ceiling["detail hit"].baseline == "/floor/constant/?bytes=1200"
    assert ceiling["304 hit"].api_headers == {"If-None-Match": '"1-abc"'}
    assert ceiling["304 hit"].api_status == 304
    assert {e.baseline_kind for e in ceiling.values()} == {"ceiling"}


def test_the_floor_answers_404_past_the_last_page_and_for_an_unknown_group(bench):
    assert bench.get("/floor/groups/?page=999").status_code == 404
    assert bench.get("/floor/groups/no-such-group/").status_code == 404


def test_timestamps_are_written_as_drf_writes_them():
    import datetime

    utc = datetime.UTC
    assert floor.timestamp(datetime.datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=utc)) == (
        "2024-01-02T03:04:05.000006Z"
    )
    assert floor.timestamp(datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=utc)) == (
        "2024-01-02T03:04:05Z"
    )


WRK_OUTPUT = """\
Running 2s test @ http://127.0.0.1:8000/api/v1/groups/?page_size=100
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    12.04ms    3.10ms  41.22ms   80.00%
    Req/Sec   660.10     40.20   720.00     70.00%
  Latency Distribution
     50%  812.00us
     75%   13.10ms
     90%   15.00ms
     99%    1.20s
  2640 requests in 2.00s, 90.00MB read
  Socket errors: connect 0, read 1, write 0, timeout 3
  Non-2xx or 3xx responses: 5
Requests/sec:   1318.42
Transfer/sec:     45.00MB
"""


def test_wrk_output_is_read():
    assert run.parse_wrk(WRK_OUTPUT) == {
        "rps": 1318.42,
        "p50_ms": pytest.approx(0.812),
        "p99_ms": 1200.0,
        "requests": 2640,
        "socket_errors": {"connect": 0, "read": 1, "write": 0, "timeout": 3},
        "non_2xx_3xx": 5,
        "bytes_per_response": pytest.approx(90 * 1024 * 1024 / 2640, abs=0.1),
    }


def test_a_run_without_a_completed_request_has_no_latencies():
    output = WRK_OUTPUT.replace("2640 requests", "0 requests").replace("1318.42", "0.00")
    parsed = run.parse_wrk(output)
    assert parsed["rps"] == 0
    assert parsed["p50_ms"] is None
    assert parsed["p99_ms"] is None


def test_the_search_word_is_in_some_names_but_not_most():
    names = [f"Synthetic {topic} group {i:07d}" for i, topic in enumerate(["mining pool"] * 3)]
    names += [f"Synthetic arbitrage channel {i:07d}" for i in range(9)]
    # "synthetic" is in all, "channel" and "arbitrage" in most; "mining" and "pool" in a
    # quarter, "group" as well: the first of those in alphabetical order.
    assert run.search_word(names) == "group"


def test_the_ratios_pair_the_runs_of_a_round():
    def measured(number, side, rps, p99):
        return run.Run(number, side, "/", rps, 1.0, p99, 10, {}, 0, 1024)

    summary = run.summarise(
        [
            measured(1, "api", 100, 20),
            measured(1, "baseline", 200, 10),
            measured(2, "baseline", 50, 40),
            measured(2, "api", 40, 40),
            measured(3, "api", 90, 30),
            measured(3, "baseline", 100, 10),
        ]
    )
    assert summary["api"]["rps"] == 90
    assert summary["baseline"]["rps"] == 100
    assert summary["rps_ratios_by_round"] == [0.5, 0.8, 0.9]
    assert summary["rps_ratio"] == 0.8
    assert summary["p99_ratio"] == 2.0


def test_only_the_named_endpoints_are_loaded_and_an_unknown_name_is_refused():
    found = [run.Endpoint(name, "/api", "/floor") for name in ("list", "list hit", "304 hit")]
    assert run.arguments(["--only", " 304 hit , list hit,"]).only == ["304 hit", "list hit"]
    assert run.arguments([]).only == []
    assert [e.name for e in run.only(found, ["304 hit", "list hit"])] == ["list hit", "304 hit"]
    assert run.only(found, []) == found
    with pytest.raises(run.BenchError) as refused:
        run.only(found, ["list hit", "lists"])
    assert str(refused.value) == (
        "--only: no endpoint named 'lists': 'list', 'list hit', '304 hit'"
    )
