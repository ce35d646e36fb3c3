"""Clients from the generators most SDK authors use, made from the schema the app serves with no
hand edit, and used against a live server the way their users would: openapi-generator's
`python` and `typescript-fetch` clients and @hey-api/openapi-ts's fetch client (with zod
checking every response against the schema). Each one pages through every list and the changes
feed, fetches every detail and its history, filters, reads a draft with a curator's token (and
is refused it without one), and meets a 400 and a 404, with no error reading any answer.

Each generator must print no warning (the few lines openapi-generator prints for any schema are
listed, with the reason, in sdk/generators/known-warnings.txt), and the TypeScript clients must
compile with `tsc --strict`.

The generators are pinned in tools/ (npm, and tools/requirements.txt for openapi-generator's
jar, which runs on Java 17). `make sdk-clients` installs them and runs this module (CI does);
without SDK_CLIENTS=1 in the environment it is skipped."""

from __future__ import annotations

import datetime
import importlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator
from knox.models import AuthToken

from cryptogroups import models

pytestmark = pytest.mark.skipif(
    not os.environ.get("SDK_CLIENTS"),
    reason="needs the pinned client generators: run `make sdk-clients`",
)

ROOT = Path(settings.BASE_DIR)
CONFIG = ROOT / "sdk" / "generators"
TOOLS = ROOT / "tools" / "node_modules" / ".bin"
OPENAPI_GENERATOR = Path(sys.executable).parent / "openapi-generator-cli"

#: Every resource, by its path, with its model.
RESOURCES = {
    "exchange-responses": models.ExchangeResponse,
    "exchanges": models.Exchange,
    "groups": models.Group,
    "migrations": models.Migration,
    "organizations": models.Organization,
    "platform-availabilities": models.PlatformAvailability,
    "platforms": models.Platform,
    "regulatory-actions": models.RegulatoryAction,
    "sources": models.Source,
}

DRAFT_SLUG = "sdk-draft-organization"


def known_warnings(generator: str) -> set[str]:
    lines = (CONFIG / "known-warnings.txt").read_text(encoding="utf-8").splitlines()
    return {
        line.split(": ", 1)[1]
        for line in lines
        if line.strip() and not line.startswith("#") and line.split(": ", 1)[0] == generator
    }


def run(command: list, **kwargs) -> str:
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=False, **kwargs
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def openapi_generator(schema: Path, generator: str, output: Path) -> list[str]:
    """Generate with openapi-generator; the warnings and errors it printed that are not known."""
    printed = run(
        [
            OPENAPI_GENERATOR,
            "generate",
            "-g",
            generator,
            "-i",
            schema,
            "-o",
            output,
            "-c",
            CONFIG / f"openapi-generator-{generator}.yaml",
        ]
    )
    known = known_warnings(generator)
    return [
        line
        for line in printed.splitlines()
        if (match := re.match(r"\[main\] (?:WARN|ERROR) +(.*)$", line)) and match[1] not in known
    ]


@pytest.fixture(scope="module")
def generated(tmp_path_factory, django_db_blocker) -> dict:
    """The three clients, generated from the schema the app serves now, and what each
    generator printed that is a warning."""
    workdir = tmp_path_factory.mktemp("generators")
    with django_db_blocker.unblock():
        schema = SchemaGenerator().get_schema(request=None, public=True)
    schema_path = workdir / "openapi.yaml"
    schema_path.write_text(yaml.safe_dump(schema), encoding="utf-8")
    typescript = workdir / "typescript"
    typescript.mkdir()
    warnings = {
        "python": openapi_generator(schema_path, "python", workdir / "python"),
        "typescript-fetch": openapi_generator(
            schema_path, "typescript-fetch", typescript / "generated" / "typescript-fetch"
        ),
    }
    printed = run(
        [TOOLS / "openapi-ts", "--no-log-file", "-f", CONFIG / "openapi-ts.config.mjs"],
        env={
            **os.environ,
            "OPENAPI_SCHEMA": str(schema_path),
            "OPENAPI_OUTPUT": str(typescript / "generated" / "hey-api"),
        },
    )
    warnings["hey-api"] = [
        line for line in printed.splitlines() if re.search(r"warn|error", line, re.IGNORECASE)
    ]
    for name in ("typescript-fetch.ts", "hey-api.ts", "tsconfig.json"):
        shutil.copy(CONFIG / name, typescript / name)
    (typescript / "node_modules").symlink_to(TOOLS.parent)  # zod, for the hey-api client
    compiled = subprocess.run(
        [TOOLS / "tsc", "-p", typescript], capture_output=True, text=True, check=False
    )
    return {
        "python": workdir / "python",
        "typescript": typescript,
        "warnings": warnings,
        "tsc": compiled.returncode,
        "tsc_output": compiled.stdout + compiled.stderr,
    }


