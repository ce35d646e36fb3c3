"""Hostile input at every endpoint, and the outcome each must give.

The endpoints are read from the OpenAPI schema (every operation, with its query parameters and
request body) and from the URL resolver (the routes the schema leaves out: the API root, the
schema and its documentation pages, the health probes), so that a new endpoint or parameter is
covered without a change here. Every case states its outcome: a 4xx in the JSON error shape,
whose ``attr`` names the query parameter or field at fault where there is one; or, where the
input is in fact valid (an emoji is a fine thing to search for), the answer a valid request
gets, checked against the data. No response is a 500, HTML where JSON is due, or a traceback,
and a refused write leaves every table and the dataset's version as they were.

Every endpoint meets every family of cases. Where endpoints share the code that reads an
input (details and histories read ?format= and ?page= as lists do), the long tail of values of
that kind goes to one endpoint and a few to each of the others, to keep the run short.
Parameters read together by one step of a request (a list's filters) get a value in one
request, whose 400 must name each of them.

Each response is recorded; the table is written to build/hostile-report.md.
"""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from django.apps import apps
from django.conf import settings
from django.core import signals, signing
from django.core.servers.basehttp import get_internal_wsgi_application
from django.db import close_old_connections, connection
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from knox.models import AuthToken
from rest_framework import serializers
from rest_framework.filters import search_smart_split
from rest_framework.test import APIClient

from api import changes, pagination, representations
from api.filters import SEARCH_PATTERN
from api.urls import router
from cryptogroups import models
from cryptogroups.codes import SLUG_PATTERN

pytestmark = pytest.mark.django_db

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
VIEWSETS = {prefix: viewset for prefix, viewset, _ in router.registry}

#: The type of the API's error bodies, by status: one shape for one status.
ERROR_TYPES = {400: "validation_error"}
TRACEBACK = re.compile(rb"Traceback \(most recent call last\)|File \"/")

# --- The endpoints ----------------------------------------------------------------------------


@dataclass
class Operation:
    """An operation of the schema, aimed at a record (the example of its slug)."""

    id: str
    method: str
    template: str
    parameters: dict[str, dict]
    examples: dict[str, object]
    slug: str | None
    body: str | None

    @property
    def resource(self) -> str:
        return self.template.split("/")[3]

    @property
    def kind(self) -> str:
        """list, detail, history or feed."""
        if self.template == "/api/v1/changes/":
            return "feed"
        if self.template.endswith("/history/"):
            return "history"
        return "detail" if "{slug}" in self.template else "list"

    def path(self, slug: str | None = None) -> str:
        return self.template.replace("{slug}", slug or self.slug or "")

    def __str__(self) -> str:
        return self.id


def schema_operations() -> list[Operation]:
    found = []
    for template, item in SCHEMA["paths"].items():
        for method, operation in item.items():
            listed = operation.get("parameters", [])
            query = [p for p in listed if p["in"] == "query"]
            parameters = {p["name"]: p["schema"] for p in query}
            if method == "get":
                parameters["format"] = {"type": "string"}  # DRF's ?format=, read by every view
            content = operation.get("requestBody", {}).get("content", {})
            body = content.get("application/json", {}).get("schema", {}).get("$ref")
            found.append(
                Operation(
                    id=operation["operationId"],
                    method=method.upper(),
                    template=template,
                    parameters=parameters,
                    examples={p["name"]: p.get("example") for p in query},
                    slug=next((p["example"] for p in listed if p["in"] == "path"), None),
                    body=body.rsplit("/", 1)[-1] if body else None,
                )
            )
    return found


OPERATIONS = schema_operations()
READS = [op for op in OPERATIONS if op.method == "GET"]
WRITES = [op for op in OPERATIONS if op.method in ("POST", "PUT", "PATCH", "DELETE")]
BODY_WRITES = [op for op in WRITES if op.body]
PATCHES = {op.resource: op for op in WRITES if op.method == "PATCH"}
#: The resource whose endpoints get the long tail of every kind of case.
DEEP = "organizations"


def resolver_routes() -> dict[str, type | None]:
    """Every route without parameters outside the admin, with its view class (None for a
    function)."""
    routes: dict[str, type | None] = {}

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if route.startswith("admin/") and not isinstance(pattern, URLResolver):
                continue  # an admin page of the project's own (the data audit)
            if isinstance(pattern, URLResolver):
                if not route.startswith("admin/"):
                    walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and not re.search(r"[<(^$\\]", route):
                routes["/" + route] = getattr(pattern.callback, "cls", None)

    walk(get_resolver().url_patterns, "")
    return routes


#: Routes the schema does not describe: the API root, the schema, its pages, the probes.
OTHER_ROUTES = sorted(set(resolver_routes()) - set(SCHEMA["paths"]) - {"/"})


def test_every_route_is_covered():
    """Every resource of the router has its list, detail and history in the schema, so they
    get the cases below; the routes the schema leaves out get theirs too."""
    for prefix in VIEWSETS:
        for suffix in ("", "{slug}/", "{slug}/history/"):
            assert f"/api/v1/{prefix}/{suffix}" in SCHEMA["paths"], (prefix, suffix)
    assert len(READS) == 3 * len(VIEWSETS) + 1  # lists, details, histories and the feed
    # create, replace, update, delete, and take down
    assert len(WRITES) == 5 * len(VIEWSETS)
    for prefix in VIEWSETS:
        assert "post" in SCHEMA["paths"][f"/api/v1/{prefix}/{{slug}}/takedown/"], prefix
    assert {"/api/v1/", "/api/schema/", "/api/docs/", "/api/redoc/", "/healthz"} <= set(
        OTHER_ROUTES
    )


# --- Outcomes ---------------------------------------------------------------------------------

OUTCOMES: list[tuple[str, str, int, str]] = []


@pytest.fixture(scope="module", autouse=True)
def report():
    """Writes every recorded outcome to build/hostile-report.md once the module has run."""
    yield
    if not OUTCOMES:
        return
    statuses = Counter(status for _, _, status, _ in OUTCOMES)
    lines = [
        "# Hostile input: outcomes",
        "",
        f"{len(OUTCOMES)} requests. By status: "
        + ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
        + ".",
        "",
        "| endpoint | case | status | error code | requests |",
        "|---|---|---|---|---|",
    ]
    for (endpoint, case, status, code), count in sorted(Counter(OUTCOMES).items()):
        case = case.replace("|", "\\|").replace("\n", " ")
        lines.append(f"| `{endpoint}` | {case} | {status} | {code} | {count} |")
    path = Path(settings.BASE_DIR) / "build" / "hostile-report.md"
    path.parent.mkdir(exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def record(endpoint: str, case: str, response) -> None:
    codes = ""
    if response.get("Content-Type", "").startswith("application/json") and response.content:
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("errors"), list):
            codes = ", ".join(sorted({str(error.get("code")) for error in body["errors"]}))
    OUTCOMES.append((endpoint, case[:80], response.status_code, codes))


def problems(response, status: int, attrs: set | None = None, code: str | None = None) -> list:
    """What is wrong with a response that should have the given status: for an error, the
    JSON error shape, naming ``attrs`` (the query parameters or fields at fault; None when
    not checked) with ``code``. No body is ever a traceback."""
    found = []
    if response.status_code != status:
        found.append(f"status {response.status_code}, not {status}: {response.content[:300]!r}")
    if TRACEBACK.search(response.content):
        found.append("a traceback in the body")
    if status < 400 or found:
        return found
    if not response.get("Content-Type", "").startswith("application/json"):
        return [f"an error as {response.get('Content-Type')}: {response.content[:200]!r}"]
    body = response.json()
    expected_type = ERROR_TYPES.get(status, "client_error")
    if set(body) != {"type", "errors"} or body["type"] != expected_type or not body["errors"]:
        return [f"not the {expected_type} shape: {body}"]
    for error in body["errors"]:
        if set(error) != {"code", "detail", "attr"} or not error["detail"]:
            found.append(f"not an error entry: {error}")
    if attrs is not None and {error["attr"] for error in body["errors"]} != attrs:
        found.append(f"attrs {sorted(map(str, {e['attr'] for e in body['errors']}))}, not {attrs}")
    if code is not None and {error["code"] for error in body["errors"]} != {code}:
        found.append(f"codes {[e['code'] for e in body['errors']]}, not {code}")
    return found


