"""Sources (the documents facts come from) and citations (which source supports which record)."""

from __future__ import annotations

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from cryptogroups.choices import SourceText, SourceType, Support

from .base import (
    TimeStamped,
    choice_constraint,
    language_constraint,
    language_field,
    no_self_reference,
    partial_date,
    partial_date_constraints,
    refuse_cycle,
    slug_constraint,
    track_history,
)

#: The models whose records are cited (content type model names): every kind of record.
CITED_MODEL_NAMES = (
    "organization",
    "platform",
    "platformavailability",
    "exchange",
    "exchangeresponse",
    "group",
    "migration",
    "regulatoryaction",
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
    undated = models.BooleanField(
        default=False,
        help_text="True when the document as read shows no publication date (the date is then "
        "empty); false when it shows one, which the publication date gives.",
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
            no_self_reference("syndicated_from"),
            models.CheckConstraint(
                condition=Q(undated=False) | Q(published_date__isnull=True),
                name="%(app_label)s_%(class)s_undated_has_no_date",
                violation_error_message="A source the page shows no date for has no publication "
                "date: clear the date, or untick undated.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.publisher})"

    def clean(self) -> None:
        super().clean()
        refuse_cycle(self, "syndicated_from", "a source would be a copy of itself")


class Citation(TimeStamped):
    """Evidence that a source supports a record, or one field of it, with a short quote."""

    source = models.ForeignKey(
        Source,
        on_delete=models.PROTECT,
        related_name="citations",
        help_text="The source that supports the fact.",
    )
    content_type = models.ForeignKey(
        ContentType,
        on_delete=models.PROTECT,
        limit_choices_to=Q(app_label="cryptogroups", model__in=CITED_MODEL_NAMES),
        help_text="Kind of the cited record.",
    )
    object_id = models.PositiveBigIntegerField(help_text="Primary key of the cited record.")
    record = GenericForeignKey("content_type", "object_id")
    field_name = models.CharField(  # noqa: DJ001 - null means "the record as a whole"
        max_length=50,
        null=True,
        blank=True,
        help_text="The field of the record's API representation this citation supports (for "
        "example 'announced' or 'issuers'); null when it supports the record as a whole.",
    )
    quote = models.CharField(
        max_length=500,
        help_text="The passage of the source that supports the fact (at most 500 characters): "
        "its exact words when verbatim is true, a close paraphrase otherwise.",
    )
    verbatim = models.BooleanField(
        help_text="True when the quote is the source's exact words, copied from its text; false "
        "for a close paraphrase. There is no default: whoever cites says which."
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
    checked_on = models.DateField(
        null=True,
        blank=True,
        help_text="When the quote and the support were last checked against the source's own "
        "text; null if they never were.",
    )
    source_text = models.CharField(  # noqa: DJ001 - null while the citation is unchecked
        max_length=9,
        choices=SourceText.choices,
        null=True,
        blank=True,
        help_text="What the check found: 'read' when the source's text was read and the quote "
        "checked against it; 'not_found' when no copy of the text could be read (the note says "
        "what was searched). Null while unchecked.",
    )

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
            choice_constraint("source_text", SourceText),
            models.CheckConstraint(
                condition=Q(checked_on__isnull=True, source_text__isnull=True)
                | Q(checked_on__isnull=False, source_text__isnull=False),
                name="%(app_label)s_%(class)s_checked_with_outcome",
                violation_error_message="A check has a date and an outcome, or neither.",
            ),
            models.CheckConstraint(
                # source_text IS NOT NULL: a CHECK passes on NULL, and an unchecked quote
                # must not.
                condition=Q(verbatim=False)
                | Q(source_text__isnull=False, source_text=SourceText.READ),
                name="%(app_label)s_%(class)s_verbatim_read",
                violation_error_message="A quote can be verbatim only when it was checked against "
                "the source's text (source_text 'read').",
            ),
        ]

    def __str__(self) -> str:
        record = self.record if self.content_type_id else None
        what = self.field_name or "the whole record"
        return f"{self.source.title} → {record or self.object_id} ({what})"

    def clean(self) -> None:
        super().clean()
        if self.content_type_id:
            validate_citation_target(self.content_type, self.object_id, self.field_name)
        stored = getattr(self, "_stored_target", None)
        if stored is not None and stored != (self.content_type_id, self.object_id):
            refuse_uncited_publication(*stored, without=self.pk)

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        # What the citation pointed at when read, to see a move away from it in clean().
        instance._stored_target = (instance.content_type_id, instance.object_id)
        return instance

    def delete(self, *args, **kwargs):
        refuse_uncited_publication(self.content_type_id, self.object_id, without=self.pk)
        return super().delete(*args, **kwargs)


def refuse_uncited_publication(
    content_type_id: int, object_id: int, *, without: int | list[int]
) -> None:
    """A published record keeps at least one citation, whatever takes one away from it (a
    deletion, or a citation moved to another record): refuse to take its last one (or, with
    a list, its last ones)."""
    from .base import Record

    model = ContentType.objects.get_for_id(content_type_id).model_class()
    if model is None or not issubclass(model, Record):
        return
    record = model._default_manager.filter(pk=object_id, publication_status="published").first()
    if record is None:
        return
    others = Citation.objects.filter(content_type_id=content_type_id, object_id=object_id)
    leaving = without if isinstance(without, list) else [without]
    if not others.exclude(pk__in=leaving).exists():
        raise ValidationError(
            f"{model._meta.verbose_name.capitalize()} '{record}' is published and this is its "
            "last citation: add another citation first, or retract the record."
        )


def cited_model(content_type: ContentType) -> type[models.Model]:
    """The model a content type names, if citations may point at it; a ValidationError else."""
    from .base import Record

    model = content_type.model_class()
    if model is None or not issubclass(model, Record) or model._meta.abstract:
        raise ValidationError(
            {
                "content_type": f"{content_type.app_label}.{content_type.model} records are not "
                "cited; a citation points at an organisation, platform, availability, exchange, "
                "exchange response, group, migration or regulatory action."
            }
        )
    return model


def validate_citation_target(
    content_type: ContentType, object_id: int | None, field_name: str | None
) -> None:
    """A citation points at an existing record of a cited model, and at one of the fields of
    its API representation (or at the whole record)."""
    model = cited_model(content_type)
    validate_cited_field(model, field_name)
    if object_id is not None and not model._default_manager.filter(pk=object_id).exists():
        raise ValidationError(
            {"object_id": f"There is no {model._meta.verbose_name} with id {object_id}."}
        )


def validate_cited_field(model: type[models.Model], field_name: str | None) -> None:
    """Refuse a citation of a field its record's API representation does not have."""
    if not field_name:
        return
    allowed = getattr(model, "cited_fields", ())
    if field_name not in allowed:
        raise ValidationError(
            {
                "field_name": f"{model.__name__} has no field {field_name!r} to cite; one of: "
                + ", ".join(allowed)
                + "."
            }
        )
