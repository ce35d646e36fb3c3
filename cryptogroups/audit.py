"""The data audit: what a careful reader would find wrong with the dataset's sourcing.

``manage.py audit_dataset`` prints it and fails when it finds anything; the admin shows the
same report to curators. Each finding has a kind:

- ``uncited``: a record with no citation at all.
- ``field``: a citation that names no field of its record's API representation, or points at
  something that is not a cited record.
- ``not-in-text``: a quote marked verbatim that is not in the source's text (checked for the
  sources whose text is given to the audit).
- ``not-verbatim``: a citation of a source whose text is given that is not a verbatim quote:
  with the text at hand, there is no reason to paraphrase it.
- ``source-metadata``: a source without its publisher or language, without a publication
  date although it is not marked ``undated``, or a syndicated copy that names neither the
  original it reprints (``syndicated_from``) nor, when the original is not in the dataset, the
  wire service as its author.
- ``unchecked``: a citation never checked against its source's text.
- ``date-precision``: a date more precise than its citations allow, where that can be seen: a
  date no citation names, or a date to the day (or month) whose citations are all verbatim
  quotes naming no day (or no month).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.contrib.contenttypes.models import ContentType
from django.db import models as db_models

from . import models
from .choices import DatePrecision, SourceType
from .dataset import CITED_MODELS

KINDS = (
    "uncited",
    "field",
    "not-in-text",
    "not-verbatim",
    "source-metadata",
    "unchecked",
    "date-precision",
)


@dataclass(frozen=True)
class Finding:
    kind: str
    subject: str  # "<model> <slug>" or "citation <pk>" or "source <slug>"
    detail: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.subject}: {self.detail}"


def normalise(text: str) -> str:
    """Text compared as a reader would: typographic quotes and dashes as plain ones, white
    space folded."""
    table = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"'})
    table.update(str.maketrans({"\u2013": "-", "\u2014": "-", "\u00a0": " "}))
    return " ".join(text.translate(table).split())


def quote_in_text(quote: str, text: str) -> bool:
    """Whether every fragment of a quote (cut with "…" or "...") is in the text."""
    fragments = [normalise(part).strip(" .,;:") for part in re.split(r"…|\.\.\.", quote)]
    return all(fragment in text for fragment in fragments if fragment)


def audit(texts: dict[str, str] | None = None) -> list[Finding]:
    """Every finding, in a stable order. ``texts``: the full text of sources, by slug."""
    normalised = {slug: normalise(text) for slug, text in (texts or {}).items()}
    findings: list[Finding] = []
    findings.extend(uncited())
    citations = list(
        models.Citation.objects.select_related("source", "content_type").order_by("pk")
    )
    findings.extend(citation_findings(citations, normalised))
    findings.extend(source_findings())
    findings.extend(date_findings(citations))
    return findings


def label(record: db_models.Model) -> str:
    return f"{record._meta.model_name} {getattr(record, 'slug', record.pk)}"


def uncited() -> Iterator[Finding]:
    from .dataset import uncited_records

    for record in uncited_records():
        yield Finding("uncited", label(record), "has no citation")


def citation_findings(
    citations: Iterable[models.Citation], texts: dict[str, str]
) -> Iterator[Finding]:
    from django.core.exceptions import ValidationError

    from .models.sources import validate_citation_target

    for citation in citations:
        subject = f"citation {citation.pk}"
        try:
            validate_citation_target(citation.content_type, citation.object_id, citation.field_name)
        except ValidationError as error:
            yield Finding("field", subject, " ".join(error.messages))
        text = texts.get(citation.source.slug)
        if text is not None:
            if not citation.verbatim:
                yield Finding(
                    "not-verbatim",
                    subject,
                    f"the text of {citation.source.slug} is at hand, but the quote is not "
                    "marked verbatim",
                )
            elif not quote_in_text(citation.quote, text):
                yield Finding(
                    "not-in-text",
                    subject,
                    f"marked verbatim, but not found in the text of {citation.source.slug}: "
                    f"{citation.quote[:80]!r}",
                )
        if citation.checked_on is None:
            yield Finding(
                "unchecked",
                subject,
                f"never checked against the text of {citation.source.slug}",
            )


def source_findings() -> Iterator[Finding]:
    for source in models.Source.objects.order_by("slug"):
        missing = [
            name
            for name, value in (
                ("publisher", source.publisher),
                ("language", source.language),
                (
                    "published date (or undated, when the page shows none)",
                    source.published_date or source.undated,
                ),
            )
            if not value
        ]
        if (
            source.source_type == SourceType.WIRE_SYNDICATION
            and source.syndicated_from_id is None
            and not source.author
        ):
            missing.append("the original it reprints (syndicated_from, or the wire as author)")
        if missing:
            yield Finding("source-metadata", f"source {source.slug}", "no " + ", ".join(missing))


# --- Dates ---------------------------------------------------------------------------------

MONTH_NAMES = (
    "january|february|march|april|may|june|july|august|september|october|november|december|"
    "jan|feb|mar|apr|jun|jul|aug|sept?|oct|nov|dec"
)
#: Words that name a day without its number ("said on Thursday", "announced today").
DAY_WORDS = re.compile(
    r"\b(today|yesterday|tomorrow|tonight|monday|tuesday|wednesday|thursday|friday|saturday|"
    r"sunday)\b",
    re.IGNORECASE,
)
DAY = re.compile(r"(?<![\d.])(0?[1-9]|[12]\d|3[01])(st|nd|rd|th)?(?!\d)|\d{4}-\d{2}-\d{2}|日")
MONTH = re.compile(rf"\b({MONTH_NAMES})\b|\d{{4}}-\d{{2}}|月", re.IGNORECASE)


def says_a_day(quote: str) -> bool:
    return bool(DAY.search(quote) or DAY_WORDS.search(quote))


def says_a_month(quote: str) -> bool:
    return bool(MONTH.search(quote) or DAY_WORDS.search(quote))


def partial_dates(model: type[db_models.Model]) -> list[str]:
    """The API names of a model's partial dates (``announced`` for ``announced_date`` ...)."""
    names = []
    for field in model._meta.concrete_fields:
        if field.name.endswith("_precision"):
            prefix = field.name.removesuffix("_precision")
            if prefix in model.cited_fields:
                names.append(prefix)
    return names


