"""Read-only viewsets, one per resource: a queryset, a serializer, a FilterSet and the fields
users can search and sort by. Detail URLs use the record's slug."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime
from urllib.parse import unquote_to_bytes, urlencode

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import TooManyFieldsSent
from django.db import transaction
from django.db.models import Prefetch, ProtectedError, Q, QuerySet, RestrictedError
from django.http import Http404, HttpResponse, HttpResponseBase, QueryDict
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.cache import get_conditional_response, patch_cache_control
from django.utils.http import http_date, parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView
from rest_framework import routers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import (
    APIException,
    AuthenticationFailed,
    NotAuthenticated,
    ParseError,
    PermissionDenied,
    ValidationError,
)
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from cryptogroups import models
from cryptogroups.choices import PublicationStatus
from cryptogroups.codes import SLUG_PATTERN
from cryptogroups.models.base import Record
from cryptogroups.models.version import last_modified
from cryptogroups.routers import read_from_primary

from . import cache as api_cache
from . import changes, fast, filters, serializers
from .history import HistoryEntrySerializer, history_entries
from .permissions import can_hard_delete, can_view_unpublished
from .renderers import JSONRenderer
from .schema import retrieve_schema, slug_parameter, write_schema
from .writes import JSONParser, write_serializer

#: Parameters every endpoint understands: DRF's format override.
COMMON_PARAMETERS = {"format": False}


PUBLISHED = PublicationStatus.PUBLISHED


class PreconditionFailed(APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = "The resource has changed since the version given in If-Match."
    default_code = "precondition_failed"


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The record is still referred to by other records."
    default_code = "conflict"


#: The longest change reason the history keeps.
MAX_REASON = 100

#: Query parameters of the write operations, and whether they may be repeated.
WRITE_PARAMETERS = {"reason": False}


def check_query_parameters(request, allowed: dict[str, bool], formats: list[str]) -> None:
    """A 400 naming each query parameter that is unknown (``allowed`` maps the known ones to
    whether they may be repeated), repeated when it takes one value, empty, or not text, and
    a ``format`` that is none of ``formats``."""
    errors = {
        name: ["Not UTF-8 text: percent-encode the parameter as UTF-8."]
        for name in parameters_not_utf8(request)
    }
    for name, values in request.query_params.lists():
        if name in errors:
            continue
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
        elif name == "format" and values[0] not in formats:
            errors[name] = [f"Unknown format: use {' or '.join(formats)}."]
    if errors:
        raise ValidationError(errors)


def parameters_not_utf8(request) -> list[str]:
    """The query parameters whose name or value is not UTF-8 once percent-decoded. Django
    replaces such bytes with U+FFFD, so a filter would silently look for something else."""
    raw = request.META.get("QUERY_STRING", "")
    try:
        query = raw.encode("iso-8859-1")  # WSGI gives the bytes as Latin-1 text
    except UnicodeEncodeError:
        return []
    names = []
    for field in query.split(b"&"):
        name, _, value = field.partition(b"=")
        name, value = (unquote_to_bytes(part.replace(b"+", b" ")) for part in (name, value))
        try:
            name.decode()
            value.decode()
        except UnicodeDecodeError:
            names.append(name.decode(errors="replace"))
    return names


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, except that an unknown ``?format=`` is left to the parameter checks,
    which refuse it with a 400 naming it (DRF answers 404, as if the path did not exist). An
    unknown format suffix in the path (``/groups.xml``) is still a 404."""

    in_path = False

    def select_renderer(self, request, renderers, format_suffix=None):
        self.in_path = bool(format_suffix)
        return super().select_renderer(request, renderers, format_suffix)

    def filter_renderers(self, renderers, format):
        if self.in_path or any(renderer.format == format for renderer in renderers):
            return super().filter_renderers(renderers, format)
        return renderers