def check(response, status: int, attrs: set | None = None, code: str | None = None) -> None:
    found = problems(response, status, attrs, code)
    assert not found, "\n".join(found)


@pytest.fixture(scope="module")
def clients() -> dict[str, APIClient]:
    """Clients kept for the module: a client builds the middleware stack on its first
    request, and WhiteNoise's reads every static file."""
    return {"anonymous": APIClient(), "curator": APIClient()}


def fresh(client: APIClient, **credentials) -> APIClient:
    client.credentials(**credentials)
    client.cookies.clear()
    client.raise_request_exception = False  # a 500 is an answer to check, not a crash
    return client


@pytest.fixture
def anonymous(db, clients) -> APIClient:
    return fresh(clients["anonymous"])


@pytest.fixture
def curator_token(curator) -> str:
    return AuthToken.objects.create(user=curator)[1]


@pytest.fixture
def curator_client(clients, curator_token) -> APIClient:
    return fresh(clients["curator"], HTTP_AUTHORIZATION=f"Token {curator_token}")


@pytest.fixture(scope="module")
def application():
    """The application servers run: settings.WSGI_APPLICATION."""
    return get_internal_wsgi_application()


@pytest.fixture
def wsgi_app(application, db):
    """The production WSGI application, kept for the module (see clients); as in
    tests/conftest.py, Django's closing of the connection around a request is turned off
    during the test, as it would end the test's transaction."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield application
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def snapshot() -> dict:
    """Row counts of every table of the app (records, links, history, changes feed), in one
    query, and the dataset's version."""
    app = apps.get_app_config("cryptogroups")
    tables = sorted(model._meta.db_table for model in app.get_models(include_auto_created=True))
    counts = ", ".join(f"(SELECT COUNT(*) FROM {connection.ops.quote_name(t)})" for t in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}")
        row = cursor.fetchone()
    version = models.DatasetVersion.current().counter
    return {**dict(zip(tables, row, strict=True)), "version": version}


def wire(text: str) -> str:
    return quote(text, safe="")


# --- Query parameter values -------------------------------------------------------------------


def kind_of(name: str, schema: dict) -> str:
    """What a query parameter holds, from its schema. A new kind of parameter has no cases
    yet: the KeyError says so."""
    if name in ("format", "publication_status", "ordering"):
        return name
    items = schema.get("items", schema)
    if schema.get("type") in ("integer", "boolean"):
        return schema["type"]
    if items.get("format") == "date":
        return "date"
    if "$ref" in items:
        # The closed lists of codes are enums in the schema; they get the cases of their kind.
        name = items["$ref"].rsplit("/", 1)[-1]
        codes = {
            "CountryCodeEnum": "country",
            "LanguageCodeEnum": "language",
            "SubdivisionCodeEnum": "subdivision",
        }
        return codes.get(name, "choice")
    return {
        r"^[^\x00]+$": "text",
        SEARCH_PATTERN: "text",
        SLUG_PATTERN: "slug",
        r"^[A-Z]{2}$": "country",
        r"^[a-z]{2}$": "language",
        r"^[A-Z]{2}-[A-Z0-9]{1,3}$": "subdivision",
        r"^[A-Za-z0-9_-]{16}$": "cursor",
        pagination.CURSOR_PATTERN: "page_cursor",
    }[items["pattern"]]


#: Refused before any other reading of the request, by every parameter: one request gives
#: each parameter the value, and the 400 names them all. Values as they go on the wire.
FIRST_REFUSED = {
    "empty": "",
    "nul_raw": "a\x00b",
    "nul_encoded": "a%00b",
    "invalid_utf8": "%ff%fe",
    "overlong_utf8": "%c0%af",
    "encoded_surrogate": "%ed%a0%80",
}

#: Odd but well-formed text: a free-text parameter takes it (and finds what contains it);
#: any other parameter refuses it, with a 400 that names it.
ODD_TEXT = {
    "sql_quote": "' OR 1=1--",
    "shell_semicolon": "; rm -rf /",
    "shell_substitution": "$(id)",
    "shell_backticks": "`id`",
    "like_percent": "%",
    "like_underscore": "_",
    "backslash": "\\",
    "rtl_override": "\u202egnp.exe",
    "zero_width_joiner": "tele\u200dgram",
    "combining": "te\u0301legram",
    "emoji": "\U0001f600",
    "fullwidth_digits": "\uff11\uff12",
    "arabic_indic_digit": "\u0663",
}

#: Too long for any parameter, free text included (a search takes 200 characters).
LONG = {"long_10k": "a" * 10_000, "long_100k": "7" * 100_000}


def enum_value(schema: dict) -> str:
    name = schema.get("items", schema)["$ref"].rsplit("/", 1)[-1]
    return SCHEMA["components"]["schemas"][name]["enum"][0]


