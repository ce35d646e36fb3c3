"""Snapshots of the public dataset (``manage.py export_dataset`` and ``import_dataset``): a
snapshot imported into an empty database serves exactly what was exported, a snapshot plus the
changes feed from its cursor is the live dataset, and damaged snapshots and occupied databases
are refused."""

from __future__ import annotations

import csv
import datetime
import hashlib
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from api.changes import decode_cursor
from cryptogroups import feed, models
from tests import factories as f
from tests.conftest import token_client
from tests.test_changes import read_feed, replay, writes

# The module commits to the database: the curated dataset is put back after it.
pytestmark = pytest.mark.usefixtures("dataset_left_in_place")

RESOURCES = [
    "exchange-responses",
    "exchanges",
    "groups",
    "migrations",
    "organizations",
    "platform-availabilities",
    "platforms",
    "regulatory-actions",
    "sources",
]

#: Every table a record, a row shown inside one, or the changes feed lives in.
DOMAIN_MODELS = [
    models.Citation,
    models.GroupExchange,
    models.ActionIssuer,
    models.ActionTarget,
    models.Migration,
    models.Group,
    models.ExchangeResponse,
    models.PlatformAvailability,
    models.RegulatoryAction,
    models.Exchange,
    models.Platform,
    models.Organization,
    models.Source,
    models.Change,
    models.FeedState,
    models.PendingChange,
]

#: Table Schema types, and the Data Package name pattern (Frictionless Data, v1).
TABLE_TYPES = {"string", "integer", "number", "boolean", "date", "datetime", "array", "object"}
NAME = re.compile(r"^[a-z0-9._-]+$")


@pytest.fixture
def editor_api(curator):
    """A curator who may also delete for good."""
    curator.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="cryptogroups", codename__startswith="delete_"
        )
    )
    return token_client(curator)


# --- Helpers -----------------------------------------------------------------------------------


def export(directory: Path, **options) -> Path:
    call_command("export_dataset", str(directory), verbosity=0, **options)
    return directory


def package_of(directory: Path) -> dict:
    return json.loads((directory / "datapackage.json").read_text(encoding="utf-8"))


def records_of(directory: Path, resource: str) -> list[dict]:
    text = (directory / f"{resource}.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines()]


def snapshot_store(directory: Path) -> dict:
    return {
        (resource, record["slug"]): record
        for resource in RESOURCES
        for record in records_of(directory, resource)
    }


def list_slugs(client, resource: str) -> list[str]:
    """The slugs of every record a list serves, following every page."""
    slugs, url = [], f"/api/v1/{resource}/"
    while url:
        response = client.get(url)
        assert response.status_code == 200, response.content
        page = response.json()
        slugs += [record["slug"] for record in page["results"]]
        url = page["next"]
    return slugs


def live_details(client) -> dict:
    """Every public record as its detail endpoint serves it."""
    store = {}
    for resource in RESOURCES:
        for slug in list_slugs(client, resource):
            response = client.get(f"/api/v1/{resource}/{slug}/")
            assert response.status_code == 200, response.content
            store[(resource, slug)] = response.json()
    return store


def api_bodies(client) -> dict[str, bytes]:
    """The body of every list page (default page size) and every detail of every resource."""
    bodies: dict[str, bytes] = {}
    for resource in RESOURCES:
        url = f"/api/v1/{resource}/"
        while url:
            response = client.get(url)
            assert response.status_code == 200, response.content
            bodies[url] = response.content
            page = response.json()
            for record in page["results"]:
                detail = f"/api/v1/{resource}/{record['slug']}/"
                response = client.get(detail)
                assert response.status_code == 200, response.content
                bodies[detail] = response.content
            url = page["next"]
    return bodies


def empty_domain_tables() -> None:
    """Delete every record, every row shown inside one, and the changes feed, as if the
    database had just been migrated."""
    with transaction.atomic():
        models.RegulatoryAction.objects.update(supersedes=None)
        models.Organization.objects.update(parent=None)
        models.Source.objects.update(syndicated_from=None)
        for model in DOMAIN_MODELS:
            model.objects.all().delete()
    assert all(not model.objects.exists() for model in DOMAIN_MODELS)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reseal(directory: Path) -> None:
    """Bring the descriptor's sizes and hashes and SHA256SUMS up to date after an edit, as
    someone making a snapshot by hand would."""
    package = package_of(directory)
    for resource in package["resources"]:
        path = directory / resource["path"]
        resource["bytes"] = path.stat().st_size
        resource["hash"] = f"sha256:{sha256(path)}"
    (directory / "datapackage.json").write_text(json.dumps(package, indent=2), encoding="utf-8")
    names = sorted(p.name for p in directory.iterdir() if p.name != "SHA256SUMS")
    lines = [f"{sha256(directory / name)}  {name}\n" for name in names]
    (directory / "SHA256SUMS").write_text("".join(lines), encoding="utf-8")


def flatten(value, prefix: str = "") -> dict[str, str]:
    """A record as the documented CSV row: nested objects' keys joined with "_", lists as
    compact JSON, null as an empty cell, booleans as true/false."""
    if isinstance(value, dict):
        cells: dict[str, str] = {}
        for key, inner in value.items():
            name = f"{prefix}_{key}" if prefix else key
            if isinstance(inner, dict):
                cells.update(flatten(inner, name))
            else:
                cells[name] = flatten(inner, name)[name]
        return cells
    if value is None:
        text = ""
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, list):
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    else:
        text = str(value)
    return {prefix: text}