class RequestChecksMixin:
    """What every API view does with a hostile request: a query string Django will not parse,
    or a parameter the view does not read or cannot take, is a 400; credentials that are not
    even text are a 401; and errors are JSON whatever the Accept header prefers (a browser
    gets the browsable API for what exists, and the error shape for what went wrong)."""

    content_negotiation_class = ContentNegotiation

    def allowed_query_parameters(self) -> dict[str, bool]:
        """Each query parameter the view reads, and whether it may be repeated."""
        return dict(COMMON_PARAMETERS)

    def initial(self, request, *args, **kwargs):
        try:
            request.query_params  # noqa: B018 - Django parses the query string when first read
        except TooManyFieldsSent:
            request._request.GET = QueryDict()  # the request is refused: nothing is to be read
            limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
            raise ParseError(f"Too many query parameters: at most {limit}.") from None
        super().initial(request, *args, **kwargs)
        if hasattr(self, request.method.lower()):  # else the answer is a 405
            formats = list(dict.fromkeys(renderer.format for renderer in self.get_renderers()))
            check_query_parameters(request, self.allowed_query_parameters(), formats)

    def perform_authentication(self, request):
        try:
            super().perform_authentication(request)
        except UnicodeDecodeError:  # knox decodes the token as UTF-8
            request.user, request.auth = AnonymousUser(), None
            raise AuthenticationFailed("Invalid token: it is not UTF-8 text.") from None

    def finalize_response(self, request, response, *args, **kwargs):
        if isinstance(response, Response) and response.exception:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


def with_citations(queryset: QuerySet) -> QuerySet:
    """Prefetch a record's citations and their sources in one query per page."""
    return queryset.prefetch_related(
        Prefetch("citations", queryset=models.Citation.objects.select_related("source"))
    )


def entity_tag(digest: str, media_type: str) -> str:
    """A strong entity tag for a representation whose content has this digest, in this media
    type (JSON's tag is the digest alone)."""
    if media_type == "application/json":
        return f'"{digest[:32]}"'
    return f'"{digest[:32]}-{hashlib.sha256(media_type.encode()).hexdigest()[:8]}"'


class ConditionalMixin:
    """ETag and Last-Modified on reads; 304 and 412 answers to conditional reads.

    - A list, and the changes feed, carry the public dataset's version (``dataset_version``,
      set in ``initial``): it moves each time the feed records a change to public data, and a
      draft edit leaves it where it is.
    - A record carries a digest of its own representation: its tag changes when, and only
      when, what the record's detail says changes. The public detail reads the digest the
      feed stored (``FeedState``), so that a 304 builds nothing.
    - What only curators read (other statuses), a record's history and a format suffix carry
      the digest of the body they built, and answer 304 once it is built.
    """

    dataset_version: models.DatasetVersion | None = None

    #: The record's validators, when read before the body is built: (digest, stamp).
    record_state: tuple[str, datetime | None] | None = None

    #: The digest of the body built for this request, when the validators come from it.
    built_digest: str | None = None

    def etag(self, request, path: str | None = None, media_type: str | None = None) -> str:
        """The tag of a list or of the feed: the public dataset's version, the URL and the
        media type make it, so the body need not be built to compare."""
        path = path or request.get_full_path()
        key = f"{path} {media_type or request.accepted_media_type}".encode()
        digest = hashlib.sha256(key).hexdigest()[:16]
        return f'"{self.dataset_version.counter}-{digest}"'

    def current_validators(self, request) -> tuple[str | None, datetime | None]:
        media_type = request.accepted_media_type
        if self.built_digest is not None:
            return entity_tag(self.built_digest, media_type), None
        if self.record_state is not None:
            digest, stamp = self.record_state
            return entity_tag(digest, media_type), stamp
        if self.dataset_version is not None:
            return self.etag(request), self.dataset_version.changed_at
        return None, None

    def unchanged(self, request) -> HttpResponseBase | None:
        """A 304 when the client's copy is current (If-None-Match, If-Modified-Since); a 412
        when its If-Match or If-Unmodified-Since fails."""
        etag, stamp = self.current_validators(request)
        if etag is None:
            return None
        response = get_conditional_response(
            request,
            etag=etag,
            last_modified=int(stamp.timestamp()) if stamp is not None else None,
        )
        if response is not None and response.status_code == 412:
            raise PreconditionFailed()
        return response

    def validators(self, request, response) -> None:
        if request.method not in ("GET", "HEAD") or response.status_code not in (200, 304):
            return
        etag, stamp = self.current_validators(request)
        if etag is not None:
            response.headers["ETag"] = etag
        if stamp is not None:
            response.headers["Last-Modified"] = http_date(last_modified(stamp).timestamp())