#: Values for one kind of parameter: the value on the wire, and its status (200: valid).
KIND_CASES: dict[str, dict[str, tuple[str | None, int]]] = {
    "integer": {
        "zero": ("0", 400),  # 200 where the schema's minimum is 0 (counts)
        "one": ("1", 200),
        "negative": ("-1", 400),
        "exponent": ("1e3", 400),
        "decimal": ("1.5", 400),
        "decimal_zero": ("12.0", 400),
        "plus_sign": ("%2B5", 400),
        "padded": ("%205", 400),
        "underscore": ("1_000", 400),
        "hex": ("0x10", 400),
        "nan": ("NaN", 400),
        "infinity": ("Infinity", 400),
        "trailing_newline": ("5%0A", 400),
        "superscript_digit": (wire("\u00b2"), 400),
        "ten_to_the_30": ("1" + "0" * 30, 400),
        "past_int64": ("99999999999999999999", 400),
    },
    "date": {
        "valid": ("2017-09-01", 200),
        "first_day": ("0001-01-01", 200),
        "last_day": ("9999-12-31", 200),
        "impossible_day": ("2017-09-31", 400),
        "not_a_leap_year": ("2017-02-29", 400),
        "us_order": ("09/01/2017", 400),
        "month_name": ("Sep%201%202017", 400),
        "unpadded": ("2017-9-1", 400),
        "fullwidth_date": (wire("\uff12\uff10\uff11\uff17-09-01"), 400),
        "arabic_indic_date": (wire("\u0662\u0660\u0661\u0667-09-01"), 400),
        "datetime": ("2017-09-01T00:00:00", 400),
        "basic_format": ("20170901", 400),
        "week_date": ("2017-W35-5", 400),
        "year_precision": ("2017", 400),
        "month_precision": ("2017-09", 400),
        "year_zero": ("0000-01-01", 400),
        "five_digit_year": ("10000-01-01", 400),
        "negative_year": ("-2017-09-01", 400),
        "trailing_newline": ("2017-09-01%0A", 400),
    },
    "boolean": {
        "true": ("true", 200),
        "false": ("false", 200),
        "capitalised": ("True", 400),
        "one": ("1", 400),
        "yes": ("yes", 400),
        "on": ("on", 400),
    },
    "country": {
        "valid": ("CN", 200),
        "lower_case": ("cn", 400),
        "alpha_3": ("CHN", 400),
        "numeric": ("156", 400),
        "unassigned": ("XX", 400),
        "one_letter": ("C", 400),
        "fullwidth_code": (wire("\uff23\uff2e"), 400),
        "joined_code": (wire("C\u200dN"), 400),
        "padded": ("CN%20", 400),
    },
    "language": {
        "valid": ("zh", 200),
        "upper_case": ("ZH", 400),
        "alpha_3": ("zho", 400),
        "tagged": ("zh-CN", 400),
        "one_letter": ("z", 400),
        "fullwidth_code": (wire("\uff5a\uff48"), 400),
        "joined_code": (wire("z\u200dh"), 400),
        "padded": ("zh%20", 400),
    },
    "subdivision": {
        "valid": ("CN-SH", 200),
        "unassigned": ("CN-ZZ", 400),
        "lower_case": ("cn-sh", 400),
        "underscore": ("CN_SH", 400),
        "country_only": ("CN", 400),
        "fullwidth_code": (wire("\uff23\uff2e-\uff33\uff28"), 400),
        "joined_code": (wire("CN-S\u200bH"), 400),
    },
    "slug": {
        "upper_case": ("TELEGRAM", 400),
        "padded": ("telegram%20", 400),
        "unknown": ("no-such-record", 400),
        "traversal": ("..%2F..%2Fetc", 400),
    },
    "choice": {
        "unknown": ("rumoured", 400),
        "number": ("1", 400),
        "padded": (None, 400),  # the first value with a space
        "upper_case": (None, 400),  # the first value in upper case
        "valid": (None, 200),  # the first value
    },
    "ordering": {
        "descending": ("-slug", 200),
        "terms_padded": ("slug,%20-created_at", 200),  # spaces around a term are trimmed
        "repeated_3000": (",".join(["slug"] * 3000), 200),
        "unknown_field": ("colour", 400),
        "sql": (wire("name;DROP TABLE x"), 400),
        "related_lookup": ("platform__name", 400),
        "double_minus": ("--slug", 400),
        "lone_minus": ("-", 400),
        "plus_sign": ("%2Bslug", 400),
        "trailing_comma": ("slug,", 400),
        "empty_term": ("slug,,created_at", 400),
        "fullwidth": (wire("\uff53\uff4c\uff55\uff47"), 400),
    },
    "cursor": {
        "start": (changes.encode_cursor(0), 200),
        "not_ours": ("AAAAAAAAAAAAAAAA", 400),
        "trailing_newline": (changes.encode_cursor(0) + "%0A", 400),
        "padded": (changes.encode_cursor(0)[:15] + "%3D", 400),
        "short": (changes.encode_cursor(0)[:8], 400),
        "ahead_of_the_feed": (changes.encode_cursor(2**62), 400),
    },
    "page_cursor": {
        "start": ("start", 200),
        "upper_case": ("START", 400),
        "trailing_newline": ("start%0A", 400),
        "not_ours": ("AAAAAAAAAAAAAAAA", 400),
        "signed_for_something_else": (signing.dumps({"o": ["slug"], "v": ["a"]}), 400),
        "another_order": (pagination.encode_cursor([("slug", True)], ["a"], backwards=False), 400),
    },
    "format": {
        "json": ("json", 200),
        "browsable": ("api", 200),  # the browsable API, asked for by name
        "xml": ("xml", 400),
        "yaml": ("yaml", 400),
        "upper_case": ("JSON", 400),
        "padded": ("json%20", 400),
    },
    "publication_status": {
        "published": ("published", 200),
        "draft_without_credentials": ("draft", 401),
        "unknown": ("hidden", 400),
        "upper_case": ("PUBLISHED", 400),
    },
}

#: The few values of each kind every endpoint gets; the long tail goes to the DEEP resource's
#: endpoints, to the feed, and to the first list with a kind of parameter DEEP's list lacks.
SHALLOW = {
    "text": ["sql_quote", "arabic_indic_digit", "long_10k"],
    "integer": ["zero", "one", "negative", "superscript_digit", "ten_to_the_30"],
    "date": ["valid", "impossible_day", "us_order", "fullwidth_date"],
    "country": ["valid", "lower_case", "fullwidth_code", "padded"],
    "slug": ["unknown", "upper_case"],
    "choice": ["valid", "unknown"],
    "ordering": ["descending", "unknown_field", "related_lookup", "lone_minus"],
    "format": ["json", "xml"],
    "publication_status": ["published", "unknown"],
}
#: Parameters every list (or every read) has, read by code they share.
SHARED = {"format", "publication_status", "ordering", "page", "page_size"}


def in_depth(op: Operation, name: str) -> bool:
    """Whether a parameter of an operation gets the long tail of cases of its kind (odd text
    included): on the DEEP resource and the feed; a filter of a kind DEEP's list has not, on
    the first list that has one; free text (searched differently by each list) everywhere."""
    if op.kind == "feed" or op.resource == DEEP:
        return True
    kind = kind_of(name, op.parameters[name])
    if kind == "text":
        return True
    if name in SHARED or op.kind != "list":
        return False
    having = [
        other
        for other in READS
        if other.kind == "list"
        and any(kind_of(n, sch) == kind and n not in SHARED for n, sch in other.parameters.items())
    ]
    return op is having[0] and not any(other.resource == DEEP for other in having)


def kinds(op: Operation) -> set[str]:
    return {kind_of(name, schema) for name, schema in op.parameters.items()}


def plan(op: Operation, name: str, case: str) -> tuple[str, int] | None:
    """The value a case sends to a parameter, and the status it must get; None when the case
    is not one for this parameter."""
    schema = op.parameters[name]
    kind = kind_of(name, schema)
    if case in ODD_TEXT or case in LONG:
        if not in_depth(op, name) and case not in SHALLOW["text"]:
            return None
        value = ODD_TEXT.get(case) or LONG[case]
        return wire(value), 200 if kind == "text" and case in ODD_TEXT else 400
    if not in_depth(op, name) and case not in SHALLOW.get(kind, KIND_CASES.get(kind, {})):
        return None
    value, status = KIND_CASES.get(kind, {}).get(case, (None, None))
    if status is None:
        return None
    if kind == "integer" and case == "zero" and schema.get("minimum", 1) <= 0:
        status = 200
    if kind == "choice" and value is None:
        first = enum_value(schema)
        value = {"padded": f"{first}%20", "upper_case": first.upper(), "valid": first}[case]
    if kind == "slug" and case == "valid":
        value = op.examples[name][0]
    return value, status


ALL_CASES = [
    *ODD_TEXT,
    *LONG,
    *dict.fromkeys(case for cases in KIND_CASES.values() for case in cases if case not in LONG),
]


def cases_for(op: Operation) -> list[str]:
    return [case for case in ALL_CASES if any(plan(op, name, case) for name in op.parameters)]


#: Parameters read one after the other, each by its own step of a request; the others are
#: filters, read together (the 400 names each faulty one).
STEPS = [
    "format",
    "publication_status",
    "after",
    "search",
    "ordering",
    "page_size",
    "page",
    "cursor",
]


def steps(op: Operation) -> list[list[str]]:
    """The parameters of an operation in the groups one request can test together."""
    filters = [n for n in op.parameters if n not in STEPS]
    text = [n for n in filters if kind_of(n, op.parameters[n]) == "text"]
    groups = [[n] for n in STEPS if n in op.parameters]
    if set(filters) - set(text):
        groups.append([n for n in filters if n not in text])
    return groups + [[n] for n in text]


def search_oracle(op: Operation, value: str) -> set[str]:
    """The slugs a search must find, computed here from the records: every word (as DRF
    splits them) is contained, case-insensitively, in one of the searched fields."""
    viewset = VIEWSETS[op.resource]
    terms = [term.lower() for term in search_smart_split(value)]

    def text(record, path: str) -> str:
        for part in path.split("__"):
            record = getattr(record, part, None) if record is not None else None
        return (record or "").lower()

    public = representations.public_queryset(viewset.queryset.model)
    return {
        record.slug
        for record in public
        if all(any(term in text(record, f) for f in viewset.search_fields) for term in terms)
    }


def broad(op: Operation) -> bool:
    """Whether an operation gets every case of a family: lists and the feed, whose parameters
    differ, and the DEEP resource's operations; the others get a few."""
    return op.kind in ("list", "feed") or op.resource == DEEP