# --- Round trip ----------------------------------------------------------------------------------


def add_records_that_refer_to_their_own_kind() -> None:
    """Records the curated dataset lacks: ones that point to a record of their own resource
    whose slug sorts after theirs, and a draft and a link to it that must not be exported."""
    parent = f.organization(slug="zz-parent-authority")
    child = f.organization(slug="aa-child-office", parent=parent)
    original = f.source(slug="zz-original-story")
    copy = f.source(slug="aa-syndicated-copy", syndicated_from=original)
    later = f.action(slug="aa-later-rule")
    earlier = f.action(slug="zz-earlier-rule")
    later.supersedes = earlier
    later.save()
    draft_exchange = f.exchange(slug="draft-exchange", publication_status="draft")
    group = models.Group.objects.get(slug="okcoin-telegram-group")
    models.GroupExchange.objects.create(group=group, exchange=draft_exchange)
    for record in (parent, child, later, earlier, draft_exchange):
        f.cite(record, source=copy)


def test_a_snapshot_imported_into_an_empty_database_serves_the_same_bodies(
    committed_dataset, tmp_path
):
    """Runs the commands as they run in production, outside any test transaction (on
    PostgreSQL the export reads one REPEATABLE READ snapshot)."""
    client = APIClient()
    add_records_that_refer_to_their_own_kind()
    before = api_bodies(client)
    assert "/api/v1/organizations/aa-child-office/" in before
    with CaptureQueriesContext(connection) as queries:
        export(tmp_path / "snapshot")
    if connection.vendor == "postgresql":
        assert any("REPEATABLE READ, READ ONLY" in query["sql"] for query in queries)

    empty_domain_tables()
    cache.clear()
    assert list_slugs(client, "organizations") == []
    call_command("import_dataset", str(tmp_path / "snapshot"), verbosity=0)
    cache.clear()
    after = api_bodies(client)

    assert sorted(after) == sorted(before)
    for url, body in before.items():
        assert after[url] == body, url
    assert not models.Exchange.objects.filter(slug="draft-exchange").exists()
    # The feed lists each record once, as created, and replays into what the API serves.
    entries, _ = read_feed(client)
    assert {entry["operation"] for entry in entries} == {"created"}
    details = {
        (match[1], match[2]): json.loads(body)
        for url, body in after.items()
        if (match := re.fullmatch(r"/api/v1/([a-z-]+)/([^/?]+)/", url))
    }
    assert len(details) == len(entries)
    assert replay(entries, {}) == details
    assert not models.PendingChange.objects.exists()
    # Each record's history says where it came from.
    child = models.Organization.objects.get(slug="aa-child-office")
    assert child.history.get().history_change_reason.startswith("Imported from a snapshot")


