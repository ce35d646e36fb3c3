"""``manage.py export_dataset``: a snapshot of the public dataset (see api.snapshot
and docs/snapshots.md)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from api.snapshot import SnapshotError, export


class Command(BaseCommand):
    help = (
        "Write the public dataset into a new directory: per API resource a JSON Lines file "
        "(each line the record's detail representation) and a CSV file, a Frictionless Data "
        "Package descriptor (datapackage.json) with the changes-feed cursor the snapshot "
        "matches, and SHA256SUMS. Drafts and retracted records are never written."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "directory", help="Where to write the snapshot: a new or empty directory."
        )
        parser.add_argument(
            "--base-url",
            default=None,
            help="The API's origin (for example https://example.org): API URLs in the "
            "records are made absolute with it, as that server serves them. By default they "
            "are paths (/api/v1/groups/<slug>/), as the changes feed stores them.",
        )

    def handle(self, *args, directory: str, base_url: str | None, **options) -> None:
        try:
            exported = export(directory, base_url=base_url)
        except SnapshotError as error:
            raise CommandError(str(error)) from None
        if options["verbosity"] == 0:
            return
        for name, count in exported.counts.items():
            self.stdout.write(f"  {name:<24} {count:>9,}")
        total = sum(exported.counts.values())
        self.stdout.write(
            self.style.SUCCESS(
                f"Exported {total:,} records to {exported.directory}; feed cursor "
                f"{exported.cursor} (resume with GET /api/v1/changes/?after={exported.cursor})."
            )
        )
