"""Representations built from ``.values()`` rows instead of model instances.

A read serializer states what a record looks like; building that through DRF's fields, one
model instance and one ``reverse()`` per link at a time, costs most of a list's time. A
``Plan`` is compiled once per serializer class from the same field declarations and produces
the same dictionaries from plain rows: one query for the page's rows (related summaries
joined), one per embedded list, API URLs from a template. ``tests/test_fast.py`` checks that
it gives exactly what the serializer gives, for every record of every resource.

The serializers stay the definition: the schema, the write API and anything this module does
not know how to compile use them. A shape it cannot compile raises ``NotCompilable`` when the
plan is built, not at request time.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable, Iterable
from operator import itemgetter
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericRelation
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Prefetch
from django.urls import reverse
from django.utils import timezone
from rest_framework import ISO_8601, relations, serializers
from rest_framework import fields as drf_fields
from rest_framework.settings import api_settings

from . import serializers as read

_SLUG_MARK = "slug-placeholder-0"


class NotCompilable(Exception):
    """The serializer uses a field this module cannot build from rows."""


class Urls:
    """API URLs of records from their slugs, for one request (absolute when it has a host),
    and the request's time zone."""

    def __init__(self, request) -> None:
        self.request = request
        self.cache: dict[str, tuple[str, str]] = {}
        # DRF's DateTimeField.default_timezone(), read once for the request's dates.
        self.zone = timezone.get_current_timezone() if settings.USE_TZ else None

    def template(self, view_name: str) -> tuple[str, str]:
        if view_name not in self.cache:
            path = reverse(view_name, kwargs={"slug": _SLUG_MARK})
            if self.request is not None:
                path = self.request.build_absolute_uri(path)
            head, tail = path.split(_SLUG_MARK)
            self.cache[view_name] = (head, tail)
        return self.cache[view_name]


# A step reads one row (and the request's URL builder) and returns one field's value.
Step = Callable[[dict, Urls], Any]


def _iso_datetime(field: drf_fields.DateTimeField) -> Callable[[Any, Urls], Any]:
    """What DRF's ``DateTimeField.to_representation`` gives, for the common case: an ISO 8601
    output in the request's time zone. DRF looks the format and the zone up again for every
    value, which costs most of a list's dates; here the format is read once and the zone once
    per request (``Urls.zone``). Anything else is left to DRF."""
    represent = field.to_representation
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if (
        not isinstance(output_format, str)
        or output_format.lower() != ISO_8601
        or hasattr(field, "timezone")
    ):
        return lambda value, urls: represent(value)

    def convert(value, urls: Urls) -> Any:
        if (
            urls.zone is None
            or not isinstance(value, datetime.datetime)
            or value.utcoffset() is None
        ):
            return represent(value)
        try:
            text = value.astimezone(urls.zone).isoformat()
        except OverflowError:
            return represent(value)
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return convert


def _plain(column: str, field: drf_fields.Field) -> Step | _Column:
    if isinstance(field, drf_fields.DateTimeField):
        convert = _iso_datetime(field)
    elif isinstance(field, drf_fields.DateField):
        represent = field.to_representation

        def convert(value, urls: Urls) -> Any:
            return represent(value)

    elif isinstance(field, drf_fields.DecimalField | drf_fields.FloatField):
        raise NotCompilable(f"{field!r}")
    else:
        return _Column(column)

    def step(row: dict, urls: Urls) -> Any:
        value = row[column]
        return None if value is None else convert(value, urls)

    return step


class _Column:
    """In place of a step, a field whose value is its column's, as read: ``RowPlan.build``
    reads all of these at once (``order_steps``)."""

    def __init__(self, column: str) -> None:
        self.column = column


def _url(column: str, view_name: str) -> Step:
    def step(row: dict, urls: Urls) -> Any:
        slug = row[column]
        if slug is None:
            return None
        head, tail = urls.template(view_name)
        return f"{head}{slug}{tail}"

    return step


def _partial_date(prefix: str, column_prefix: str) -> tuple[Step, list[str]]:
    date_c = f"{column_prefix}{prefix}_date"
    precision_c = f"{column_prefix}{prefix}_precision"
    qualifier_c = f"{column_prefix}{prefix}_qualifier"

    def step(row: dict, urls: Urls) -> Any:
        date = row[date_c]
        if date is None:
            return None
        precision = row[precision_c]
        return {
            "value": read.partial_date_value(date, precision),
            "date": date.isoformat(),
            "precision": precision,
            "qualifier": row[qualifier_c],
        }

    return step, [date_c, precision_c, qualifier_c]


