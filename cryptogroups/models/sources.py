"""Sources (the documents facts come from) and citations (which source supports which record)."""

from __future__ import annotations

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import Q

from cryptogroups.choices import SourceType, Support

from .base import (
    TimeStamped,
    choice_constraint,
    language_constraint,
    language_field,
    partial_date,
    partial_date_constraints,
    slug_constraint,
    track_history,
)


class Source(TimeStamped):
    """A document that facts are taken from: an article, an official text, a translation.

    Sources are not cited themselves; they are what citations point to. A syndicated copy points
    to the story it reprints through ``syndicated_from``.
    """

    slug = models.SlugField(
        max_length=100,
        unique=True,
        help_text="Stable identifier used in URLs: lower-case letters, digits and hyphens.",
    )
    title = models.CharField(max_length=300, help_text="Title of the document as published.")
    publisher = models.CharField(
        max_length=200, help_text="Who published this copy (newspaper, agency, website)."
    )
    author = models.CharField(
        max_length=200, blank=True, help_text="Author or wire service, if known; empty otherwise."
    )
    url = models.URLField(max_length=500, unique=True, help_text="Where the document was read.")
    source_type = models.CharField(
        max_length=20, choices=SourceType.choices, help_text="What kind of document this is."
    )
    language = language_field(help_text="Language the document is written in.", required=True)
    published_date, published_precision, published_qualifier = partial_date(
        "published", what="Publication date"
    )
    syndicated_from = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="syndicated_copies",
        help_text="The original story this document reprints, if it is a syndicated copy.",
    )
    notes = models.TextField(
        blank=True, help_text="Curators' remarks on the source: reliability, copies, caveats."
    )

    history = track_history()

    class Meta:
        ordering = ["slug"]
        constraints = [
            slug_constraint(),
            choice_constraint("source_type", SourceType),
            language_constraint("language"),
            *partial_date_constraints("published"),
            models.CheckConstraint(condition=~Q(url=""), name="%(app_label)s_%(class)s_url_set"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.publisher})"


class Citation(TimeStamped):
    """Evidence that a source supports a record, or one field of it, with a short quote."""

    source = models.ForeignKey(
        Source,
        on_delete=models.PROTECT,
        related_name="citations",
        help_text="The source that supports the fact.",
    )
    content_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, help_text="Kind of the cited record."
    )
    object_id = models.PositiveBigIntegerField(help_text="Primary key of the cited record.")
    record = GenericForeignKey("content_type", "object_id")
    field_name = models.CharField(  # noqa: DJ001 - null means "the record as a whole"
        max_length=50,
        null=True,
        blank=True,
        help_text="The field or relation of the record this citation supports; "
        "null when it supports the record as a whole.",
    )
    quote = models.CharField(
        max_length=500,
        help_text="The passage of the source that supports the fact (at most 500 characters): "
        "its exact words when verbatim is true, a close paraphrase otherwise.",
    )
    verbatim = models.BooleanField(
        default=True,
        help_text="True when the quote is the source's exact words; false for a paraphrase of a "
        "source whose text was not at hand.",
    )
    locator = models.CharField(
        max_length=100, blank=True, help_text="Where in the source the quote is, if useful."
    )
    support = models.CharField(
        max_length=11,
        choices=Support.choices,
        help_text="Whether the source states the fact, only implies it, or contradicts it.",
    )
    note = models.TextField(blank=True, help_text="Curators' remark on how the quote supports it.")

    history = track_history()

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["content_type", "object_id"])]
        constraints = [
            choice_constraint("support", Support),
            models.CheckConstraint(
                condition=~Q(quote=""), name="%(app_label)s_%(class)s_quote_set"
            ),
            models.CheckConstraint(
                condition=~Q(field_name=""), name="%(app_label)s_%(class)s_field_name_not_blank"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source} → {self.content_type.model} #{self.object_id}"

    def clean(self) -> None:
        super().clean()
        if self.content_type_id:
            validate_cited_field(self.content_type.model_class(), self.field_name)


def validate_cited_field(model: type[models.Model], field_name: str | None) -> None:
    """Refuse a citation of a field or relation the cited model does not have."""
    if not field_name:
        return
    try:
        model._meta.get_field(field_name)
    except FieldDoesNotExist:
        raise ValidationError(
            {"field_name": f"{model.__name__} has no field {field_name!r}."}
        ) from None
