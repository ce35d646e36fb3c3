"""Groups (communities on platforms) and their migrations between platforms."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Q

from cryptogroups.choices import Affiliation, GroupStatus, GroupType

from .base import (
    CheckedModel,
    Record,
    RecordQuerySet,
    approximate_count,
    approximate_count_constraints,
    choice_constraint,
    language_constraint,
    language_field,
    partial_date,
    partial_date_constraints,
    track_history,
)


class GroupQuerySet(RecordQuerySet):
    # A million groups: a migration's groups are looked up by key.
    looked_up_by_key = True
    public_flag = "is_public"

    def public(self) -> GroupQuerySet:
        """The public groups, read from the flag the domain keeps (cryptogroups.visibility)."""
        return self.filter(**{self.public_flag: True})


class Group(Record):
    """A community on a platform (group, channel or room), or an aggregate of several.

    An aggregate stands for groups the sources count but do not name ("at least 30 groups");
    its ``aggregate_count`` says how many.
    """

    name = models.CharField(
        max_length=200, help_text="The group's name, or a descriptive label if it has none."
    )
    platform = models.ForeignKey(
        "cryptogroups.Platform",
        on_delete=models.PROTECT,
        related_name="groups",
        help_text="The platform that hosts it.",
    )
    group_type = models.CharField(
        max_length=7, choices=GroupType.choices, help_text="Group, channel or room."
    )
    language = language_field(help_text="Main language of its members, if cited.")
    is_aggregate = models.BooleanField(
        default=False, help_text="True when the record stands for several unnamed groups."
    )
    aggregate_count, aggregate_count_qualifier = approximate_count(
        "aggregate_count", what="How many groups an aggregate stands for"
    )
    member_count, member_count_qualifier = approximate_count(
        "member_count", what="Number of members"
    )
    member_count_as_of_date, member_count_as_of_precision, member_count_as_of_qualifier = (
        partial_date("member_count_as_of", what="Date the member count refers to")
    )
    status = models.CharField(
        max_length=9,
        choices=GroupStatus.choices,
        default=GroupStatus.UNKNOWN,
        help_text="Whether the group is active, disbanded or migrated, as of the status date.",
    )
    status_as_of_date, status_as_of_precision, status_as_of_qualifier = partial_date(
        "status_as_of", what="Date the status was last confirmed"
    )
    exchanges = models.ManyToManyField(
        "cryptogroups.Exchange",
        through="GroupExchange",
        blank=True,
        related_name="groups",
        help_text="Exchanges the group is about or is run for.",
    )
    description = models.TextField(blank=True, help_text="A short, cited description.")

    #: The fields of the API representation a citation can name (see Citation.field_name).
    cited_fields = (
        "name",
        "platform",
        "group_type",
        "language",
        "is_aggregate",
        "aggregate_count",
        "member_count",
        "status",
        "status_as_of",
        "exchanges",
        "description",
    )

    is_public = models.BooleanField(
        default=False,
        editable=False,
        help_text="Whether the public API serves the group: kept from the rule of "
        "Record.objects.public() by cryptogroups.visibility.",
    )

    history = track_history(excluded_fields=["is_public"])

    objects = GroupQuerySet.as_manager()

    def clean(self) -> None:
        """A group a migration names stays on the platform the migration names it on."""
        super().clean()
        if self.pk is None or self.platform_id is None:
            return
        for end in ("from", "to"):
            moved = Migration._default_manager.filter(**{f"{end}_group": self.pk}).exclude(
                **{f"{end}_platform": self.platform_id}
            )
            if moved.exists():
                raise ValidationError(
                    {
                        "platform": f"The migration '{moved.first()}' names this group on its "
                        f"{end}_platform; change the migration first."
                    }
                )

    class Meta:
        ordering = ["name", "slug"]
        # The list's order, alone and within a platform. On PostgreSQL they also carry what
        # the public filter reads, so that a page's ids come from the index alone, however
        # deep the page (other databases leave the included columns out).
        indexes = [
            models.Index(
                fields=["name", "slug"],
                include=["id", "publication_status", "platform"],
                name="group_order",
            ),
            models.Index(
                fields=["platform", "name", "slug"],
                include=["id", "publication_status"],
                name="group_platform_order",
            ),
            # The public list's orders, over the public groups alone.
            models.Index(
                fields=["name", "slug"],
                include=["id", "platform"],
                condition=Q(is_public=True),
                name="group_public_order",
            ),
            models.Index(
                fields=["platform", "name", "slug"],
                include=["id"],
                condition=Q(is_public=True),
                name="group_public_platform_order",
            ),
            # The public list by size, largest first (``ordering=-member_count``), has an index
            # on PostgreSQL alone (migration 0015: SQLite takes no NULLS LAST in an index).
            # Published groups the flag hides: what a platform becoming public shows.
            models.Index(
                fields=["platform"],
                condition=Q(is_public=False, publication_status="published"),
                name="group_hidden_published",
            ),
        ]
        constraints = [
            *Record.Meta.constraints,
            choice_constraint("group_type", GroupType),
            choice_constraint("status", GroupStatus),
            language_constraint("language"),
            *approximate_count_constraints("aggregate_count"),
            *approximate_count_constraints("member_count"),
            *partial_date_constraints("member_count_as_of"),
            *partial_date_constraints("status_as_of"),
            models.CheckConstraint(
                condition=Q(is_aggregate=True) | Q(aggregate_count__isnull=True),
                name="%(app_label)s_%(class)s_aggregate_count_only_for_aggregates",
            ),
        ]


class GroupExchange(CheckedModel):
    """Links a group to an exchange it is about, saying whether the exchange runs it."""

    group = models.ForeignKey(
        Group, on_delete=models.CASCADE, related_name="exchange_links", help_text="The group."
    )
    exchange = models.ForeignKey(
        "cryptogroups.Exchange",
        on_delete=models.PROTECT,
        related_name="group_links",
        help_text="The exchange.",
    )
    affiliation = models.CharField(
        max_length=10,
        choices=Affiliation.choices,
        default=Affiliation.UNKNOWN,
        help_text="Whether the exchange runs the group officially.",
    )

    history = track_history()

    class Meta:
        ordering = ["group", "exchange__name", "exchange__slug"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "exchange"], name="%(app_label)s_%(class)s_unique"
            ),
            choice_constraint("affiliation", Affiliation),
        ]

    def __str__(self) -> str:
        return f"{self.group} - {self.exchange} ({self.affiliation})"


class Migration(Record):
    """Members of groups moving from one platform to another (WeChat to Telegram, 2017-09)."""

    title = models.CharField(max_length=200, help_text="A short label for the movement.")
    from_platform = models.ForeignKey(
        "cryptogroups.Platform",
        on_delete=models.PROTECT,
        related_name="migrations_out",
        help_text="The platform people left.",
    )
    to_platform = models.ForeignKey(
        "cryptogroups.Platform",
        on_delete=models.PROTECT,
        related_name="migrations_in",
        help_text="The platform people moved to.",
    )
    from_group = models.ForeignKey(
        Group,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="migrations_out",
        help_text="The group people left, when a single one is known.",
    )
    to_group = models.ForeignKey(
        Group,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="migrations_in",
        help_text="The group people moved to, when a single one is known.",
    )
    started_date, started_precision, started_qualifier = partial_date(
        "started", what="When the movement started"
    )
    scale = models.CharField(
        max_length=300,
        blank=True,
        help_text="How many people moved, as the sources put it (often: no figures).",
    )
    drivers = models.ManyToManyField(
        "cryptogroups.RegulatoryAction",
        blank=True,
        related_name="migrations",
        help_text="The regulatory actions the sources give as reasons for the movement.",
    )
    description = models.TextField(blank=True, help_text="A short, cited description.")

    #: The fields of the API representation a citation can name (see Citation.field_name).
    cited_fields = (
        "title",
        "from_platform",
        "to_platform",
        "from_group",
        "to_group",
        "started",
        "scale",
        "drivers",
        "description",
    )

    history = track_history(m2m_fields=["drivers"])

    class Meta:
        ordering = [F("started_date").asc(nulls_last=True), "slug"]
        constraints = [
            *Record.Meta.constraints,
            *partial_date_constraints("started"),
            models.CheckConstraint(
                condition=~Q(from_platform=F("to_platform")),
                name="%(app_label)s_%(class)s_platforms_differ",
            ),
        ]

    def clean(self) -> None:
        """The groups named are on the platforms named: people leave ``from_group`` on
        ``from_platform`` and join ``to_group`` on ``to_platform``."""
        super().clean()
        errors = {}
        for end in ("from", "to"):
            group_id = getattr(self, f"{end}_group_id")
            platform_id = getattr(self, f"{end}_platform_id")
            if group_id is None or platform_id is None:
                continue
            on = Group._default_manager.filter(pk=group_id).values_list("platform", flat=True)
            if on.first() not in (None, platform_id):
                errors[f"{end}_group"] = (
                    f"This group is on another platform than {end}_platform; name a group on "
                    f"{end}_platform, or none."
                )
        if errors:
            raise ValidationError(errors)