def _count(field: read.ApproximateCountSerializer, column_prefix: str) -> tuple[Step, list]:
    value_c = f"{column_prefix}{field.prefix}"
    qualifier_c = f"{value_c}_qualifier"
    columns = [value_c, qualifier_c]
    as_of = None
    if isinstance(field, read.DatedCountSerializer):
        as_of, as_of_columns = _partial_date(f"{field.prefix}_as_of", column_prefix)
        columns += as_of_columns
    metric_c = None
    if isinstance(field, read.UserCountSerializer):
        metric_c = f"{column_prefix}user_metric"
        columns.append(metric_c)

    def step(row: dict, urls: Urls) -> Any:
        value = row[value_c]
        if value is None:
            return None
        represented = {"value": value, "qualifier": row[qualifier_c]}
        if as_of is not None:
            represented["as_of"] = as_of(row, urls)
        if metric_c is not None:
            represented["metric"] = row[metric_c]
        return represented

    return step, columns


class Many:
    """An embedded list: the rows of another model for a set of parents, in one query."""

    def __init__(self, model, accessor: str, child: serializers.Serializer, queryset) -> None:
        relation = model._meta.get_field(accessor)
        self.generic = isinstance(relation, GenericRelation)
        self.model = model
        if self.generic:
            self.parent_lookup = "object_id"
        elif relation.auto_created:  # a reverse foreign key or many-to-many
            self.parent_lookup = relation.field.name
        else:  # a forward many-to-many
            self.parent_lookup = relation.related_query_name()
        self.plan = RowPlan(type(child), queryset.model)
        if self.plan.many and "id" not in self.plan.columns:
            self.plan.columns.append("id")
        self.columns = list(dict.fromkeys([*self.plan.columns, self.parent_lookup]))
        self.queryset = queryset.prefetch_related(None)
        # Through a foreign key, the columns are resolved once and each fetch only adds its
        # parents (a clone, never evaluated here). Through a many-to-many, the parents' filter
        # must come first, so that the parent column reads the filter's join, not a second one.
        self.filter_first = relation.many_to_many
        if not self.filter_first:
            self.queryset = self.queryset.values(*self.columns)

    def fetch(self, parents: list) -> tuple[dict[Any, list[dict]], dict[str, Any]]:
        queryset = self.queryset.filter(**{f"{self.parent_lookup}__in": parents})
        if self.generic:
            # Looked up now, not when compiling: content types are rows, and ids can change
            # (a database emptied and filled again).
            queryset = queryset.filter(content_type=ContentType.objects.get_for_model(self.model))
        if self.filter_first:
            queryset = queryset.values(*self.columns)
        by_parent: dict[Any, list[dict]] = defaultdict(list)
        rows = list(queryset)
        nested = self.plan.fetch_many(rows)
        for row in rows:
            by_parent[row[self.parent_lookup]].append(row)
        return by_parent, nested


