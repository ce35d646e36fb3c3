"""``manage.py generate_synthetic``: a large synthetic dataset for benchmarks (see
``cryptogroups.synthetic`` and docs/synthetic-data.md)."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from cryptogroups.synthetic import Plan, SyntheticDataExists, generate


class Command(BaseCommand):
    help = (
        "Generate a synthetic dataset for benchmarks: N groups and, in proportion, platforms, "
        "organisations, sources, exchanges, exchange responses, regulatory actions, "
        "availabilities, migrations and citations, all published. The same N and seed give "
        "the same rows. Every slug starts with 'synthetic-' and every description says the "
        "record is synthetic. Loaded with COPY on PostgreSQL (bulk_create elsewhere) in one "
        "transaction, without signals: no history and no changes-feed entries are written; "
        "the dataset version is moved forward once. Refuses to run when synthetic rows exist, "
        "unless --replace."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--groups",
            type=int,
            default=1_000_000,
            help="Number of groups; the other tables are sized from it (default 1000000).",
        )
        parser.add_argument(
            "--seed", type=int, default=1, help="Seed of the generator (default 1)."
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="Delete the synthetic rows already there (and only them) before loading.",
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="Draw no progress bars on stderr."
        )

    def handle(self, *args, groups: int, seed: int, replace: bool, **options) -> None:
        if groups < 1:
            raise CommandError("--groups must be at least 1.")
        verbosity = options["verbosity"]
        progress = None
        if verbosity > 0 and not options["no_progress"]:
            progress = options.get("stderr") or sys.stderr
        try:
            summary = generate(groups=groups, seed=seed, replace=replace, progress=progress)
        except SyntheticDataExists as error:
            raise CommandError(str(error)) from None
        if verbosity == 0:
            return
        plan = Plan.for_groups(groups)
        self.stdout.write(f"Synthetic dataset: {plan.groups:,} groups, seed {seed}.")
        if summary.deleted:
            self.stdout.write(f"Deleted {summary.deleted:,} rows of the previous one.")
        width = max(len(model._meta.db_table) for model in summary.counts)
        for model, count in summary.counts.items():
            self.stdout.write(f"  {model._meta.db_table:<{width}}  {count:>12,}")
        total = sum(summary.counts.values())
        self.stdout.write(self.style.SUCCESS(f"Loaded {total:,} rows in {summary.seconds:.1f} s."))
