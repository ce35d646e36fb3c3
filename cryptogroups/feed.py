"""The changes feed: every create, update, retraction and deletion of public data, in commit
order, so that a mirror can keep an exact copy of the public dataset.

How it stays exact:

- Every save, delete and many-to-many change of a domain row marks the records it concerns as
  pending (``PendingChange``), in the same transaction as the change. Nothing is missed, even
  by a process that dies right after committing.
- ``flush()`` looks at the pending records while holding the lock on the dataset version's row
  (taken as the write's last step, so writes to different records do everything else side by
  side).
  For each one it builds the record's public representation, exactly as the detail endpoint
  serves it (or none, when the record is not public), and compares it with what the feed last
  said (``FeedState``). A difference appends a ``Change``. Representations embed related
  records, so a record whose representation changed, or that was written directly, has its
  related records looked at too, until nothing more changes.
- Changes are appended only under that lock, so their ids increase in commit order, and every
  transaction still running will append ids above those already committed. A page of the feed
  is therefore complete up to its last entry.
- With ``PUBLISH_VERSIONS``, a flush that appends fences the dataset's version and the record
  states it changed in Redis before its transaction commits, and publishes them after
  (``cryptogroups.published``): readers that trust Redis never see a state older than a commit.
- The write API flushes inside its own transaction. Every other writer (the admin, the loader,
  a shell) has the flush run right after it commits; should that fail, the next flush picks
  the pending records up.

Bulk queryset updates send no signals; the project's code does not use them on domain rows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.models.signals import m2m_changed, post_save, pre_delete

from . import models as domain
from . import published
from .choices import ChangeOperation
from .models.version import next_stamp
from .resources import LINK_MODELS, RESOURCE_MODELS, RESOURCES

# --- Representations -----------------------------------------------------------------------------

#: How a record is represented to the public (the API registers it when it is ready): the
#: record's detail, with API URLs relative to the host, or None when it is not public.
_representer: Callable[[models.Model], dict | None] | None = None
#: The same in bulk: (primary key, slug, representation) of each public record of a model among
#: the primary keys given.
_bulk_representer: Callable[[type[models.Model], list[int]], list[tuple[int, str, dict]]] | None = (
    None
)


def represent_with(
    representer: Callable[[models.Model], dict | None],
    bulk_representer: Callable[[type[models.Model], list[int]], list[tuple[int, str, dict]]],
) -> None:
    """Set how records are represented (called once, by the app that serves them)."""
    global _representer, _bulk_representer
    _representer = representer
    _bulk_representer = bulk_representer


def public_representation(record: models.Model) -> dict | None:
    if _representer is None:
        raise ImproperlyConfigured(
            "No representation of records is registered: the API app registers one when "
            "it is ready."
        )
    return _representer(record)


def digest(document: dict) -> str:
    """SHA-256 of the document's canonical JSON: equal documents, equal digests."""
    canonical = json.dumps(
        document,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        cls=DjangoJSONEncoder,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def public_state_columns(model: type[models.Model]) -> dict[str, models.Subquery]:
    """Annotations giving each record's public state as the feed last recorded it: the digest
    of its representation (``feed_digest``, empty or null when it has none) and when that
    last changed (``feed_changed_at``)."""
    states = domain.FeedState.objects.filter(
        content_type=ContentType.objects.get_for_model(model), object_id=models.OuterRef("pk")
    )
    return {
        "feed_digest": models.Subquery(states.values("digest")[:1]),
        "feed_changed_at": models.Subquery(states.values("changed_at")[:1]),
    }


# --- Which records a change concerns ---------------------------------------------------------


Key = tuple[type[models.Model], int]


def resources_of(obj: models.Model) -> Iterator[Key]:
    """The records a row stands for, as (model, primary key): itself if it is a resource's
    record; the records a link row or citation joins. Reads no other row, so that it works
    while fixtures load rows before the rows they refer to."""
    if type(obj) in RESOURCE_MODELS:
        yield type(obj), obj.pk
        return
    if isinstance(obj, domain.Citation):
        if obj.content_type_id and obj.object_id:
            cited = ContentType.objects.get_for_id(obj.content_type_id).model_class()
            if cited in RESOURCE_MODELS:  # a row the domain refuses never reaches the feed
                yield cited, obj.object_id
        if obj.source_id:
            yield domain.Source, obj.source_id
        return
    if isinstance(obj, LINK_MODELS):
        for field in obj._meta.concrete_fields:
            if field.many_to_one and getattr(obj, field.attname) is not None:
                yield field.related_model, getattr(obj, field.attname)


def related_records(record: models.Model) -> Iterator[Key]:
    """Every record one relation away, in either direction, through link rows and citations:
    the records whose representation may embed this one, or be embedded in it."""
    for field in record._meta.get_fields():
        related_model = field.related_model if field.is_relation else None
        if related_model is None or related_model is ContentType:
            continue
        if field.many_to_one and field.concrete:
            target = getattr(record, field.attname)
            if target is not None and related_model in RESOURCE_MODELS:
                yield related_model, target
        elif field.one_to_many or field.many_to_many:
            accessor = field.get_accessor_name() if field.auto_created else field.name
            for row in getattr(record, accessor).all():
                yield from resources_of(row)


# --- Marking pending records -------------------------------------------------------------------


def mark(keys: Iterable[Key], *, using: str, expand: bool = True) -> None:
    """Note the records as pending, in the running transaction. ``expand``: look at their
    related records too when flushing (for records written directly)."""
    rows = [
        domain.PendingChange(
            content_type_id=ContentType.objects.db_manager(using).get_for_model(model).pk,
            object_id=pk,
            expand=expand,
        )
        for model, pk in set(keys)
        if pk is not None
    ]
    if not rows:
        return
    domain.PendingChange.objects.using(using).bulk_create(rows)
    schedule_flush(using)


def schedule_flush(using: str) -> None:
    """Flush once the running transaction commits (right away outside a transaction)."""
    connection = connections[using]
    if any(getattr(func, "feed_flush", False) for *_, func, _ in connection.run_on_commit):
        return

    def run() -> None:
        flush(using=using)

    run.feed_flush = True
    transaction.on_commit(run, using=using, robust=True)


def cancel_scheduled_flush(using: str = DEFAULT_DB_ALIAS) -> None:
    """Drop the flush scheduled for the commit of the running transaction: a write that has
    flushed the feed itself, as its last step, needs no second one after the commit, where a
    failure would reach a client whose change is already saved."""
    connection = connections[using]
    connection.run_on_commit = [
        entry for entry in connection.run_on_commit if not getattr(entry[1], "feed_flush", False)
    ]


def on_save(sender, instance, raw=False, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    mark(resources_of(instance), using=using)


def on_delete(sender, instance, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    """Before a row goes: the row itself (its tombstone) and everything related to it, which
    can no longer be found from it once it is gone."""
    mark(resources_of(instance), using=using)
    if type(instance) in RESOURCE_MODELS:
        mark(related_records(instance), using=using, expand=False)


def on_m2m_change(sender, instance, action, model, pk_set, using=DEFAULT_DB_ALIAS, **kwargs):
    if action == "pre_clear":
        # The rows a clear removes are not named; everything related stands in for them.
        mark(resources_of(instance), using=using)
        mark(related_records(instance), using=using, expand=False)
    elif action in ("post_add", "post_remove"):
        keys = [(model, pk) for pk in pk_set or ()]
        mark([*resources_of(instance), *keys], using=using)


def connect_signals() -> None:
    for model in [*RESOURCE_MODELS, *LINK_MODELS]:
        post_save.connect(on_save, sender=model, dispatch_uid=f"feed-save-{model.__name__}")
        pre_delete.connect(on_delete, sender=model, dispatch_uid=f"feed-delete-{model.__name__}")
        for field in model._meta.local_many_to_many:
            m2m_changed.connect(
                on_m2m_change,
                sender=field.remote_field.through,
                dispatch_uid=f"feed-m2m-{model.__name__}-{field.name}",
            )


# --- The baseline of records written around the feed ------------------------------------------


def set_baseline(
    model: type[models.Model],
    pks: list[int],
    *,
    stamp,
    batch: int = 2000,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Record the public state of records written around the feed (the synthetic generator's
    COPY sends no signal) as the feed's baseline: what the feed would hold had it published
    them, with no entry appended. A later change to one of them, or to a record they embed,
    is then compared with the baseline, as with any record: it appends what changed, and does
    not re-render everything related as new. The records must have no state yet. Returns how
    many states were recorded (the public records among ``pks``)."""
    if _bulk_representer is None:
        raise ImproperlyConfigured("No representation of records is registered.")
    content_type = ContentType.objects.get_for_model(model)
    resource = RESOURCES[model].path
    recorded = 0
    for start in range(0, len(pks), batch):
        chunk = pks[start : start + batch]
        states = [
            domain.FeedState(
                content_type=content_type,
                object_id=pk,
                resource=resource,
                slug=slug,
                digest=digest(document),
                changed_at=stamp,
            )
            for pk, slug, document in _bulk_representer(model, chunk)
        ]
        domain.FeedState.objects.bulk_create(states, batch_size=batch)
        recorded += len(states)
        if progress is not None:
            progress(len(chunk))
    return recorded


# --- Flushing pending records into the feed ----------------------------------------------------


def flush(using: str = DEFAULT_DB_ALIAS) -> int:
    """Look at every pending record and append what changed in the public dataset to the feed.
    Returns the number of entries appended."""
    with transaction.atomic(using=using):
        # The lock that orders the feed: held until this transaction commits. A write takes it
        # only here, as its last step: writes to different records validate and save side by
        # side, and queue only to append to the feed.
        locked = domain.DatasetVersion.objects.using(using).select_for_update().filter(pk=1).first()
        # A row another running transaction holds is its own to flush, once it has committed.
        pending = list(
            domain.PendingChange.objects.using(using)
            .select_for_update(skip_locked=True)
            .order_by("pk")
        )
        if not pending:
            return 0
        # Each record once, in the order it was first noted, expanded if any note says so.
        expanded: dict[tuple[int, int], bool] = {}
        for p in pending:
            key = (p.content_type_id, p.object_id)
            expanded[key] = expanded.get(key, False) or p.expand
        queue = [(*key, expand) for key, expand in expanded.items()]
        seen: set[tuple[int, int]] = set()
        states: list[published.State] = []
        appended = 0
        while queue:
            content_type_id, object_id, expand = queue.pop(0)
            if (content_type_id, object_id) in seen:
                continue
            seen.add((content_type_id, object_id))
            model = ContentType.objects.get_for_id(content_type_id).model_class()
            if model not in RESOURCE_MODELS:
                continue  # nothing the feed serves: dropped with the other pending rows
            record = model._default_manager.using(using).filter(pk=object_id).first()
            changed = record_change(
                model, content_type_id, object_id, record, using=using, states=states
            )
            appended += changed
            if record is not None and (expand or changed):
                for other_model, pk in related_records(record):
                    ct = ContentType.objects.db_manager(using).get_for_model(other_model).pk
                    if (ct, pk) not in seen:
                        queue.append((ct, pk, False))
        domain.PendingChange.objects.using(using).filter(pk__in=[p.pk for p in pending]).delete()
        if appended:
            counter, stamp = domain.DatasetVersion.bump(using=using, current=locked)
            # Fenced before the commit, published after it (cryptogroups.published).
            published.fence(counter, states)
            transaction.on_commit(
                lambda: published.publish(counter, stamp, states), using=using, robust=True
            )
        return appended


def record_change(
    model,
    content_type_id: int,
    object_id: int,
    record,
    *,
    using: str,
    states: list[published.State] | None = None,
) -> int:
    """Compare the record's public representation with what the feed last said; append the
    entries that bring the feed up to date. Returns how many were appended; adds the public
    states it changed to ``states``."""
    state, _ = domain.FeedState.objects.using(using).get_or_create(
        content_type_id=content_type_id, object_id=object_id
    )
    document = public_representation(record) if record is not None else None
    resource = RESOURCES[model].path
    new_digest = digest(document) if document is not None else ""
    if new_digest == state.digest:
        return 0
    entries = []
    was_public = bool(state.digest)
    if was_public and (document is None or state.slug != record.slug):
        gone = ChangeOperation.DELETED if record is None else ChangeOperation.RETRACTED
        entries.append(domain.Change(resource=state.resource, slug=state.slug, operation=gone))
        if states is not None:
            states.append((state.resource, state.slug, "", None))
    if document is not None:
        operation = (
            ChangeOperation.UPDATED
            if was_public and state.slug == record.slug
            else ChangeOperation.CREATED
        )
        entries.append(
            domain.Change(resource=resource, slug=record.slug, operation=operation, data=document)
        )
    for entry in entries:
        entry.save(using=using)
    state.resource = resource if document is not None else ""
    state.slug = record.slug if document is not None else ""
    state.digest = new_digest
    state.changed_at = next_stamp(state.changed_at)
    state.save(using=using)
    if states is not None and document is not None:
        states.append((state.resource, state.slug, state.digest, state.changed_at))
    return len(entries)
