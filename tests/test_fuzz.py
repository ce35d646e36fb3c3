"""schemathesis runs every operation of the schema with all its checks, positive and negative
data alike, against the app in-process: no 500, and every response matches the schema. It
calls as a curator who may delete for good, so that writes and curators' reads are fuzzed
too (inside the test's transaction, rolled back after it); anonymous and unprivileged calls
have their own tests.

The test suite runs 5 examples per operation and phase (a curator's accepted write re-renders
the records that embed the one written, so each costs tenths of a second at the curated
dataset's size); `make fuzz` runs more (FUZZ_EXAMPLES).
Settings shared with the command line are in schemathesis.toml."""

from __future__ import annotations

import os

import pytest
import schemathesis
from django.contrib.auth.models import Permission
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, settings
from knox.models import AuthToken

pytestmark = pytest.mark.django_db

schema = schemathesis.openapi.from_dict(SchemaGenerator().get_schema(request=None, public=True))


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "5")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_conforms_to_the_schema(case, wsgi_app, curator_token):
    case.call_and_validate(app=wsgi_app, headers={"Authorization": f"Token {curator_token}"})


@pytest.fixture
def curator_token(curator) -> str:
    """A curator who may also delete for good, so that hard deletes are fuzzed too."""
    curator.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="cryptogroups", codename__startswith="delete_"
        )
    )
    return AuthToken.objects.create(user=curator)[1]
