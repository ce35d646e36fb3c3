"""Read-only viewsets, one per resource: a queryset, a serializer, a FilterSet and the fields
users can search and sort by. Detail URLs use the record's slug."""

from __future__ import annotations

import hashlib

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404, HttpResponseBase
from django.shortcuts import get_object_or_404
from django.utils.cache import get_conditional_response
from django.utils.http import http_date
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

from cryptogroups import models
from cryptogroups.choices import PublicationStatus
from cryptogroups.codes import SLUG_PATTERN

from . import filters, serializers
from .history import HistoryEntrySerializer, history_entries
from .schema import retrieve_schema, slug_parameter

#: Parameters every endpoint understands: DRF's format override.
COMMON_PARAMETERS = {"format": False}


PUBLISHED = PublicationStatus.PUBLISHED


class PreconditionFailed(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The resource has changed since the version given in If-Match."
    default_code = "precondition_failed"


def with_citations(queryset: QuerySet) -> QuerySet:
    """Prefetch a record's citations and their sources in one query per page."""
    return queryset.prefetch_related(
        Prefetch("citations", queryset=models.Citation.objects.select_related("source"))
    )


@extend_schema_view(retrieve=retrieve_schema)
class ReadOnlyViewSet(viewsets.ReadOnlyModelViewSet):
    """A public, read-only resource that answers 400 to any query parameter it does not know,
    to a repeated parameter that takes a single value, and to an empty value."""

    lookup_field = "slug"
    lookup_value_regex = SLUG_PATTERN.strip("^$")
    authentication_classes = []  # reading needs no credentials
    ordering_tie_breaker = "slug"

    def get_queryset(self) -> QuerySet:
        """Only what is public: published records whose related records are published."""
        queryset = super().get_queryset()
        if isinstance(queryset, models.RecordQuerySet):
            queryset = queryset.public()
        return queryset

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.check_query_parameters(request)
        self.dataset_version = models.DatasetVersion.current()

    # Conditional requests are answered once the request is known to be valid and the record
    # to exist (a 304 for a bad request or a missing record would be a lie), but before the
    # body is built, which is the costly part.

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        self.check_page_parameters(request)
        if unchanged := self.unchanged(request):
            return unchanged
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    def retrieve(self, request, *args, **kwargs):
        if not self.get_queryset().filter(slug=kwargs["slug"]).exists():
            raise Http404
        if unchanged := self.unchanged(request):
            return unchanged
        return Response(self.get_serializer(self.get_object()).data)

    def check_page_parameters(self, request) -> None:
        self.paginator.get_page_size(request)
        self.paginator.get_page_number(request, paginator=None)

    def etag(self, request) -> str:
        """A representation changes only with the dataset's version, the URL and the media
        type, so those make its entity tag; no need to build the body to compare. The same
        three give the same bytes, so the tag is a strong one (If-Match can use it)."""
        key = f"{request.get_full_path()} {request.accepted_media_type}".encode()
        digest = hashlib.sha256(key).hexdigest()[:16]
        return f'"{self.dataset_version.counter}-{digest}"'

    def unchanged(self, request) -> HttpResponseBase | None:
        """A 304 when the client's copy is current (If-None-Match, If-Modified-Since); a 412
        when its If-Match or If-Unmodified-Since fails."""
        response = get_conditional_response(
            request,
            etag=self.etag(request),
            last_modified=int(self.dataset_version.changed_at.timestamp()),
        )
        if response is not None and response.status_code == 412:
            raise PreconditionFailed()
        return response

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        version = getattr(self, "dataset_version", None)
        if version and request.method in ("GET", "HEAD") and response.status_code in (200, 304):
            response.headers["ETag"] = self.etag(request)
            response.headers["Last-Modified"] = http_date(version.changed_at.timestamp())
        return response

    @extend_schema(
        operation_id=None,
        parameters=[slug_parameter],
        filters=False,
        responses=HistoryEntrySerializer(many=True),
        description="The record's history, newest first: each change with its date, curator, "
        "reason and the fields it changed.",
    )
    @action(detail=True, filter_backends=[])
    def history(self, request, slug: str) -> Response:
        record = get_object_or_404(self.get_queryset(), slug=slug)
        self.check_page_parameters(request)
        if unchanged := self.unchanged(request):
            return unchanged
        page = self.paginate_queryset(history_entries(record))
        return self.get_paginated_response(HistoryEntrySerializer(page, many=True).data)

    def allowed_query_parameters(self) -> dict[str, bool]:
        """Each parameter this action reads, and whether it may be repeated."""
        allowed = dict(COMMON_PARAMETERS)
        if self.action == "history":
            allowed.update({self.paginator.page_query_param: False})
            allowed.update({self.paginator.page_size_query_param: False})
        if self.action != "list":
            return allowed
        allowed.update(filters.query_parameter_names(self.filterset_class))
        allowed.update({"search": False, "ordering": False})
        allowed.update({self.paginator.page_query_param: False})
        allowed.update({self.paginator.page_size_query_param: False})
        return allowed

    def check_query_parameters(self, request) -> None:
        if self.action is None:
            return  # a method this resource does not offer: the answer is a 405
        allowed = self.allowed_query_parameters()
        errors = {}
        for name, values in request.query_params.lists():
            if name not in allowed:
                errors[name] = [
                    "Unknown query parameter. Allowed here: "
                    + (", ".join(sorted(allowed)) or "none")
                    + "."
                ]
            elif not allowed[name] and len(values) > 1:
                errors[name] = ["This parameter takes a single value; it was given several."]
            elif "" in values:
                errors[name] = ["Empty value: give a value, or leave the parameter out."]
            elif any("\x00" in value for value in values):
                errors[name] = ["Null characters are not allowed."]
        if errors:
            raise ValidationError(errors)


class OrganizationViewSet(ReadOnlyViewSet):
    """Authorities that issue regulatory actions and companies that operate platforms and
    exchanges."""

    queryset = with_citations(models.Organization.objects.select_related("parent"))
    serializer_class = serializers.OrganizationSerializer
    filterset_class = filters.OrganizationFilterSet
    search_fields = ["name", "native_name", "description"]
    ordering_fields = ["name", "slug", "country", "created_at", "updated_at"]
    ordering = ["name", "slug"]


class SourceViewSet(ReadOnlyViewSet):
    """The documents facts are taken from."""

    queryset = models.Source.objects.select_related("syndicated_from")
    serializer_class = serializers.SourceSerializer
    filterset_class = filters.SourceFilterSet
    search_fields = ["title", "publisher", "author", "notes"]
    ordering_fields = ["slug", "title", "publisher", "published_date", "created_at", "updated_at"]
    ordering = ["slug"]


class PlatformViewSet(ReadOnlyViewSet):
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


class PlatformAvailabilityViewSet(ReadOnlyViewSet):
    """Whether a platform can be used in a jurisdiction, over a period."""

    queryset = with_citations(models.PlatformAvailability.objects.select_related("platform"))
    serializer_class = serializers.PlatformAvailabilitySerializer
    filterset_class = filters.PlatformAvailabilityFilterSet
    search_fields = ["platform__name", "workaround", "description"]
    ordering_fields = ["slug", "jurisdiction", "since_date", "created_at", "updated_at"]
    ordering = ["since_date", "slug"]


class ExchangeViewSet(ReadOnlyViewSet):
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


class ExchangeResponseViewSet(ReadOnlyViewSet):
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


class GroupViewSet(ReadOnlyViewSet):
    """Communities on platforms, with the exchanges they are about."""

    queryset = with_citations(
        models.Group.objects.select_related("platform").prefetch_related(
            Prefetch(
                "exchange_links",
                queryset=models.GroupExchange.objects.filter(exchange__publication_status=PUBLISHED)
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


class MigrationViewSet(ReadOnlyViewSet):
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


class RegulatoryActionViewSet(ReadOnlyViewSet):
    """Bans, rules, notices, orders and blocks by authorities, with issuers and targets."""

    queryset = with_citations(
        models.RegulatoryAction.objects.select_related("supersedes").prefetch_related(
            Prefetch(
                "issuer_links",
                queryset=models.ActionIssuer.objects.filter(
                    organization__publication_status=PUBLISHED
                ).select_related("organization"),
            ),
            Prefetch(
                "targets",
                queryset=models.ActionTarget.objects.filter(
                    Q(exchange__isnull=True) | Q(exchange__publication_status=PUBLISHED),
                    Q(platform__isnull=True) | Q(platform__publication_status=PUBLISHED),
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
