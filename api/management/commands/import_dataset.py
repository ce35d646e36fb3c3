"""``manage.py import_dataset``: load a snapshot written by export_dataset into an empty
database (see api.snapshot and docs/snapshots.md)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from api.snapshot import SnapshotError, import_snapshot


class Command(BaseCommand):
    help = (
        "Load a snapshot written by export_dataset: check every file against SHA256SUMS "
        "first, refuse a database that holds any record, and load the records through the "
        "write API's validation in one transaction (all or nothing). The changes feed then "
        "lists every record loaded, as after load_dataset."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("directory", help="The snapshot's directory.")

    def handle(self, *args, directory: str, **options) -> None:
        try:
            counts = import_snapshot(directory)
        except SnapshotError as error:
            raise CommandError(str(error)) from None
        if options["verbosity"] == 0:
            return
        for name, count in counts.items():
            self.stdout.write(f"  {name:<24} {count:>9,}")
        total = sum(counts.values())
        self.stdout.write(self.style.SUCCESS(f"Imported {total:,} records from {directory}."))
