"""Takedowns: removing a record that must not be published (a person's details, a legal
request) from everything the project serves or keeps of it.

``take_down`` does it in one transaction, under the feed's ordering lock:

1. the record is deleted, with its citations (a record other records still refer to is
   refused, as a hard delete is: change those first);
2. its history, its citations' history and the admin's log entries about it are deleted: the
   history keeps no copy of what it said;
3. the feed records the deletion (a ``deleted`` tombstone), and the records that embedded it
   are represented anew without it;
4. every earlier feed entry of the record, under any slug it had, becomes a tombstone (its
   data gone), and every earlier entry of another record that embedded it loses that part;
5. a ``Takedown`` row keeps who did it, when and why, with the resource and the slug.

Snapshots are made from what is public, so no later snapshot holds it.
"""

from __future__ import annotations

from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import models as db_models
from django.db import transaction
from django.db.models import TextField
from django.db.models.functions import Cast

from . import feed, models
from .choices import ChangeOperation
from .resources import RESOURCES


def take_down(record: db_models.Model, *, user, reason: str) -> models.Takedown:
    """Remove the record for good (see the module). Raises ``ProtectedError`` or
    ``RestrictedError`` when other records still refer to it, with nothing changed."""
    model = type(record)
    resource = RESOURCES[model].path
    content_type = ContentType.objects.get_for_model(model)
    with transaction.atomic():
        models.DatasetVersion.objects.select_for_update().filter(pk=1).first()
        entries = models.Change.objects.filter(resource=resource)
        slugs = {record.slug, *record.history.values_list("slug", flat=True)}
        urls = {
            url
            for data in entries.filter(slug__in=slugs)
            .exclude(data=None)
            .values_list("data", flat=True)
            if isinstance(url := data.get("url"), str)
        }
        pk, slug = record.pk, record.slug
        record._change_reason = "Taken down"
        record.delete()

        model.history.filter(id=pk).delete()
        models.Citation.history.filter(content_type=content_type, object_id=pk).delete()
        LogEntry.objects.filter(content_type=content_type, object_id=str(pk)).delete()

        feed.flush()
        entries.filter(slug__in=slugs).update(operation=ChangeOperation.DELETED, data=None)
        for url in urls:
            scrub_embedded(url)
        return models.Takedown.objects.create(
            resource=resource, slug=slug, reason=reason, taken_by=user
        )


def scrub_embedded(url: str) -> None:
    """Remove the record with this API URL from every feed entry that embeds it."""
    embedding = models.Change.objects.annotate(text=Cast("data", TextField())).filter(
        text__contains=url
    )
    for entry in embedding.only("id", "data"):
        entry.data = without(entry.data, url)
        entry.save(update_fields=["data"])


def without(document, url: str):
    """The document with every object whose ``url`` is the given one left out (from a list),
    or made null (as a field's value)."""
    if isinstance(document, dict):
        return {
            key: None if is_the_record(value, url) else without(value, url)
            for key, value in document.items()
        }
    if isinstance(document, list):
        return [without(value, url) for value in document if not is_the_record(value, url)]
    return document


def is_the_record(value, url: str) -> bool:
    return isinstance(value, dict) and value.get("url") == url