def date_findings(citations: list[models.Citation]) -> Iterator[Finding]:
    by_field: dict[tuple[int, int, str | None], list[models.Citation]] = {}
    for citation in citations:
        key = (citation.content_type_id, citation.object_id, citation.field_name)
        by_field.setdefault(key, []).append(citation)
    for model in CITED_MODELS:
        names = partial_dates(model)
        if not names:
            continue
        content_type = ContentType.objects.get_for_model(model)
        for record in model._default_manager.order_by("pk"):
            for name in names:
                precision = getattr(record, f"{name}_precision")
                if precision is None:
                    continue
                cited = by_field.get((content_type.pk, record.pk, name), [])
                if not cited:
                    yield Finding("date-precision", label(record), f"{name}: no citation names it")
                    continue
                if not all(citation.verbatim for citation in cited):
                    continue  # a paraphrase cannot show what its source's words allow
                date = getattr(record, f"{name}_date")
                if any(dated_by_source(date, precision, c.source) for c in cited):
                    continue  # the source's own date ("as of this report")
                if precision == DatePrecision.DAY and not any(says_a_day(c.quote) for c in cited):
                    yield Finding(
                        "date-precision",
                        label(record),
                        f"{name}: given to the day, but no quote cited for it names a day",
                    )
                elif precision == DatePrecision.MONTH and not any(
                    says_a_month(c.quote) for c in cited
                ):
                    yield Finding(
                        "date-precision",
                        label(record),
                        f"{name}: given to the month, but no quote cited for it names a month",
                    )


def dated_by_source(date, precision: str, source: models.Source) -> bool:
    """Whether a date is the cited source's own publication date, at no finer precision."""
    published = source.published_date
    if published is None or source.published_precision is None:
        return False
    order = [DatePrecision.YEAR, DatePrecision.MONTH, DatePrecision.DAY]
    if order.index(precision) > order.index(source.published_precision):
        return False
    if precision == DatePrecision.DAY:
        return date == published
    if precision == DatePrecision.MONTH:
        return (date.year, date.month) == (published.year, published.month)
    return date.year == published.year
