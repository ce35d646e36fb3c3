"""Read serializers, one per resource, plus the small shapes they share.

Related records are embedded as summaries (slug, name or title, and API url). Partial dates and
approximate counts are objects, null when unknown. Every record lists its citations.
"""

from __future__ import annotations

import datetime

from rest_framework import serializers

from cryptogroups import choices, models


def partial_date_value(date: datetime.date, precision: str) -> str:
    """ISO 8601 at the known precision: ``2017``, ``2017-10`` or ``2017-10-08``."""
    if precision == choices.DatePrecision.YEAR:
        return f"{date.year:04d}"
    if precision == choices.DatePrecision.MONTH:
        return f"{date.year:04d}-{date.month:02d}"
    return date.isoformat()


# Class docstrings of serializers become the descriptions of their schema components: they
# speak to API users. Implementation notes go in comments.


class ReadSerializer(serializers.ModelSerializer):
    # Every field read-only: the API only reads, and the schema then marks every field as
    # always present in responses.

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.read_only = True
        return fields


def self_link(view_name: str) -> serializers.HyperlinkedIdentityField:
    return serializers.HyperlinkedIdentityField(
        view_name=view_name, lookup_field="slug", help_text="API URL of the record."
    )


class PartialDateSerializer(serializers.Serializer):
    """A date known to the day, month or year, with how it relates to the event; null when the
    date is unknown."""

    # Reads the record's ``<prefix>_date``, ``_precision`` and ``_qualifier`` fields.

    value = serializers.CharField(
        help_text="The date at its known precision, ISO 8601: YYYY, YYYY-MM or YYYY-MM-DD."
    )
    date = serializers.DateField(help_text="First day of the known period (YYYY-MM-DD).")
    precision = serializers.ChoiceField(
        choices=choices.DatePrecision.choices, help_text="How much of the date is known."
    )
    qualifier = serializers.ChoiceField(
        choices=choices.DateQualifier.choices,
        help_text="How the date relates to the event: exact, no_later_than, no_earlier_than or "
        "circa.",
    )

    def __init__(self, prefix: str = "", **kwargs):
        self.prefix = prefix
        kwargs.setdefault("source", "*")
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, instance):
        date = getattr(instance, f"{self.prefix}_date")
        if date is None:
            return None
        precision = getattr(instance, f"{self.prefix}_precision")
        return {
            "value": partial_date_value(date, precision),
            "date": date.isoformat(),
            "precision": precision,
            "qualifier": getattr(instance, f"{self.prefix}_qualifier"),
        }


class ApproximateCountSerializer(serializers.Serializer):
    """A count and how exact it is; null when there is no count."""

    value = serializers.IntegerField(min_value=0, help_text="The number.")
    qualifier = serializers.ChoiceField(
        choices=choices.CountQualifier.choices,
        help_text="How the number relates to the true count: exact, approx, at_least, more_than.",
    )

    def __init__(self, prefix: str = "", **kwargs):
        self.prefix = prefix
        kwargs.setdefault("source", "*")
        kwargs.setdefault("read_only", True)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def to_representation(self, instance):
        value = getattr(instance, self.prefix)
        if value is None:
            return None
        return {"value": value, "qualifier": getattr(instance, f"{self.prefix}_qualifier")}


class DatedCountSerializer(ApproximateCountSerializer):
    """A count, how exact it is, and the date it refers to; null when there is no count."""

    as_of = PartialDateSerializer(help_text="The date the count refers to, if known.")

    def to_representation(self, instance):
        represented = super().to_representation(instance)
        if represented is not None:
            represented["as_of"] = PartialDateSerializer(f"{self.prefix}_as_of").to_representation(
                instance
            )
        return represented


class UserCountSerializer(DatedCountSerializer):
    """A platform's user count, what it measures, and the date it refers to."""

    metric = serializers.ChoiceField(
        choices=choices.UserMetric.choices, help_text="What the count measures."
    )

    def to_representation(self, instance):
        represented = super().to_representation(instance)
        if represented is not None:
            represented["metric"] = instance.user_metric
        return represented


class SourceSummarySerializer(ReadSerializer):
    """A source in brief: slug, title, publisher, where it was read, and its API URL."""

    url = self_link("source-detail")
    document_url = serializers.URLField(source="url", help_text="Where the document was read.")

    class Meta:
        model = models.Source
        fields = ["slug", "title", "publisher", "document_url", "url"]