@pytest.mark.parametrize(
    ("op", "case"),
    [
        pytest.param(op, case, id=f"{op}-{case}")
        for op in READS
        for case in FIRST_REFUSED
        if broad(op) or case in ("nul_raw", "invalid_utf8")
    ],
)
def test_values_refused_first_are_all_named(anonymous, op, case):
    value = FIRST_REFUSED[case]
    query = "&".join(f"{name}={value}" for name in op.parameters)
    response = anonymous.get(f"{op.path()}?{query}")
    record(op.template, f"every parameter: {case}", response)
    check(response, 400, set(op.parameters))


@pytest.mark.parametrize(
    ("op", "case"),
    [pytest.param(op, case, id=f"{op}-{case}") for op in READS for case in cases_for(op)],
)
def test_a_hostile_query_value(anonymous, op, case):
    """Each group of parameters read together gets the case's value: refused, a 400 naming
    each parameter that takes no such value; taken, what a valid request gets."""
    failures = []
    for group in steps(op):
        planned = {name: plan(op, name, case) for name in group}
        planned = {name: p for name, p in planned.items() if p is not None}
        if not planned:
            continue
        query = "&".join(f"{name}={value}" for name, (value, _) in planned.items())
        if op.kind == "list" and "page_size" not in planned:
            query += "&page_size=100"
        response = anonymous.get(f"{op.path()}?{query}")
        record(op.template, f"?{','.join(planned)}= {case}", response)
        refused = {name for name, (_, status) in planned.items() if status == 400}
        status = 400 if refused else max(status for _, status in planned.values())
        found = problems(response, status, refused or ({None} if status >= 400 else None))
        failures += [f"?{','.join(planned)}: {p}" for p in found]
        if (
            found
            or status != 200
            or case not in ODD_TEXT
            or group[0] not in ("search", "publisher")
        ):
            continue
        text, slugs = ODD_TEXT[case], {r["slug"] for r in response.json()["results"]}
        if group == ["search"]:
            wanted = search_oracle(op, text)
        else:
            sources = models.Source.objects.all()
            wanted = {s.slug for s in sources if s.publisher.lower() == text.lower()}
        if slugs != wanted:
            failures.append(f"?{group[0]}={text!r} found {slugs}, not {wanted}")
    assert not failures, "\n".join(failures)


def test_a_search_finds_odd_text_and_only_it(anonymous):
    """The oracle above can fail: a record holding odd text is found by it, and only it."""
    groups = next(op for op in READS if op.template == "/api/v1/groups/")
    group = models.Group.objects.get(slug="okcoin-telegram-group")
    group.description = "Fees of 100% for 1=1-- \U0001f600 tele\u200dgram x_y"
    group.save()
    for text in ("100%", "1=1--", "\U0001f600", "tele\u200dgram", "x_y"):
        response = anonymous.get(f"/api/v1/groups/?search={wire(text)}")
        check(response, 200)
        assert [r["slug"] for r in response.json()["results"]] == [group.slug], text
        assert search_oracle(groups, text) == {group.slug}, text
    response = anonymous.get(f"/api/v1/groups/?search={wire('%')}")
    assert {r["slug"] for r in response.json()["results"]} == search_oracle(groups, "%")
    assert group.slug in search_oracle(groups, "%")


# --- Query parameter names, repetitions and lengths -------------------------------------------

UNKNOWN = "' OR 1=1--"
NAME_CASES = {
    # case: (query string, the parameters the 400 names)
    "sql_name": (f"{wire(UNKNOWN)}=1", {UNKNOWN}),
    "nul_name": ("a%00b=1", {"a\x00b"}),
    "invalid_utf8_name": ("%ff=1", {"\ufffd"}),
    "long_name": ("n" * 10_000 + "=1", {"n" * 10_000}),
    "many_unknown_names": ("&".join(f"p{i}=1" for i in range(500)), {f"p{i}" for i in range(500)}),
    "unknown_repeated_1000": ("&".join(["x=1"] * 1000), {"x"}),
    "single_value_repeated_1000": ("&".join(["format=json"] * 1000), {"format"}),
    "long_query_string": ("bogus=" + "q" * 1_000_000, {"bogus"}),
}


def name_cases() -> list:
    return [
        pytest.param(op, case, id=f"{op}-{case}")
        for op in READS
        for case in NAME_CASES
        if op.resource == DEEP or op.kind == "feed" or case in ("sql_name", "invalid_utf8_name")
    ]


@pytest.mark.parametrize(("op", "case"), name_cases())
def test_a_hostile_parameter_name(anonymous, op, case):
    query, attrs = NAME_CASES[case]
    response = anonymous.get(f"{op.path()}?{query}")
    record(op.template, case, response)
    check(response, 400, attrs)


def repeatable(op: Operation) -> list[tuple[str, str]]:
    """The repeatable parameters of an operation that have an example value."""
    return [
        (name, op.examples[name][0])
        for name, schema in op.parameters.items()
        if schema.get("type") == "array" and isinstance(op.examples.get(name), list)
    ]


@pytest.mark.parametrize("op", [op for op in READS if repeatable(op)], ids=str)
def test_a_repeatable_parameter_repeated_1000_times(anonymous, op):
    """A value given as often as the schema's maxItems allows means what it means once; once
    more, or 1000 times, is refused, naming the parameter; an unknown one is named."""
    for name, value in repeatable(op):
        most = op.parameters[name]["maxItems"]
        once = anonymous.get(f"{op.path()}?{name}={value}")
        check(once, 200)
        response = anonymous.get(f"{op.path()}?" + "&".join([f"{name}={value}"] * most))
        record(op.template, f"?{name}= valid x maxItems", response)
        check(response, 200)
        assert response.json() == once.json()
        for times in (most + 1, 1000):
            response = anonymous.get(f"{op.path()}?" + "&".join([f"{name}={value}"] * times))
            record(op.template, f"?{name}= valid x{times}", response)
            check(response, 400, {name})
        response = anonymous.get(f"{op.path()}?" + "&".join([f"{name}=a"] * most))
        record(op.template, f"?{name}= unknown x maxItems", response)
        check(response, 400, {name})


@pytest.mark.parametrize("op", READS, ids=str)
def test_more_parameters_than_django_parses(anonymous, op):
    """Past DATA_UPLOAD_MAX_NUMBER_FIELDS Django will not parse the query string: a 400 that
    says so, as for a body that is not JSON."""
    response = anonymous.get(f"{op.path()}?" + "&".join(["x=1"] * 1001))
    record(op.template, "1001 parameters", response)
    check(response, 400, {None}, "parse_error")
    assert "query parameters" in response.json()["errors"][0]["detail"]


def test_a_disallowed_host_is_a_validation_error_saying_so(anonymous):
    response = anonymous.get("/api/v1/groups/", HTTP_HOST="evil.example")
    record("/api/v1/groups/", "Host: evil.example", response)
    check(response, 400, {None})
    assert "host" in response.json()["errors"][0]["detail"].lower()


