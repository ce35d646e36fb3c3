"""The public dataset's version: one row that moves forward each time the changes feed records a
change to public data, and only then (a draft edit leaves it where it is).

Reading it costs one indexed query, whatever the size of the data, which makes it the basis of
the validators of lists and of the feed: a list can only have changed if the version has. It
lives in the database, so it is right for any number of app servers. A record's own
validators come from its own public state (``FeedState``).
"""

from __future__ import annotations

from calendar import timegm
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import models
from django.db.models import F, Q
from django.utils import timezone


class DatasetVersion(models.Model):
    """A counter and a time, moved forward in the same transaction as every change."""

    id = models.PositiveSmallIntegerField(
        primary_key=True, default=1, help_text="Always 1: there is one version of the dataset."
    )
    counter = models.PositiveBigIntegerField(
        default=0, help_text="How many changes the dataset has seen."
    )
    changed_at = models.DateTimeField(
        default=timezone.now, help_text="When the dataset last changed (UTC)."
    )
    moved = models.JSONField(
        default=dict,
        blank=True,
        help_text="When each field of public records last changed (the change's time in whole "
        "seconds since 1970), by 'app_label.model.field' ('public': a record's visibility; "
        "'*': every field).",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(id=1), name="%(app_label)s_%(class)s_single_row")
        ]

    def __str__(self) -> str:
        return f"version {self.counter} of {self.changed_at:%Y-%m-%d %H:%M:%S}"

    @classmethod
    def current(cls) -> DatasetVersion:
        """The version, read without writing (the row is made by a migration)."""
        return cls.objects.filter(pk=1).first() or cls(pk=1)

    @classmethod
    def bump(
        cls,
        using: str = "default",
        current: DatasetVersion | None = None,
        moved: Iterable[str] | None = None,
    ) -> tuple[int, datetime]:
        """Move the version forward; return its new counter and time. The caller holds the
        row's lock (see the feed's flush) and may pass the row it read with it. ``moved``: the
        fields of public records the change altered (see ``last_moved``); None, every field
        (a change the feed did not look at, such as a bulk load)."""
        if current is None:
            current = cls.objects.using(using).filter(pk=1).first()
        stamp = next_stamp(current.changed_at if current else None)
        counter = current.counter + 1 if current else 1
        # Stamps only grow, by a second at least, and follow the clock: a database restored to
        # an earlier state does not give one again (unlike its counter).
        second = timegm(stamp.utctimetuple())
        fields = {EVERY_FIELD: second} if moved is None or current is None else current.moved
        fields = {**fields, **dict.fromkeys(moved or (), second)}
        if (
            not cls.objects.using(using)
            .filter(pk=1)
            .update(counter=F("counter") + 1, changed_at=stamp, moved=fields)
        ):
            cls.objects.using(using).create(pk=1, counter=1, changed_at=stamp, moved=fields)
            return 1, stamp
        return counter, stamp

    @classmethod
    def moved_fields(cls) -> dict[str, int]:
        """When each field last moved (see ``last_moved``), read without writing."""
        return cls.objects.filter(pk=1).values_list("moved", flat=True).first() or {}


#: In ``DatasetVersion.moved``: the last change that may have moved any field.
EVERY_FIELD = "*"
#: In ``DatasetVersion.moved``: the last change of a record's visibility.
VISIBILITY = "public"


def last_moved(moved: dict[str, int], fields: Iterable[str]) -> int:
    """The time of the last change to any of ``fields`` (or to visibility, or to every
    field): what a list's count, kept positions and matches, which depend on those fields
    alone, are kept under. A change to a field they do not read (a description, for a list
    that is not searched) leaves it where it is."""
    names = {EVERY_FIELD, VISIBILITY, *fields}
    return max((moved.get(name, 0) for name in names), default=0)


def next_stamp(previous: datetime | None) -> datetime:
    """The time of a change, to the second, and later than the previous change's by at least
    one second. HTTP dates count whole seconds: two changes within one second would otherwise
    share a Last-Modified, and If-Modified-Since would call the second one unchanged. A stamp
    may run ahead of the clock when changes come faster than one a second; the Last-Modified
    sent is then the time of the answer (see ``last_modified``)."""
    now = timezone.now().replace(microsecond=0)
    if previous is not None and now <= previous:
        return previous.replace(microsecond=0) + timedelta(seconds=1)
    return now


def last_modified(stamp: datetime) -> datetime:
    """The Last-Modified to send for a stamp: never later than now (RFC 9110, 8.8.2.1)."""
    return min(stamp, timezone.now())
