"""Bad input gets a 4xx JSON error that names the problem; never a 500, never an HTML page,
never a silently ignored parameter."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

LISTS = [
    "exchanges",
    "exchange-responses",
    "groups",
    "migrations",
    "organizations",
    "platforms",
    "platform-availabilities",
    "regulatory-actions",
    "sources",
]

DETAILS = [
    "exchanges/btcchina",
    "groups/okcoin-telegram-group",
    "platforms/telegram",
    "regulatory-actions/cn-2017-ico-ban",
    "organizations/pboc",
]


def error_attrs(response) -> list[str | None]:
    assert response["Content-Type"].startswith("application/json")
    return [error["attr"] for error in response.json()["errors"]]


@pytest.mark.parametrize("resource", LISTS)
def test_unknown_parameter_on_a_list_is_400_naming_it(api, resource):
    response = api.get(f"/api/v1/{resource}/?bogus=1")
    assert response.status_code == 400
    assert response.json()["type"] == "validation_error"
    assert error_attrs(response) == ["bogus"]
    assert "Unknown query parameter" in response.json()["errors"][0]["detail"]


@pytest.mark.parametrize("path", DETAILS)
def test_unknown_parameter_on_a_detail_is_400(api, path):
    response = api.get(f"/api/v1/{path}/?page=2")
    assert response.status_code == 400
    assert error_attrs(response) == ["page"]


def test_every_unknown_parameter_is_named(api):
    response = api.get("/api/v1/groups/?colour=red&size=big&platform=telegram")
    assert response.status_code == 400
    assert sorted(error_attrs(response)) == ["colour", "size"]


@pytest.mark.parametrize(
    "query",
    ["status=active&search=a&search=b", "language=zh&language=en", "page=1&page=2"],
)
def test_a_single_value_parameter_given_twice_is_400(api, query):
    response = api.get(f"/api/v1/groups/?{query}")
    assert response.status_code == 400
    assert "single value" in response.json()["errors"][0]["detail"]


@pytest.mark.parametrize(
    ("query", "attr"),
    [
        ("announced_after=2017-09-31", "announced_after"),
        ("announced_before=yesterday", "announced_before"),
        ("effective_after=2017/10/08", "effective_after"),
        ("status=rumoured", "status"),
        ("action_type=decree", "action_type"),
        ("jurisdiction=XX", "jurisdiction"),
        ("jurisdiction=cn", "jurisdiction"),
        ("subdivision=CN-ZZ", "subdivision"),
        ("issuer=nobody", "issuer"),
        ("target_exchange=nowhere", "target_exchange"),
        ("target_category=everyone", "target_category"),
        ("ordering=colour", "ordering"),
        ("ordering=-", "ordering"),
    ],
)
def test_invalid_filter_value_is_400_naming_the_parameter(api, query, attr):
    response = api.get(f"/api/v1/regulatory-actions/?{query}")
    assert response.status_code == 400
    assert error_attrs(response) == [attr]


@pytest.mark.parametrize(
    ("query", "attr"),
    [
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("page=1.5", "page"),
        ("page=last", "page"),
        ("page_size=0", "page_size"),
        ("page_size=101", "page_size"),
        ("page_size=1000000000000", "page_size"),
        ("page_size=ten", "page_size"),
    ],
)
def test_malformed_pagination_is_400(api, query, attr):
    response = api.get(f"/api/v1/exchanges/?{query}")
    assert response.status_code == 400
    assert error_attrs(response) == [attr]


def test_page_past_the_end_is_a_json_404(api):
    response = api.get("/api/v1/exchanges/?page=999")
    assert response.status_code == 404
    assert response.json()["type"] == "client_error"
    assert "last page" in response.json()["errors"][0]["detail"]


def test_largest_page_size_is_accepted(api):
    assert api.get("/api/v1/exchanges/?page_size=100").status_code == 200


@pytest.mark.parametrize("path", ["/api/v1/exchanges/no-such-exchange/", "/api/v1/nothing/"])
def test_not_found_is_json(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert error_attrs(response) == [None]


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_a_write_without_credentials_is_401_json(api, method):
    response = getattr(api, method)("/api/v1/exchanges/btcchina/?reason=x", {}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["type"] == "client_error"


def test_a_method_no_resource_offers_is_405_json(curator_api):
    response = curator_api.post("/api/v1/exchanges/btcchina/?reason=x", {}, format="json")
    assert response.status_code == 405
    assert response.json()["type"] == "client_error"


def test_unacceptable_media_type_is_406_json(api):
    response = api.get("/api/v1/exchanges/", HTTP_ACCEPT="application/xml")
    assert response.status_code == 406
    assert response.json()["type"] == "client_error"


@pytest.mark.parametrize("query", ["platform=", "language=", "ordering=", "page=", "search="])
def test_an_empty_value_is_400_not_ignored(api, query):
    response = api.get(f"/api/v1/groups/?{query}")
    assert response.status_code == 400
    assert error_attrs(response) == [query.rstrip("=")]
    assert "Empty value" in response.json()["errors"][0]["detail"]


def test_a_null_character_is_400_naming_the_parameter(api):
    response = api.get("/api/v1/groups/?search=bit%00coin")
    assert response.status_code == 400
    assert error_attrs(response) == ["search"]


def test_an_empty_ordering_term_is_400(api):
    response = api.get("/api/v1/groups/?ordering=name,,slug")
    assert response.status_code == 400
    assert error_attrs(response) == ["ordering"]