@extend_schema_view(retrieve=retrieve_schema)
class RecordViewSet(RequestChecksMixin, ConditionalMixin, viewsets.ModelViewSet):
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

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # Checked once, before anything else is read; get_queryset() uses the answer.
        self.statuses = {PUBLISHED}
        if self.action in ("list", "retrieve", "history"):
            self.statuses = self.requested_statuses()
        if self.action == "list" and self.statuses == {PUBLISHED}:
            self.dataset_version = models.DatasetVersion.current()

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
            self.count_key = api_cache.key(
                "count", api_cache.version_key(self.dataset_version), *self.count_parts(request)
            )
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
        self.built_digest = changes.digest(data)
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
            self.built_digest = changes.digest(built[0])
            unchanged = self.unchanged(request)
            return unchanged or Response(
                changes.absolute_urls(built[0], request.build_absolute_uri)
            )
        # One query: the record is public, and the digest and time of its public state.
        state = (
            queryset.annotate(**changes.public_state_columns(self.model))
            .values_list("feed_digest", "feed_changed_at")
            .first()
        )
        if state is None:
            raise Http404
        if state[0]:
            self.record_state = state
            if cached := self.cached(request, "detail"):
                return cached
        if unchanged := self.unchanged(request):
            return unchanged

        def build() -> dict:
            built = plan.represent(plan.rows(queryset), None)
            if not built:
                raise Http404
            digest = changes.digest(built[0])
            if self.record_state is None or digest != self.record_state[0]:
                # Changed since the feed last looked (a commit whose feed entries are being
                # written): the body's own digest is its tag, with no date, and it is not
                # stored under the feed's.
                self.record_state = None
                self.built_digest = digest
            return changes.absolute_urls(built[0], request.build_absolute_uri)

        return self.respond(request, "detail", build)

    # Public JSON reads are cached under the dataset's version (api.cache). Only a response
    # that was built is stored, so a request found in the cache was valid for this version:
    # its parameters and its record need no second check, and the answer costs one query.

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
        """Build the response of a read, and store it in the cache if it is cacheable."""
        data = build()
        if self.built_digest is not None and (unchanged := self.unchanged(request)):
            return unchanged
        cache_key = self.cache_key(request, kind)
        if cache_key is None:
            return Response(data)
        renderer = request.accepted_renderer
        body = renderer.render(data, request.accepted_media_type, self.get_renderer_context())
        api_cache.set(cache_key, body)
        return HttpResponse(body, content_type=renderer.media_type)

    def count_parts(self, request) -> list[str]:
        """What a list's count depends on: the path and the filters, not the page, its size or
        the order."""
        ignored = {"page", "page_size", "ordering", "format"}
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

    # Writes -------------------------------------------------------------------------------

    def create(self, request, *args, **kwargs):
        reason = self.change_reason(request)
        with transaction.atomic():
            serializer = self.get_serializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            record = serializer.save(reason=reason)
            body, location = self.answer(record)
        response = Response(body, status=status.HTTP_201_CREATED)
        response["Location"] = location
        return response

    def update(self, request, *args, partial: bool = False, **kwargs):
        reason = self.change_reason(request)
        with transaction.atomic():
            record = self.get_object()
            self.check_if_match(request, record)
            serializer = self.get_serializer(record, data=request.data, partial=partial)
            serializer.is_valid(raise_exception=True)
            record = serializer.save(reason=reason)
            body, location = self.answer(record)
        response = Response(body)
        response["Location"] = location
        return response

    def destroy(self, request, *args, **kwargs):
        """A retraction: the record is kept with its history and leaves the public API. With
        ``hard=true``, and the model's delete permission, the record is deleted for good."""
        reason = self.change_reason(request)
        hard = self.hard_delete_requested(request)
        with transaction.atomic():
            record = self.get_object()
            self.check_if_match(request, record)
            record._change_reason = reason
            if hard:
                if not can_hard_delete(request.user, self.model):
                    raise PermissionDenied(
                        "A hard delete needs the delete permission; without it, leave out "
                        "hard=true to retract the record."
                    )
                try:
                    record.delete()
                except (ProtectedError, RestrictedError) as error:
                    names = sorted({str(obj) for obj in error.protected_objects})[:5]
                    raise Conflict(
                        "Other records refer to this one; change or delete them first: "
                        + "; ".join(names)
                    ) from None
            elif record.publication_status != PublicationStatus.RETRACTED:
                record.publication_status = PublicationStatus.RETRACTED
                record.save(update_fields=["publication_status", "updated_at"])
            self.finish_write(None if hard else record)
        return Response(status=status.HTTP_204_NO_CONTENT)

    # Everything a write's answer says is read before its transaction commits: once the
    # change is saved, the request reads the database no more, so an outage can no longer
    # answer 503 (nothing saved, retry) for a change that was saved.

    def finish_write(self, record=None) -> None:
        """The write's last steps inside its transaction: the changes feed, and the digest
        the answer's ETag carries."""
        changes.flush()
        changes.cancel_scheduled_flush()
        if record is not None:
            document = changes.render_record(record)
            self.digest_after_write = changes.digest(document) if document else None

    def answer(self, record) -> tuple[dict, str]:
        """The body and the Location of a write's answer, read inside its transaction."""
        self.finish_write(record)
        return self.represent(record), self.location(record)

    digest_after_write: str | None = None

    def get_object(self):
        """The record a write changes, locked until the write commits: a second write to it
        waits, then finds what the first one saved (If-Match is compared on that). Writes to
        other records do not wait."""
        if self.action in ("update", "partial_update", "destroy"):
            self.queryset = self.queryset.select_for_update(of=("self",))
        return super().get_object()

    def check_if_match(self, request, record) -> None:
        """412 unless If-Match, when given, names the record's current entity tag exactly (as
        a read of the record gives it, in any of the API's media types), or is ``*``."""
        header = request.headers.get("If-Match")
        if header is None:
            return
        tags = parse_etags(header)
        if not tags:
            raise ValidationError(
                {"If-Match": ['Give an entity tag from a read of the record ("..."), or *.']}
            )
        if "*" in tags:
            return
        digest = changes.digest(changes.render_record(record))
        current = {entity_tag(digest, renderer.media_type) for renderer in self.get_renderers()}
        if current.isdisjoint(tags):
            raise PreconditionFailed(
                "The record has changed since the version given in If-Match: read it again, "
                "and apply your change to what it is now."
            )

    def change_reason(self, request) -> str:
        reason = request.query_params.get("reason", "").strip()
        if not reason:
            raise ValidationError(
                {"reason": ["Say why you make this change (kept in the record's history)."]}
            )
        if len(reason) > MAX_REASON:
            raise ValidationError({"reason": [f"At most {MAX_REASON} characters."]})
        return reason

    def hard_delete_requested(self, request) -> bool:
        raw = request.query_params.get("hard")
        if raw is None:
            return not self.has_workflow  # what cannot be retracted can only be deleted
        if raw not in ("true", "false"):
            raise ValidationError({"hard": ["Must be true or false."]})
        if raw == "false" and not self.has_workflow:
            raise ValidationError(
                {"hard": ["This resource has no retraction: a delete removes the record."]}
            )
        return raw == "true"

    def represent(self, record) -> dict:
        fresh = self.queryset.all().get(pk=record.pk)
        return self.serializer_class(fresh, context=self.get_serializer_context()).data

    #: The record's path after a write, for the ETag of the response.
    detail_path: str | None = None

    def location(self, record) -> str:
        """Where the record is read; a record that is not published is read by curators, who
        ask for its status."""
        self.detail_path = reverse(f"{self.basename}-detail", kwargs={"slug": record.slug})
        status_ = getattr(record, "publication_status", PUBLISHED)
        if status_ != PUBLISHED:
            return f"{self.detail_path}?{urlencode({'publication_status': status_})}"
        return self.detail_path

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

    def allowed_query_parameters(self) -> dict[str, bool]:
        """Each parameter this action reads, and whether it may be repeated."""
        allowed = dict(COMMON_PARAMETERS)
        if self.action in ("create", "update", "partial_update", "destroy"):
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
        allowed.update({"search": False, "ordering": False})
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
                queryset=models.GroupExchange.objects.filter(
                    exchange__in=models.Exchange.objects.public()
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


DEFAULT_FEED_PAGE = 100
MAX_FEED_PAGE = 500


class ChangesView(RequestChecksMixin, ConditionalMixin, APIView):
    """The changes feed (see api.changes): every create, update, retraction and deletion of
    public data, in commit order, from an opaque cursor."""

    permission_classes = [AllowAny]
    http_method_names = ["get", "head", "options"]
    allowed_parameters = ("after", "page_size", "format")

    def allowed_query_parameters(self) -> dict[str, bool]:
        return dict.fromkeys(self.allowed_parameters, False)

    def initial(self, request, *args, **kwargs):
        # Cursors travel between app servers: the feed is read where every cursor was made.
        read_from_primary()
        super().initial(request, *args, **kwargs)
        self.dataset_version = models.DatasetVersion.current()

    @extend_schema(
        operation_id="changes_list",
        parameters=[
            OpenApiParameter(
                "after",
                OpenApiTypes.STR,
                description="A cursor from an earlier page (`complete_through`, or an entry's "
                "`cursor`): the feed continues after it. Leave it out to read from the start.",
                pattern=r"^[A-Za-z0-9_-]{16}$",
            ),
            OpenApiParameter(
                "page_size",
                {"type": "integer", "minimum": 1, "maximum": MAX_FEED_PAGE},
                description=f"Entries per page, from 1 to {MAX_FEED_PAGE} (default "
                f"{DEFAULT_FEED_PAGE}).",
            ),
        ],
        responses=changes.ChangesPageSerializer,
        description="Every create, update, retraction and deletion of public data, in commit "
        "order. Replay it from the start into an empty store and you hold the public dataset; "
        "keep `complete_through` and ask again with `after` to stay in sync. Tombstones are "
        "kept for good.",
    )
    def get(self, request) -> Response:
        after = (
            changes.decode_cursor(request.query_params["after"])
            if "after" in request.query_params
            else 0
        )
        size = feed_page_size(request)
        latest = models.Change.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        if after > latest:
            raise ValidationError(
                {"after": ["This cursor is ahead of the feed: it was not given by this server."]}
            )
        if unchanged := self.unchanged(request):
            return unchanged
        rows = list(models.Change.objects.filter(pk__gt=after).order_by("pk")[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        through = changes.encode_cursor(rows[-1].pk if rows else after)
        next_url = None
        if more:
            next_url = request.build_absolute_uri(
                f"{request.path}?{urlencode({'after': through, 'page_size': size})}"
            )
        return Response(
            {
                "complete_through": through,
                "next": next_url,
                "results": changes.ChangeSerializer(
                    rows, many=True, context={"request": request}
                ).data,
            }
        )

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        self.validators(request, response)
        return response


_FEED_PAGE_SIZE = re.compile(r"[1-9][0-9]{0,3}")


def feed_page_size(request) -> int:
    raw = request.query_params.get("page_size")
    if raw is None:
        return DEFAULT_FEED_PAGE
    if not _FEED_PAGE_SIZE.fullmatch(raw) or int(raw) > MAX_FEED_PAGE:
        raise ValidationError({"page_size": [f"Must be a whole number from 1 to {MAX_FEED_PAGE}."]})
    return int(raw)


# The pages around the API: its root, its schema and the schema's documentation. They refuse
# what they do not read, as the resources do. The schema is in English only, so there is no
# `lang` (for each value sent, Django would also keep a catalogue for the life of the process).


class APIRootView(RequestChecksMixin, routers.APIRootView):
    """The list of the API's resources."""


class SchemaView(RequestChecksMixin, SpectacularAPIView):
    """The OpenAPI schema: YAML, or JSON with ?format=json."""


class SwaggerView(RequestChecksMixin, SpectacularSwaggerView):
    """Swagger UI on the schema."""


class RedocView(RequestChecksMixin, SpectacularRedocView):
    """ReDoc on the schema."""