class CitationSerializer(ReadSerializer):
    """Evidence for a record, or one field of it: the source, a short quote, and whether the
    source states the fact, only implies it, or contradicts it."""

    source = SourceSummarySerializer(help_text="The source that supports the fact.")
    field = serializers.CharField(
        source="field_name",
        allow_null=True,
        help_text="The name of the field of this record's representation that the citation "
        "supports (for example `announced` or `issuers`); null when it supports the record as "
        "a whole. The names each resource takes are its `<Resource>CitedFieldEnum` (the same "
        "list a write's citations accept).",
    )

    source_text = serializers.ChoiceField(
        choices=choices.SourceText.choices,
        allow_null=True,
        help_text="What the check against the source's text found: `read` (the quote and the "
        "support were checked against it) or `not_found` (no copy of the text could be read; "
        "the note says what was searched); null while unchecked.",
    )

    class Meta:
        model = models.Citation
        fields = [
            "source",
            "field",
            "quote",
            "verbatim",
            "support",
            "locator",
            "note",
            "checked_on",
            "source_text",
        ]


def summary(model, view_name: str, label: str = "name") -> type[ReadSerializer]:
    """A small embedded shape of a related record: slug, name (or title) and API url."""
    meta = type("Meta", (), {"model": model, "fields": ["slug", label, "url"]})
    attributes = {
        "Meta": meta,
        "url": self_link(view_name),
        "__doc__": f"{model._meta.verbose_name.capitalize()} in brief (slug, {label} and API "
        "URL); the full record is at the URL.",
    }
    return type(f"{model.__name__}SummarySerializer", (ReadSerializer,), attributes)


OrganizationSummarySerializer = summary(models.Organization, "organization-detail")
PlatformSummarySerializer = summary(models.Platform, "platform-detail")
ExchangeSummarySerializer = summary(models.Exchange, "exchange-detail")
GroupSummarySerializer = summary(models.Group, "group-detail")
RegulatoryActionSummarySerializer = summary(
    models.RegulatoryAction, "regulatory-action-detail", label="title"
)


class RecordSerializer(ReadSerializer):
    # The fields every public record has. A subclass without a docstring describes its schema
    # component with its model's docstring.

    citations = CitationSerializer(many=True, help_text="The sources that support the record.")

    publication_status = serializers.ChoiceField(
        choices=choices.PublicationStatus.choices,
        help_text="Where the record is in the publishing workflow. The public API serves only "
        "published records; curators can ask for drafts and retracted ones.",
    )

    record_fields = ["slug", "url", "publication_status"]
    trailing_fields = ["citations", "created_at", "updated_at"]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__doc__" not in cls.__dict__ or cls.__doc__ is None:
            cls.__doc__ = cls.Meta.model.__doc__


class OrganizationSerializer(RecordSerializer):
    url = self_link("organization-detail")
    parent = OrganizationSummarySerializer(allow_null=True, help_text="The parent organisation.")

    class Meta:
        model = models.Organization
        fields = [
            *RecordSerializer.record_fields,
            "name",
            "native_name",
            "org_type",
            "country",
            "hq_city",
            "parent",
            "website",
            "wikidata_qid",
            "description",
            *RecordSerializer.trailing_fields,
        ]


class SourceSerializer(ReadSerializer):
    """A document facts are taken from: an article, an official text, a translation."""

    url = self_link("source-detail")
    document_url = serializers.URLField(source="url", help_text="Where the document was read.")
    published = PartialDateSerializer("published", help_text="Publication date, if known.")
    syndicated_from = SourceSummarySerializer(
        allow_null=True, help_text="The original story, if this is a syndicated copy."
    )

    class Meta:
        model = models.Source
        fields = [
            "slug",
            "url",
            "title",
            "publisher",
            "author",
            "document_url",
            "source_type",
            "language",
            "published",
            "undated",
            "syndicated_from",
            "notes",
            "created_at",
            "updated_at",
        ]


class AvailabilitySummarySerializer(ReadSerializer):
    """Where a platform is available, restricted or blocked, and over which period."""

    url = self_link("platform-availability-detail")
    since = PartialDateSerializer("since", help_text="Start of the period, if known.")
    until = PartialDateSerializer("until", help_text="End of the period; null while it lasts.")

    class Meta:
        model = models.PlatformAvailability
        fields = ["slug", "url", "jurisdiction", "status", "since", "until"]


