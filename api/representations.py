"""Records as the API represents them, outside a request: for the changes feed
(``cryptogroups.feed`` asks for them through ``represent_public`` and ``tables_read``),
snapshots, and the validators of reads and writes. Each is what the record's detail endpoint
serves, built from rows (api.fast) by the resource's own viewset, with API URLs relative to
the host."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.apps import apps
from django.db import models

from cryptogroups import models as domain

#: Each resource's viewset, by model (filled from the URL router when the app is ready).
_viewsets: dict[type[models.Model], type] = {}


def use_viewsets(viewsets: Iterable[type]) -> None:
    _viewsets.update({viewset.queryset.model: viewset for viewset in viewsets})


def viewset_of(model: type[models.Model]) -> type:
    return _viewsets[model]


def public_queryset(model: type[models.Model]) -> models.QuerySet:
    """The queryset the public API serves the model's records from."""
    queryset = viewset_of(model).queryset.all()
    if isinstance(queryset, domain.RecordQuerySet):
        queryset = queryset.public()
    return queryset


def representation(record: models.Model) -> dict | None:
    """The record as its detail endpoint serves it, with API URLs relative to the host; None
    when the public API does not serve it."""
    return render(type(record), public_queryset(type(record)).filter(pk=record.pk))


def represent_public(model: type[models.Model], pks: list[int]) -> list[tuple[int, str, dict]]:
    """The public ones of these records as their detail endpoints serve them, with API URLs
    relative to the host, in bulk: (primary key, slug, representation) of each."""
    plan = viewset_of(model).plan()
    queryset = public_queryset(model).filter(pk__in=pks).prefetch_related(None)
    rows = list(queryset.values(*dict.fromkeys([*plan.columns, "pk", "slug"])))
    keys = [(row["pk"], row["slug"]) for row in rows]
    documents = plan.represent(rows, None)
    return [(pk, slug, document) for (pk, slug), document in zip(keys, documents, strict=True)]


#: A double-quoted identifier in SQL (the compilers of both databases quote table names so).
_QUOTED = re.compile(r'"([A-Za-z0-9_]+)"')


def tables_read(model: type[models.Model]) -> frozenset[str]:
    """The tables the queries that build the model's public representations read: its rows
    with the rule of what is public, and each embedded list's rows with theirs. A record's
    representation can change only when a row of one of these tables does."""
    plan = viewset_of(model).plan()
    queries = [public_queryset(model).prefetch_related(None).values(*plan.columns)]
    plans = [plan]
    while plans:
        for many in plans.pop().many.values():
            queries.append(many.queryset.filter(**{f"{many.parent_lookup}__in": [0]}))
            plans.append(many.plan)
    tables = {table._meta.db_table for table in apps.get_models(include_auto_created=True)}
    return frozenset(
        name
        for queryset in queries
        for name in _QUOTED.findall(queryset.query.sql_with_params()[0])
        if name in tables
    )


def render(model: type[models.Model], queryset: models.QuerySet) -> dict | None:
    """The first record of the queryset as its detail endpoint serves it to a curator, with
    API URLs relative to the host; None when there is none."""
    plan = viewset_of(model).plan()
    built = plan.represent(plan.rows(queryset), None)
    return built[0] if built else None


def render_record(record: models.Model) -> dict | None:
    """The record's representation now, whatever its status."""
    model = type(record)
    return render(model, viewset_of(model).queryset.filter(pk=record.pk))


def absolute_urls(document, build_absolute_uri):
    """The document with its API URLs (relative, as stored) made absolute for this request."""
    if isinstance(document, dict):
        return {
            key: build_absolute_uri(value)
            if key in ("url", "next") and isinstance(value, str) and value.startswith("/")
            else absolute_urls(value, build_absolute_uri)
            for key, value in document.items()
        }
    if isinstance(document, list):
        return [absolute_urls(value, build_absolute_uri) for value in document]
    return document
