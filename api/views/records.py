"""The API's resources: one viewset each, over a queryset, a serializer, a FilterSet and the
fields users can search and sort by. Detail URLs use the record's slug."""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet
from django.utils.cache import patch_cache_control
from drf_spectacular.utils import extend_schema_view
from rest_framework import viewsets

from cryptogroups import models, published
from cryptogroups.codes import SLUG_PATTERN
from cryptogroups.models.base import Record, public_joined

from .. import filters, pagination, serializers
from ..schema import retrieve_schema, write_schema
from ..writes import JSONParser, write_serializer
from .conditional import ConditionalMixin, entity_tag
from .reads import ReadMixin
from .requests import COMMON_PARAMETERS, PUBLISHED, RequestChecksMixin
from .writes import WRITE_PARAMETERS, WriteMixin


def with_citations(queryset: QuerySet) -> QuerySet:
    """Prefetch a record's citations and their sources in one query per page."""
    return queryset.prefetch_related(
        Prefetch("citations", queryset=models.Citation.objects.select_related("source"))
    )


@extend_schema_view(retrieve=retrieve_schema)
class RecordViewSet(
    RequestChecksMixin, ReadMixin, WriteMixin, ConditionalMixin, viewsets.ModelViewSet
):
    """A resource that anyone reads and curators write. It answers 400 to any query parameter
    it does not know, to a repeated parameter that takes a single value, and to an empty
    value."""

    lookup_field = "slug"
    lookup_value_regex = SLUG_PATTERN.strip("^$")
    ordering_tie_breaker = "slug"
    http_method_names = ["get", "post", "put", "patch", "delete", "head", "options"]
    parser_classes = [JSONParser]

    #: The write shape (see api.writes), made from the read serializer.
    write_serializer_class: type

    #: The publication statuses the request reads (see requested_statuses).
    statuses: set[str] | frozenset[str] = frozenset({PUBLISHED})

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "serializer_class" in cls.__dict__:
            cls.write_serializer_class = write_serializer(cls.serializer_class)
            extend_schema_view(**write_schema(cls))(cls)

    @property
    def model(self):
        return self.queryset.model

    @property
    def has_workflow(self) -> bool:
        return issubclass(self.model, Record)

    def get_serializer_class(self):
        if self.action in ("create", "update", "partial_update"):
            return self.write_serializer_class
        return self.serializer_class

    def get_queryset(self) -> QuerySet:
        """What the request may see. By default what is public: published records whose
        related records are published. Curators who ask for other statuses get those; writes
        reach every record."""
        queryset = super().get_queryset()
        if not self.has_workflow or self.action in ("update", "partial_update", "destroy"):
            return queryset
        statuses = self.statuses
        if statuses == {PUBLISHED}:
            return queryset.public()
        return queryset.filter(publication_status__in=statuses)

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Checked once, before anything else is read; get_queryset() uses the answer.
        self.statuses = {PUBLISHED}
        if self.action in ("list", "retrieve", "history"):
            self.statuses = self.requested_statuses()
        if self.action == "list" and self.statuses == {PUBLISHED}:
            self.dataset_version = published.current_version()

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        self.validators(request, response)
        if self.digest_after_write is not None and response.status_code < 300:
            # The tag a GET of the record now gives, for the next If-Match (read when the
            # write finished, inside its transaction).
            response.headers["ETag"] = entity_tag(self.digest_after_write, "application/json")
        if "publication_status" in request.query_params or request.method not in (
            "GET",
            "HEAD",
        ):
            patch_cache_control(response, private=True)
        return response

    def allowed_query_parameters(self) -> dict[str, bool]:
        """Each parameter this action reads, and whether it may be repeated."""
        allowed = dict(COMMON_PARAMETERS)
        if self.action in ("create", "update", "partial_update", "destroy", "takedown"):
            allowed.update(WRITE_PARAMETERS)
            if self.action == "destroy":
                allowed["hard"] = False
            return allowed
        if self.has_workflow:
            allowed["publication_status"] = True
        if self.action == "history":
            allowed.update({self.paginator.page_query_param: False})
            allowed.update({self.paginator.page_size_query_param: False})
        if self.action != "list":
            return allowed
        allowed.update(filters.query_parameter_names(self.filterset_class))
        allowed.update({"search": False, "ordering": False, pagination.CURSOR_PARAMETER: False})
        allowed.update({self.paginator.page_query_param: False})
        allowed.update({self.paginator.page_size_query_param: False})
        return allowed


class OrganizationViewSet(RecordViewSet):
    """Authorities that issue regulatory actions and companies that operate platforms and
    exchanges."""

    queryset = with_citations(models.Organization.objects.select_related("parent"))
    serializer_class = serializers.OrganizationSerializer
    filterset_class = filters.OrganizationFilterSet
    search_fields = ["name", "native_name", "description"]
    ordering_fields = ["name", "slug", "country", "created_at", "updated_at"]
    ordering = ["name", "slug"]


class SourceViewSet(RecordViewSet):
    """The documents facts are taken from."""

    queryset = models.Source.objects.select_related("syndicated_from")
    serializer_class = serializers.SourceSerializer
    filterset_class = filters.SourceFilterSet
    search_fields = ["title", "publisher", "author", "notes"]
    ordering_fields = ["slug", "title", "publisher", "published_date", "created_at", "updated_at"]
    ordering = ["slug"]


