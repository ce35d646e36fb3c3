"""The API's schema and its documentation pages: ``/api/schema/``, ``/api/docs/`` (Swagger UI)
and ``/api/redoc/`` (ReDoc).

They depend on the code alone, not on the data: each process builds each one once (the
schema takes a few hundred milliseconds of CPU) and keeps the bytes, keyed by view and
renderer (YAML or JSON for the schema), for as long as it runs, that is for one deployment of
the code. Every answer carries a strong ``ETag`` (a digest of the bytes) and
``Cache-Control: no-cache``: a client or a cache revalidates, and an unchanged copy is a 304.
A test that changes settings empties the store (``setting_changed``).

Swagger UI's page embeds the client's CSRF token (for writes tried from the page with an admin
session): it is built once with a placeholder, which each answer replaces with the client's
own token, and its tag covers the client's CSRF secret too (it is ``private``): no client
ever gets another's token.

They are not rate limited: once built they cost a dictionary lookup, and a client that has
spent its API budget can still read how the API works. They refuse what they do not read, as
the resources do (RequestChecksMixin).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.utils.cache import get_conditional_response
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from .views.requests import RequestChecksMixin

#: The response headers kept with a built page (the others are the middleware's, each time).
KEPT_HEADERS = ("Content-Type", "Content-Disposition", "Cross-Origin-Opener-Policy")
#: Where a built page has the client's CSRF token.
CSRF_PLACEHOLDER = "csrftokenplaceholder4f1c9b2e"


@dataclass(frozen=True)
class Built:
    content: bytes
    headers: dict[str, str]
    etag: str


_built: dict[tuple[type, type], Built] = {}
_lock = threading.Lock()


@receiver(setting_changed)
def _forget(**kwargs) -> None:
    """The pages are built from the settings too (tests change them)."""
    with _lock:
        _built.clear()


class BuiltOnce(RequestChecksMixin):
    """A GET answered from the bytes built by the process's first such request."""

    throttle_classes = ()
    #: The page embeds the client's CSRF token (Swagger UI).
    embeds_csrf_token = False

    @extend_schema(exclude=True)  # pages about the API, not of it
    def get(self, request, *args, **kwargs):
        renderer = request.accepted_renderer
        # The bytes depend on the renderer only: parameters of the client's Accept header (a
        # JSON indent) are not honoured, so that no client can make the store grow.
        request.accepted_media_type = renderer.media_type
        key = (type(self), type(renderer))
        built = _built.get(key)
        if built is None:
            response = super().get(request, *args, **kwargs)
            if response.status_code != 200:
                return response
            if self.embeds_csrf_token:
                response.data["csrf_token"] = CSRF_PLACEHOLDER
            with _lock:
                built = _built.setdefault(key, self.keep(request, response, *args, **kwargs))
        content, etag, cache_control = built.content, built.etag, "no-cache"
        if self.embeds_csrf_token:
            token = get_token(request._request)  # sets the CSRF cookie when there is none
            secret = request._request.META["CSRF_COOKIE"]
            content = content.replace(CSRF_PLACEHOLDER.encode(), token.encode())
            etag = f'"{hashlib.sha256(f"{etag} {secret}".encode()).hexdigest()[:32]}"'
            cache_control = "private, no-cache"
        response = get_conditional_response(request, etag=etag)
        if response is None:
            response = HttpResponse(content)
            for name, value in built.headers.items():
                response[name] = value
        response["ETag"] = etag
        response["Cache-Control"] = cache_control
        return response

    def keep(self, request, response, *args, **kwargs) -> Built:
        """The page's bytes, rendered as DRF would render them, and their tag."""
        response = self.finalize_response(request, response, *args, **kwargs)
        response.render()
        content = bytes(response.content)
        return Built(
            content=content,
            headers={name: response[name] for name in KEPT_HEADERS if name in response},
            etag=f'"{hashlib.sha256(content).hexdigest()[:32]}"',
        )


class SchemaView(BuiltOnce, SpectacularAPIView):
    """The OpenAPI schema: YAML, or JSON with ?format=json."""


class SwaggerView(BuiltOnce, SpectacularSwaggerView):
    """Swagger UI on the schema."""

    embeds_csrf_token = True


class RedocView(BuiltOnce, SpectacularRedocView):
    """ReDoc on the schema."""
