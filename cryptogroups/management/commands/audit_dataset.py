"""``manage.py audit_dataset``: report what is wrong with the dataset's sourcing, and fail when
anything is (see cryptogroups.audit for what it looks for)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from cryptogroups import models
from cryptogroups.audit import KINDS, audit


def source_text(value: str) -> tuple[str, str]:
    """``SLUG=PATH``: the full text of a source, from a file or from every .txt file in a
    folder."""
    slug, sep, path = value.partition("=")
    if not sep or not slug or not path:
        raise CommandError(f"--source-text takes SLUG=PATH, not {value!r}.")
    location = Path(path)
    if location.is_dir():
        files = sorted(location.glob("*.txt"))
    elif location.is_file():
        files = [location]
    else:
        raise CommandError(f"--source-text {slug}: no file or folder at {path}.")
    if not files:
        raise CommandError(f"--source-text {slug}: no .txt file in {path}.")
    if not models.Source.objects.filter(slug=slug).exists():
        raise CommandError(f"--source-text: there is no source {slug!r}.")
    return slug, "\n".join(file.read_text(encoding="utf-8") for file in files)


class Command(BaseCommand):
    help = (
        "Audit the dataset's sourcing: records without citations, citations naming no API "
        "field, verbatim quotes not in their source's text, incomplete sources, unchecked "
        "citations and dates more precise than their citations. Exits 1 on any finding."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--source-text",
            action="append",
            default=[],
            metavar="SLUG=PATH",
            help="The full text of a source (a file, or a folder of .txt files), to check its "
            "quotes against. May be given several times.",
        )

    def handle(self, *args, **options) -> None:
        texts = dict(source_text(value) for value in options["source_text"])
        findings = audit(texts)
        for finding in findings:
            self.stdout.write(str(finding))
        counts = Counter(finding.kind for finding in findings)
        summary = ", ".join(f"{kind} {counts.get(kind, 0)}" for kind in KINDS)
        citations = models.Citation.objects.count()
        checked_texts = ", ".join(sorted(texts)) or "none"
        self.stdout.write(
            f"{len(findings)} finding(s) over {citations} citations ({summary}); "
            f"source texts checked: {checked_texts}."
        )
        if findings:
            raise CommandError(f"The audit found {len(findings)} problem(s).", returncode=1)
