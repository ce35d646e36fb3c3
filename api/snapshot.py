"""Bulk snapshots of the public dataset: ``manage.py export_dataset`` and ``import_dataset``.

A snapshot is a directory (see docs/snapshots.md):

- ``<resource>.jsonl`` for each API resource: one line per public record, sorted by slug, each
  exactly the record's detail representation (the shape of the changes feed's ``data``);
- ``<resource>.csv``: the same records as a flat table (nested objects flattened into
  ``<field>_<key>`` columns, lists JSON-encoded in one cell);
- ``datapackage.json``: a Frictionless Data Package descriptor of those files, with the
  changes-feed cursor the snapshot matches (``cryptogroups:feed_cursor``);
- ``SHA256SUMS``: the SHA-256 of every other file, in the format ``sha256sum -c`` reads.

The export reads the feed's position and every record in one consistent snapshot of the
database. The import checks every checksum before it reads anything, refuses a database that
holds any record, and loads the records through the write API's serializers (records are
written in the shape they are read in) in one transaction, then brings the feed up to date.
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import inspect
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.db import connection, models, transaction
from django.db.models import Max
from rest_framework import relations, serializers

from cryptogroups import feed
from cryptogroups import models as domain
from cryptogroups.resources import LINK_MODELS, RESOURCE_MODELS, RESOURCES

from . import changes, representations

#: The descriptor and the checksum file of a snapshot.
DESCRIPTOR = "datapackage.json"
CHECKSUMS = "SHA256SUMS"

#: Properties of the descriptor that the Data Package specification leaves to the publisher.
CURSOR_PROPERTY = "cryptogroups:feed_cursor"
BASE_URL_PROPERTY = "cryptogroups:base_url"
RESOURCE_PROPERTY = "cryptogroups:resource"

PACKAGE_NAME = "cryptogroups"
PACKAGE_TITLE = "cryptogroups: crypto-currency communities, platforms, exchanges and regulation"
PACKAGE_DESCRIPTION = (
    "An open, curated and cited dataset of crypto-currency communities, the platforms and "
    "exchanges they use, and the regulatory actions that moved them: the public records of the "
    "cryptogroups API (/api/v1/), each with its citations."
)
LICENSES = [
    {
        "name": "CC-BY-4.0",
        "title": "Creative Commons Attribution 4.0 International",
        "path": "https://creativecommons.org/licenses/by/4.0/",
    }
]

#: Records represented per query batch.
BATCH = 500

#: How many times the export flushes the feed and tries again when it finds changes the feed
#: has not looked at yet.
SNAPSHOT_ATTEMPTS = 5

#: The models that must hold no row for an import: records, the rows shown inside them, and the
#: changes feed's tables.
IMPORT_EMPTY_MODELS: tuple[type[models.Model], ...] = (
    *RESOURCE_MODELS,
    *LINK_MODELS,
    domain.Change,
    domain.FeedState,
    domain.PendingChange,
    domain.PendingFanout,
)

_CHECKSUM_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


class SnapshotError(Exception):
    """A snapshot cannot be written or read; the message says why."""


# --- Resources -------------------------------------------------------------------------------


def resources() -> dict[str, type[models.Model]]:
    """The API's resources (as in /api/v1/<resource>/) and their models, sorted by name."""
    return dict(sorted((resource.path, model) for model, resource in RESOURCES.items()))


# --- The CSV table of a resource ---------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """A column of a resource's CSV: where its value is in the record, and its Table Schema."""

    name: str
    path: tuple[str, ...]
    type: str
    description: str
    format: str | None = None
    enum: tuple[str, ...] | None = None

    def schema(self) -> dict[str, Any]:
        field: dict[str, Any] = {"name": self.name, "type": self.type}
        if self.format:
            field["format"] = self.format
        field["description"] = self.description
        constraints: dict[str, Any] = {}
        if self.path == ("slug",):
            constraints.update(required=True, unique=True)
        if self.enum is not None:
            constraints["enum"] = list(self.enum)
        if constraints:
            field["constraints"] = constraints
        return field

    def cell(self, record: dict) -> str:
        """The column's cell for a record: empty for null, lists JSON-encoded."""
        value: Any = record
        for key in self.path:
            if value is None:
                break
            value = value[key]
        if value is None:
            return ""
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list | dict):
            return compact_json(value)
        return str(value)


