"""``manage.py load_dataset``: load the curated fixtures, all or nothing, and record the load in
every record's history."""

from __future__ import annotations

import json

from django.apps import apps
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, transaction
from django.db.models.signals import post_save
from django.utils import timezone

from cryptogroups.dataset import fixture_paths, invalid_rows, uncited_records

REASON = "Loaded from the curated dataset (fixtures/)."


class Command(BaseCommand):
    help = (
        "Load the curated dataset from fixtures/ in one transaction, refuse it if any row breaks "
        "its model's validation or any record lacks a citation, and add an entry to the history "
        "of every record it loaded."
    )

    def handle(self, *args, **options) -> None:
        paths = fixture_paths()
        if not paths:
            raise CommandError("No fixture files found in fixtures/.")
        rows = [row for path in paths for row in json.loads(path.read_text(encoding="utf-8"))]
        started = timezone.now()
        with transaction.atomic():
            existing = {
                label: set(apps.get_model(label).objects.values_list("pk", flat=True))
                for label in {row["model"] for row in rows}
            }
            try:
                call_command("loaddata", *map(str, paths), verbosity=options["verbosity"])
            except DatabaseError as error:
                raise CommandError(f"A row breaks a rule of the database: {error}") from None
            invalid = list(invalid_rows(rows))
            if invalid:
                raise CommandError("Rows that break the data's rules:\n" + "\n".join(invalid))
            missing = [f"{type(r).__name__} {r.slug}" for r in uncited_records()]
            if missing:
                raise CommandError("Records without a citation: " + ", ".join(missing))
            self.record_history(rows, existing, started)
        self.stdout.write(self.style.SUCCESS(f"Loaded {len(paths)} fixture files."))

    def record_history(self, rows: list[dict], existing: dict[str, set], started) -> None:
        """loaddata saves raw rows, which django-simple-history does not record, except for
        many-to-many changes, which it records piecemeal. Replace those with one entry per
        loaded record, as its save would have made: created, or changed if it was there."""
        for label in {row["model"] for row in rows}:
            model = apps.get_model(label)
            model.history.filter(history_date__gte=started).delete()
            pks = [row["pk"] for row in rows if row["model"] == label]
            for instance in model.objects.filter(pk__in=pks):
                instance._change_reason = REASON
                post_save.send(
                    sender=model,
                    instance=instance,
                    created=instance.pk not in existing[label],
                    raw=False,
                    using=instance._state.db,
                    update_fields=None,
                )
