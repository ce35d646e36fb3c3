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
  related records looked at too, until nothing more changes. Records are looked at level by
  level, in bulk: one query per model and relation, whatever the number of records.
- A write looks at no more than ``FEED_INLINE_RELATED`` records along one relation of a
  record. A larger relation (the 190,000 groups of a renamed platform) is noted instead
  (``PendingFanout``), in the write's transaction, and ``fan_out()`` (the feed worker,
  ``manage.py feed_worker``) looks at it in batches of ``FEED_FANOUT_BATCH`` records in the
  order of their keys, each batch in a transaction of its own that takes the same lock and
  appends as a flush does. Until every noted relation is done the feed is catching up: its
  pages say so. A relation noted again is taken again from its start, as the rows already
  looked at were looked at before the new change.
- A flush also notes which fields of public records it saw change (``DatasetVersion.moved``,
  from a short digest of each field kept in ``FeedState``), and whether a record's visibility
  did: a list's count and positions, which read a few fields, are kept until one of those
  moves (``api.views.reads``), not until any change.
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
from itertools import chain

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.models.signals import m2m_changed, post_save, pre_delete

from . import models as domain
from . import published
from .choices import ChangeOperation
from .models.version import VISIBILITY, next_stamp
from .resources import LINK_MODELS, RESOURCE_MODELS, RESOURCES

# --- Representations -----------------------------------------------------------------------------

#: How records are represented to the public (the API registers it when it is ready): their
#: details, with API URLs relative to the host, as (primary key, slug, representation) of each
#: public record of a model among the primary keys given.
_bulk_representer: Callable[[type[models.Model], list[int]], list[tuple[int, str, dict]]] | None = (
    None
)


#: The tables the representations of a model's records read.
_tables_read: Callable[[type[models.Model]], frozenset[str]] | None = None


def represent_with(
    bulk_representer: Callable[[type[models.Model], list[int]], list[tuple[int, str, dict]]],
    tables_read: Callable[[type[models.Model]], frozenset[str]],
) -> None:
    """Set how records are represented (called once, by the app that serves them)."""
    global _bulk_representer, _tables_read
    _bulk_representer = bulk_representer
    _tables_read = tables_read
    _readers.clear()


_readers: dict[type[models.Model], frozenset[type[models.Model]]] = {}


def readers_of(model: type[models.Model]) -> frozenset[type[models.Model]]:
    """The models whose representations read the model's table: the only ones a change of
    the model's records, made through rows of other tables, can reach through them."""
    if not _readers:
        if _tables_read is None:
            raise ImproperlyConfigured("No representation of records is registered.")
        # Once for every model: each representation's queries are compiled once.
        tables = {other: _tables_read(other) for other in RESOURCE_MODELS}
        for each in RESOURCE_MODELS:
            _readers[each] = frozenset(
                other for other in RESOURCE_MODELS if each._meta.db_table in tables[other]
            )
    return _readers[model]


def prepare() -> None:
    """Compile what the feed needs of every representation, once (an app server does it
    before its workers fork, so that no first write pays for it)."""
    readers_of(RESOURCE_MODELS[0])