def table_columns(serializer_class: type[serializers.Serializer]) -> list[Column]:
    """The CSV columns of a resource, from its read serializer: each scalar field a column,
    each nested object's fields flattened into ``<field>_<key>`` columns (recursively), each
    list one column holding its JSON."""
    columns = list(_columns(serializer_class(context={"request": None}), (), ""))
    names = [column.name for column in columns]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise SnapshotError(f"Flattened CSV columns collide: {', '.join(duplicates)}.")
    return columns


def _columns(serializer, path: tuple[str, ...], described: str) -> Iterator[Column]:
    for name, field in serializer.fields.items():
        here = (*path, name)
        description = " ".join(part for part in (described, str(field.help_text or "")) if part)
        if isinstance(field, serializers.ListSerializer | relations.ManyRelatedField):
            yield Column("_".join(here), here, "array", description)
        elif isinstance(field, serializers.BaseSerializer):
            yield from _columns(field, here, description)
        else:
            yield Column("_".join(here), here, description=description, **_table_type(field))


def _table_type(field: serializers.Field) -> dict[str, Any]:
    """A read field's Table Schema type, format and allowed values; an error for a field it
    does not know, so that a new kind of field gets a decision rather than a guess."""
    if isinstance(field, serializers.BooleanField):
        return {"type": "boolean"}
    if isinstance(field, serializers.IntegerField):
        return {"type": "integer"}
    if isinstance(field, serializers.DateTimeField):
        return {"type": "datetime"}
    if isinstance(field, serializers.DateField):
        return {"type": "date"}
    if isinstance(field, serializers.ChoiceField):
        return {"type": "string", "enum": tuple(str(choice) for choice in field.choices)}
    if isinstance(field, relations.HyperlinkedRelatedField):
        return {"type": "string"}  # an API URL: a path unless the export was given a base URL
    if isinstance(field, serializers.URLField):
        return {"type": "string", "format": "uri"}
    if isinstance(field, serializers.CharField):
        return {"type": "string"}
    raise SnapshotError(f"No Table Schema type for {field!r}.")