class PlatformViewSet(RecordViewSet):
    """Messaging and social services that host groups, with where they are blocked."""

    queryset = with_citations(
        models.Platform.objects.select_related("operator").prefetch_related(
            Prefetch("availabilities", queryset=models.PlatformAvailability.objects.public())
        )
    )
    serializer_class = serializers.PlatformSerializer
    filterset_class = filters.PlatformFilterSet
    search_fields = ["name", "description"]
    ordering_fields = ["name", "slug", "user_count", "created_at", "updated_at"]
    ordering = ["name", "slug"]


class PlatformAvailabilityViewSet(RecordViewSet):
    """Whether a platform can be used in a jurisdiction, over a period."""

    queryset = with_citations(models.PlatformAvailability.objects.select_related("platform"))
    serializer_class = serializers.PlatformAvailabilitySerializer
    filterset_class = filters.PlatformAvailabilityFilterSet
    search_fields = ["platform__name", "workaround", "description"]
    ordering_fields = ["slug", "jurisdiction", "since_date", "created_at", "updated_at"]
    ordering = ["since_date", "slug"]


class ExchangeViewSet(RecordViewSet):
    """Crypto-currency trading venues and their responses to regulation."""

    queryset = with_citations(
        models.Exchange.objects.select_related("operator").prefetch_related(
            Prefetch(
                "responses",
                queryset=models.ExchangeResponse.objects.public().select_related("exchange"),
            )
        )
    )
    serializer_class = serializers.ExchangeSerializer
    filterset_class = filters.ExchangeFilterSet
    search_fields = ["name", "native_name", "city", "description"]
    ordering_fields = ["name", "slug", "country", "founded_date", "created_at", "updated_at"]
    ordering = ["name", "slug"]


class ExchangeResponseViewSet(RecordViewSet):
    """What exchanges did in answer to regulatory actions: halts, suspensions, closures."""

    queryset = with_citations(
        models.ExchangeResponse.objects.select_related("exchange").prefetch_related(
            Prefetch("actions", queryset=models.RegulatoryAction.objects.public())
        )
    )
    serializer_class = serializers.ExchangeResponseSerializer
    filterset_class = filters.ExchangeResponseFilterSet
    search_fields = ["exchange__name", "description"]
    ordering_fields = [
        "slug",
        "announced_date",
        "effective_date",
        "response_type",
        "created_at",
        "updated_at",
    ]
    ordering = ["effective_date", "slug"]


class GroupViewSet(RecordViewSet):
    """Communities on platforms, with the exchanges they are about."""

    queryset = with_citations(
        models.Group.objects.select_related("platform").prefetch_related(
            Prefetch(
                "exchange_links",
                # The exchanges of a page's groups are a few dozen: checked by key.
                queryset=models.GroupExchange.objects.filter(
                    public_joined(models.Exchange, "exchange")
                )
                .select_related("exchange")
                .order_by("exchange__name", "exchange__slug"),
            )
        )
    )
    serializer_class = serializers.GroupSerializer
    filterset_class = filters.GroupFilterSet
    search_fields = ["name", "description"]
    ordering_fields = ["name", "slug", "member_count", "created_at", "updated_at"]
    ordering = ["name", "slug"]


class MigrationViewSet(RecordViewSet):
    """Movements of groups' members from one platform to another."""

    queryset = with_citations(
        models.Migration.objects.select_related(
            "from_platform", "to_platform", "from_group", "to_group"
        ).prefetch_related(Prefetch("drivers", queryset=models.RegulatoryAction.objects.public()))
    )
    serializer_class = serializers.MigrationSerializer
    filterset_class = filters.MigrationFilterSet
    search_fields = ["title", "scale", "description"]
    ordering_fields = ["slug", "started_date", "created_at", "updated_at"]
    ordering = ["started_date", "slug"]


class RegulatoryActionViewSet(RecordViewSet):
    """Bans, rules, notices, orders and blocks by authorities, with issuers and targets."""

    queryset = with_citations(
        models.RegulatoryAction.objects.select_related("supersedes").prefetch_related(
            Prefetch(
                "issuer_links",
                queryset=models.ActionIssuer.objects.filter(
                    organization__in=models.Organization.objects.public()
                ).select_related("organization"),
            ),
            Prefetch(
                "targets",
                queryset=models.ActionTarget.objects.filter(
                    Q(exchange__isnull=True) | Q(exchange__in=models.Exchange.objects.public()),
                    Q(platform__isnull=True) | Q(platform__in=models.Platform.objects.public()),
                ).select_related("exchange", "platform"),
            ),
            Prefetch(
                "responses",
                queryset=models.ExchangeResponse.objects.public().select_related("exchange"),
            ),
        )
    )
    serializer_class = serializers.RegulatoryActionSerializer
    filterset_class = filters.RegulatoryActionFilterSet
    search_fields = ["title", "official_title", "native_title", "document_number", "summary"]
    ordering_fields = [
        "slug",
        "title",
        "announced_date",
        "effective_date",
        "created_at",
        "updated_at",
    ]
    ordering = ["announced_date", "slug"]
