"""The OpenAPI schema validates, documents exactly the parameters the API accepts, and its docs
are served without a CDN."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import resolve

from api.views import feed as feed_views

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
    assert pinned <= enums
    unpinned = enums - pinned
    # The rest are the error shapes' enums and the null marker, named by drf-standardized-errors.
    assert all(
        name.startswith(("Error", "Parse", "Validation", "Client", "Server", "Null"))
        for name in unpinned
    ), unpinned


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