def test_every_generator_runs_without_warnings(generated):
    assert generated["warnings"] == {"python": [], "typescript-fetch": [], "hey-api": []}


def test_the_typescript_clients_compile(generated):
    assert generated["tsc"] == 0, generated["tsc_output"]


@pytest.fixture
def server(committed_dataset, dataset_left_in_place, live_server, curator) -> dict:
    """A live server with the curated dataset, a draft organisation, and a curator's token."""
    models.Organization.objects.create(
        slug=DRAFT_SLUG, name="A draft organisation", org_type="company", publication_status="draft"
    )
    return {"url": live_server.url, "token": AuthToken.objects.create(user=curator)[1]}


def public_slugs() -> dict[str, list[str]]:
    """Each resource's public records, by slug."""
    slugs = {}
    for resource, model in RESOURCES.items():
        queryset = model.objects.public() if hasattr(model.objects, "public") else model.objects
        slugs[resource] = sorted(queryset.values_list("slug", flat=True))
    return slugs


def check_report(report: dict) -> None:
    """What a client saw is what the server holds, and it read every answer without error."""
    expected = public_slugs()
    assert report["errors"] == []
    assert {resource: sorted(seen["slugs"]) for resource, seen in report["lists"].items()} == (
        expected
    )
    assert {resource: seen["count"] for resource, seen in report["lists"].items()} == {
        resource: len(slugs) for resource, slugs in expected.items()
    }
    records = sum(len(slugs) for slugs in expected.values())
    assert report["details"] == report["histories"] == records
    assert report["changes"] == models.Change.objects.count() > 0
    assert report["telegram_groups"]
    assert set(report["telegram_groups"]) == {"telegram"}
    assert report["cn_actions"]
    for jurisdiction, announced in report["cn_actions"]:
        assert jurisdiction == "CN"
        assert "2017-09-01" <= announced[:10] <= "2017-09-30"
    assert DRAFT_SLUG in report["draft_organizations"]
    assert DRAFT_SLUG not in expected["organizations"]
    assert report["draft_detail"] == DRAFT_SLUG
    assert report["anonymous_draft_status"] == 401
    assert report["bad"] == [400, ["platform"]]
    assert report["missing"] == [404, ["not_found"]]


