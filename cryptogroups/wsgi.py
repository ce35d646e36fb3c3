"""WSGI entry point: ``cryptogroups.wsgi:application``.

Django builds its request before any middleware runs, so what goes wrong there is answered
here, in the API's error shape, never as the server's HTML 500:

- The query string is read as UTF-8 whatever charset the body declares (Django decodes it
  with the body's charset: ``charset=utf-16`` turned a ``?reason=`` into mojibake, and
  ``charset=idna`` or ``punycode`` raised while the request was built).
- A charset that names no text encoding a body can be in (``rot13``, ``bz2_codec``, ``idna``,
  ``punycode``, ``undefined``, a name with a NUL) is a 415; a charset Python does not know is
  ignored, as Django does (the body is read as UTF-8).
- Any other request Django cannot build is a 400.

Each refusal carries an ``X-Request-ID`` (the client's when it is a UUID) and is logged once,
as a warning, by ``cryptogroups.access``, with the fields of the access log. Its answer closes
the connection: the body, if any, was not read.

Forwarded headers (``X-Forwarded-For``, ``-Proto``, ``-Host``, ``-Port``) are dropped from a
request whose peer is not a trusted proxy (``TRUSTED_PROXIES``): a client that reaches the app
server directly chooses neither its address (the rate limits count by it) nor its scheme.

A response that says ``Connection: close`` (a body refused unread, api.middleware) is sent
without that hop-by-hop header, which WSGI forbids, and the server is asked to close the
connection instead (gunicorn: ``force_close``), so that the unread body is never taken for
the next request.
"""

from __future__ import annotations

import codecs
import ipaddress
import logging
import os
import time

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler, WSGIRequest, get_bytes_from_wsgi
from django.http import HttpResponse, JsonResponse, QueryDict
from django.utils.functional import cached_property
from django.utils.http import parse_header_parameters

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cryptogroups.settings")

access_logger = logging.getLogger("cryptogroups.access")

#: Codecs Python counts as text encodings that still cannot decode a body: host-name codecs,
#: which raise on ordinary text and refuse the "replace" error handler, and the codec that
#: raises on everything.
NOT_BODY_ENCODINGS = {"idna", "punycode", "undefined"}

#: Headers only a trusted proxy may set.
FORWARDED_HEADERS = (
    "HTTP_X_FORWARDED_FOR",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PORT",
)


class Request(WSGIRequest):
    """Django's request, except that the query string is always UTF-8 (RFC 3986 and the
    WHATWG URL standard), whatever the body's charset, and that setting the encoding does not
    decode the query string."""

    @cached_property
    def GET(self) -> QueryDict:
        raw = get_bytes_from_wsgi(self.environ, "QUERY_STRING", "")
        return QueryDict(raw, encoding="utf-8")

    @property
    def encoding(self):
        return self._encoding

    @encoding.setter
    def encoding(self, value):
        # Django's setter drops GET (to decode it again with the new charset), and evaluates it
        # first: the query string does not depend on the body's charset.
        self._encoding = value
        if hasattr(self, "_post"):
            del self._post


class Refusal(Exception):
    """A request answered before Django handles it."""

    def __init__(self, status: int, code: str, detail: str, kind: str = "client_error"):
        super().__init__(detail)
        self.status, self.code, self.detail, self.kind = status, code, detail, kind


def check_charset(environ) -> None:
    """Refuse (415) a declared charset that names no text encoding a body can be in."""
    _, params = parse_header_parameters(environ.get("CONTENT_TYPE", ""))
    charset = params.get("charset")
    if not charset:
        return
    try:
        codec = codecs.lookup(charset)
    except LookupError:
        return  # unknown: ignored, as Django does
    except (ValueError, TypeError):  # a name no codec can have (a NUL character)
        codec = None
    if codec is None or not codec._is_text_encoding or codec.name in NOT_BODY_ENCODINGS:
        raise Refusal(
            415,
            "unsupported_media_type",
            f"The charset {charset[:100]!r} is not a text encoding.",
        )


class TrustedProxies:
    """The peers whose forwarded headers are believed (``settings.TRUSTED_PROXIES``)."""

    def __init__(self, entries: list[str]):
        self.unix = "unix" in entries
        self.networks = [ipaddress.ip_network(entry) for entry in entries if entry != "unix"]

    def __contains__(self, peer: str) -> bool:
        if not peer:  # a unix socket's peer has no address
            return self.unix
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        if address.version == 6 and address.ipv4_mapped:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)


def drop_untrusted_forwarded_headers(environ, trusted: TrustedProxies) -> None:
    if environ.get("REMOTE_ADDR", "") not in trusted:
        for name in FORWARDED_HEADERS:
            environ.pop(name, None)


