"""Which fields of public records a list's count and positions read.

A list's count, the waypoints of its deep pages and a search's matches are costly to find at a
million records, and a change that moves the public dataset's version (a group's description
edited) rarely alters them. They are kept under the last change to the fields they read
(``DatasetVersion.moved``, noted by the feed for every change it records), not under the
dataset's version:

- the count reads the fields of the filters given, and with ``search`` the searched fields;
- the positions (waypoints, kept matches) read those and the fields of the order;
- both read every record's visibility, and move with any change the feed did not look at.

A field on the way to another record counts too: ``?platform=telegram`` on groups reads the
groups' ``platform`` and the platforms' ``slug``, and a search of availabilities by platform
name reads the platforms' ``name``. What cannot be told this way (a filter with a method of its
own, a path through a record that is not a resource, a sort by something that is not a field)
reads everything: it is kept under the dataset's version, as every list's page is.
"""

from __future__ import annotations

from django.contrib.contenttypes.fields import GenericRelation
from django.core.exceptions import FieldDoesNotExist

from cryptogroups.resources import RESOURCE_MODELS

from .filters import filters_by_parameter

#: Search field prefixes (DRF's SearchFilter: starts with, exact, full text, regex).
SEARCH_PREFIXES = "^=@$"


def path_fields(model, path: str) -> set[str] | None:
    """The fields a lookup path reads, by ``DatasetVersion.moved``'s names; None when one is
    not a field of a resource's records."""
    names: set[str] = set()
    for part in path.split("__"):
        if model not in RESOURCE_MODELS:
            return None
        try:
            field = model._meta.get_field(part)
        except FieldDoesNotExist:
            return None
        if isinstance(field, GenericRelation):
            return None
        if not field.is_relation:
            names.add(f"{model._meta.label_lower}.{field.name}")
            return names
        if field.auto_created and not field.concrete:
            # A relation held by the other record (a reverse foreign key or many-to-many).
            names.add(f"{field.related_model._meta.label_lower}.{field.field.name}")
        else:
            # A key or a many-to-many field of this record.
            names.add(f"{model._meta.label_lower}.{field.name}")
        model = field.related_model
    return names


def filter_path(filter_) -> str | None:
    """The lookup path a filter reads; None when it has a method of its own."""
    if filter_.method is not None:
        return None
    to_field = filter_.extra.get("to_field_name")
    return f"{filter_.field_name}__{to_field}" if to_field else filter_.field_name


def count_fields(view, request, searched: bool) -> set[str] | None:
    """The fields a list's count reads: its filters', and the searched ones when searched;
    None when that cannot be told."""
    model = view.queryset.model
    read: set[str] = set()
    filters = filters_by_parameter(view.filterset_class) if view.filterset_class else {}
    paths = [filters[name] for name in request.query_params if name in filters]
    for filter_ in paths:
        path = filter_path(filter_)
        found = path_fields(model, path) if path else None
        if found is None:
            return None
        read |= found
    if searched:
        for field in view.search_fields:
            found = path_fields(model, field.lstrip(SEARCH_PREFIXES))
            if found is None:
                return None
            read |= found
    return read


def order_fields(model, names: list[str]) -> set[str] | None:
    """The fields a list's order reads; None when one is not a field."""
    read: set[str] = set()
    for name in names:
        found = path_fields(model, name)
        if found is None:
            return None
        read |= found
    return read
