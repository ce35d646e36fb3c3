"""Conditional requests: every read carries an ETag, public lists and records a Last-Modified
too, and a client whose copy is current gets a 304 without the body being built.

A record's validators are its own: they move when what its detail says changes, and only then.
A list's move with the public dataset. Drafts move neither."""

from __future__ import annotations

from datetime import UTC, timedelta

import pytest
from django.test import override_settings
from django.utils import timezone
from django.utils.http import http_date, parse_http_date
from hypothesis import given
from hypothesis import strategies as st

from cryptogroups import models
from cryptogroups.models.version import last_modified, next_stamp
from tests import factories as f

pytestmark = pytest.mark.django_db

DATED_READS = [
    "/api/v1/exchanges/",
    "/api/v1/exchanges/btcchina/",
    "/api/v1/regulatory-actions/?jurisdiction=CN",
]
#: Validated by the body they build: a tag, no date.
BUILT_READS = [
    "/api/v1/exchanges/btcchina/history/",
    "/api/v1/exchanges/btcchina/?publication_status=published&publication_status=draft",
    "/api/v1/exchanges/?publication_status=draft",
    "/api/v1/exchanges/btcchina.json",
]

DETAIL = "/api/v1/exchanges/btcchina/"
WRITE = "/api/v1/exchanges/btcchina/?reason=conditional+test"


def flushed(capture):
    """Run what follows as the admin and the loader do: the feed looks at the change when
    the transaction commits (the test's transaction never commits; this stands in)."""
    return capture(execute=True)


@pytest.mark.parametrize("path", DATED_READS)
def test_a_read_carries_validators_and_answers_304_to_them(api, path):
    first = api.get(path)
    assert first.status_code == 200
    etag, last_modified_ = first["ETag"], first["Last-Modified"]
    assert etag.startswith('"')

    by_etag = api.get(path, HTTP_IF_NONE_MATCH=etag)
    by_date = api.get(path, HTTP_IF_MODIFIED_SINCE=last_modified_)

    assert (by_etag.status_code, by_etag.content) == (304, b"")
    assert by_etag["ETag"] == etag
    assert by_date.status_code == 304


@pytest.mark.parametrize("path", BUILT_READS)
def test_a_read_validated_by_its_body_answers_304_to_its_tag(curator_api, path):
    first = curator_api.get(path)
    assert first.status_code == 200
    assert "Last-Modified" not in first
    again = curator_api.get(path, HTTP_IF_NONE_MATCH=first["ETag"])
    assert (again.status_code, again.content) == (304, b"")
    assert again["ETag"] == first["ETag"]


def test_a_change_to_the_record_changes_its_validators(api, django_capture_on_commit_callbacks):
    first = api.get(DETAIL)

    with flushed(django_capture_on_commit_callbacks):
        exchange = models.Exchange.objects.get(slug="btcchina")
        exchange.city = "Shanghai (changed)"
        exchange.save()

    fresh = api.get(DETAIL, HTTP_IF_NONE_MATCH=first["ETag"])
    assert fresh.status_code == 200
    assert fresh.json()["city"] == "Shanghai (changed)"
    assert fresh["ETag"] != first["ETag"]
    assert api.get(DETAIL, HTTP_IF_MODIFIED_SINCE=first["Last-Modified"]).status_code == 200


def test_a_change_to_another_record_leaves_a_records_validators(api, curator_api):
    before = api.get(DETAIL)
    changed = curator_api.patch(
        "/api/v1/organizations/tencent/?reason=unrelated", {"hq_city": "Shenzhen (a)"}, "json"
    )
    assert changed.status_code == 200
    after = api.get(DETAIL, HTTP_IF_NONE_MATCH=before["ETag"])
    assert after.status_code == 304
    assert api.get(DETAIL)["Last-Modified"] == before["Last-Modified"]
    # The list moved: it is the public dataset's.
    assert api.get("/api/v1/organizations/")["ETag"] != before["ETag"]


def test_a_record_embedding_a_changed_one_changes_its_tag(api, curator_api):
    """A group embeds its platform's name: renaming the platform changes the group's detail."""
    group = models.Group.objects.public().exclude(platform=None).select_related("platform").first()
    path = f"/api/v1/groups/{group.slug}/"
    before = api.get(path)["ETag"]
    renamed = curator_api.patch(
        f"/api/v1/platforms/{group.platform.slug}/?reason=rename",
        {"name": group.platform.name + " (renamed)"},
        "json",
    )
    assert renamed.status_code == 200
    after = api.get(path, HTTP_IF_NONE_MATCH=before)
    assert after.status_code == 200
    assert after.json()["platform"]["name"].endswith("(renamed)")


def test_a_draft_edit_moves_no_public_validator(api, curator_api):
    draft = curator_api.post(
        "/api/v1/organizations/?reason=draft",
        {"slug": "conditional-draft", "name": "A draft", "org_type": "company", "country": "CN"},
        "json",
    )
    assert draft.status_code == 201, draft.json()
    reads = ["/api/v1/organizations/", "/api/v1/organizations/tencent/", DETAIL]
    before = {path: api.get(path) for path in reads}

    edited = curator_api.patch(
        "/api/v1/organizations/conditional-draft/?reason=edit", {"name": "Renamed"}, "json"
    )
    assert edited.status_code == 200
    for path, response in before.items():
        again = api.get(path, HTTP_IF_NONE_MATCH=response["ETag"])
        assert again.status_code == 304, path
        assert again["Last-Modified"] == response["Last-Modified"], path


