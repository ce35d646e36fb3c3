"""A Python client generated from the schema with openapi-python-client, used the way an SDK user
would: it pages through every list by number and by cursor, fetches every detail, filters, and
meets a 404 and a 400.

The client talks to the app in-process (WSGI), inside the test's transaction."""

from __future__ import annotations

import datetime
import importlib
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator

from cryptogroups import models

pytestmark = pytest.mark.django_db

CONFIG = Path(settings.BASE_DIR) / "sdk" / "python" / "config.yaml"

RESOURCES = {
    "exchange_responses": models.ExchangeResponse,
    "exchanges": models.Exchange,
    "groups": models.Group,
    "migrations": models.Migration,
    "organizations": models.Organization,
    "platform_availabilities": models.PlatformAvailability,
    "platforms": models.Platform,
    "regulatory_actions": models.RegulatoryAction,
    "sources": models.Source,
}


@pytest.fixture(scope="session")
def sdk(tmp_path_factory, django_db_setup, django_db_blocker):
    """Generate the client from the schema the app serves now, and import it."""
    workdir = tmp_path_factory.mktemp("sdk")
    with django_db_blocker.unblock():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    (workdir / "openapi.yaml").write_text(yaml.safe_dump(schema))
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(
        [
            Path(sys.executable).parent / "openapi-python-client",
            "generate",
            "--path",
            workdir / "openapi.yaml",
            "--config",
            CONFIG,
            "--output-path",
            workdir / "client",
            "--fail-on-warning",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr
    sys.path.insert(0, str(workdir / "client"))
    try:
        yield importlib.import_module("cryptogroups_client")
    finally:
        sys.path.remove(str(workdir / "client"))


@pytest.fixture
def client(sdk, wsgi_app):
    transport = httpx.WSGITransport(app=wsgi_app)
    return sdk.Client(base_url="http://testserver", httpx_args={"transport": transport})


def operation(name: str):
    resource, action = name.rsplit("_", 1)
    return importlib.import_module(f"cryptogroups_client.api.{resource}.{resource}_{action}")


@pytest.mark.parametrize("resource", RESOURCES)
def test_the_client_pages_through_every_list_and_fetches_every_detail(client, resource):
    list_operation, retrieve = operation(f"{resource}_list"), operation(f"{resource}_retrieve")
    seen, page_number = [], 1
    while True:
        page = list_operation.sync(client=client, page=page_number, page_size=7)
        seen += [record.slug for record in page.results]
        if page.next_ is None:
            break
        page_number += 1
    model = RESOURCES[resource]
    assert page.count == len(seen) == model.objects.count() > 0
    assert len(set(seen)) == len(seen)
    for slug in seen:
        record = retrieve.sync(client=client, slug=slug)
        assert record.slug == slug
        assert record.url.endswith(f"/{slug}/")


@pytest.mark.parametrize("resource", RESOURCES)
def test_the_client_crawls_every_list_by_cursor(client, resource):
    """A crawl passes 'start', then the cursor of each 'next' link, and sees each record once."""
    list_operation = operation(f"{resource}_list")
    seen, cursor = [], "start"
    while cursor is not None:
        page = list_operation.sync(client=client, cursor=cursor, page_size=7)
        seen += [record.slug for record in page.results]
        query = parse_qs(urlsplit(page.next_).query) if page.next_ else {}
        cursor = query["cursor"][0] if page.next_ else None
    model = RESOURCES[resource]
    assert page.count == len(seen) == len(set(seen)) == model.objects.count() > 0


def test_the_client_filters_groups_by_platform(client, sdk):
    groups = operation("groups_list").sync(client=client, platform=["telegram"], page_size=100)
    assert groups.count == models.Group.objects.filter(platform__slug="telegram").count() > 0
    assert {group.platform.slug for group in groups.results} == {"telegram"}


def test_the_client_filters_actions_by_jurisdiction_and_dates(client, sdk):
    actions = operation("regulatory_actions_list").sync(
        client=client,
        jurisdiction=sdk.models.CountryCodeEnum.CN,
        announced_after=datetime.date(2017, 9, 1),
        announced_before=datetime.date(2017, 9, 30),
        status=[sdk.models.ActionStatusEnum.IN_FORCE, sdk.models.ActionStatusEnum.ANNOUNCED],
    )
    assert actions.count > 0
    for action in actions.results:
        assert action.jurisdiction == "CN"
        assert action.status in {"in_force", "announced"}
        assert datetime.date(2017, 9, 1) <= action.announced.date <= datetime.date(2017, 9, 30)


def test_the_client_reads_partial_dates_counts_and_citations(client, sdk):
    group = operation("groups_retrieve").sync(client=client, slug="telegram-chinese-crypto-groups")
    assert group.aggregate_count.qualifier == sdk.models.CountQualifierEnum.AT_LEAST
    assert group.member_count.value == 1000
    assert group.citations
    assert all(c.support in set(sdk.models.SupportEnum) for c in group.citations)
    rules = operation("regulatory_actions_retrieve").sync(
        client=client, slug="cn-2017-group-chat-rules"
    )
    assert rules.effective.value == "2017-10-08"
    assert rules.effective.precision == sdk.models.DatePrecisionEnum.DAY


def test_the_client_receives_a_404(client, sdk):
    response = operation("exchanges_retrieve").sync_detailed(client=client, slug="no-such-exchange")
    assert response.status_code == 404
    assert isinstance(response.parsed, sdk.models.ClientErrorResponse)
    assert response.parsed.errors[0].code == "not_found"


def test_the_client_receives_a_400_naming_the_parameter(client, sdk):
    response = operation("groups_list").sync_detailed(client=client, page_size=1000)
    assert response.status_code == 400
    assert isinstance(response.parsed, sdk.models.ValidationErrorResponse)
    assert [error.attr for error in response.parsed.errors] == ["page_size"]