# --- Snapshot plus feed --------------------------------------------------------------------------


def test_the_snapshot_plus_the_feed_from_its_cursor_is_the_live_dataset(api, editor_api, tmp_path):
    directory = export(tmp_path / "snapshot", base_url="http://testserver")
    cursor = package_of(directory)["cryptogroups:feed_cursor"]
    store = snapshot_store(directory)
    assert store == live_details(api)

    for write in writes(editor_api):
        write()
    entries, _ = read_feed(api, after=cursor)
    replay(entries, store)

    live = live_details(api)
    assert store != snapshot_store(directory)  # the writes changed the dataset
    assert ("groups", "okcoin-tg") in live
    assert ("groups", "okcoin-telegram-group") not in live
    assert store == live


def test_changes_waiting_for_the_feed_are_in_it_before_the_snapshots_cursor(api, tmp_path):
    """A save outside the write API (the admin, a shell) reaches the feed after it commits;
    the export records it in the feed first, so that the cursor and the rows agree."""
    group = models.Group.objects.get(slug="huobi-telegram-group")
    group.name = "Huobi group, renamed"
    group.save()
    assert models.PendingChange.objects.exists()

    directory = export(tmp_path / "snapshot")
    feed.flush()  # what runs once the save's transaction commits

    cursor = package_of(directory)["cryptogroups:feed_cursor"]
    entries, through = read_feed(api, after=cursor)
    assert entries == []
    assert through == cursor
    exported = {r["slug"]: r for r in records_of(directory, "groups")}
    assert exported["huobi-telegram-group"]["name"] == "Huobi group, renamed"


def test_each_line_is_the_record_as_the_feed_last_gave_it(api, tmp_path):
    """Drafts and retracted records are left out; URLs are paths, as the feed stores them."""
    f.cite(f.organization(slug="draft-authority", publication_status="draft"))
    f.cite(f.organization(slug="retracted-authority", publication_status="retracted"))
    directory = export(tmp_path / "snapshot")

    latest: dict = {}
    for change in models.Change.objects.order_by("pk"):
        latest[(change.resource, change.slug)] = change.data
    for resource in RESOURCES:
        records = records_of(directory, resource)
        slugs = [record["slug"] for record in records]
        assert slugs == sorted(list_slugs(api, resource))
        for record in records:
            assert record == latest[(resource, record["slug"])]
            assert record["url"] == f"/api/v1/{resource}/{record['slug']}/"
    organizations = [r["slug"] for r in records_of(directory, "organizations")]
    assert "draft-authority" not in organizations
    assert "retracted-authority" not in organizations


# --- Refusals ------------------------------------------------------------------------------------


def change_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: change_a_byte(d / "groups.csv"), "groups.csv does not match"),
        (lambda d: change_a_byte(d / "sources.jsonl"), "sources.jsonl does not match"),
        (lambda d: (d / "platforms.jsonl").unlink(), "platforms.jsonl is missing"),
        (
            lambda d: (d / "datapackage.json").write_text(
                (d / "datapackage.json").read_text().replace('"created"', '"made"')
            ),
            "datapackage.json does not match",
        ),
        (lambda d: (d / "SHA256SUMS").unlink(), "SHA256SUMS is missing"),
        (
            lambda d: (d / "SHA256SUMS").write_text(
                "".join(
                    line + "\n"
                    for line in (d / "SHA256SUMS").read_text().splitlines()
                    if not line.endswith("exchanges.jsonl")
                )
            ),
            "does not cover",
        ),
    ],
    ids=["csv-byte", "jsonl-byte", "missing-file", "descriptor", "no-checksums", "unlisted-file"],
)
def test_a_damaged_snapshot_is_refused_before_anything_else(db, tmp_path, damage, message):
    directory = export(tmp_path / "snapshot")
    damage(directory)
    organizations, feed = models.Organization.objects.count(), models.Change.objects.count()

    # The database is not empty either: the checksums are checked first.
    with pytest.raises(CommandError, match=re.escape(message)):
        call_command("import_dataset", str(directory), verbosity=0)

    assert models.Organization.objects.count() == organizations
    assert models.Change.objects.count() == feed