class PlatformSerializer(RecordSerializer):
    url = self_link("platform-detail")
    operator = OrganizationSummarySerializer(allow_null=True, help_text="The operating company.")
    users = UserCountSerializer(
        "user_count", help_text="Number of users, what it measures and when; null if unknown."
    )
    availabilities = AvailabilitySummarySerializer(
        many=True, help_text="Where the platform is available, restricted or blocked."
    )

    class Meta:
        model = models.Platform
        fields = [
            *RecordSerializer.record_fields,
            "name",
            "platform_type",
            "operator",
            "origin_country",
            "encryption",
            "users",
            "website",
            "wikidata_qid",
            "availabilities",
            "description",
            *RecordSerializer.trailing_fields,
        ]


class PlatformAvailabilitySerializer(RecordSerializer):
    url = self_link("platform-availability-detail")
    platform = PlatformSummarySerializer(help_text="The platform concerned.")
    since = PartialDateSerializer("since", help_text="Start of the period, if known.")
    until = PartialDateSerializer("until", help_text="End of the period; null while it lasts.")

    class Meta:
        model = models.PlatformAvailability
        fields = [
            *RecordSerializer.record_fields,
            "platform",
            "jurisdiction",
            "status",
            "since",
            "until",
            "workaround",
            "description",
            *RecordSerializer.trailing_fields,
        ]


class ResponseSummarySerializer(ReadSerializer):
    """An exchange's response in brief: what it did and when."""

    url = self_link("exchange-response-detail")
    exchange = ExchangeSummarySerializer(help_text="The exchange that responded.")
    announced = PartialDateSerializer("announced", help_text="When it was announced.")
    effective = PartialDateSerializer("effective", help_text="When it took effect.")

    class Meta:
        model = models.ExchangeResponse
        fields = ["slug", "url", "exchange", "response_type", "announced", "effective"]


class ExchangeSerializer(RecordSerializer):
    url = self_link("exchange-detail")
    operator = OrganizationSummarySerializer(allow_null=True, help_text="The operating company.")
    founded = PartialDateSerializer("founded", help_text="Founding date, if known.")
    status_as_of = PartialDateSerializer(
        "status_as_of", help_text="When the status was last confirmed."
    )
    responses = ResponseSummarySerializer(
        many=True, help_text="What the exchange did in response to regulatory actions."
    )

    class Meta:
        model = models.Exchange
        fields = [
            *RecordSerializer.record_fields,
            "name",
            "native_name",
            "exchange_type",
            "operator",
            "country",
            "city",
            "founded",
            "status",
            "status_as_of",
            "website",
            "coingecko_id",
            "wikidata_qid",
            "responses",
            "description",
            *RecordSerializer.trailing_fields,
        ]


class ExchangeResponseSerializer(RecordSerializer):
    url = self_link("exchange-response-detail")
    exchange = ExchangeSummarySerializer(help_text="The exchange that responded.")
    actions = RegulatoryActionSummarySerializer(
        many=True, help_text="The regulatory actions it responded to."
    )
    announced = PartialDateSerializer("announced", help_text="When it was announced.")
    effective = PartialDateSerializer("effective", help_text="When it took effect.")

    class Meta:
        model = models.ExchangeResponse
        fields = [
            *RecordSerializer.record_fields,
            "exchange",
            "response_type",
            "actions",
            "jurisdiction",
            "announced",
            "effective",
            "description",
            *RecordSerializer.trailing_fields,
        ]


class LinkSerializer(ReadSerializer):
    # A link row shown as the summary of the record it links to (slug, name, url) followed by
    # the link's own fields.

    #: The link's foreign key to the record summarised, and that record's detail route.
    target: str
    view_name: str

    def get_fields(self):
        summary = {
            "slug": serializers.SlugField(
                source=f"{self.target}.slug", help_text=f"The {self.target}'s slug."
            ),
            "name": serializers.CharField(
                source=f"{self.target}.name", help_text=f"The {self.target}'s name."
            ),
            "url": serializers.HyperlinkedRelatedField(
                source=self.target,
                view_name=self.view_name,
                lookup_field="slug",
                read_only=True,
                help_text=f"API URL of the {self.target}.",
            ),
        }
        for field in summary.values():
            field.read_only = True
        return {**summary, **super().get_fields()}