def test_a_disallowed_host_is_a_json_400(anonymous):
    response = anonymous.get("/api/v1/groups/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert not TRACEBACK.search(response.content)


# --- Slugs in the path ------------------------------------------------------------------------

SLUG_CASES = {
    "sql": "'%20OR%201=1--",
    "nul_raw": "a\x00b",
    "nul_encoded": "a%00b",
    "invalid_utf8": "%ff%fe",
    "overlong_utf8": "%c0%af",
    "upper_case": "TELEGRAM",
    "shell": wire("$(id)"),
    "backticks": wire("`id`"),
    "percent": "%25",
    "backslash": "%5C",
    "traversal": "..%2F..%2Fsettings",
    "dot_dot": "..",
    "emoji": wire("\U0001f600"),
    "rtl_override": wire("\u202etelegram"),
    "zero_width_joiner": wire("tele\u200dgram"),
    "fullwidth": wire("\uff54\uff45\uff4c"),
    "long_10k": "a" * 10_000,
    "long_100k": "b" * 100_000,
}


SHALLOW_SLUGS = ["sql", "nul_raw", "invalid_utf8", "emoji", "long_10k"]


@pytest.mark.parametrize(
    ("template", "case"),
    [
        pytest.param(template, case, id=f"{template}-{case}")
        for template in sorted({op.template for op in READS if op.slug})
        for case in SLUG_CASES
        if template.startswith(f"/api/v1/{DEEP}/") or case in SHALLOW_SLUGS
    ],
)
def test_a_hostile_slug_in_the_path(anonymous, curator_client, template, case):
    """No such record, read or written: a JSON 404, and nothing changes."""
    before = snapshot()
    for op in [op for op in OPERATIONS if op.template == template]:
        if op.method != "GET" and op.resource != DEEP and case not in SHALLOW_SLUGS[:2]:
            continue
        client = anonymous if op.method == "GET" else curator_client
        path = op.path(SLUG_CASES[case]) + ("" if op.method == "GET" else "?reason=hostile")
        response = client.generic(op.method, path, b"{}", content_type="application/json")
        record(op.template, f"{op.method} slug {case}", response)
        check(response, 404, {None}, "not_found")
    assert snapshot() == before


# --- Methods and media types ------------------------------------------------------------------

ODD_METHODS = ["POST", "PUT", "PATCH", "DELETE", "TRACE", "CONNECT", "PROPFIND", "FOO"]


@pytest.mark.parametrize("template", list(SCHEMA["paths"]))
def test_the_methods_a_path_does_not_offer(curator_client, template):
    """A 405 in JSON, with the methods the path offers in Allow; nothing changes."""
    op = next(op for op in OPERATIONS if op.template == template)
    offered = {method.upper() for method in SCHEMA["paths"][template]}
    before = snapshot()
    for method in [m for m in ODD_METHODS if m not in offered]:
        response = curator_client.generic(method, op.path() + "?reason=hostile")
        record(template, method, response)
        found = problems(response, 405, {None}, "method_not_allowed")
        assert not found, (method, found)
        assert offered <= {m.strip() for m in response["Allow"].split(",")}, method
    assert snapshot() == before


@pytest.mark.parametrize("op", READS, ids=str)
def test_head_and_options_on_every_read(anonymous, op):
    response = anonymous.head(op.path())
    record(op.template, "HEAD", response)
    check(response, 200)
    assert response.content == b""
    response = anonymous.options(op.path())
    record(op.template, "OPTIONS", response)
    check(response, 200)
    assert response.json()["name"]


ACCEPT_CASES = {
    # case: (Accept, query, status, media type of the answer)
    "html_on_an_error": ("text/html", "?bogus=1", 400, "application/json"),
    "html": ("text/html", "", 200, "text/html"),  # the browsable API, for people
    "xml": ("application/xml", "", 406, "application/json"),
    "xml_on_an_error": ("application/xml", "?bogus=1", 406, "application/json"),
    "garbage": (";;;,,/", "", 406, "application/json"),
    "wildcard": ("*/*", "", 200, "application/json"),
    "bad_indent": ("application/json; indent=abc", "", 200, "application/json"),
    # A media type past 256 characters is not read (DRF): nothing acceptable is left.
    "long": ("application/json; indent=" + "9" * 5000, "", 406, "application/json"),
}


def accept_cases() -> list:
    return [
        pytest.param(op, case, id=f"{op}-{case}")
        for op in READS
        for case in ACCEPT_CASES
        if op.resource == DEEP or op.kind == "feed" or case in ("html_on_an_error", "xml")
    ]


@pytest.mark.parametrize(("op", "case"), accept_cases())
def test_an_odd_accept_header(anonymous, op, case):
    accept, query, status, media_type = ACCEPT_CASES[case]
    response = anonymous.get(op.path() + query, HTTP_ACCEPT=accept)
    record(op.template, f"Accept: {case}", response)
    check(response, status, {"bogus"} if status == 400 else None)
    assert response["Content-Type"].startswith(media_type)


# --- Requests built by hand -------------------------------------------------------------------


@dataclass
class WSGIResponse:
    status_code: int
    headers: dict
    content: bytes

    def get(self, name: str, default=None):
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), default)

    def __getitem__(self, name: str):
        return self.get(name)

    def json(self):
        return json.loads(self.content)


def wsgi_request(app, method: str, path: str, query: str = "", body: bytes = b"", **environ):
    """A request built by hand, for what the test client cannot send: bytes that are not
    UTF-8 in the path or a header, a Content-Length that lies. Environ values of None are
    left out."""
    base = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if body:
        base.update(CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(body)))
    base.update(environ)
    base = {key: value for key, value in base.items() if value is not None}
    started = {}

    def start_response(status, headers, exc_info=None):
        started["status"], started["headers"] = status, headers

    chunks = app(base, start_response)
    try:
        content = b"".join(chunks)
    finally:
        getattr(chunks, "close", lambda: None)()
    return WSGIResponse(int(started["status"].split()[0]), dict(started["headers"]), content)


#: An Authorization header whose token is not UTF-8: Latin-1 "éé", as a server passes it on.
NOT_UTF8_TOKEN = "Token \xe9\xe9"


@pytest.mark.parametrize("op", OPERATIONS, ids=str)
def test_credentials_that_are_not_text(wsgi_app, op):
    """A token whose bytes are not UTF-8 is a bad token: a 401 with the challenge."""
    before = snapshot()
    response = wsgi_request(
        wsgi_app,
        op.method,
        op.path(),
        "" if op.method == "GET" else "reason=hostile",
        b"{}" if op.body else b"",
        HTTP_AUTHORIZATION=NOT_UTF8_TOKEN,
    )
    record(op.template, f"{op.method} Authorization not UTF-8", response)
    check(response, 401, {None}, "authentication_failed")
    assert response["WWW-Authenticate"] == "Token"
    assert snapshot() == before


@pytest.mark.parametrize("op", READS, ids=str)
def test_raw_bytes_in_the_path_and_the_query_string(wsgi_app, op):
    """Bytes that no client encoded, handed over by the server as Latin-1: not UTF-8 in a
    slug, a 404; in a query parameter, a 400 naming it."""
    if op.slug:
        for segment in ("\xff\xfe", "caf\xe9"):
            response = wsgi_request(wsgi_app, "GET", op.path(segment))
            record(op.template, "raw bytes in the slug", response)
            check(response, 404, {None}, "not_found")
    response = wsgi_request(wsgi_app, "GET", op.path(), "format=json&bogus=\xff\xfe")
    record(op.template, "raw bytes in the query", response)
    check(response, 400, {"bogus"})


IF_MATCH_CASES = {
    # case: (If-Match, status)
    "superscript_counter": ('"\u00b2-x"', 412),
    "arabic_indic_counter": ('"\u0663-x"', 412),
    "huge_counter": ('"' + "9" * 5000 + '-x"', 412),
    "weak": ('W/"1-x"', 412),
    "many_tags": (", ".join(f'"{i}-x"' for i in range(10_000, 11_000)), 412),
    "nul": ('"1\x00-x"', 412),
    "unquoted": ("not-a-tag", 400),
    "empty": ("", 400),
}


@pytest.mark.parametrize(
    ("op", "case"),
    [
        pytest.param(op, case, id=f"{op}-{case}")
        for op in WRITES
        if op.method != "POST"
        for case in IF_MATCH_CASES
        if op.resource == DEEP or case in ("superscript_counter", "unquoted")
    ],
)
def test_a_hostile_if_match(curator_client, op, case):
    header, status = IF_MATCH_CASES[case]
    before = snapshot()
    response = curator_client.generic(
        op.method, op.path() + "?reason=hostile", b"{}", "application/json", HTTP_IF_MATCH=header
    )
    record(op.template, f"{op.method} If-Match: {case}", response)
    check(response, status, {"If-Match"} if status == 400 else {None})
    assert snapshot() == before