@pytest.mark.parametrize(
    "leftover",
    [
        lambda: None,  # the whole curated dataset
        lambda: (empty_domain_tables(), f.source()),
        lambda: (
            empty_domain_tables(),
            models.Change.objects.create(resource="groups", slug="gone", operation="deleted"),
        ),
    ],
    ids=["dataset", "one-source", "feed-entry"],
)
def test_a_database_that_is_not_empty_is_refused(db, tmp_path, leftover):
    directory = export(tmp_path / "snapshot")
    leftover()
    counts = {model: model.objects.count() for model in DOMAIN_MODELS}

    with pytest.raises(CommandError, match="not empty"):
        call_command("import_dataset", str(directory), verbosity=0)

    assert {model: model.objects.count() for model in DOMAIN_MODELS} == counts


def test_an_import_that_fails_part_way_loads_nothing(db, tmp_path):
    """The last exchange refers to an organisation the snapshot does not hold: sources,
    organisations and the other exchanges are loaded before it is refused."""
    directory = export(tmp_path / "snapshot")
    records = records_of(directory, "exchanges")
    records[-1]["operator"] = {"slug": "no-such-organization"}
    (directory / "exchanges.jsonl").write_text(
        "".join(json.dumps(record) + "\n" for record in records), encoding="utf-8"
    )
    reseal(directory)
    empty_domain_tables()

    with pytest.raises(CommandError, match=f"exchanges/{records[-1]['slug']} is refused"):
        call_command("import_dataset", str(directory), verbosity=0)

    assert all(not model.objects.exists() for model in DOMAIN_MODELS)


def test_export_refuses_a_directory_in_use_and_a_base_url_with_a_path(db, tmp_path):
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "notes.txt").write_text("mine")
    with pytest.raises(CommandError, match="not an empty directory"):
        export(tmp_path / "used")
    assert [p.name for p in (tmp_path / "used").iterdir()] == ["notes.txt"]
    for base_url in ("https://example.org/api", "ftp://example.org", "example.org"):
        with pytest.raises(CommandError, match="Not a base URL"):
            export(tmp_path / "new", base_url=base_url)
    assert not (tmp_path / "new").exists()


# --- The files -----------------------------------------------------------------------------------


def test_the_descriptor_is_a_data_package_that_describes_every_file(db, tmp_path):
    directory = export(tmp_path / "snapshot")
    package = package_of(directory)

    assert package["profile"] == "data-package"
    assert NAME.match(package["name"])
    assert package["title"]
    assert [licence["name"] for licence in package["licenses"]] == ["CC-BY-4.0"]
    created = datetime.datetime.fromisoformat(package["created"])
    assert created.tzinfo is not None
    last = models.Change.objects.order_by("-pk").first()
    assert decode_cursor(package["cryptogroups:feed_cursor"]) == last.pk
    names = [resource["name"] for resource in package["resources"]]
    assert len(names) == len(set(names)) == 2 * len(RESOURCES)
    described = set()
    for resource in package["resources"]:
        assert NAME.match(resource["name"])
        path = directory / resource["path"]
        assert path.parent == directory
        assert resource["bytes"] == path.stat().st_size
        assert resource["hash"] == f"sha256:{sha256(path)}"
        assert resource["encoding"] == "utf-8"
        kind = {"jsonl": "application/jsonl", "csv": "text/csv"}
        assert resource["mediatype"] == kind[resource["format"]]
        assert path.suffix == f".{resource['format']}"
        described.add((resource["cryptogroups:resource"], resource["format"]))
        if resource["format"] == "csv":
            assert resource["profile"] == "tabular-data-resource"
            fields = resource["schema"]["fields"]
            assert {field["type"] for field in fields} <= TABLE_TYPES
            assert resource["schema"]["primaryKey"] == ["slug"]
            assert "slug" in [field["name"] for field in fields]
    assert described == {(r, kind) for r in RESOURCES for kind in ("jsonl", "csv")}

    listed = {
        line.split("  ", 1)[1]: line.split("  ", 1)[0]
        for line in (directory / "SHA256SUMS").read_text().splitlines()
    }
    files = {path.name for path in directory.iterdir()} - {"SHA256SUMS"}
    assert set(listed) == files == {r["path"] for r in package["resources"]} | {"datapackage.json"}
    assert all(listed[name] == sha256(directory / name) for name in files)
    if shutil.which("sha256sum"):
        subprocess.run(["sha256sum", "--check", "--quiet", "SHA256SUMS"], cwd=directory, check=True)