def table_schema(serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
    """The Table Schema of a resource's CSV."""
    return {
        "fields": [column.schema() for column in table_columns(serializer_class)],
        "primaryKey": ["slug"],
        "missingValues": [""],
    }


# --- Export ------------------------------------------------------------------------------------


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def check_base_url(base_url: str | None) -> str | None:
    """The base URL without its trailing slash: an http(s) origin, with no path."""
    if base_url is None:
        return None
    parts = urlsplit(base_url)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise SnapshotError(
            f"Not a base URL: {base_url!r}. Give the API's origin, such as https://example.org."
        )
    return f"{parts.scheme}://{parts.netloc}"


@contextmanager
def feed_snapshot() -> Iterator[int]:
    """A read of the database in which the data and the changes feed agree exactly; yields
    the position of the last feed entry it sees.

    Writers append to the feed under the dataset version's lock, so a consistent read of the
    database sees a prefix of the feed. Writers other than the write API append after they
    commit; until then their records wait in ``PendingChange``, and the records a change
    reaches along large relations wait for the feed worker (``PendingFanout``). A read that
    sees either is given up: the feed catches up and the read starts again. On PostgreSQL the read
    is one REPEATABLE READ, READ ONLY transaction (one snapshot for every query, and no lock
    that would hold writers up); SQLite's transactions already read one state of the file.
    Called inside a transaction (as in tests), it reads within that transaction.
    """
    for _attempt in range(SNAPSHOT_ATTEMPTS):
        feed.catch_up()
        outermost = not connection.in_atomic_block
        if outermost:
            connection.ensure_connection()
        with transaction.atomic():
            if outermost and connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            if not (domain.PendingChange.objects.exists() or domain.PendingFanout.objects.exists()):
                position = domain.Change.objects.aggregate(last=Max("pk"))["last"]
                yield position or 0
                return
    raise SnapshotError(
        "Changes keep arriving that the feed has not recorded yet; try the export again."
    )


def public_records(model: type[models.Model]) -> Iterator[dict]:
    """Every public record of a resource, as its detail endpoint serves it (API URLs relative
    to the host), sorted by slug (by code point, whatever the database's collation)."""
    plan = representations.viewset_of(model).plan()
    queryset = representations.public_queryset(model)
    keys = sorted(queryset.values_list("slug", "pk"))
    for batch in batched(keys, BATCH):
        rows = plan.rows(queryset.filter(pk__in=[pk for _slug, pk in batch]))
        built = {record["slug"]: record for record in plan.represent(rows, None)}
        for slug, _pk in batch:
            yield built[slug]


def batched(items: list, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_properties(path: Path) -> dict[str, Any]:
    return {"bytes": path.stat().st_size, "hash": f"sha256:{sha256_of(path)}"}


def write_resource(
    directory: Path, name: str, model: type[models.Model], base_url: str | None
) -> int:
    """Write ``<name>.jsonl`` and ``<name>.csv``; returns how many records they hold."""
    columns = table_columns(representations.viewset_of(model).serializer_class)
    count = 0
    with (
        (directory / f"{name}.jsonl").open("w", encoding="utf-8", newline="\n") as lines,
        (directory / f"{name}.csv").open("w", encoding="utf-8", newline="") as table,
    ):
        writer = csv.writer(table, lineterminator="\r\n")
        writer.writerow([column.name for column in columns])
        for record in public_records(model):
            if base_url is not None:
                record = representations.absolute_urls(record, lambda path: f"{base_url}{path}")
            lines.write(compact_json(record) + "\n")
            writer.writerow([column.cell(record) for column in columns])
            count += 1
    return count


def descriptor(
    directory: Path, names: Iterable[str], cursor: str, base_url: str | None, created: str
) -> dict[str, Any]:
    """The Data Package descriptor of the files written."""
    described = []
    for name in names:
        viewset = representations.viewset_of(resources()[name])
        summary = (inspect.getdoc(viewset) or "").split("\n\n")[0].replace("\n", " ")
        described.append(
            {
                "name": f"{name}-jsonl",
                "path": f"{name}.jsonl",
                "profile": "data-resource",
                "title": f"{name}: records as the API serves them",
                "description": f"{summary} One JSON object per line: the record's detail "
                f"representation at /api/v1/{name}/<slug>/, sorted by slug.",
                "format": "jsonl",
                "mediatype": "application/jsonl",
                "encoding": "utf-8",
                **file_properties(directory / f"{name}.jsonl"),
                RESOURCE_PROPERTY: name,
            }
        )
        described.append(
            {
                "name": f"{name}-csv",
                "path": f"{name}.csv",
                "profile": "tabular-data-resource",
                "title": f"{name}: flat table",
                "description": f"{summary} The records of {name}.jsonl, one row each: nested "
                "objects flattened into <field>_<key> columns, lists as JSON, null as an "
                "empty cell.",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                **file_properties(directory / f"{name}.csv"),
                "dialect": {
                    "delimiter": ",",
                    "lineTerminator": "\r\n",
                    "quoteChar": '"',
                    "doubleQuote": True,
                    "header": True,
                },
                "schema": table_schema(viewset.serializer_class),
                RESOURCE_PROPERTY: name,
            }
        )
    return {
        "profile": "data-package",
        "name": PACKAGE_NAME,
        "title": PACKAGE_TITLE,
        "description": PACKAGE_DESCRIPTION,
        "licenses": LICENSES,
        "created": created,
        CURSOR_PROPERTY: cursor,
        BASE_URL_PROPERTY: base_url,
        "resources": described,
    }


def write_checksums(directory: Path) -> None:
    names = sorted(path.name for path in directory.iterdir() if path.name != CHECKSUMS)
    text = "".join(f"{sha256_of(directory / name)}  {name}\n" for name in names)
    (directory / CHECKSUMS).write_text(text, encoding="utf-8", newline="\n")


@dataclass
class Exported:
    """What an export wrote."""

    directory: Path
    cursor: str
    counts: dict[str, int]


def export(directory: Path | str, *, base_url: str | None = None) -> Exported:
    """Write a snapshot of the public dataset into ``directory``, which must not exist or be
    empty. The files are written next to it and moved in place once complete."""
    target = Path(directory)
    base_url = check_base_url(base_url)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise SnapshotError(f"{target} exists and is not an empty directory.")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        counts = {}
        with feed_snapshot() as position:
            for name, model in resources().items():
                counts[name] = write_resource(staging, name, model, base_url)
        cursor = changes.encode_cursor(position)
        created = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        package = descriptor(
            staging, counts, cursor, base_url, created.isoformat().replace("+00:00", "Z")
        )
        (staging / DESCRIPTOR).write_text(
            json.dumps(package, ensure_ascii=False, indent=2) + "\n", encoding="utf-8", newline="\n"
        )
        write_checksums(staging)
        staging.chmod(0o755)
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return Exported(target, cursor, counts)


# --- Verification ------------------------------------------------------------------------------


def verify(directory: Path | str) -> dict[str, Any]:
    """Check a snapshot's files against ``SHA256SUMS`` and its descriptor; return the
    descriptor. Raises SnapshotError naming every file that is missing or does not match."""
    root = Path(directory)
    if not root.is_dir():
        raise SnapshotError(f"{root} is not a directory.")
    sums_path = root / CHECKSUMS
    if not sums_path.is_file():
        raise SnapshotError(f"{CHECKSUMS} is missing from {root}: the snapshot cannot be checked.")
    expected: dict[str, str] = {}
    for number, line in enumerate(sums_path.read_text(encoding="utf-8").splitlines(), 1):
        match = _CHECKSUM_LINE.match(line)
        if not match or not _plain_name(match[2]) or match[2] in expected:
            raise SnapshotError(f"{CHECKSUMS}, line {number}: not a checksum of a file here.")
        expected[match[2]] = match[1]
    problems = []
    if DESCRIPTOR not in expected:
        problems.append(f"{DESCRIPTOR} is not listed in {CHECKSUMS}")
    for name, digest in expected.items():
        path = root / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif sha256_of(path) != digest:
            problems.append(f"{name} does not match its checksum")
    if problems:
        raise SnapshotError("The snapshot is damaged: " + "; ".join(problems) + ".")
    try:
        package = json.loads((root / DESCRIPTOR).read_text(encoding="utf-8"))
    except ValueError as error:
        raise SnapshotError(f"{DESCRIPTOR} is not JSON: {error}") from None
    if not isinstance(package, dict) or not isinstance(package.get("resources"), list):
        raise SnapshotError(f"{DESCRIPTOR} is not a Data Package descriptor.")
    for resource in package["resources"]:
        path = resource.get("path") if isinstance(resource, dict) else None
        if path not in expected:
            raise SnapshotError(f"{DESCRIPTOR} names {path!r}, which {CHECKSUMS} does not cover.")
        if (
            resource.get("hash") != f"sha256:{expected[path]}"
            or resource.get("bytes") != (root / path).stat().st_size
        ):
            raise SnapshotError(f"{DESCRIPTOR} gives another size or hash for {path}.")
    return package


def _plain_name(name: str) -> bool:
    return name not in (".", "..") and "/" not in name and "\\" not in name


def read_records(directory: Path, package: dict[str, Any]) -> dict[str, list[dict]]:
    """The records of each API resource, from the snapshot's JSON Lines files."""
    paths = {
        resource.get(RESOURCE_PROPERTY): resource["path"]
        for resource in package["resources"]
        if resource.get("format") == "jsonl"
    }
    missing = [name for name in resources() if name not in paths]
    if missing:
        raise SnapshotError(f"The snapshot has no records file for {', '.join(missing)}.")
    records: dict[str, list[dict]] = {}
    for name in resources():
        records[name] = []
        with (directory / paths[name]).open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                try:
                    record = json.loads(line)
                except ValueError:
                    record = None
                if not isinstance(record, dict) or not isinstance(record.get("slug"), str):
                    raise SnapshotError(f"{paths[name]}, line {number}: not a record.")
                records[name].append(record)
    return records


# --- Import ------------------------------------------------------------------------------------


def write_serializer_of(model: type[models.Model]) -> type[serializers.Serializer]:
    return representations.viewset_of(model).write_serializer_class


def referenced_models(serializer) -> set[type[models.Model]]:
    """The models a write shape refers to by slug, nested lists included."""
    found: set[type[models.Model]] = set()
    for field in serializer.fields.values():
        if isinstance(field, relations.ManyRelatedField):
            found.add(field.child_relation.queryset.model)
        elif isinstance(field, relations.RelatedField):
            found.add(field.queryset.model)
        elif isinstance(field, serializers.ListSerializer):
            found |= referenced_models(field.child)
        elif isinstance(field, serializers.BaseSerializer):
            found |= referenced_models(field)
    return found


def import_order() -> list[str]:
    """The resources in an order where every record comes after the records of other
    resources it refers to."""
    names = resources()
    pending = {
        name: {other for other in referenced_models(write_serializer_of(model)()) if other != model}
        for name, model in names.items()
    }
    order: list[str] = []
    while pending:
        ready = [name for name, needs in pending.items() if not needs - {names[o] for o in order}]
        if not ready:
            raise SnapshotError("The resources refer to each other in a cycle.")
        order.append(ready[0])
        del pending[ready[0]]
    return order


def self_references(model: type[models.Model]) -> list[str]:
    """The fields by which a record refers to another record of its own resource."""
    serializer = write_serializer_of(model)()
    return [
        name
        for name, field in serializer.fields.items()
        if isinstance(field, relations.RelatedField) and field.queryset.model is model
    ]


def in_dependency_order(name: str, records: list[dict], fields: list[str]) -> list[dict]:
    """The records with each one after the record of its own resource it refers to (an
    organisation after its parent), otherwise in the order given."""
    by_slug = {record["slug"]: record for record in records}
    if len(by_slug) != len(records):
        raise SnapshotError(f"{name}: a slug appears twice.")
    ordered: list[dict] = []
    done: set[str] = set()
    for record in records:
        stack, on_stack = [record], {record["slug"]}
        while stack:
            current = stack[-1]
            if current["slug"] in done:
                stack.pop()
                continue
            waiting = [
                by_slug[slug]
                for slug in (referred_slug(current.get(field)) for field in fields)
                if slug in by_slug and slug not in done
            ]
            if not waiting:
                done.add(current["slug"])
                ordered.append(current)
                on_stack.discard(stack.pop()["slug"])
                continue
            if waiting[0]["slug"] in on_stack:
                raise SnapshotError(
                    f"{name}/{current['slug']}: the records refer to each other in a cycle."
                )
            stack.append(waiting[0])
            on_stack.add(waiting[0]["slug"])
    return ordered


def referred_slug(value: Any) -> str | None:
    """The slug of a related record as a read gives it (a summary object) or as a slug."""
    value = value.get("slug") if isinstance(value, dict) else value
    return value if isinstance(value, str) else None


def non_empty_tables() -> list[str]:
    return [
        model._meta.db_table for model in IMPORT_EMPTY_MODELS if model._default_manager.exists()
    ]


def timestamp(record: dict, field: str, where: str) -> datetime.datetime:
    try:
        value = datetime.datetime.fromisoformat(record[field])
    except (KeyError, TypeError, ValueError):
        value = None
    if value is None or value.tzinfo is None:
        raise SnapshotError(f"{where}: {field} is not a date and time with a time zone.")
    return value


def error_text(errors: Any) -> str:
    return json.dumps(errors, ensure_ascii=False, default=str)


def import_snapshot(directory: Path | str) -> dict[str, int]:
    """Load a snapshot into a database that holds no record, all or nothing; return how many
    records of each resource it loaded."""
    root = Path(directory)
    package = verify(root)
    records = read_records(root, package)
    created = str(package.get("created") or "")[:25]
    reason = f"Imported from a snapshot (datapackage.json created {created})."
    counts: dict[str, int] = {}
    with transaction.atomic():
        # The feed's ordering lock, which every write takes to append (see cryptogroups.feed).
        domain.DatasetVersion.objects.select_for_update().filter(pk=1).first()
        occupied = non_empty_tables()
        if occupied:
            raise SnapshotError(
                "The database is not empty (" + ", ".join(occupied) + "): a snapshot is "
                "imported only into a freshly migrated database."
            )
        for name in import_order():
            model = resources()[name]
            write_class = write_serializer_of(model)
            ordered = in_dependency_order(name, records[name], self_references(model))
            for record in ordered:
                where = f"{name}/{record['slug']}"
                serializer = write_class(data=record)
                if not serializer.is_valid():
                    raise SnapshotError(f"{where} is refused: {error_text(serializer.errors)}")
                serializer.save(
                    reason=reason,
                    created_at=timestamp(record, "created_at", where),
                    updated_at=timestamp(record, "updated_at", where),
                )
            counts[name] = len(ordered)
        feed.catch_up()
    return counts
