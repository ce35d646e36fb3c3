"""Validators of reads (ETag, Last-Modified) and the answers to conditional requests."""

from __future__ import annotations

import functools
import hashlib
from datetime import datetime

from django.http import HttpResponseBase
from django.utils.cache import get_conditional_response
from django.utils.http import http_date

from cryptogroups import models
from cryptogroups.models.version import last_modified

from .requests import PreconditionFailed


def entity_tag(digest: str, media_type: str) -> str:
    """A strong entity tag for a representation whose content has this digest, in this media
    type (JSON's tag is the digest alone)."""
    if media_type == "application/json":
        return f'"{digest[:32]}"'
    return f'"{digest[:32]}-{hashlib.sha256(media_type.encode()).hexdigest()[:8]}"'


def version_tag(counter: int, path: str, media_type: str) -> str:
    """The tag of a list or of the feed: the public dataset's version, the URL and the media
    type make it, so the body need not be built to compare."""
    digest = hashlib.sha256(f"{path} {media_type}".encode()).hexdigest()[:16]
    return f'"{counter}-{digest}"'


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
        """The tag of a list or of the feed (``version_tag``)."""
        return version_tag(
            self.dataset_version.counter,
            path or request.get_full_path(),
            media_type or request.accepted_media_type,
        )

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
        response = conditional_response(request, etag, stamp)
        if response is not None and response.status_code == 412:
            raise PreconditionFailed()
        return response

    def validators(self, request, response) -> None:
        if request.method not in ("GET", "HEAD") or response.status_code not in (200, 304):
            return
        set_validators(response, *self.current_validators(request))


def conditional_response(request, etag: str, stamp: datetime | None) -> HttpResponseBase | None:
    """Django's answer to the request's conditions for these validators: a 304, a 412, or
    None when the body is to be sent."""
    return get_conditional_response(
        request, etag=etag, last_modified=int(stamp.timestamp()) if stamp is not None else None
    )


def set_validators(response, etag: str | None, stamp: datetime | None) -> None:
    if etag is not None:
        response.headers["ETag"] = etag
    if stamp is not None:
        response.headers["Last-Modified"] = _http_date(last_modified(stamp))


@functools.lru_cache(maxsize=1024)
def _http_date(moment: datetime) -> str:
    """The HTTP date of a moment: formatted once for the many answers that send it."""
    return http_date(moment.timestamp())
