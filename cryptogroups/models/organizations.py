"""Organisations: authorities that issue actions, companies that operate platforms and exchanges."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q

from cryptogroups.choices import OrganizationType

from .base import (
    Record,
    choice_constraint,
    country_constraint,
    country_field,
    no_self_reference,
    refuse_cycle,
    track_history,
)

validate_wikidata_qid = RegexValidator(r"^Q[1-9][0-9]*$", "A Wikidata item id looks like Q42.")


def wikidata_field() -> models.CharField:
    return models.CharField(
        max_length=20,
        null=True,
        blank=True,
        unique=True,
        validators=[validate_wikidata_qid],
        help_text="Wikidata item id (for example Q42), when it has been checked; null otherwise.",
    )


def wikidata_constraint() -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(wikidata_qid__startswith="Q") | Q(wikidata_qid__isnull=True),
        name="%(app_label)s_%(class)s_wikidata_qid_format",
    )


class Organization(Record):
    """An authority, company or other body that issues actions or runs a platform or exchange."""

    name = models.CharField(max_length=200, help_text="Usual English name.")
    native_name = models.CharField(
        max_length=200, blank=True, help_text="Name in the organisation's own language, if known."
    )
    org_type = models.CharField(
        max_length=20, choices=OrganizationType.choices, help_text="What kind of body it is."
    )
    country = country_field(help_text="Country where it is based or whose authority it is.")
    hq_city = models.CharField(
        max_length=100, blank=True, help_text="City of its headquarters, if known."
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        help_text="The organisation this one belongs to, if any.",
    )
    website = models.URLField(max_length=300, blank=True, help_text="Official website, if cited.")
    wikidata_qid = wikidata_field()
    description = models.TextField(blank=True, help_text="A short, cited description.")

    #: The fields of the API representation a citation can name (see Citation.field_name).
    cited_fields = (
        "name",
        "native_name",
        "org_type",
        "country",
        "hq_city",
        "parent",
        "website",
        "wikidata_qid",
        "description",
    )

    history = track_history()

    class Meta:
        ordering = ["name", "slug"]
        constraints = [
            *Record.Meta.constraints,
            choice_constraint("org_type", OrganizationType),
            country_constraint("country"),
            wikidata_constraint(),
            no_self_reference("parent"),
        ]

    def clean(self) -> None:
        super().clean()
        refuse_cycle(self, "parent", "an organisation would belong to itself")
