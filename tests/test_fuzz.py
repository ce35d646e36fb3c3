"""schemathesis runs every operation of the schema with all its checks, positive and negative
data alike, against the app in-process: no 500, and every response matches the schema. It
calls as users do: anonymously on every read, and as a curator who may delete and take down
on every operation, so that writes and curators' reads are fuzzed too (inside the test's
transaction, rolled back after it). tests/test_writes.py checks writes without credentials
and without the permission.

What schema-valid data may meet besides a 2xx is in schemathesis.toml, and narrowed here
(refusals_the_schema_cannot_express): a read's 400 must name only refusals the schema cannot
state (a slug filter naming no record, a feed cursor the feed did not give, a list's cursor the
list did not give or given with a page number), and a 401 must be an anonymous read of drafts.

The test suite runs 5 examples per operation and phase (a curator's accepted write re-renders
the records that embed the one written, so each costs tenths of a second at the curated
dataset's size); `make fuzz` runs more (FUZZ_EXAMPLES).

The coverage phase sends every value of every enum. Of the ISO 3166-2 subdivision codes (more
than 5,000, all accepted by one validator) it sends an evenly spaced sample of 50 (filter_case):
all of them would be 5,000 requests for each of the five operations that take one, nearly half
of the fuzz's time. tests/test_schema.py checks every code of the schema's code enums
against the validator the server applies, and the enums against the codes it accepts."""

from __future__ import annotations

import itertools
import os

import pytest
import schemathesis
from django.contrib.auth.models import Permission
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from knox.models import AuthToken
from schemathesis.generation.meta import CoveragePhaseData

from api import pagination
from api.filters import SUBDIVISION_CODES
from cryptogroups.codes import SLUG_PATTERN

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))

FUZZ_SETTINGS = settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

#: An enum longer than this is sampled in the coverage phase, SAMPLED_ENUM_VALUES values of it.
LARGE_ENUM = 1000
SAMPLED_ENUM_VALUES = 50


def large_enum_values(document: dict) -> tuple[set, set]:
    """The values of the schema's large enums, and the evenly spaced sample of them (the first
    and the last included) that the coverage phase sends."""
    values, sample = set(), set()
    for component in document["components"]["schemas"].values():
        enum = component.get("enum", [])
        if len(enum) > LARGE_ENUM:
            values.update(enum)
            step = -(-len(enum) // SAMPLED_ENUM_VALUES)
            sample.update(enum[::step], enum[-1:])
    return values, sample


LARGE_ENUM_VALUES, SAMPLED_LARGE_ENUM_VALUES = large_enum_values(schema.raw_schema)
UNSAMPLED_ENUM_VALUES = frozenset(LARGE_ENUM_VALUES - SAMPLED_LARGE_ENUM_VALUES)


@schema.hook
def filter_case(ctx, case) -> bool:
    """The coverage phase sends a large enum's value only if it is in the sample: as a query
    parameter, or as a body's property (the phase varies one property of a body at a time)."""
    if case.meta is None or not isinstance(case.meta.phase.data, CoveragePhaseData):
        return True
    body = case.body if isinstance(case.body, dict) else {}
    values = [*(case.query or {}).values(), *body.values()]
    return not any(
        isinstance(value, str) and value in UNSAMPLED_ENUM_VALUES for value in flatten(values)
    )


def flatten(values):
    for value in values:
        if isinstance(value, list):
            yield from value
        else:
            yield value


#: The one 400 of the changes feed that schema-valid data can meet: a cursor of the right shape
#: that the feed did not give.
FEED_CURSOR_REFUSAL = ("after", "invalid")
#: A list's cursor of the right shape that the list did not give (or gave for another order),
#: or a cursor given with a page number: a pattern cannot tell, nor OpenAPI exclude a pair.
PAGE_CURSOR_REFUSAL = (pagination.CURSOR_PARAMETER, "invalid")


def slug_filters(case) -> set[str]:
    """The query parameters of the operation that name records by slug (arrays of slugs)."""
    names = set()
    for parameter in case.operation.definition.raw.get("parameters", []):
        schema_ = parameter.get("schema", {})
        items = schema_.get("items", {}) if schema_.get("type") == "array" else {}
        if parameter["in"] == "query" and items.get("pattern") == SLUG_PATTERN:
            names.add(parameter["name"])
    return names


@schemathesis.check
def refusals_the_schema_cannot_express(ctx, response, case):
    """A read given schema-valid data is refused only for what the schema cannot state."""
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return None
    if case.method.upper() != "GET":
        return None
    if response.status_code == 400:
        refusals = {(error["attr"], error["code"]) for error in response.json()["errors"]}
        allowed = {(name, "invalid_choice") for name in slug_filters(case)}
        if case.operation.definition.raw["operationId"] == "changes_list":
            allowed.add(FEED_CURSOR_REFUSAL)
        parameters = case.operation.definition.raw.get("parameters", [])
        if any(p["name"] == pagination.CURSOR_PARAMETER for p in parameters):
            allowed.add(PAGE_CURSOR_REFUSAL)
        assert refusals <= allowed, f"A 400 the schema could have prevented: {refusals}"
    if response.status_code == 401:
        statuses = (case.query or {}).get("publication_status", [])
        statuses = [statuses] if isinstance(statuses, str) else statuses
        assert "Authorization" not in (case.headers or {}), "A 401 with a curator's token"
        assert set(statuses) - {"published"}, "A 401 for a read that asks for no draft"
    return None


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_read_conforms_to_the_schema_anonymously(case, wsgi_app):
    if case.operation.method.upper() != "GET":
        pytest.skip("A write without credentials is a 401 whatever its data (tests/test_writes.py)")
    case.call_and_validate(app=wsgi_app)


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation_conforms_to_the_schema_as_a_curator(case, wsgi_app, curator_token):
    case.call_and_validate(app=wsgi_app, headers={"Authorization": f"Token {curator_token}"})


@pytest.fixture
def curator_token(curator) -> str:
    """A curator who may also delete for good and take down, so that hard deletes and
    takedowns are fuzzed too."""
    curator.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="cryptogroups").filter(
            codename__startswith="delete_"
        ),
        Permission.objects.get(content_type__app_label="cryptogroups", codename="add_takedown"),
    )
    return AuthToken.objects.create(user=curator)[1]


def test_the_coverage_phase_samples_the_subdivision_codes_alone():
    """The one enum sampled is the ISO 3166-2 list, evenly, its first and last codes included."""
    assert set(SUBDIVISION_CODES) == LARGE_ENUM_VALUES
    assert SAMPLED_ENUM_VALUES <= len(SAMPLED_LARGE_ENUM_VALUES) <= SAMPLED_ENUM_VALUES + 1
    assert {SUBDIVISION_CODES[0], SUBDIVISION_CODES[-1]} <= SAMPLED_LARGE_ENUM_VALUES
    indexes = sorted(SUBDIVISION_CODES.index(code) for code in SAMPLED_LARGE_ENUM_VALUES)
    gaps = {b - a for a, b in itertools.pairwise(indexes)}
    assert max(gaps) <= -(-len(SUBDIVISION_CODES) // SAMPLED_ENUM_VALUES)
