"""How curators write a resource: create, replace, update, retract or delete, and take down,
each in one transaction that ends by recording the change in the feed."""

from __future__ import annotations

from urllib.parse import urlencode

from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import parse_etags
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.exceptions import (
    PermissionDenied,
    ValidationError,
)
from rest_framework.response import Response

from cryptogroups import feed
from cryptogroups.choices import PublicationStatus
from cryptogroups.takedowns import take_down

from ..permissions import can_hard_delete, can_take_down
from ..representations import render_record
from ..schema import reason_parameter, slug_parameter
from .conditional import entity_tag
from .requests import PUBLISHED, Conflict, PreconditionFailed

#: The longest change reason the history keeps.
MAX_REASON = 100

#: Query parameters of the write operations, and whether they may be repeated.
WRITE_PARAMETERS = {"reason": False}


class WriteMixin:
    """The write actions of a resource (see RecordViewSet)."""

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

    @extend_schema(
        operation_id=None,
        request=None,
        responses={204: None},
        parameters=[slug_parameter, reason_parameter],
        filters=False,
        description="Take the record down for good: it leaves the public API, every earlier "
        "changes-feed entry of it becomes a tombstone (and entries of records that embedded it "
        "lose that part), its history is deleted, and no later snapshot holds it. Who did it, "
        "when and why are kept. Needs the takedown permission; a 409 while other records refer "
        "to it. Mirrors must delete their copy, and what they kept of it.",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def takedown(self, request, slug: str, format: str | None = None) -> Response:
        reason = self.change_reason(request)
        if not can_take_down(request.user):
            raise PermissionDenied("A takedown needs the takedown permission.")
        with transaction.atomic():
            records = self.model._default_manager.select_for_update(of=("self",))
            record = get_object_or_404(records, slug=slug)
            try:
                take_down(record, user=request.user, reason=reason)
            except (ProtectedError, RestrictedError) as error:
                raise Conflict(
                    "Other records refer to this one; change or delete them first: "
                    + "; ".join(sorted({str(obj) for obj in error.protected_objects})[:5])
                ) from None
            feed.cancel_scheduled_flush()
        return Response(status=status.HTTP_204_NO_CONTENT)

    # Everything a write's answer says is read before its transaction commits: once the
    # change is saved, the request reads the database no more, so an outage can no longer
    # answer 503 (nothing saved, retry) for a change that was saved.

    def finish_write(self, record=None) -> None:
        """The write's last steps inside its transaction: the changes feed, and the digest
        the answer's ETag carries."""
        feed.flush()
        feed.cancel_scheduled_flush()
        if record is not None:
            document = render_record(record)
            self.digest_after_write = feed.digest(document) if document else None

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
        digest = feed.digest(render_record(record))
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