def field_digests(
    model: type[models.Model], pks: list[int], *, using: str = DEFAULT_DB_ALIAS
) -> dict[int, dict[str, str]]:
    """A short digest of each field of each record (its own columns, and the keys its
    many-to-many fields link to), by name: comparing two tells which fields moved. One query,
    and one per many-to-many field."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    rows = model._default_manager.using(using).filter(pk__in=pks)
    found = {
        pk: {field.name: _short(value) for field, value in zip(fields, values, strict=True)}
        for pk, *values in rows.values_list("pk", *(field.attname for field in fields))
    }
    for field in model._meta.many_to_many:
        through = field.remote_field.through._default_manager.using(using)
        source, target = field.m2m_field_name(), field.m2m_reverse_field_name()
        linked: dict[int, list] = {pk: [] for pk in found}
        for pk, other in through.filter(**{f"{source}__in": list(found)}).values_list(
            source, target
        ):
            linked[pk].append(other)
        for pk, others in linked.items():
            found[pk][field.name] = _short(sorted(others))
    return found


def _short(value) -> str:
    return hashlib.blake2b(repr(value).encode(), digest_size=6).hexdigest()


def moved_fields(model: type[models.Model], before: dict, after: dict) -> set[str]:
    """The names, as ``DatasetVersion.moved`` holds them, of the fields whose digests differ."""
    label = model._meta.label_lower
    return {
        f"{label}.{name}"
        for name in before.keys() | after.keys()
        if before.get(name) != after.get(name)
    }


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
        mark(neighbours(type(instance), [instance.pk], using=using), using=using, expand=False)


def on_m2m_change(sender, instance, action, model, pk_set, using=DEFAULT_DB_ALIAS, **kwargs):
    if action == "pre_clear":
        # The rows a clear removes are not named; everything related stands in for them.
        mark(resources_of(instance), using=using)
        mark(neighbours(type(instance), [instance.pk], using=using), using=using, expand=False)
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
        fields = field_digests(model, chunk)
        states = [
            domain.FeedState(
                content_type=content_type,
                object_id=pk,
                resource=resource,
                slug=slug,
                digest=digest(document),
                changed_at=stamp,
                field_digests=fields.get(pk, {}),
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
        noted: dict[tuple[int, int], bool] = {}
        for p in pending:
            key = (p.content_type_id, p.object_id)
            noted[key] = noted.get(key, False) or p.expand
        appended, states, moved = spread(noted, using=using)
        domain.PendingChange.objects.using(using).filter(pk__in=[p.pk for p in pending]).delete()
        if appended:
            publish_on_commit(locked, states, moved, using=using)
        return appended


def fan_out(using: str = DEFAULT_DB_ALIAS, batch: int | None = None) -> int | None:
    """Look at the next batch of records a noted relation reaches (``PendingFanout``), in a
    transaction of its own, and append what changed, as a flush does. Returns how many records
    of the relation it looked at; None when no relation is noted."""
    batch = batch or settings.FEED_FANOUT_BATCH
    with transaction.atomic(using=using):
        locked = domain.DatasetVersion.objects.using(using).select_for_update().filter(pk=1).first()
        job = (
            domain.PendingFanout.objects.using(using)
            .select_for_update(skip_locked=True)
            .order_by("pk")
            .first()
        )
        if job is None:
            return None
        model = ContentType.objects.db_manager(using).get_for_id(job.content_type_id).model_class()
        record = model._default_manager.using(using).filter(pk=job.object_id).first()
        rows = []
        if record is not None:
            related = getattr(record, job.relation).all()
            rows = list(related.filter(pk__gt=job.after).order_by("pk")[:batch])
        if len(rows) < batch:
            job.delete()
        else:
            job.after = rows[-1].pk
            job.save(update_fields=["after"])
        noted: dict[tuple[int, int], bool] = {}
        for row in rows:
            for other_model, pk in resources_of(row):
                ct = ContentType.objects.db_manager(using).get_for_model(other_model).pk
                noted.setdefault((ct, pk), False)
        appended, states, moved = spread(noted, using=using)
        if appended:
            publish_on_commit(locked, states, moved, using=using)
        return len(rows)


def catching_up(using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether some committed change has still to reach records that embed the changed one:
    their entries follow, appended by the feed worker."""
    return domain.PendingFanout.objects.using(using).exists()


def catch_up(using: str = DEFAULT_DB_ALIAS, batch: int | None = None) -> int:
    """Flush, then look at every noted relation, batch after batch, until the feed reflects
    every committed change. Returns how many related records were looked at."""
    flush(using=using)
    looked = 0
    while (done := fan_out(using=using, batch=batch)) is not None:
        looked += done
    return looked


def publish_on_commit(
    locked, states: list[published.State], moved: set[str], *, using: str
) -> None:
    """Move the dataset's version, and note the fields that moved; fence the version and the
    record states in Redis before the commit, and publish them after it
    (cryptogroups.published)."""
    counter, stamp = domain.DatasetVersion.bump(using=using, current=locked, moved=moved)
    published.fence(counter, states)
    transaction.on_commit(
        lambda: published.publish(counter, stamp, states), using=using, robust=True
    )


