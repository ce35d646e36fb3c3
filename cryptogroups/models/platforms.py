"""Platforms that host groups, and where they can be used."""

from __future__ import annotations

from django.db import models
from django.db.models import F

from cryptogroups.choices import AvailabilityStatus, Encryption, PlatformType, UserMetric

from .base import (
    Record,
    approximate_count,
    approximate_count_constraints,
    choice_constraint,
    country_constraint,
    country_field,
    partial_date,
    partial_date_constraints,
    track_history,
)
from .organizations import wikidata_constraint, wikidata_field


class Platform(Record):
    """A messaging or social service that hosts groups (WeChat, Telegram)."""

    name = models.CharField(max_length=100, unique=True, help_text="Name of the service.")
    platform_type = models.CharField(
        max_length=10, choices=PlatformType.choices, help_text="What kind of service it is."
    )
    operator = models.ForeignKey(
        "cryptogroups.Organization",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="platforms",
        help_text="The company that runs the service, if cited.",
    )
    origin_country = country_field(help_text="Country the service comes from, if cited.")
    encryption = models.CharField(
        max_length=21,
        choices=Encryption.choices,
        default=Encryption.UNKNOWN,
        help_text="How messages are encrypted, as far as the sources tell.",
    )
    user_count, user_count_qualifier = approximate_count("user_count", what="Number of users")
    user_metric = models.CharField(  # noqa: DJ001 - null together with user_count
        max_length=20,
        choices=UserMetric.choices,
        null=True,
        blank=True,
        help_text="What the user count measures; null when there is no count.",
    )
    user_count_as_of_date, user_count_as_of_precision, user_count_as_of_qualifier = partial_date(
        "user_count_as_of", what="Date the user count refers to"
    )
    website = models.URLField(max_length=300, blank=True, help_text="Official website, if cited.")
    wikidata_qid = wikidata_field()
    description = models.TextField(blank=True, help_text="A short, cited description.")

    #: The fields of the API representation a citation can name (see Citation.field_name).
    cited_fields = (
        "name",
        "platform_type",
        "operator",
        "origin_country",
        "encryption",
        "users",
        "website",
        "wikidata_qid",
        "description",
    )

    history = track_history()

    class Meta:
        ordering = ["name"]
        constraints = [
            *Record.Meta.constraints,
            choice_constraint("platform_type", PlatformType),
            choice_constraint("encryption", Encryption),
            choice_constraint("user_metric", UserMetric),
            country_constraint("origin_country"),
            wikidata_constraint(),
            *approximate_count_constraints("user_count"),
            models.CheckConstraint(
                condition=models.Q(user_count__isnull=True, user_metric__isnull=True)
                | models.Q(user_count__isnull=False, user_metric__isnull=False),
                name="%(app_label)s_%(class)s_user_metric_with_count",
            ),
            *partial_date_constraints("user_count_as_of"),
        ]


class PlatformAvailability(Record):
    """Whether a platform can be used in a jurisdiction, over a period (Telegram blocked in CN)."""

    platform = models.ForeignKey(
        Platform,
        on_delete=models.PROTECT,
        related_name="availabilities",
        help_text="The platform concerned.",
    )
    jurisdiction = country_field(help_text="Where the availability applies.", required=True)
    status = models.CharField(
        max_length=10,
        choices=AvailabilityStatus.choices,
        help_text="Available, restricted or blocked during the period.",
    )
    since_date, since_precision, since_qualifier = partial_date("since", what="Start of the period")
    until_date, until_precision, until_qualifier = partial_date("until", what="End of the period")
    workaround = models.CharField(
        max_length=300, blank=True, help_text="How users reach it anyway, if the sources say."
    )
    description = models.TextField(blank=True, help_text="A short, cited description.")

    #: The fields of the API representation a citation can name (see Citation.field_name).
    cited_fields = (
        "platform",
        "jurisdiction",
        "status",
        "since",
        "until",
        "workaround",
        "description",
    )

    history = track_history()

    class Meta:
        ordering = [F("since_date").asc(nulls_last=True), "slug"]
        verbose_name_plural = "platform availabilities"
        constraints = [
            *Record.Meta.constraints,
            choice_constraint("status", AvailabilityStatus),
            country_constraint("jurisdiction"),
            *partial_date_constraints("since"),
            *partial_date_constraints("until"),
            models.CheckConstraint(
                condition=models.Q(until_date__isnull=True)
                | models.Q(since_date__isnull=True)
                | models.Q(until_date__gte=models.F("since_date")),
                name="%(app_label)s_%(class)s_period_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.platform} in {self.jurisdiction}: {self.get_status_display()}"