# --- Write parameters -------------------------------------------------------------------------

REASON_CASES = {
    # case: (the query string after ?reason=, the parameter the 400 names)
    **{case: (value, "reason") for case, value in FIRST_REFUSED.items()},
    **{case: (value, "reason") for case, value in LONG.items()},
    "blank": ("%20%20", "reason"),
    "repeated_1000": ("&".join(["x"] * 1000).replace("&", "&reason="), "reason"),
    "hard_on_a_write": ("x&hard=true", "hard"),
}


@pytest.mark.parametrize(
    ("op", "case"),
    [
        pytest.param(op, case, id=f"{op}-{case}")
        for op in WRITES
        for case in REASON_CASES
        if op.resource == DEEP or case in ("invalid_utf8", "hard_on_a_write")
    ],
)
def test_a_hostile_reason(curator_client, op, case):
    value, attr = REASON_CASES[case]
    if op.method == "DELETE" and attr == "hard":
        value = "x&hard=TRUE"  # a delete takes hard, as true or false only
    before = snapshot()
    response = curator_client.generic(
        op.method, f"{op.path()}?reason={value}", b"{}", content_type="application/json"
    )
    record(op.template, f"{op.method} ?reason= {case}", response)
    check(response, 400, {attr})
    assert snapshot() == before


@pytest.mark.parametrize("op", [op for op in WRITES if op.method == "DELETE"], ids=str)
def test_a_hostile_hard(curator_client, op):
    values = ["TRUE", "1", "yes", "true%00", "%ff", "t" * 10_000]
    before = snapshot()
    for value in values if op.resource == DEEP else values[:2]:
        response = curator_client.delete(f"{op.path()}?reason=hostile&hard={value}")
        record(op.template, f"DELETE ?hard={value[:12]}", response)
        check(response, 400, {"hard"})
    assert snapshot() == before


@pytest.mark.parametrize(
    "case", ["sql_quote", "shell_backticks", "like_percent", "rtl_override", "emoji"]
)
def test_odd_text_is_a_reason_kept_as_given(curator_client, case):
    """A reason is free text: odd text is kept in the history as given."""
    path = f"/api/v1/organizations/pboc/?reason={wire(ODD_TEXT[case])}"
    response = curator_client.patch(path, {"description": f"Changed ({case})."}, format="json")
    record("/api/v1/organizations/{slug}/", f"PATCH ?reason= {case}", response)
    check(response, 200)
    entry = curator_client.get("/api/v1/organizations/pboc/history/").json()["results"][0]
    assert entry["reason"] == ODD_TEXT[case]


# --- Request bodies ---------------------------------------------------------------------------