def spread(
    noted: dict[tuple[int, int], bool], *, using: str
) -> tuple[int, list[published.State], set[str]]:
    """Look at the noted records ((content type, primary key): expand) and, level by level,
    at the records related to each one that was expanded or changed, each once; append what
    changed. A relation of a record that reaches more than ``FEED_INLINE_RELATED`` rows is
    noted for the feed worker instead (``PendingFanout``). Returns the number of entries
    appended, the public states changed and the fields that moved (see ``look_at``)."""
    limit = settings.FEED_INLINE_RELATED
    seen: set[tuple[int, int]] = set()
    states: list[published.State] = []
    moved: set[str] = set()
    appended = 0
    level = noted
    while level:
        following: dict[tuple[int, int], bool] = {}
        by_type: dict[int, list[tuple[int, bool]]] = {}
        for (content_type_id, object_id), expand in level.items():
            by_type.setdefault(content_type_id, []).append((object_id, expand))
        seen.update(level)
        for content_type_id, items in by_type.items():
            model = ContentType.objects.db_manager(using).get_for_id(content_type_id).model_class()
            if model not in RESOURCE_MODELS:
                continue  # nothing the feed serves: dropped with the other pending rows
            for start in range(0, len(items), settings.FEED_FANOUT_BATCH):
                chunk = items[start : start + settings.FEED_FANOUT_BATCH]
                changed, count = look_at(
                    model,
                    content_type_id,
                    [pk for pk, _ in chunk],
                    using=using,
                    states=states,
                    moved=moved,
                )
                appended += count
                # Everything next to a record written directly (the write may have changed
                # rows they read); next to a record that changed through the rows of others,
                # the records whose representations read its table.
                written = [pk for pk, expand in chunk if expand]
                reached = [pk for pk, expand in chunk if not expand and pk in changed]
                around = chain(
                    neighbours(model, written, using=using, limit=limit),
                    neighbours(model, reached, using=using, limit=limit, only=readers_of(model)),
                )
                for other_model, pk in around:
                    key = (ContentType.objects.db_manager(using).get_for_model(other_model).pk, pk)
                    if key not in seen:
                        following.setdefault(key, False)
        level = following
    return appended, states, moved


def reached_through(related_model: type[models.Model], model: type[models.Model]) -> set:
    """The models of the records a relation of ``model`` to ``related_model`` rows leads to
    (see ``resources_of``)."""
    if related_model in RESOURCE_MODELS:
        return {related_model}
    if related_model is domain.Citation:
        return {model, domain.Source}
    return {
        field.related_model
        for field in related_model._meta.concrete_fields
        if field.many_to_one and field.related_model in RESOURCE_MODELS
    }


#: Up to this many records, ``neighbours`` reads each relation of each record on its own.
FEW = 8


def neighbours(
    model: type[models.Model],
    pks: list[int],
    *,
    using: str,
    limit: int | None = None,
    only: frozenset[type[models.Model]] | None = None,
) -> Iterator[Key]:
    """The records one relation away from each of these records, in either direction, through
    link rows and citations: the records whose representations may embed them, or be embedded
    in them. In bulk (one query per relation). With ``limit``, a relation that reaches more
    than ``limit`` rows from one record is not followed here: it is noted for the feed worker
    (``PendingFanout``). A record's own citations are always followed (a handful each). With
    ``only``, the records of those models alone, and no relation that leads to none."""
    if not pks:
        return
    many: list[tuple[str, bool]] = []
    lookups: list[str | models.Prefetch] = []
    for field in model._meta.get_fields():
        if not field.is_relation or field.related_model in (None, ContentType):
            continue
        if field.one_to_many or field.many_to_many:
            if only is not None and not (reached_through(field.related_model, model) & only):
                continue
            accessor = field.get_accessor_name() if field.auto_created else field.name
            bounded = limit is not None and not isinstance(field, GenericRelation)
            many.append((accessor, bounded))
            related = None
            if bounded:
                # One query for the whole batch, at most limit + 1 rows for each record.
                related = field.related_model._base_manager.order_by("pk")[: limit + 1]
            lookups.append(models.Prefetch(accessor, queryset=related, to_attr=f"_feed_{accessor}"))
    records = list(model._default_manager.using(using).filter(pk__in=pks).order_by("pk"))
    few = limit is not None and len(records) <= FEW
    if not few:
        models.prefetch_related_objects(records, *lookups)
    deferred = []
    for record in records:
        for field in model._meta.concrete_fields:
            if field.many_to_one and field.related_model in RESOURCE_MODELS:
                target = getattr(record, field.attname)
                if target is not None and (only is None or field.related_model in only):
                    yield field.related_model, target
        for accessor, bounded in many:
            if few:
                # A few records (a write's own): whether a relation is large is asked of
                # its index, without reading the relation.
                related = getattr(record, accessor).all()
                large = bounded and bool(related.values_list("pk")[limit : limit + 1])
                rows = [] if large else list(related)
            else:
                rows = getattr(record, f"_feed_{accessor}")
                large = bounded and len(rows) > limit
            if large:
                deferred.append(
                    domain.PendingFanout(
                        content_type_id=ContentType.objects.db_manager(using)
                        .get_for_model(model)
                        .pk,
                        object_id=record.pk,
                        relation=accessor,
                    )
                )
                continue
            for row in rows:
                for key in resources_of(row):
                    if only is None or key[0] in only:
                        yield key
    if deferred:
        # A relation already noted is looked at again from its start: the rows behind the
        # worker's position were looked at before this change.
        domain.PendingFanout.objects.using(using).bulk_create(
            deferred,
            update_conflicts=True,
            unique_fields=["content_type", "object_id", "relation"],
            update_fields=["after"],
        )


