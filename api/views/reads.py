"""How a resource is read: which records a request may see, lists, details and histories, built
from rows and kept in the cache under their version."""

from __future__ import annotations

from django.http import Http404, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.exceptions import (
    NotAuthenticated,
    PermissionDenied,
    ValidationError,
)
from rest_framework.response import Response

from cryptogroups import feed, published
from cryptogroups.choices import PublicationStatus
from cryptogroups.models import DatasetVersion
from cryptogroups.models.version import last_moved
from cryptogroups.resources import RESOURCES

from .. import cache as api_cache
from .. import depends, fast
from ..filters import searched
from ..history import HistoryEntrySerializer, history_entries
from ..pagination import ordering_terms
from ..permissions import can_view_unpublished
from ..renderers import JSONRenderer
from ..representations import absolute_urls
from ..schema import slug_parameter
from .requests import PUBLISHED


class ReadMixin:
    """The read actions of a resource (see RecordViewSet)."""

    def requested_statuses(self) -> set[str]:
        """The statuses asked for with ``publication_status`` (published by default). Other
        statuses than published are for curators: 401 without credentials, 403 without the
        permission."""
        values = self.request.query_params.getlist("publication_status") or [PUBLISHED]
        unknown = sorted(set(values) - set(PublicationStatus.values))
        if unknown:
            raise ValidationError(
                {
                    "publication_status": [
                        f"Unknown status {unknown[0]!r}: use "
                        + ", ".join(PublicationStatus.values)
                        + "."
                    ]
                }
            )
        statuses = set(values)
        if statuses != {PUBLISHED}:
            user = self.request.user
            if not (user and user.is_authenticated):
                raise NotAuthenticated("Only curators can see unpublished records: log in.")
            if not can_view_unpublished(user, self.model):
                raise PermissionDenied("Only curators can see unpublished records.")
        return statuses

    # Conditional requests are answered once the request is known to be valid and the record
    # to exist (a 304 for a bad request or a missing record would be a lie), but before the
    # body is built, which is the costly part.

    # Representations are built from rows (api.fast), which gives what the serializer gives,
    # at a fraction of the cost. URLs with a format suffix (/groups.json) embed the suffix in
    # every link; those rare requests take the serializer.

    def list(self, request, *args, **kwargs):
        if cached := self.cached(request, "list"):
            return cached
        queryset = self.filter_queryset(self.get_queryset())
        self.check_page_parameters(request)
        if unchanged := self.unchanged(request):
            return unchanged
        if self.dataset_version is not None:
            self.count_key, self.positions_key = self.kept_keys(request, queryset)
        if self.format_kwarg:
            page = self.paginate_queryset(queryset)
            data = self.get_paginated_response(self.get_serializer(page, many=True).data).data
            return self.built(request, data)
        plan = self.plan()
        self.records = queryset

        def build() -> dict:
            page = self.paginate_queryset(plan.rows(queryset))
            return self.get_paginated_response(plan.represent(page, request)).data

        if self.dataset_version is None:
            return self.built(request, build())
        return self.respond(request, "list", build)

    def built(self, request, data) -> HttpResponseBase:
        """The answer to a read whose validators come from its body (see ConditionalMixin)."""
        self.built_digest = feed.digest(data)
        return self.unchanged(request) or Response(data)

    def retrieve(self, request, *args, **kwargs):
        queryset = self.get_queryset().filter(slug=kwargs["slug"])
        if self.format_kwarg:
            return self.built(request, self.get_serializer(self.get_object()).data)
        plan = self.plan()
        if self.statuses != {PUBLISHED}:
            built = plan.represent(plan.rows(queryset), None)
            if not built:
                raise Http404
            self.built_digest = feed.digest(built[0])
            unchanged = self.unchanged(request)
            return unchanged or Response(absolute_urls(built[0], request.build_absolute_uri))
        # Published in Redis on commit (PUBLISH_VERSIONS): a public record's state, read with
        # no database query; the cache or a 304 may then answer with none.
        state = published.record_state(RESOURCES[self.model].path, kwargs["slug"])
        rows = None
        if not (state and state[0]):
            state, rows = self.read_state(plan, queryset)
        if state is None:
            raise Http404
        if state[0]:
            self.record_state = state
            if cached := self.cached(request, "detail"):
                return cached
        if unchanged := self.unchanged(request):
            return unchanged

        def build() -> dict:
            built = plan.represent(plan.rows(queryset) if rows is None else rows, None)
            if not built:
                raise Http404
            digest = feed.digest(built[0])
            if self.record_state is None or digest != self.record_state[0]:
                # Changed since the feed last looked (a commit whose feed entries are being
                # written): the body's own digest is its tag, with no date, and it is not
                # stored under the feed's.
                self.record_state = None
                self.built_digest = digest
            return absolute_urls(built[0], request.build_absolute_uri)

        return self.respond(request, "detail", build)

    def read_state(self, plan, queryset) -> tuple[tuple | None, list | None]:
        """The record's public state from the database, with its row when the response cache
        is off (one round trip for both; the embedded lists are read only if the body is
        built). The state is offered for publication with the counter read with it."""
        columns = feed.public_state_columns(self.model)
        if published.enabled():
            columns["published_counter"] = published.counter_column()
        rows = None
        if api_cache.enabled():
            # One query before the body, which the cache may hold.
            found = queryset.annotate(**columns).values_list(*columns).first()
        else:
            rows = list(plan.rows(queryset).annotate(**columns))
            found = tuple(rows[0].pop(column) for column in columns) if rows else None
        if found is None:
            return None, rows
        if published.enabled() and found[0]:
            digest, changed_at, counter = found
            published.offer_record_state(
                RESOURCES[self.model].path, self.kwargs["slug"], counter, digest, changed_at
            )
        return tuple(found[:2]), rows

    # Public JSON reads are cached under the dataset's version (api.cache). Only a response
    # that was built is stored, so a request found in the cache was valid for this version:
    # its parameters and its record need no second check, and the answer costs one query
    # (the version, or the record's state), none with published versions.

    def cache_key(self, request, kind: str) -> str | None:
        """The response's key in the cache; None when it is not cached: curators' views,
        media types other than JSON (the browsable API), and reads with no version to key on.
        A list is keyed by the public dataset's version, a record by its digest."""
        if not (
            api_cache.enabled()
            and isinstance(request.accepted_renderer, JSONRenderer)
            and "publication_status" not in request.query_params
            and not self.format_kwarg
        ):
            return None
        if kind == "detail" and self.record_state is not None:
            version = self.record_state[0]
        elif kind == "list" and self.dataset_version is not None:
            version = api_cache.version_key(self.dataset_version)
        else:
            return None
        return api_cache.key(
            kind, version, request.build_absolute_uri(), request.accepted_media_type
        )

    def cached(self, request, kind: str) -> HttpResponseBase | None:
        cache_key = self.cache_key(request, kind)
        body = api_cache.get(cache_key) if cache_key else None
        if body is None:
            return None
        if unchanged := self.unchanged(request):
            return unchanged
        return HttpResponse(body, content_type=request.accepted_renderer.media_type)

    def respond(self, request, kind: str, build) -> HttpResponseBase:
        """Build the response of a read, and store it in the cache if it is cacheable: one
        request builds it while the others asking for it wait (api.cache.build_once)."""
        cache_key = self.cache_key(request, kind)
        if cache_key is None:
            data = build()
            return self.unchanged_after(request) or Response(data)
        renderer = request.accepted_renderer
        unchanged = None

        def render() -> tuple[bytes | None, bool]:
            nonlocal unchanged
            data = build()
            if unchanged := self.unchanged_after(request):
                return None, False
            body = renderer.render(data, request.accepted_media_type, self.get_renderer_context())
            # Stored only under the key it was built for: a body whose digest is not the
            # feed's (see retrieve) has no key.
            return body, self.cache_key(request, kind) == cache_key

        body = api_cache.build_once(cache_key, render)
        return unchanged or HttpResponse(body, content_type=renderer.media_type)

    def unchanged_after(self, request) -> HttpResponseBase | None:
        """A 304 once the body is built, when its validators come from the body itself."""
        return self.unchanged(request) if self.built_digest is not None else None

    def kept_keys(self, request, queryset) -> tuple[str, str]:
        """Where a list's count, and its positions (waypoints, kept matches, see
        api.pagination), are kept: under the last change to the fields each reads
        (api.depends), or under the dataset's version when that cannot be told."""
        parts = self.count_parts(request)
        terms = ordering_terms(queryset)
        counted = depends.count_fields(self, request, searched(request, self))
        ordered = depends.order_fields(self.model, [name for name, _ in terms])
        positioned = None if counted is None or ordered is None else counted | ordered
        moved = getattr(self.dataset_version, "moved", None)
        if moved is None and counted is not None:
            moved = DatasetVersion.moved_fields()

        def version(fields: set[str] | None) -> str:
            if fields is None:
                return api_cache.version_key(self.dataset_version)
            return f"fields.{last_moved(moved, fields)}"

        order = ",".join(f"-{name}" if descending else name for name, descending in terms)
        return (
            api_cache.key("count", version(counted), *parts),
            api_cache.key("positions", version(positioned), *parts, order),
        )

    def count_parts(self, request) -> list[str]:
        """What a list's count depends on: the path and the filters, not the page, its size or
        the order."""
        ignored = {"page", "page_size", "cursor", "ordering", "format"}
        filters_given = sorted(
            (name, value)
            for name, values in request.query_params.lists()
            if name not in ignored
            for value in values
        )
        return [request.path, repr(filters_given)]

    @classmethod
    def plan(cls) -> fast.Plan:
        """The resource's representation compiled from its read serializer (once per class)."""
        if "_plan" not in cls.__dict__:
            cls._plan = fast.Plan(cls.serializer_class, cls.queryset)
        return cls._plan

    def check_page_parameters(self, request) -> None:
        self.paginator.get_page_size(request)
        self.paginator.get_page_number(request, paginator=None)
        self.paginator.get_cursor(request)

    @extend_schema(
        operation_id=None,
        parameters=[slug_parameter],
        filters=False,
        responses=HistoryEntrySerializer(many=True),
        description="The record's history, newest first: each change with its date, curator, "
        "reason and the fields it changed. The public history shows the record's published "
        "states only, each compared with the one before; curators asking with "
        "`publication_status` see every change, drafts included.",
    )
    @action(detail=True, filter_backends=[])
    def history(self, request, slug: str, format: str | None = None) -> Response:
        record = get_object_or_404(self.get_queryset(), slug=slug)
        self.check_page_parameters(request)
        published_only = self.statuses == {PUBLISHED}
        page = self.paginate_queryset(history_entries(record, published_only=published_only))
        data = self.get_paginated_response(HistoryEntrySerializer(page, many=True).data).data
        return self.built(request, data)