class GroupExchangeSerializer(LinkSerializer):
    """An exchange a group is about, and whether the exchange runs the group."""

    target, view_name = "exchange", "exchange-detail"

    class Meta:
        model = models.GroupExchange
        fields = ["affiliation"]


class GroupSerializer(RecordSerializer):
    url = self_link("group-detail")
    platform = PlatformSummarySerializer(help_text="The hosting platform.")
    exchanges = GroupExchangeSerializer(
        source="exchange_links",
        many=True,
        help_text="Exchanges the group is about, and whether they run it.",
    )
    aggregate_count = ApproximateCountSerializer(
        "aggregate_count", help_text="For an aggregate, how many groups it stands for."
    )
    member_count = DatedCountSerializer(
        "member_count", help_text="Number of members and when; null if unknown."
    )
    status_as_of = PartialDateSerializer(
        "status_as_of", help_text="When the status was last confirmed."
    )

    class Meta:
        model = models.Group
        fields = [
            *RecordSerializer.record_fields,
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
            *RecordSerializer.trailing_fields,
        ]


class MigrationSerializer(RecordSerializer):
    url = self_link("migration-detail")
    from_platform = PlatformSummarySerializer(help_text="The platform people left.")
    to_platform = PlatformSummarySerializer(help_text="The platform people moved to.")
    from_group = GroupSummarySerializer(allow_null=True, help_text="The group left, if known.")
    to_group = GroupSummarySerializer(allow_null=True, help_text="The group joined, if known.")
    started = PartialDateSerializer("started", help_text="When the movement started.")
    drivers = RegulatoryActionSummarySerializer(
        many=True, help_text="Regulatory actions the sources give as reasons."
    )

    class Meta:
        model = models.Migration
        fields = [
            *RecordSerializer.record_fields,
            "title",
            "from_platform",
            "to_platform",
            "from_group",
            "to_group",
            "started",
            "scale",
            "drivers",
            "description",
            *RecordSerializer.trailing_fields,
        ]


class ActionIssuerSerializer(LinkSerializer):
    """An authority that issued the action, and its part in it."""

    target, view_name = "organization", "organization-detail"

    class Meta:
        model = models.ActionIssuer
        fields = ["role"]


class ActionTargetSerializer(ReadSerializer):
    """What an action applies to: one exchange, one platform, or a category of actors."""

    category = serializers.ChoiceField(
        choices=choices.TargetCategory.choices,
        allow_null=True,
        help_text="The category of actors targeted; null when a single exchange or platform is.",
    )
    exchange = ExchangeSummarySerializer(allow_null=True, help_text="The exchange, if named.")
    platform = PlatformSummarySerializer(allow_null=True, help_text="The platform, if named.")

    class Meta:
        model = models.ActionTarget
        fields = ["category", "exchange", "platform", "effect", "note"]


class RegulatoryActionSerializer(RecordSerializer):
    url = self_link("regulatory-action-detail")
    status_as_of = PartialDateSerializer(
        "status_as_of", help_text="When the status was last confirmed."
    )
    announced = PartialDateSerializer("announced", help_text="When it was announced or reported.")
    effective = PartialDateSerializer("effective", help_text="When it took effect.")
    issuers = ActionIssuerSerializer(
        source="issuer_links", many=True, help_text="The issuing authorities and their roles."
    )
    targets = ActionTargetSerializer(many=True, help_text="What the action applies to.")
    supersedes = RegulatoryActionSummarySerializer(
        allow_null=True, help_text="The earlier action this one replaces."
    )
    responses = ResponseSummarySerializer(
        many=True, help_text="Exchanges' responses to this action."
    )

    class Meta:
        model = models.RegulatoryAction
        fields = [
            *RecordSerializer.record_fields,
            "title",
            "official_title",
            "native_title",
            "document_number",
            "action_type",
            "status",
            "status_as_of",
            "jurisdiction",
            "subdivision",
            "announced",
            "effective",
            "issuers",
            "targets",
            "supersedes",
            "responses",
            "summary",
            *RecordSerializer.trailing_fields,
        ]