def look_at(
    model,
    content_type_id: int,
    pks: list[int],
    *,
    using: str,
    states: list[published.State] | None = None,
    moved: set[str] | None = None,
) -> tuple[set[int], int]:
    """Compare each record's public representation with what the feed last said of it;
    append the entries that bring the feed up to date, in the order of ``pks``. Returns the
    records whose public representation changed and how many entries were appended; adds
    the public states it changed to ``states``, and to ``moved`` the fields of those records
    whose digests changed (``field_digests``; all of a record's fields when it becomes public
    or stops being, or had none kept) and ``VISIBILITY`` when a record's visibility did."""
    if _bulk_representer is None:
        raise ImproperlyConfigured("No representation of records is registered.")
    slugs = dict(model._default_manager.using(using).filter(pk__in=pks).values_list("pk", "slug"))
    documents = {pk: document for pk, _slug, document in _bulk_representer(model, list(slugs))}
    known = {
        state.object_id: state
        for state in domain.FeedState.objects.using(using).filter(
            content_type_id=content_type_id, object_id__in=pks
        )
    }
    resource = RESOURCES[model].path
    entries: list[domain.Change] = []
    updated: list[domain.FeedState] = []
    changed: set[int] = set()
    digests = {pk: digest(documents[pk]) if pk in documents else "" for pk in pks}
    changing = [pk for pk in pks if digests[pk] != (known[pk].digest if pk in known else "")]
    fields_now = field_digests(model, [pk for pk in changing if pk in documents], using=using)
    for pk in changing:
        state = known.get(pk) or domain.FeedState(
            content_type_id=content_type_id, object_id=pk, digest=""
        )
        document = documents.get(pk)
        new_digest = digests[pk]
        slug = slugs.get(pk)
        was_public = bool(state.digest)
        now = fields_now.get(pk, {}) if document is not None else {}
        if moved is not None:
            moved.update(moved_fields(model, state.field_digests or {}, now))
            if was_public != (document is not None):
                moved.add(VISIBILITY)
        if was_public and (document is None or state.slug != slug):
            gone = ChangeOperation.DELETED if slug is None else ChangeOperation.RETRACTED
            entries.append(domain.Change(resource=state.resource, slug=state.slug, operation=gone))
            if states is not None:
                states.append((state.resource, state.slug, "", None))
        if document is not None:
            operation = (
                ChangeOperation.UPDATED
                if was_public and state.slug == slug
                else ChangeOperation.CREATED
            )
            entries.append(
                domain.Change(resource=resource, slug=slug, operation=operation, data=document)
            )
        state.resource = resource if document is not None else ""
        state.slug = slug if document is not None else ""
        state.digest = new_digest
        state.field_digests = now
        state.changed_at = next_stamp(state.changed_at)
        updated.append(state)
        changed.add(pk)
        if states is not None and document is not None:
            states.append((state.resource, state.slug, state.digest, state.changed_at))
    # In the order given: ids follow the order of the rows.
    insert(domain.Change, entries, using=using)
    # Replaced rather than updated: one delete and one insert, where an update of many rows
    # with different values would be a CASE over every row.
    domain.FeedState.objects.using(using).filter(
        pk__in=[state.pk for state in updated if state.pk is not None]
    ).delete()
    insert(domain.FeedState, updated, using=using)
    return changed, len(entries)


def insert(model: type[models.Model], rows: list[models.Model], *, using: str) -> None:
    """Insert the rows, in their order, with ids from the table's sequence (any id they hold
    is dropped); no signal is sent. On PostgreSQL through ``COPY``: an insert of many rows
    through the driver's client-side binding would quote every value of its arrays in Python,
    which cost a third of a batch of the feed's worker."""
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    for row in rows:
        row.pk = None
    connection = connections[using]
    if connection.vendor != "postgresql" or len(rows) < 2:
        model._default_manager.using(using).bulk_create(rows, batch_size=500)
        return
    qn = connection.ops.quote_name
    columns = ", ".join(qn(field.column) for field in fields)
    sql = f"COPY {qn(model._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(
                [
                    field.get_db_prep_save(getattr(row, field.attname), connection)
                    for field in fields
                ]
            )