def test_a_draft_edit_empties_no_public_cache_entry(api, curator_api, django_assert_num_queries):
    api.get(DETAIL)
    api.get("/api/v1/exchanges/")
    curator_api.post(
        "/api/v1/organizations/?reason=draft",
        {"slug": "conditional-draft", "name": "A draft", "org_type": "company", "country": "CN"},
        "json",
    )
    with django_assert_num_queries(1):
        assert api.get(DETAIL).status_code == 200
    with django_assert_num_queries(1):
        assert api.get("/api/v1/exchanges/").status_code == 200


def test_two_changes_within_a_second_never_give_a_wrong_304(api, curator_api):
    """HTTP dates count whole seconds: each change of a record is stamped a second after the
    one before, so a copy from between two quick changes is never called current."""
    first = curator_api.patch(WRITE, {"city": "One"}, "json")
    assert first.status_code == 200
    copy = api.get(DETAIL)
    assert copy.json()["city"] == "One"
    second = curator_api.patch(WRITE, {"city": "Two"}, "json")
    assert second.status_code == 200

    by_date = api.get(DETAIL, HTTP_IF_MODIFIED_SINCE=copy["Last-Modified"])
    assert by_date.status_code == 200
    assert by_date.json()["city"] == "Two"
    listed = api.get("/api/v1/exchanges/", HTTP_IF_MODIFIED_SINCE=copy["Last-Modified"])
    assert listed.status_code == 200


@given(
    st.datetimes(
        min_value=timezone.datetime(2000, 1, 1), max_value=timezone.datetime(2100, 1, 1)
    ).map(lambda moment: moment.replace(tzinfo=UTC)),
)
def test_each_stamp_is_a_whole_second_after_the_one_before(previous):
    stamp = next_stamp(previous)
    assert stamp.microsecond == 0
    assert stamp >= previous.replace(microsecond=0) + timedelta(seconds=1)
    assert stamp <= max(timezone.now(), previous + timedelta(seconds=1))
    # What is sent is never later than now, and never earlier than the stamp when it is past.
    sent = last_modified(stamp)
    assert sent <= timezone.now()
    assert parse_http_date(http_date(sent.timestamp())) <= int(stamp.timestamp())


@pytest.mark.parametrize(
    "change",
    [
        lambda: f.exchange(),
        lambda: (
            models.Citation.objects.filter(
                content_type__model="exchange",
                object_id=models.Exchange.objects.get(slug="huobi").pk,
            )
            .first()
            .delete()
        ),
        lambda: models.ExchangeResponse.objects.public().first().actions.clear(),
    ],
    ids=["create", "delete", "many-to-many"],
)
def test_every_kind_of_change_to_public_data_moves_the_version(
    change, django_capture_on_commit_callbacks
):
    before = models.DatasetVersion.current().counter
    with flushed(django_capture_on_commit_callbacks):
        change()
    assert models.DatasetVersion.current().counter > before


def test_the_etag_depends_on_the_url_and_the_media_type(api):
    tags = {
        api.get("/api/v1/exchanges/")["ETag"],
        api.get("/api/v1/exchanges/?page_size=2")["ETag"],
        api.get("/api/v1/exchanges/", HTTP_ACCEPT="text/html")["ETag"],
        api.get(DETAIL)["ETag"],
        api.get(DETAIL, HTTP_ACCEPT="text/html")["ETag"],
    }
    assert len(tags) == 5


@override_settings(API_CACHE_SECONDS=0)
def test_a_304_does_not_build_the_body(api, django_assert_num_queries):
    path = "/api/v1/regulatory-actions/cn-2017-ico-ban/"
    etag = api.get(path)["ETag"]
    # The record's existence and its public state, in one query; none of the embedded lists.
    with django_assert_num_queries(1):
        assert api.get(path, HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_a_detail_without_the_cache_reads_its_state_with_its_row(
    api, django_assert_num_queries, settings
):
    """With the cache on, a record's public state is read first, so that a hit costs that
    query alone. With it off nothing is looked up first: the state comes with the record's row,
    then its responses and its citations, as many round trips as the body needs."""
    settings.API_CACHE_SECONDS = 0
    api.get(DETAIL)  # content types, looked up once per process
    with django_assert_num_queries(3):
        uncached = api.get(DETAIL)
    settings.API_CACHE_SECONDS = 60
    with django_assert_num_queries(4):
        built = api.get(DETAIL)
    with django_assert_num_queries(1):
        hit = api.get(DETAIL)
    for response in (built, hit):
        assert response.content == uncached.content
        assert response["ETag"] == uncached["ETag"]
        assert response["Last-Modified"] == uncached["Last-Modified"]


def test_a_304_for_a_cached_response_costs_one_query(api, django_assert_num_queries):
    path = "/api/v1/regulatory-actions/cn-2017-ico-ban/"
    etag = api.get(path)["ETag"]
    with django_assert_num_queries(1):
        assert api.get(path, HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_a_missing_record_is_404_whatever_the_etag(api):
    response = api.get("/api/v1/exchanges/no-such-exchange/", HTTP_IF_NONE_MATCH="*")
    assert response.status_code == 404


def test_a_bad_request_is_400_whatever_the_etag(api):
    etag = api.get("/api/v1/exchanges/")["ETag"]
    response = api.get("/api/v1/exchanges/?page_size=1000", HTTP_IF_NONE_MATCH=etag)
    assert response.status_code == 400


def test_if_match_with_a_stale_etag_is_412(api):
    current = api.get(DETAIL)["ETag"]

    assert api.get(DETAIL, HTTP_IF_MATCH=current).status_code == 200
    stale = api.get(DETAIL, HTTP_IF_MATCH='"0-0000000000000000"')
    assert stale.status_code == 412
    assert stale.json()["errors"][0]["code"] == "precondition_failed"
