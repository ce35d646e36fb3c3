"""``manage.py load_dataset``: load the curated fixtures, all or nothing."""

from __future__ import annotations

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from cryptogroups.dataset import fixture_paths, uncited_records


class Command(BaseCommand):
    help = (
        "Load the curated dataset from fixtures/ in one transaction, and refuse it if any "
        "record lacks a citation."
    )

    def handle(self, *args, **options) -> None:
        paths = fixture_paths()
        if not paths:
            raise CommandError("No fixture files found in fixtures/.")
        with transaction.atomic():
            call_command("loaddata", *map(str, paths), verbosity=options["verbosity"])
            missing = [f"{type(r).__name__} {r.slug}" for r in uncited_records()]
            if missing:
                raise CommandError("Records without a citation: " + ", ".join(missing))
        self.stdout.write(self.style.SUCCESS(f"Loaded {len(paths)} fixture files."))