class RowPlan:
    """How to build a serializer's representation from one values() row (plus embedded lists,
    fetched for all rows at once)."""

    def __init__(self, serializer_class, model, column_prefix: str = "") -> None:
        self.model = model
        self.column_prefix = column_prefix
        self.steps: list[tuple[str, Step | _Column]] = []
        self.columns: list[str] = []
        self.many: dict[str, Many] = {}
        self.compile(serializer_class(context={"request": None}))
        self.order_steps()

    def compile(self, serializer) -> None:
        prefix = self.column_prefix
        for name, field in serializer.fields.items():
            source = field.source
            if isinstance(field, serializers.ListSerializer):
                if prefix:
                    raise NotCompilable(f"a list inside a summary: {name}")
                self.many[name] = self.many_relation(source, field.child)
                self.steps.append((name, self.many_step(name)))
                continue
            if isinstance(field, read.PartialDateSerializer):
                step, columns = _partial_date(field.prefix, prefix)
            elif isinstance(field, read.ApproximateCountSerializer):
                step, columns = _count(field, prefix)
            elif isinstance(field, relations.HyperlinkedIdentityField):
                columns = [f"{prefix}slug"]
                step = _url(columns[0], field.view_name)
            elif isinstance(field, relations.HyperlinkedRelatedField):
                columns = [f"{prefix}{source.replace('.', '__')}__slug"]
                step = _url(columns[0], field.view_name)
            elif isinstance(field, serializers.BaseSerializer):
                step, columns = self.nested(name, field)
            elif isinstance(field, relations.RelatedField | serializers.SerializerMethodField):
                raise NotCompilable(f"{name}: {field!r}")
            else:
                columns = [f"{prefix}{source.replace('.', '__')}"]
                step = _plain(columns[0], field)
            self.steps.append((name, step))
            self.columns.extend(columns)

    def order_steps(self) -> None:
        """Prepare ``build``: the fields that are their column's value are read in one call
        (``itemgetter``), each in its place; the others are computed into theirs."""
        self.names = [name for name, _ in self.steps]
        # A computed field's place is filled by any column first, then replaced.
        placeholder = self.columns[0] if self.columns else "id"
        columns = [
            step.column if isinstance(step, _Column) else placeholder for _, step in self.steps
        ]
        self.computed = [
            (index, step)
            for index, (_, step) in enumerate(self.steps)
            if not isinstance(step, _Column)
        ]
        if len(columns) == 1:
            only = itemgetter(columns[0])
            self.read_columns = lambda row: (only(row),)
        else:
            self.read_columns = itemgetter(*columns)

    def nested(self, name: str, field: serializers.BaseSerializer) -> tuple[Step, list[str]]:
        """A related record embedded through a foreign key: its columns, joined."""
        relation = self.model._meta.get_field(field.source)
        if not (relation.many_to_one and relation.concrete):
            raise NotCompilable(f"{name}: not a foreign key")
        inner = RowPlan(
            type(field), relation.related_model, f"{self.column_prefix}{field.source}__"
        )
        if inner.many:
            raise NotCompilable(f"{name}: a list inside a summary")
        key = f"{self.column_prefix}{relation.attname}"

        def step(row: dict, urls: Urls) -> Any:
            if row[key] is None:
                return None
            return inner.build(row, urls, {})

        return step, [key, *inner.columns]

    def many_relation(self, accessor: str, child) -> Many:
        queryset = self.prefetch_querysets.get(accessor)
        if queryset is None:
            relation = self.model._meta.get_field(accessor)
            queryset = relation.related_model._default_manager.all()
        return Many(self.model, accessor, child, queryset)

    #: The querysets of embedded lists, by accessor (the viewset's Prefetch objects).
    prefetch_querysets: dict[str, models.QuerySet] = {}

    @staticmethod
    def many_step(name: str) -> Step:
        def step(row: dict, urls: Urls) -> Any:
            return row["__many__"][name]

        return step

    def fetch_many(self, rows: list[dict]) -> dict[str, Any]:
        if not self.many or not rows:
            return {}
        ids = [row["id"] for row in rows]
        return {name: many.fetch(ids) for name, many in self.many.items()}

    def build(self, row: dict, urls: Urls, fetched: dict[str, Any]) -> dict:
        if fetched:
            row["__many__"] = {
                name: [
                    self.many[name].plan.build(child, urls, nested)
                    for child in children_by_parent.get(row["id"], ())
                ]
                for name, (children_by_parent, nested) in fetched.items()
            }
        values = list(self.read_columns(row))
        for index, step in self.computed:
            values[index] = step(row, urls)
        return dict(zip(self.names, values, strict=True))


class Plan(RowPlan):
    """A resource's plan: its read serializer over its viewset's queryset."""

    def __init__(self, serializer_class, queryset: models.QuerySet) -> None:
        self.prefetch_querysets = {
            lookup.prefetch_to: lookup.queryset
            for lookup in queryset._prefetch_related_lookups
            if isinstance(lookup, Prefetch) and lookup.queryset is not None
        }
        super().__init__(serializer_class, queryset.model)
        if self.many and "id" not in self.columns:
            self.columns.append("id")

    def rows(self, queryset: models.QuerySet) -> models.QuerySet:
        """The queryset's records as rows with every column the representation needs."""
        return queryset.prefetch_related(None).values(*dict.fromkeys(self.columns))

    def represent(self, rows: Iterable[dict], request) -> list[dict]:
        rows = list(rows)
        urls = Urls(request)
        fetched = self.fetch_many(rows)
        return [self.build(row, urls, fetched) for row in rows]
