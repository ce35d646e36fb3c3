"""The dataset's version: one row that every change to the data moves forward.

Reading it costs one indexed query, whatever the size of the data, which makes it the basis of
ETag and Last-Modified: a representation can only have changed if the version has. It lives in
the database, so it is right for any number of app servers.
"""

from __future__ import annotations

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
    def bump(cls) -> None:
        now = timezone.now()
        if not cls.objects.filter(pk=1).update(counter=F("counter") + 1, changed_at=now):
            cls.objects.create(pk=1, counter=1, changed_at=now)


def bump_dataset_version(sender, **kwargs) -> None:
    """Signal receiver for every save, delete and many-to-many change of the domain."""
    DatasetVersion.bump()