def request_id(environ) -> str:
    """The client's X-Request-ID when it is a UUID (as django_guid keeps it), else a new one."""
    from django_guid.utils import generate_guid, validate_guid

    given = environ.get("HTTP_X_REQUEST_ID", "")
    return given if given and validate_guid(given) else generate_guid()


class Handler(WSGIHandler):
    """Django's WSGI handler with the request above, and JSON refusals of what Django cannot
    build a request from."""

    request_class = Request

    def __init__(self):
        super().__init__()
        self.trusted_proxies = TrustedProxies(settings.TRUSTED_PROXIES)

    def __call__(self, environ, start_response):
        started = time.perf_counter()
        drop_untrusted_forwarded_headers(environ, self.trusted_proxies)
        try:
            check_charset(environ)
            request = self.request_class(environ)
        except Refusal as refusal:
            return self.refuse(environ, start_response, refusal, started)
        except Exception as error:  # whatever Django cannot build a request from
            refusal = Refusal(400, "invalid", "The request could not be read.")
            refusal.__cause__ = error
            return self.refuse(environ, start_response, refusal, started)
        return self.respond(environ, start_response, request)

    def respond(self, environ, start_response, request):
        """Django's own ``__call__``, past the building of the request."""
        from django.core import signals
        from django.urls import set_script_prefix

        set_script_prefix(request.META["SCRIPT_NAME"])
        signals.request_started.send(sender=self.__class__, environ=environ)
        response = self.get_response(request)
        return self.send(environ, start_response, response)

    def send(self, environ, start_response, response: HttpResponse):
        response._handler_class = self.__class__
        status = f"{response.status_code} {response.reason_phrase}"
        close = response.get("Connection", "").lower() == "close"
        headers = [
            *((name, value) for name, value in response.items() if name.lower() != "connection"),
            *(("Set-Cookie", c.output(header="")) for c in response.cookies.values()),
        ]
        start_response(status, headers)
        if close:
            close_connection(start_response)
        if getattr(response, "file_to_stream", None) is not None and environ.get(
            "wsgi.file_wrapper"
        ):
            response.file_to_stream.close = response.close
            response = environ["wsgi.file_wrapper"](response.file_to_stream, response.block_size)
        return response

    def refuse(self, environ, start_response, refusal: Refusal, started: float):
        from django_guid import clear_guid, set_guid

        guid = request_id(environ)
        set_guid(guid)
        try:
            response = JsonResponse(
                {
                    "type": refusal.kind,
                    "errors": [{"code": refusal.code, "detail": refusal.detail, "attr": None}],
                },
                status=refusal.status,
            )
            response["X-Request-ID"] = guid
            response["Content-Length"] = str(len(response.content))
            response["Connection"] = "close"
            response["Content-Security-Policy"] = "default-src 'none'; frame-ancestors 'none'"
            response["X-Content-Type-Options"] = "nosniff"
            method = wire_text(environ.get("REQUEST_METHOD", ""))
            path = wire_text(environ.get("PATH_INFO", ""))
            access_logger.warning(
                "%s %s %s",
                method,
                path,
                refusal.status,
                extra={
                    "method": method,
                    "path": path,
                    "status": refusal.status,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "client": environ.get("REMOTE_ADDR", ""),
                    "user": None,
                    "refused": refusal.detail
                    + (f" ({type(refusal.__cause__).__name__})" if refusal.__cause__ else ""),
                },
            )
        finally:
            clear_guid()
        return self.send(environ, start_response, response)


def wire_text(value: str) -> str:
    """A WSGI string (bytes as Latin-1) as the text to log, undecodable bytes escaped."""
    try:
        return value.encode("iso-8859-1").decode("utf-8", "backslashreplace")[:2000]
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")[:2000]


def close_connection(start_response) -> None:
    """Ask the server to close the connection after this response. gunicorn drops an
    application's Connection header; its start_response belongs to the response object,
    whose force_close() makes it answer ``Connection: close`` and close."""
    server_response = getattr(start_response, "__self__", None)
    force_close = getattr(server_response, "force_close", None)
    if callable(force_close):
        force_close()


def make_application():
    """The app as servers run it. It refuses to start with a rate limit it cannot read
    (``THROTTLE_*_RATE``): system checks do not run when an app server starts, so the app's
    checks tagged ``rates`` run here."""
    import django

    django.setup(set_prefix=False)
    handler = Handler()
    errors = [
        message
        for message in checks.run_checks(tags=["rates"], include_deployment_checks=False)
        if message.is_serious()
    ]
    if errors:
        raise ImproperlyConfigured("; ".join(error.msg for error in errors))
    return handler


def prepare() -> None:
    """Compile the resources' representations once, in the process that loads the app:
    gunicorn loads it before forking its workers (``preload_app``), so that none of them pays
    for it on a first request."""
    from django.db import connections

    from cryptogroups import feed

    feed.prepare()
    # Compiling may have asked the database its version: no connection crosses a fork.
    connections.close_all()


application = make_application()
prepare()
