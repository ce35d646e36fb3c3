"""The schema is an artifact: the committed copy is current, and no release of the same major
version loses what the previous one offered."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator

SCHEMA_DIR = Path(settings.BASE_DIR) / "schema"


@pytest.fixture(scope="module")
def generated() -> dict:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return json.loads(json.dumps(schema))  # plain types, as a client reads it


def load(name: str) -> dict:
    return yaml.safe_load((SCHEMA_DIR / name).read_text(encoding="utf-8"))


def surface(schema: dict) -> set[str]:
    """Everything a client can rely on, one line each."""
    lines = set()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            name = operation["operationId"]
            lines.add(f"operation {name} = {method.upper()} {path}")
            for parameter in operation.get("parameters", []):
                lines.add(f"parameter {name} {parameter['in']} {parameter['name']}")
            for status in operation["responses"]:
                lines.add(f"response {name} {status}")
    for component, definition in schema["components"]["schemas"].items():
        for field in definition.get("properties", {}):
            lines.add(f"field {component}.{field}")
        for field in definition.get("required", []):
            lines.add(f"required {component}.{field}")
        for value in definition.get("enum", []):
            lines.add(f"enum {component} {value!r}")
    return lines


def major(schema: dict) -> int:
    return int(schema["info"]["version"].split(".")[0])


def test_committed_schema_is_the_generated_one(generated):
    assert load("openapi.yaml") == generated, "schema/openapi.yaml is stale: run `make schema`"


def test_no_breaking_change_within_a_major_version(generated):
    baseline = load("baseline.yaml")
    assert major(generated) >= major(baseline)
    if major(generated) == major(baseline):
        removed = sorted(surface(baseline) - surface(generated))
        assert removed == [], (
            "These would break clients of version "
            f"{baseline['info']['version']}; keep them, or release a new major version."
        )


@pytest.mark.parametrize(
    "break_it",
    [
        lambda s: s["paths"].pop("/api/v1/groups/"),
        lambda s: s["paths"]["/api/v1/groups/"]["get"].__setitem__("operationId", "list_groups"),
        lambda s: s["paths"]["/api/v1/groups/"]["get"]["parameters"].pop(),
        lambda s: s["components"]["schemas"]["Group"]["properties"].pop("member_count"),
        lambda s: s["components"]["schemas"]["Group"]["required"].remove("language"),
        lambda s: s["components"]["schemas"]["ActionStatusEnum"]["enum"].remove("reported"),
        lambda s: s["paths"]["/api/v1/groups/{slug}/"]["get"]["responses"].pop("404"),
    ],
    ids=["operation", "operation-id", "parameter", "field", "required", "enum-value", "response"],
)
def test_the_breaking_change_check_sees_each_kind_of_break(generated, break_it):
    broken = copy.deepcopy(generated)
    break_it(broken)
    assert surface(generated) - surface(broken)
