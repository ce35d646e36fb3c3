"""The changes feed as the API serves it: opaque cursors and the shape of its pages. What the
feed records, and when, is the domain's (``cryptogroups.feed``)."""

from __future__ import annotations

import base64
import binascii
import re

from rest_framework import serializers
from rest_framework.exceptions import ValidationError

from cryptogroups.choices import ChangeOperation

from .representations import absolute_urls

# --- Cursors ---------------------------------------------------------------------------------

_CURSOR_PREFIX = b"cg1:"


def encode_cursor(position: int) -> str:
    """An opaque cursor for a position in the feed."""
    raw = _CURSOR_PREFIX + position.to_bytes(8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, *, parameter: str = "after") -> int:
    """The position a cursor stands for; a 400 naming the parameter if it is not one of ours."""
    raw = b""
    if _CURSOR_SHAPE.fullmatch(cursor):
        try:
            raw = base64.urlsafe_b64decode(cursor)
        except (binascii.Error, ValueError):
            raw = b""
    if len(raw) != len(_CURSOR_PREFIX) + 8 or not raw.startswith(_CURSOR_PREFIX):
        raise ValidationError(
            {parameter: ["Not a cursor of this feed: pass a cursor from a feed page, as is."]}
        )
    return int.from_bytes(raw[len(_CURSOR_PREFIX) :], "big")


_CURSOR_SHAPE = re.compile(r"[A-Za-z0-9_-]{16}")

# --- The feed's representation -----------------------------------------------------------------


class ChangeSerializer(serializers.Serializer):
    """One entry of the changes feed."""

    cursor = serializers.SerializerMethodField(
        help_text="Opaque position of this entry in the feed; pass it as `after` to read on."
    )
    resource = serializers.CharField(
        help_text="The API resource of the record, as in its URL: groups, exchanges, ..."
    )
    slug = serializers.CharField(help_text="The record's slug.")
    operation = serializers.ChoiceField(
        choices=ChangeOperation.choices,
        help_text="created: the record entered the public dataset (new, published, or renamed "
        "to this slug); updated: its representation changed; retracted: it left the public "
        "dataset (retracted, back to draft, hidden with a record it depends on, or renamed "
        "away from this slug); deleted: it was removed for good. Retracted and deleted "
        "entries are tombstones: remove the record from your copy.",
    )
    recorded_at = serializers.DateTimeField(help_text="When the change was recorded (UTC).")
    data = serializers.JSONField(
        allow_null=True,
        help_text="The record as its detail endpoint served it after the change; null for a "
        "tombstone.",
    )

    def get_cursor(self, change) -> str:
        return encode_cursor(change.pk)

    def to_representation(self, instance):
        represented = super().to_representation(instance)
        request = self.context.get("request")
        if request is not None and represented["data"] is not None:
            represented["data"] = absolute_urls(represented["data"], request.build_absolute_uri)
        return represented


class ChangesPageSerializer(serializers.Serializer):
    """A page of the changes feed."""

    complete_through = serializers.CharField(
        help_text="Cursor up to which the feed is complete once you have read this page: keep "
        "it, and pass it as `after` to read what comes next."
    )
    next = serializers.URLField(
        allow_null=True, help_text="URL of the next page; null when you have read every entry."
    )
    catching_up = serializers.BooleanField(
        help_text="True while the feed is still appending the entries that a committed change "
        "brings to the records embedding the changed one (the groups of a renamed platform: "
        "they follow within minutes, in batches). With `next` null and `catching_up` false "
        "you hold the public dataset as it is now."
    )
    results = ChangeSerializer(many=True, help_text="The entries, oldest first.")
