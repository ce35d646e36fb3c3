"""The OpenAPI schema validates, documents exactly the parameters the API accepts, and its docs
are served without a CDN."""

from __future__ import annotations

import re
import types

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import resolve
from rest_framework.exceptions import ValidationError

from api import filters
from api.filters import SUBDIVISION_CODES
from api.schema import RATE_LIMIT_HEADERS, UNCOUNTED_STATUSES
from api.views import feed as feed_views
from api.views.writes import WriteMixin
from cryptogroups.codes import COUNTRY_CODES, LANGUAGE_CODES, validate_subdivision_code

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    from drf_spectacular.generators import SchemaGenerator

    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def test_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "s.yaml"))


def test_schema_is_served_as_json(api):
    response = api.get("/api/schema/?format=json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


@pytest.mark.parametrize(("path", "marker"), [("/api/docs/", "swagger"), ("/api/redoc/", "redoc")])
def test_docs_are_served_from_the_project_not_a_cdn(client, path, marker):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert marker in html.lower()
    assert "cdn." not in html
    assert "/static/drf_spectacular_sidecar/" in html


def test_documented_list_parameters_are_exactly_the_accepted_ones(schema, api):
    lists = [
        (path, item["get"])
        for path, item in schema["paths"].items()
        if "{slug}" not in path and "get" in item and path != "/api/v1/changes/"
    ]
    assert len(lists) == 9
    for path, operation in lists:
        documented = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        view = resolve(path).func.cls(action="list", format_kwarg=None)
        view.request = None
        view.paginator  # noqa: B018 - instantiate the paginator
        accepted = set(view.allowed_query_parameters()) - {"format"}
        assert documented == accepted, path


def test_every_property_and_parameter_is_described(schema):
    missing = []
    for name, component in schema["components"]["schemas"].items():
        for prop, definition in component.get("properties", {}).items():
            if not definition.get("description"):
                missing.append(f"{name}.{prop}")
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for parameter in operation.get("parameters", []):
                if not parameter.get("description"):
                    missing.append(f"{method} {path} ?{parameter['name']}")
    assert missing == []


def test_every_enum_has_its_pinned_name(schema):
    enums = {name for name in schema["components"]["schemas"] if name.endswith("Enum")}
    pinned = {f"{name}Enum" for name in settings.ENUM_CHOICES}
    pinned |= {f"{name}CitedFieldEnum" for name in settings.CITED_MODELS}
    pinned |= {"CountryCodeEnum", "LanguageCodeEnum", "SubdivisionCodeEnum"}
    assert pinned <= enums
    unpinned = enums - pinned
    # The rest are the error shapes' enums, named by drf-standardized-errors.
    assert unpinned == {"ClientErrorEnum", "ServerErrorEnum", "ValidationErrorEnum"}


def test_every_object_component_is_described(schema):
    undescribed = [
        name
        for name, component in schema["components"]["schemas"].items()
        if component.get("type") == "object"
        and not name.startswith("Paginated")  # drf-spectacular's page envelopes
        and not component.get("description")
    ]
    assert undescribed == []


def test_the_changes_feed_documents_exactly_the_parameters_it_accepts(schema):
    operation = schema["paths"]["/api/v1/changes/"]["get"]
    query = {p["name"]: p["schema"] for p in operation["parameters"] if p["in"] == "query"}
    assert set(query) == set(feed_views.ChangesView.allowed_parameters) - {"format"}
    assert (query["page_size"]["minimum"], query["page_size"]["maximum"]) == (
        1,
        feed_views.MAX_FEED_PAGE,
    )
    assert query["after"]["pattern"] == r"^[A-Za-z0-9_-]{16}$"


# --- what every mainstream generator and linter needs (api.schema.postprocess_for_generators) ---


def subschemas(node):
    """Every schema object in the document, and every other mapping, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from subschemas(value)
    elif isinstance(node, list):
        for value in node:
            yield from subschemas(value)


def test_every_nullable_stands_beside_a_type_and_no_enum_is_untyped(schema):
    for node in subschemas(schema):
        if node.get("nullable"):
            assert "type" in node, node
        if "enum" in node:
            assert "type" in node, node
            if node["enum"] == [None]:  # only a nullable reference's null branch
                assert node == {"type": "object", "nullable": True, "enum": [None]}


def test_a_nullable_reference_is_the_reference_or_null(schema):
    country = schema["components"]["schemas"]["Exchange"]["properties"]["country"]
    assert country["oneOf"] == [
        {"$ref": "#/components/schemas/CountryCodeEnum"},
        {"type": "object", "nullable": True, "enum": [None]},
    ]


def test_no_one_of_is_ambiguous(schema):
    """No value matches two branches of a oneOf, whatever a validator does with `format`: each
    is a reference and the branch that takes only null."""
    for node in subschemas(schema):
        if "oneOf" in node:
            assert len(node["oneOf"]) == 2, node
            assert "$ref" in node["oneOf"][0], node
            assert node["oneOf"][1]["enum"] == [None], node


def test_a_blank_or_formatted_string_is_one_pattern(schema):
    exchange = schema["components"]["schemas"]["Exchange"]["properties"]
    website = re.compile(exchange["website"]["pattern"])
    assert exchange["website"]["type"] == "string"
    assert "format" not in exchange["website"]
    assert all(website.match(value) for value in ["", "https://www.okcoin.com/", "HTTP://a.b"])
    assert not any(website.match(value) for value in ["okcoin.com", "https://a b", "mailto:a@b"])
    qid = re.compile(exchange["wikidata_qid"]["pattern"])
    assert all(qid.match(value) for value in ["", "Q42"])
    assert not any(qid.match(value) for value in ["Q", "Q042", "42"])


def test_the_schema_names_where_the_api_is_served(schema):
    assert [server["url"] for server in schema["servers"]] == ["http://127.0.0.1:8000"]


def test_every_operation_says_which_credentials_it_takes(schema):
    """Reads take a token, a session or nothing (so that generated clients send a configured
    token: a curator's reads widen with it); writes take a token or a session."""
    credentials = [{"knoxApiToken": []}, {"cookieAuth": []}]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            expected = [*credentials, {}] if method == "get" else credentials
            assert operation["security"] == expected, (method, path)
            assert operation["summary"], (method, path)


def test_every_tag_is_described(schema):
    tags = {tag for item in schema["paths"].values() for op in item.values() for tag in op["tags"]}
    described = {tag["name"]: tag["description"] for tag in schema["tags"]}
    assert tags == set(described)
    assert all(described.values())


def test_codes_are_enums_of_exactly_the_codes_the_server_accepts(schema):
    components = schema["components"]["schemas"]
    assert components["CountryCodeEnum"]["enum"] == list(COUNTRY_CODES)
    assert components["LanguageCodeEnum"]["enum"] == list(LANGUAGE_CODES)
    assert components["SubdivisionCodeEnum"]["enum"] == list(SUBDIVISION_CODES)
    for code in components["SubdivisionCodeEnum"]["enum"]:
        validate_subdivision_code(code)
    enums = {
        "country": "CountryCodeEnum",
        "origin_country": "CountryCodeEnum",
        "jurisdiction": "CountryCodeEnum",
        "blocked_in": "CountryCodeEnum",
        "language": "LanguageCodeEnum",
        "subdivision": "SubdivisionCodeEnum",
    }
    seen = set()
    for name, component in components.items():
        for field, definition in component.get("properties", {}).items():
            if field in enums:
                refs = [definition, *definition.get("oneOf", []), *definition.get("allOf", [])]
                assert {"$ref": f"#/components/schemas/{enums[field]}"} in refs, (name, field)
                seen.add(field)
    for item in schema["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] in enums:
                    assert parameter["schema"] == {
                        "$ref": f"#/components/schemas/{enums[parameter['name']]}"
                    }
                    seen.add(parameter["name"])
    assert seen == set(enums)


def parameter_schema(schema: dict, path: str, method: str, name: str) -> dict:
    operation = schema["paths"][path][method]
    return next(p["schema"] for p in operation["parameters"] if p["name"] == name)


@pytest.mark.parametrize(
    "value",
    [
        "telegram",
        "   ",
        ", ,",
        " ".join(["word"] * 20),
        " ".join(["word"] * 20) + " ",
        " ".join(["word"] * 21),
        ",".join(["word"] * 21),
        "\u3000".join(["word"] * 21),
        "\x1c".join(["word"] * 21),
        '"' + " ".join(["word"] * 25) + '"',
        "x" * 200,
        "x" * 201,
        "tele\x00gram",
    ],
)
def test_whatever_the_search_pattern_takes_the_server_accepts(schema, api, value):
    search = parameter_schema(schema, "/api/v1/groups/", "get", "search")
    assert search["maxLength"] == filters.MAX_SEARCH_LENGTH
    valid = len(value) <= search["maxLength"] and re.fullmatch(search["pattern"], value)
    response = api.get("/api/v1/groups/", {"search": value})
    if valid:
        assert response.status_code == 200, value
    # The one thing the pattern refuses that the server takes: a quoted phrase of many words.
    elif not value.startswith('"'):
        assert response.status_code == 400, value


@pytest.mark.parametrize(
    "value",
    [
        "a",
        "  a  ",
        "a" * 100,
        "a" * 101,
        " " + "a" * 100 + "\n",
        "\u3000" + "a" * 100 + "\x1c",
        "\ufeff" + "a" * 99,
        "\ufeff" + "a" * 100,
        "a" + " " * 98 + "b",
        "a" + " " * 99 + "b",
        " ",
        "\x85",
        "a\x00b",
        "a\nb",
    ],
)
def test_the_reason_pattern_is_the_servers_rule(schema, value):
    reason = parameter_schema(schema, "/api/v1/groups/", "post", "reason")
    request = types.SimpleNamespace(query_params={"reason": value})
    try:
        WriteMixin().change_reason(request)
        accepted = "\x00" not in value  # the query-parameter checks refuse a null character
    except ValidationError:
        accepted = False
    assert bool(re.fullmatch(reason["pattern"], value)) == accepted


def test_multi_valued_parameters_share_what_a_request_may_hold(schema, api):
    """However a client fills them, the parameters the schema allows fit in a query string."""
    assert settings.DATA_UPLOAD_MAX_NUMBER_FIELDS == 1000
    for item in schema["paths"].values():
        for operation in item.values():
            query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
            most = sum(p["schema"].get("maxItems", 1) for p in query)
            assert most <= settings.DATA_UPLOAD_MAX_NUMBER_FIELDS, operation["operationId"]
    platform = parameter_schema(schema, "/api/v1/groups/", "get", "platform")
    full = {"platform": ["telegram"] * platform["maxItems"], "page_size": 100}
    assert api.get("/api/v1/groups/", full).status_code == 200
    too_many = {"platform": ["telegram"] * 1000, "page_size": 100}
    assert api.get("/api/v1/groups/", too_many).status_code == 400


def documented_headers(schema: dict, path: str, method: str, status: int) -> set[str]:
    return set(schema["paths"][path][method]["responses"][str(status)].get("headers", {}))


@pytest.mark.parametrize(
    ("method", "path", "schema_path", "kwargs", "status"),
    [
        ("get", "/api/v1/groups/", "/api/v1/groups/", {}, 200),
        ("get", "/api/v1/groups/?bogus=1", "/api/v1/groups/", {}, 400),
        ("get", "/api/v1/groups/no-such-group/", "/api/v1/groups/{slug}/", {}, 404),
        ("get", "/api/v1/groups/?publication_status=draft", "/api/v1/groups/", {}, 401),
        ("get", "/api/v1/groups/", "/api/v1/groups/", {"HTTP_ACCEPT": "text/csv"}, 406),
    ],
)
def test_rate_limit_headers_are_documented_on_every_response_that_carries_them(
    schema, api, method, path, schema_path, kwargs, status
):
    response = getattr(api, method)(path, **kwargs)
    assert response.status_code == status
    sent = {name for name in RATE_LIMIT_HEADERS if name in response.headers}
    assert sent <= documented_headers(schema, schema_path, method, status)
    assert sent in (set(), set(RATE_LIMIT_HEADERS))
    if str(status) in UNCOUNTED_STATUSES:
        assert sent == set()


def test_the_answer_to_a_conditional_read_carries_the_rate_limit_headers_it_documents(schema, api):
    tag = api.get("/api/v1/groups/")["ETag"]
    response = api.get("/api/v1/groups/", HTTP_IF_NONE_MATCH=tag)
    assert response.status_code == 304
    sent = {name for name in RATE_LIMIT_HEADERS if name in response.headers}
    assert sent == set(RATE_LIMIT_HEADERS)
    assert sent <= documented_headers(schema, "/api/v1/groups/", "get", 304)


# --- status order and JSON errors -----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/api/v1/groups/"),
        ("delete", "/api/v1/groups/"),
        ("post", "/api/v1/groups/okcoin-telegram-group/"),
        ("get", "/api/v1/groups/okcoin-telegram-group/takedown/"),
        ("post", "/api/v1/changes/"),
    ],
)
def test_a_method_a_path_does_not_offer_is_a_405_before_any_credentials(api, method, path):
    response = getattr(api, method)(path)
    assert response.status_code == 405
    assert response.json()["errors"][0]["code"] == "method_not_allowed"
    assert "WWW-Authenticate" not in response.headers


def test_a_method_a_path_offers_still_needs_credentials(api):
    response = api.post("/api/v1/groups/?reason=x", {}, format="json")
    assert response.status_code == 401


@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    "path", ["/api/", "/api/v1/nothing/", "/api/v1/groups/a/b/c/", "/api/v2/groups/"]
)
def test_a_path_under_api_that_matches_no_route_is_a_json_404_whatever_debug_is(
    client, settings, debug, path
):
    settings.DEBUG = debug
    response = client.get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
    assert response.json() == {
        "type": "client_error",
        "errors": [{"code": "not_found", "detail": "No such path.", "attr": None}],
    }


def test_a_path_without_its_slash_is_still_redirected_to_it(client, settings):
    settings.DEBUG = True
    response = client.get("/api/v1/groups")
    assert response.status_code == 301
    assert response["Location"] == "/api/v1/groups/"