def cell_fits(value: str, field: dict) -> bool:
    """Whether a CSV cell is a value of its Table Schema field (an empty cell is null)."""
    if value == "":
        return True
    kind = field["type"]
    if "enum" in field.get("constraints", {}) and value not in field["constraints"]["enum"]:
        return False
    if kind == "integer":
        return re.fullmatch(r"-?[0-9]+", value) is not None
    if kind == "boolean":
        return value in ("true", "false")
    if kind == "date":
        return datetime.date.fromisoformat(value).isoformat() == value
    if kind == "datetime":
        return datetime.datetime.fromisoformat(value).tzinfo is not None
    if kind == "array":
        return isinstance(json.loads(value), list)
    if field.get("format") == "uri":
        return re.match(r"^https?://", value) is not None
    return kind == "string"


def test_each_csv_has_the_columns_its_schema_declares_and_the_records_flattened(db, tmp_path):
    directory = export(tmp_path / "snapshot")
    tables = {
        r["cryptogroups:resource"]: r for r in package_of(directory)["resources"] if "schema" in r
    }
    for resource in RESOURCES:
        fields = tables[resource]["schema"]["fields"]
        text = (directory / f"{resource}.csv").read_bytes().decode("utf-8")
        assert text.endswith("\r\n")
        rows = list(csv.reader(io.StringIO(text, newline="")))
        header, rows = rows[0], rows[1:]
        assert header == [field["name"] for field in fields]
        records = records_of(directory, resource)
        assert len(rows) == len(records)
        for row, record in zip(rows, records, strict=True):
            cells = dict(zip(header, row, strict=True))
            for field in fields:
                assert cell_fits(cells[field["name"]], field), (resource, field, cells)
            # Every value of the record is in its column; columns of a null object are empty.
            flat = flatten(record)
            null_objects = {name for name in flat if name not in header}
            for name in null_objects:  # its columns are <name>_<key>, all empty
                assert flat[name] == ""
                assert any(column.startswith(f"{name}_") for column in header), name
            for column in set(header) - set(flat):
                assert any(column.startswith(f"{name}_") for name in null_objects), column
            assert cells == {name: flat.get(name, "") for name in header}
        slugs = [row[header.index("slug")] for row in rows]
        assert len(set(slugs)) == len(slugs)


def test_the_export_is_deterministic(db, tmp_path):
    first = export(tmp_path / "first")
    second = export(tmp_path / "second")

    files = sorted(path.name for path in first.iterdir())
    assert files == sorted(path.name for path in second.iterdir())
    for name in files:
        if name in ("datapackage.json", "SHA256SUMS"):
            continue
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    one, other = package_of(first), package_of(second)
    one.pop("created")
    other.pop("created")
    assert one == other
    for resource in RESOURCES:
        slugs = [record["slug"] for record in records_of(first, resource)]
        assert slugs == sorted(slugs)
        assert slugs
