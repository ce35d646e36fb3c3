"""Conditional requests: every read carries an ETag and a Last-Modified, and a client whose
copy is current gets a 304 without the body being built."""

from __future__ import annotations

import pytest
from django.test import override_settings

from cryptogroups import models
from tests import factories as f

pytestmark = pytest.mark.django_db

READS = [
    "/api/v1/exchanges/",
    "/api/v1/exchanges/btcchina/",
    "/api/v1/exchanges/btcchina/history/",
    "/api/v1/regulatory-actions/?jurisdiction=CN",
]


@pytest.mark.parametrize("path", READS)
def test_a_read_carries_validators_and_answers_304_to_them(api, path):
    first = api.get(path)
    assert first.status_code == 200
    etag, last_modified = first["ETag"], first["Last-Modified"]
    assert etag.startswith('"')

    by_etag = api.get(path, HTTP_IF_NONE_MATCH=etag)
    by_date = api.get(path, HTTP_IF_MODIFIED_SINCE=last_modified)

    assert (by_etag.status_code, by_etag.content) == (304, b"")
    assert by_etag["ETag"] == etag
    assert by_date.status_code == 304


def test_a_change_to_the_data_changes_the_etag(api):
    path = "/api/v1/exchanges/btcchina/"
    etag = api.get(path)["ETag"]

    exchange = models.Exchange.objects.get(slug="btcchina")
    exchange.city = "Shanghai (changed)"
    exchange.save()

    fresh = api.get(path, HTTP_IF_NONE_MATCH=etag)
    assert fresh.status_code == 200
    assert fresh.json()["city"] == "Shanghai (changed)"
    assert fresh["ETag"] != etag


@pytest.mark.parametrize(
    "change",
    [
        lambda: f.exchange(),
        lambda: models.Citation.objects.first().delete(),
        lambda: models.ExchangeResponse.objects.first().actions.clear(),
    ],
    ids=["create", "delete", "many-to-many"],
)
def test_every_kind_of_change_moves_the_version(change):
    before = models.DatasetVersion.current().counter
    change()
    assert models.DatasetVersion.current().counter > before


def test_the_etag_depends_on_the_url_and_the_media_type(api):
    tags = {
        api.get("/api/v1/exchanges/")["ETag"],
        api.get("/api/v1/exchanges/?page_size=2")["ETag"],
        api.get("/api/v1/exchanges/", HTTP_ACCEPT="text/html")["ETag"],
    }
    assert len(tags) == 3


@override_settings(API_CACHE_SECONDS=0)
def test_a_304_does_not_build_the_body(api, django_assert_num_queries):
    path = "/api/v1/regulatory-actions/cn-2017-ico-ban/"
    etag = api.get(path)["ETag"]
    # The dataset version and the record's existence; none of the embedded lists.
    with django_assert_num_queries(2):
        assert api.get(path, HTTP_IF_NONE_MATCH=etag).status_code == 304


def test_a_304_for_a_cached_response_costs_one_query(api, django_assert_num_queries):
    path = "/api/v1/regulatory-actions/cn-2017-ico-ban/"
    etag = api.get(path)["ETag"]
    # The dataset version only: a response in the cache was valid for it.
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
    path = "/api/v1/exchanges/btcchina/"
    current = api.get(path)["ETag"]

    assert api.get(path, HTTP_IF_MATCH=current).status_code == 200
    stale = api.get(path, HTTP_IF_MATCH='"0-0000000000000000"')
    assert stale.status_code == 412
    assert stale.json()["errors"][0]["code"] == "precondition_failed"
