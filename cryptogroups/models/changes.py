"""The changes feed's storage: an append-only log of what happened to the public dataset.

``Change`` rows are written only while the dataset version's row is locked (see
``cryptogroups.feed``), so their ids increase in commit order: a reader that has seen id N has seen
every change committed before it. Rows are never deleted; tombstones are kept for good.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q
from django.utils import timezone

from cryptogroups.choices import ChangeOperation

from .base import CheckedModel


class Change(CheckedModel):
    """One entry of the changes feed: a record entered, changed in or left the public dataset."""

    id = models.BigAutoField(primary_key=True, help_text="Position in the feed, in commit order.")
    resource = models.CharField(
        max_length=40, help_text="The API resource of the record, for example 'groups'."
    )
    slug = models.CharField(max_length=100, help_text="The record's slug.")
    operation = models.CharField(
        max_length=9, choices=ChangeOperation.choices, help_text="What happened to the record."
    )
    data = models.JSONField(
        null=True,
        blank=True,
        help_text="The record's public representation after the change, with API URLs relative "
        "to the host; null for a retraction or a deletion.",
    )
    recorded_at = models.DateTimeField(
        default=timezone.now, help_text="When the change was recorded (UTC)."
    )

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["resource", "slug"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(operation__in=ChangeOperation.values),
                name="%(app_label)s_%(class)s_operation_valid",
            ),
            models.CheckConstraint(
                condition=Q(operation__in=["created", "updated"], data__isnull=False)
                | Q(operation__in=["retracted", "deleted"], data__isnull=True),
                name="%(app_label)s_%(class)s_data_matches_operation",
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.operation} {self.resource}/{self.slug}"


class FeedState(models.Model):
    """What the feed last said of one record: under which slug it is public, and a digest of
    the representation it last published (both empty while the record is not public)."""

    content_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, help_text="Kind of the record."
    )
    object_id = models.PositiveBigIntegerField(help_text="Primary key of the record.")
    resource = models.CharField(max_length=40, blank=True, help_text="API resource, if public.")
    slug = models.CharField(max_length=100, blank=True, help_text="Public slug, if public.")
    digest = models.CharField(
        max_length=64, blank=True, help_text="SHA-256 of the last published representation."
    )
    changed_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the record's public representation last changed, to the second; "
        "each change is at least a second after the one before (its Last-Modified).",
    )
    field_digests = models.JSONField(
        default=dict,
        blank=True,
        help_text="A short digest of each of the record's fields as last published, by name "
        "(empty while the record is not public, or not yet known): which fields a change "
        "moved.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["content_type", "object_id"], name="%(app_label)s_%(class)s_unique_record"
            )
        ]

    def __str__(self) -> str:
        return f"{self.resource}/{self.slug or '-'}"


class PendingChange(models.Model):
    """A record that changed in a committed or running transaction and that the feed has not
    looked at yet. Written in the same transaction as the change, so no change is missed.

    A record may be noted more than once, by one transaction or by several: rows are only ever
    inserted, with no unique key, so that two writers noting the same related record never wait
    for each other. The flush takes each record once."""

    content_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, help_text="Kind of the record."
    )
    object_id = models.PositiveBigIntegerField(help_text="Primary key of the record.")
    expand = models.BooleanField(
        default=True,
        help_text="Also look at the records related to it (their representations may embed it).",
    )

    def __str__(self) -> str:
        return f"{self.content_type_id}:{self.object_id}"


class PendingFanout(models.Model):
    """Records one relation of a record reaches, which the feed has still to look at because
    the record's representation changed and theirs may embed it (the groups of a renamed
    platform). A write looks at a record's related records itself up to
    ``FEED_INLINE_RELATED`` of them along one relation; a larger relation is written here, in
    the write's transaction, and the feed worker (``manage.py feed_worker``) looks at it in
    batches, in the order of the related rows' primary keys, from just after ``after``."""

    content_type = models.ForeignKey(
        ContentType, on_delete=models.PROTECT, help_text="Kind of the record."
    )
    object_id = models.PositiveBigIntegerField(help_text="Primary key of the record.")
    relation = models.CharField(
        max_length=100, help_text="The relation of the record to follow (its accessor's name)."
    )
    after = models.BigIntegerField(
        default=0, help_text="Primary key of the last related row looked at (0: none yet)."
    )
    noted_at = models.DateTimeField(default=timezone.now, help_text="When it was noted (UTC).")

    class Meta:
        constraints = [
            # Noted again, a relation is looked at again from its start.
            models.UniqueConstraint(
                fields=["content_type", "object_id", "relation"],
                name="%(app_label)s_%(class)s_unique_relation",
            )
        ]

    def __str__(self) -> str:
        return f"{self.content_type_id}:{self.object_id}.{self.relation} after {self.after}"


class Takedown(models.Model):
    """A record removed for good from the public dataset, from its feed entries and its
    history, because it must not be published (a person's details, a legal request). Keeps
    who did it, when and why, and which resource and slug the record had: nothing of what it
    said. See ``cryptogroups.takedowns``."""

    resource = models.CharField(max_length=40, help_text="The API resource of the record.")
    slug = models.CharField(max_length=100, help_text="The record's slug when it was taken down.")
    reason = models.TextField(
        max_length=500, help_text="Why the record was taken down (a legal request, ...)."
    )
    taken_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="takedowns",
        help_text="Who took it down.",
    )
    taken_at = models.DateTimeField(default=timezone.now, help_text="When (UTC).")

    class Meta:
        ordering = ["-taken_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(reason=""), name="%(app_label)s_%(class)s_reason_given"
            )
        ]

    def __str__(self) -> str:
        return f"{self.resource}/{self.slug} taken down {self.taken_at:%Y-%m-%d}"