@pytest.mark.parametrize("client", ["typescript-fetch", "hey-api"])
def test_a_typescript_client_reads_the_whole_api(generated, server, client):
    assert generated["tsc"] == 0, generated["tsc_output"]
    result = subprocess.run(
        ["node", generated["typescript"] / "dist" / f"{client}.js"],
        env={
            **os.environ,
            "API_URL": server["url"],
            "CURATOR_TOKEN": server["token"],
            "DRAFT_SLUG": DRAFT_SLUG,
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    check_report(json.loads(result.stdout))


def test_the_python_client_reads_the_whole_api(generated, server):
    """openapi-generator's Python client validates every answer with pydantic as it reads it."""
    sys.path.insert(0, str(generated["python"]))
    try:
        client = importlib.import_module("cryptogroups_openapi")
        check_report(python_report(client, server))
    finally:
        sys.path.remove(str(generated["python"]))
        for name in [name for name in sys.modules if name.startswith("cryptogroups_openapi")]:
            del sys.modules[name]


def python_report(sdk, server: dict) -> dict:
    errors = importlib.import_module("cryptogroups_openapi.exceptions")
    anonymous = sdk.ApiClient(sdk.Configuration(host=server["url"]))
    curator = sdk.ApiClient(
        sdk.Configuration(
            host=server["url"],
            api_key={"knoxApiToken": server["token"]},
            api_key_prefix={"knoxApiToken": "Token"},
        )
    )
    report: dict = {"lists": {}, "details": 0, "histories": 0, "errors": []}

    def attempt(what: str, operation, **arguments):
        try:
            return operation(**arguments)
        except Exception as error:  # any failure to call or to read the answer is reported
            report["errors"].append(f"{what}: {type(error).__name__}: {error}")
            return None

    for resource in RESOURCES:
        stem = resource.replace("-", "_")
        api = getattr(sdk, "".join(part.title() for part in resource.split("-")) + "Api")(anonymous)
        slugs, count, page_number = [], -1, 1
        while True:
            page = attempt(
                f"{stem}_list {page_number}",
                getattr(api, f"{stem}_list"),
                page=page_number,
                page_size=25,
            )
            if page is None:
                break
            count = page.count
            slugs += [record.slug for record in page.results]
            if page.next is None:
                break
            page_number += 1
        report["lists"][resource] = {"count": count, "slugs": slugs}
        for slug in slugs:
            record = attempt(f"{stem}_retrieve {slug}", getattr(api, f"{stem}_retrieve"), slug=slug)
            if record is not None and record.slug == slug and record.url.endswith(f"/{slug}/"):
                report["details"] += 1
            history = attempt(
                f"{stem}_history_list {slug}",
                getattr(api, f"{stem}_history_list"),
                slug=slug,
                page_size=100,
            )
            if history is not None:
                report["histories"] += 1

    changes, after, report["changes"] = sdk.ChangesApi(anonymous), None, 0
    while True:
        page = attempt("changes_list", changes.changes_list, after=after, page_size=500)
        if page is None:
            break
        report["changes"] += len(page.results)
        after = page.complete_through
        if page.next is None:
            break

    groups = sdk.GroupsApi(anonymous).groups_list(platform=["telegram"], page_size=100)
    report["telegram_groups"] = [group.platform.slug for group in groups.results]
    actions = sdk.RegulatoryActionsApi(anonymous).regulatory_actions_list(
        jurisdiction=sdk.CountryCodeEnum.CN,
        announced_after=datetime.date(2017, 9, 1),
        announced_before=datetime.date(2017, 9, 30),
        page_size=100,
    )
    report["cn_actions"] = [
        [action.jurisdiction.value, action.announced.value] for action in actions.results
    ]
    draft = [sdk.PublicationStatusEnum.DRAFT]
    drafts = sdk.OrganizationsApi(curator).organizations_list(publication_status=draft)
    report["draft_organizations"] = [organization.slug for organization in drafts.results]
    report["draft_detail"] = (
        sdk.OrganizationsApi(curator)
        .organizations_retrieve(slug=DRAFT_SLUG, publication_status=draft)
        .slug
    )
    with pytest.raises(errors.UnauthorizedException) as refused:
        sdk.OrganizationsApi(anonymous).organizations_list(publication_status=draft)
    report["anonymous_draft_status"] = refused.value.status
    with pytest.raises(errors.BadRequestException) as bad:
        sdk.GroupsApi(anonymous).groups_list(platform=["no-such-platform"])
    assert isinstance(bad.value.data, sdk.ValidationErrorResponse)
    report["bad"] = [bad.value.status, [error.attr for error in bad.value.data.errors]]
    with pytest.raises(errors.NotFoundException) as missing:
        sdk.ExchangesApi(anonymous).exchanges_retrieve(slug="no-such-exchange")
    assert isinstance(missing.value.data, sdk.ClientErrorResponse)
    report["missing"] = [missing.value.status, [error.code for error in missing.value.data.errors]]
    return report