JSON = "application/json"
BODY_CASES = {
    # case: (body, Content-Type, status, error code)
    "truncated": (b'{"slug": "a",', JSON, 400, "parse_error"),
    "trailing_garbage": (b'{"slug": "a"} x', JSON, 400, "parse_error"),
    "two_documents": (b"{}{}", JSON, 400, "parse_error"),
    "byte_order_mark": (b'\xef\xbb\xbf{"slug": "a"}', JSON, 400, "parse_error"),
    "nan": (b'{"slug": NaN}', JSON, 400, "parse_error"),
    "infinity": (b'{"slug": Infinity}', JSON, 400, "parse_error"),
    "minus_infinity": (b'{"slug": -Infinity}', JSON, 400, "parse_error"),
    "huge_number": (b'{"slug": 1' + b"0" * 5000 + b"}", JSON, 400, "parse_error"),
    "deep_arrays": (b"[" * 10_000 + b"]" * 10_000, JSON, 400, "parse_error"),
    "deep_objects": (b'{"a": ' * 10_000 + b"1" + b"}" * 10_000, JSON, 400, "parse_error"),
    "deep_in_a_field": (
        b'{"citations": ' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        JSON,
        400,
        "parse_error",
    ),
    "duplicate_keys": (b'{"slug": "a", "slug": "b"}', JSON, 400, "parse_error"),
    "raw_nul": (b'{"slug": "a\x00b"}', JSON, 400, "parse_error"),
    "lone_surrogate": (b'{"slug": "\\ud800"}', JSON, 400, "parse_error"),
    "lone_surrogate_in_a_key": (b'{"\\udfff": 1}', JSON, 400, "parse_error"),
    "reversed_surrogates": (b'{"slug": "\\udc00\\ud800"}', JSON, 400, "parse_error"),
    "invalid_utf8": (b'{"slug": "\xff\xfe"}', JSON, 400, "parse_error"),
    "overlong_utf8": (b'{"slug": "\xc0\xaf"}', JSON, 400, "parse_error"),
    "utf8_encoded_surrogate": (b'{"slug": "\xed\xa0\x80"}', JSON, 400, "parse_error"),
    "list_for_an_object": (b"[{}]", JSON, 400, "invalid"),
    "string_for_an_object": (b'"x"', JSON, 400, "invalid"),
    "number_for_an_object": (b"1", JSON, 400, "invalid"),
    "true_for_an_object": (b"true", JSON, 400, "invalid"),
    "null_for_an_object": (b"null", JSON, 400, "null"),
    "text_plain": (b"{}", "text/plain", 415, "unsupported_media_type"),
    "form_encoded": (b"slug=a", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    "multipart": (
        b'--x\r\nContent-Disposition: form-data; name="slug"\r\n\r\na\r\n--x--\r\n',
        "multipart/form-data; boundary=x",
        415,
        "unsupported_media_type",
    ),
    "xml": (b"<slug>a</slug>", "application/xml", 415, "unsupported_media_type"),
    "no_content_type": (b"{}", "", 415, "unsupported_media_type"),
    "json_seq": (b"\x1e{}\n", "application/json-seq", 415, "unsupported_media_type"),
    "long_content_type": (b"{}", "application/" + "j" * 300, 415, "unsupported_media_type"),
    "five_megabytes": (b'{"slug": "' + b"a" * 5 * 2**20 + b'"}', JSON, 413, "request_too_large"),
    "one_byte_too_many": (
        b'{"slug": "' + b"a" * (2**20 - 11) + b'"}',
        JSON,
        413,
        "request_too_large",
    ),
}
#: What every write with a body gets; the DEEP resource's writes get every case.
SHALLOW_BODIES = ["deep_arrays", "duplicate_keys", "lone_surrogate", "text_plain"]


@pytest.mark.parametrize(
    ("op", "case"),
    [
        pytest.param(op, case, id=f"{op}-{case}")
        for op in BODY_WRITES
        for case in BODY_CASES
        if op.resource == DEEP or case in SHALLOW_BODIES
    ],
)
def test_a_hostile_body(curator_client, op, case):
    body, content_type, status, code = BODY_CASES[case]
    before = snapshot()
    response = curator_client.generic(
        op.method, op.path() + "?reason=hostile", body, content_type=content_type
    )
    record(op.template, f"{op.method} body: {case}", response)
    attrs = {"non_field_errors"} if code in ("invalid", "null") else {None}
    check(response, status, attrs, code)
    assert snapshot() == before


@pytest.mark.parametrize("op", BODY_WRITES, ids=str)
def test_an_empty_body(curator_client, op):
    """An empty write: a create or a replacement lacks its required fields (a 400 naming
    them); a PATCH of nothing is valid and changes nothing, not even the version."""
    before = snapshot()
    for body in (b"", b"{}"):
        response = curator_client.generic(
            op.method, op.path() + "?reason=hostile", body, content_type=JSON
        )
        record(op.template, f"{op.method} {'{}' if body else 'no body'}", response)
        if op.method == "PATCH":
            check(response, 200)
        else:
            check(response, 400, code="required")
    assert snapshot() == before


LYING = b'{"slug": "liar", "name": "Liar", "title": "Liar"}'


@pytest.mark.parametrize("op", BODY_WRITES, ids=str)
def test_a_content_length_that_lies(wsgi_app, curator_token, op):
    """The body is read up to its declared length, never past it: shorter than the body, the
    JSON is cut (400); past the limit, a 413 before anything is read; 0, no body at all (a
    PATCH of nothing, as above)."""
    before = snapshot()
    for length, status, code in [
        ("5", 400, "parse_error"),
        (str(10 * 2**20), 413, "request_too_large"),
        ("0", 200, None) if op.method == "PATCH" else ("0", 400, "required"),
    ]:
        response = wsgi_request(
            wsgi_app,
            op.method,
            op.path(),
            "reason=hostile",
            LYING,
            CONTENT_LENGTH=length,
            HTTP_AUTHORIZATION=f"Token {curator_token}",
        )
        record(op.template, f"{op.method} Content-Length: {length} for {len(LYING)}", response)
        found = problems(response, status, code=code)
        assert not found, (length, found)
    assert snapshot() == before


@pytest.mark.parametrize(
    ("environ", "status", "attrs"),
    [
        pytest.param({"CONTENT_LENGTH": "-1"}, 400, {"Content-Length"}, id="negative_length"),
        pytest.param({"CONTENT_LENGTH": "ten"}, 400, {"Content-Length"}, id="length_not_a_number"),
        pytest.param(
            {"CONTENT_LENGTH": None, "HTTP_TRANSFER_ENCODING": "chunked"},
            411,
            {None},
            id="chunked_without_length",
        ),
        pytest.param(
            {"CONTENT_TYPE": "application/json; charset=rot13"}, 415, {None}, id="charset_rot13"
        ),
        pytest.param(
            {"CONTENT_TYPE": "text/plain; charset=bz2_codec"}, 415, {None}, id="charset_bz2"
        ),
        pytest.param(
            {"CONTENT_TYPE": "application/json; charset*=utf-8''a%00b"},
            415,
            {None},
            id="charset_nul",
        ),
    ],
)
def test_a_request_the_api_views_never_see(wsgi_app, curator_token, environ, status, attrs):
    """Headers read before the API's views run; their answers are still JSON errors."""
    before = snapshot()
    response = wsgi_request(
        wsgi_app,
        "PATCH",
        "/api/v1/organizations/pboc/",
        "reason=hostile",
        b'{"name": "Liar"}',
        HTTP_AUTHORIZATION=f"Token {curator_token}",
        **environ,
    )
    record("/api/v1/organizations/{slug}/", f"PATCH {environ}", response)
    check(response, status, attrs)
    assert snapshot() == before


# --- Field values -----------------------------------------------------------------------------


def write_fields(resource: str) -> dict[str, serializers.Field]:
    return dict(VIEWSETS[resource].write_serializer_class().fields)


CODE_VALIDATORS = {
    "validate_country_code": "country",
    "validate_language_code": "language",
    "validate_subdivision_code": "subdivision",
}
JSON_TYPED = (serializers.CharField, serializers.BooleanField, serializers.IntegerField)


def field_kind(field: serializers.Field) -> str:
    """What a write field holds: free text takes any text; the others have rules."""
    names = {getattr(v, "__name__", type(v).__name__) for v in field.validators}
    if names & set(CODE_VALIDATORS):
        return CODE_VALIDATORS[min(names & set(CODE_VALIDATORS))]
    plain = {
        "MaxLengthValidator",
        "ProhibitNullCharactersValidator",
        "ProhibitSurrogateCharactersValidator",
        "UniqueValidator",
    }
    if type(field) is serializers.CharField and names <= plain:
        return "text"
    if isinstance(field, serializers.BooleanField):
        return "boolean"
    if isinstance(field, serializers.ChoiceField):
        return "choice"
    if isinstance(field, serializers.ListSerializer | serializers.ManyRelatedField):
        return "list"
    if isinstance(field, serializers.Serializer):
        return "count" if "value" in field.fields else "date"
    return "string"  # slugs, URLs, identifiers, related records


#: A value of the wrong JSON type for each kind of field.
WRONG_TYPE = {
    "text": 5,
    "string": 5,
    "country": ["CN"],
    "language": {"code": "zh"},
    "subdivision": 1.5,
    "boolean": "true",
    "choice": ["x"],
    "list": {"slug": "x"},
    "date": "2017-09-01",
    "count": "12",
}
ODD = "' OR 1=1-- ; rm -rf / $(id) `id` % _ \\ <b>x</b> \u202egnp \u200d e\u0301 \U0001f600 \uff11"
DATE = {"date": "2017-09-01", "precision": "day", "qualifier": "exact"}
DATE_CASES = {
    "impossible_day": {**DATE, "date": "2017-02-30"},
    "fullwidth_digits": {**DATE, "date": "\uff12\uff10\uff11\uff17-09-01"},
    "arabic_indic_digits": {**DATE, "date": "\u0662\u0660\u0661\u0667-09-01"},
    "basic_format": {**DATE, "date": "20170901"},
    "week_date": {**DATE, "date": "2017-W35-5"},
    "datetime": {**DATE, "date": "2017-09-01T00:00:00Z"},
    "year_zero": {**DATE, "date": "0000-01-01"},
    "five_digit_year": {**DATE, "date": "10000-01-01"},
    "nul": {**DATE, "date": "2017-09-01\x00"},
    "number": {**DATE, "date": 20170901},
    "unknown_precision": {**DATE, "precision": "decade"},
    "unknown_qualifier": {**DATE, "qualifier": "maybe"},
    "misaligned_month": {**DATE, "date": "2017-09-15", "precision": "month"},
    "misaligned_year": {**DATE, "precision": "year"},
    "precision_missing": {"date": "2017-09-01", "qualifier": "exact"},
    "precision_null": {**DATE, "precision": None},
    "unknown_key": {**DATE, "era": "CE"},
    "list": [DATE],
}
COUNT_CASES = {
    "negative": {"value": -1},
    "past_int64": {"value": 2**63},
    "ten_to_the_30": {"value": 10**30},
    "float_overflow": {"value": "1e400"},  # sent as the JSON number 1e400
    "string": {"value": "12"},
    "float": {"value": 12.0},
    "true": {"value": True},
    "null": {"value": None},
    "unknown_qualifier": {"qualifier": "roughly"},
}
CODE_CASES = {
    "lower_case": {"country": "cn", "language": "ZH", "subdivision": "cn-sh"},
    "fullwidth": {
        "country": "\uff23\uff2e",
        "language": "\uff5a\uff48",
        "subdivision": "CN-\uff33H",
    },
    "joined": {"country": "C\u200dN", "language": "z\u200dh", "subdivision": "CN-S\u200dH"},
    "alpha_3": {"country": "CHN", "language": "zho", "subdivision": "CHN-SH"},
    "unassigned": {"country": "XX", "language": "xx", "subdivision": "CN-ZZ"},
    "nul": {"country": "C\x00", "language": "z\x00", "subdivision": "CN-S\x00"},
}


#: The few dates, counts and codes every resource's fields get; the long tail goes to the
#: first resource (in the order of the resources' names) with fields of the kind.
SHALLOW_FIELDS = {
    "date": ["impossible_day", "fullwidth_digits", "misaligned_month", "list"],
    "count": ["negative", "past_int64", "string"],
    "code": ["lower_case", "fullwidth"],
}


def first_with(resource: str) -> dict[str, bool]:
    """For each of dates, counts and codes: whether the resource is the first with such
    fields."""
    found = {}
    for group, field_kinds in [
        ("date", {"date"}),
        ("count", {"count"}),
        ("code", set(CODE_VALIDATORS.values())),
    ]:
        having = [
            r
            for r in sorted(PATCHES)
            if any(field_kind(f) in field_kinds for f in write_fields(r).values())
        ]
        found[group] = bool(having) and having[0] == resource
    return found


def field_cases(resource: str) -> dict[str, dict]:
    """Bodies that must be refused, by case: each sets every field of a kind at once, as
    the fields are read together and the 400 names each."""
    fields = write_fields(resource)
    by_kind: dict[str, list[str]] = {}
    for name, field in fields.items():
        by_kind.setdefault(field_kind(field), []).append(name)
    typed = [n for n, f in fields.items() if isinstance(f, JSON_TYPED)]
    untyped = [n for n in fields if n not in typed]
    limited = [n for n, f in fields.items() if getattr(f, "max_length", None) is not None]
    strings = [*by_kind.get("string", []), *by_kind.get("choice", [])]
    codes = [n for kind in CODE_VALIDATORS.values() for n in by_kind.get(kind, [])]
    cases = {
        # Fields whose JSON type is checked first, then the others, read together.
        "wrong_type": {n: WRONG_TYPE[field_kind(fields[n])] for n in typed},
        "wrong_type_of_the_others": {n: WRONG_TYPE[field_kind(fields[n])] for n in untyped},
        "nul": dict.fromkeys([*by_kind.get("text", []), *strings, *codes], "a\x00b"),
        "long_10k": dict.fromkeys([*limited, *by_kind.get("choice", [])], "a" * 10_000),
        "long_100k": {limited[0]: "a" * 100_000},
        "odd_text": dict.fromkeys([*strings, *codes], ODD),
    }
    first = first_with(resource)
    dates = by_kind.get("date", [])
    for case, value in DATE_CASES.items():
        if first["date"] or case in SHALLOW_FIELDS["date"]:
            cases[f"date_{case}"] = dict.fromkeys(dates, value)
    for name in by_kind.get("count", []):
        counted = {"value": 1, "qualifier": "exact"}
        if "metric" in fields[name].fields:
            counted["metric"] = "monthly_active_users"
        for case, given in COUNT_CASES.items():
            if first["count"] or case in SHALLOW_FIELDS["count"]:
                cases.setdefault(f"count_{case}", {})[name] = {**counted, **given}
    for case, values in CODE_CASES.items():
        if first["code"] or case in SHALLOW_FIELDS["code"]:
            cases[f"code_{case}"] = {n: values[field_kind(fields[n])] for n in codes}
    return {case: body for case, body in cases.items() if body}


def encode(body: dict) -> bytes:
    """JSON, with the one number json.dumps cannot write as such: 1e400."""
    return json.dumps(body).replace('"1e400"', "1e400").encode()


@pytest.mark.parametrize(
    ("resource", "case"),
    [
        pytest.param(resource, case, id=f"{resource}-{case}")
        for resource in sorted(PATCHES)
        for case in field_cases(resource)
    ],
)
def test_a_hostile_field_value(curator_client, resource, case):
    """Fields given values they must refuse: a 400 naming each field (or the part of it at
    fault), and nothing changes."""
    op, body = PATCHES[resource], field_cases(resource)[case]
    before = snapshot()
    response = curator_client.patch(op.path() + "?reason=hostile", encode(body), content_type=JSON)
    record(op.template, f"PATCH {case}: {', '.join(body)}", response)
    check(response, 400)
    named = {error["attr"].split(".")[0] for error in response.json()["errors"]}
    assert named == set(body)
    assert snapshot() == before


@pytest.mark.parametrize("resource", sorted(PATCHES))
def test_odd_text_in_free_text_fields_is_kept_as_given(curator_client, resource):
    """Free text takes any text: SQL, shell and HTML metacharacters, direction overrides,
    joiners, combining marks and emoji are stored and served back exactly; so does a text
    without a length limit (a description) of 100,000 characters."""
    op, fields = PATCHES[resource], write_fields(resource)
    body = {
        name: ODD[: field.max_length].strip()
        for name, field in fields.items()
        if field_kind(field) == "text"
    }
    unlimited = [name for name in body if fields[name].max_length is None]
    body[unlimited[0]] = ("\U0001f600" + "x" * 9) * 10_000  # 100,000 characters
    response = curator_client.patch(op.path() + "?reason=hostile", body, format="json")
    record(op.template, f"PATCH odd text: {', '.join(body)}", response)
    check(response, 200)
    served = curator_client.get(op.path()).json()
    assert {name: served[name] for name in body} == body


# --- Routes outside the schema ----------------------------------------------------------------

PROBE_ROUTES = {"/healthz", "/readyz"}
OTHER_CASES = ["unknown_parameter", "method", "head", "accept_xml", "credentials_not_text"]


@pytest.mark.parametrize(
    ("route", "case"),
    [
        pytest.param(route, case, id=f"{route}-{case}")
        for route in OTHER_ROUTES
        for case in OTHER_CASES
    ],
)
def test_a_route_outside_the_schema(anonymous, wsgi_app, route, case):
    """The API root, the schema, its documentation and the probes meet hostile requests as
    the resources do. The probes answer JSON whatever the Accept header, and take no
    credentials."""
    if case == "unknown_parameter":
        response = anonymous.get(f"{route}?bogus={wire(UNKNOWN)}&lang=xx")
        record(route, case, response)
        check(response, 400, {"bogus", "lang"})
    elif case == "method":
        for method in ("POST", "PUT", "DELETE", "TRACE", "FOO"):
            response = anonymous.generic(method, route)
            record(route, method, response)
            check(response, 405, {None}, "method_not_allowed")
    elif case == "head":
        response = anonymous.head(route)
        record(route, "HEAD", response)
        check(response, 200)
    elif case == "accept_xml":
        response = anonymous.get(route, HTTP_ACCEPT="application/xml")
        record(route, "Accept: application/xml", response)
        if route in PROBE_ROUTES:
            check(response, 200)
            assert response["Content-Type"].startswith("application/json")
        else:
            check(response, 406, {None}, "not_acceptable")
    else:
        response = wsgi_request(wsgi_app, "GET", route, HTTP_AUTHORIZATION=NOT_UTF8_TOKEN)
        record(route, "Authorization not UTF-8", response)
        if route in PROBE_ROUTES:
            check(response, 200)
        else:
            check(response, 401, {None}, "authentication_failed")


@pytest.mark.parametrize("op", [op for op in READS if op.kind != "feed"], ids=str)
def test_a_format_suffix_in_the_path(anonymous, op):
    """A format suffix the API does not serve is a path that does not exist: a JSON 404."""
    for suffix, status in ((".xml", 404), (".JSON", 404), (".json", 200)):
        path = op.path().removesuffix("/") + suffix
        response = anonymous.get(path)
        record(op.template, f"suffix {suffix}", response)
        check(response, status, {None} if status == 404 else None)


def test_the_root_redirects_whatever_it_is_sent(anonymous):
    for query in ("", f"?x={wire(UNKNOWN)}", "?%ff=%00"):
        response = anonymous.get("/" + query)
        record("/", f"GET {query or '(no query)'}", response)
        assert response.status_code == 302
        assert response["Location"] == "/api/v1/"


def test_the_documentation_does_not_reflect_its_parameters(anonymous):
    """Whatever a documentation page does with a parameter, it does not write it into its
    HTML unescaped."""
    payload = '"></script><script>alert(1)</script>'
    for route in ("/api/docs/", "/api/redoc/"):
        response = anonymous.get(f"{route}?lang={wire(payload)}&version={wire(payload)}")
        record(route, "a script in the parameters", response)
        assert response.status_code in (200, 400)
        assert b"<script>alert(1)" not in response.content


@pytest.mark.parametrize(
    "op", [op for op in READS if "publication_status" in op.parameters], ids=str
)
def test_publication_status_given_past_its_max_items(curator_client, op):
    """Every read refuses a repeatable parameter given more often than its maxItems."""
    most = op.parameters["publication_status"]["maxItems"]
    query = "&".join(["publication_status=published"] * (most + 1))
    response = curator_client.get(f"{op.path()}?{query}")
    check(response, 400, {"publication_status"})
