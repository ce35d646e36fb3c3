"""schemathesis runs every operation of the schema with all its checks, positive and negative
data alike, against the app in-process: no 500, and every response matches the schema.

The test suite runs 30 examples per operation and phase; `make fuzz` runs more (FUZZ_EXAMPLES).
Settings shared with the command line are in schemathesis.toml."""

from __future__ import annotations

import os

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_conforms_to_the_schema(case, wsgi_app):
    case.call_and_validate(app=wsgi_app)
