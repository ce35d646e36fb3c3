"""What every API view does with a request before it reads anything: the query parameters it
takes, content negotiation, credentials that are not text, and errors in JSON."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import TooManyFieldsSent
from django.http import QueryDict
from rest_framework import status
from rest_framework.exceptions import (
    APIException,
    AuthenticationFailed,
    ParseError,
    ValidationError,
)
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.response import Response

from cryptogroups.choices import PublicationStatus

from ..filters import MAX_VALUES
from ..renderers import JSONRenderer

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
        elif len(values) > MAX_VALUES:
            errors[name] = [f"At most {MAX_VALUES} values; {len(values)} given."]
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

    def check_permissions(self, request):
        """A method the path does not offer is a 405 whoever asks (the dispatch answers it
        after these checks): its permissions are not checked, so an anonymous client is not
        told to authenticate for something no one can do."""
        if hasattr(self, request.method.lower()):
            super().check_permissions(request)

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
