"""A record's history in the API: who changed what, when and why, field by field.

Read from django-simple-history's tables. Related records appear by slug, as everywhere in the
API; many-to-many relations as sorted lists of slugs.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db import models
from rest_framework import serializers

from cryptogroups.choices import HistoryType, PublicationStatus
from cryptogroups.models import RecordQuerySet

HISTORY_TYPES = {"+": HistoryType.CREATED, "~": HistoryType.CHANGED, "-": HistoryType.DELETED}

#: Bookkeeping columns that are not facts of the record.
UNTRACKED = {"id", "created_at", "updated_at"}


class FieldChangeSerializer(serializers.Serializer):
    """One field's value before and after a change."""

    field = serializers.CharField(help_text="The field or relation that changed.")
    old = serializers.JSONField(
        allow_null=True,
        help_text="Its value before the change (null for a new record). Related records appear "
        "by slug (null while they are not published); a many-to-many relation as a list of slugs.",
    )
    new = serializers.JSONField(allow_null=True, help_text="Its value after the change.")


class HistoryEntrySerializer(serializers.Serializer):
    """One change of a record: when, by whom, why, and the fields it changed."""

    id = serializers.IntegerField(help_text="Identifier of the entry, increasing with each change.")
    date = serializers.DateTimeField(help_text="When the change was saved (UTC).")
    type = serializers.ChoiceField(
        choices=HistoryType.choices,
        help_text="created, changed or deleted.",
    )
    user = serializers.CharField(
        allow_null=True, help_text="The curator who made the change; null for data loads."
    )
    reason = serializers.CharField(
        allow_null=True, help_text="Why the change was made, as the curator gave it."
    )
    changes = FieldChangeSerializer(many=True, help_text="Each field that changed.")


def history_entries(record: models.Model, *, published_only: bool) -> list[dict[str, Any]]:
    """The record's history, newest first, each entry with its field-level changes.

    ``published_only``: the public's history, made of the record's published states alone,
    each compared with the published state before it; what the record held as a draft or
    while retracted, and the reasons given then, are the curators' to see."""
    rows = list(
        record.history.select_related("history_user").order_by("history_date", "history_id")
    )
    if published_only and hasattr(record, "publication_status"):
        rows = [row for row in rows if row.publication_status == PublicationStatus.PUBLISHED]
    slugs = SlugLookup(type(record))
    entries, previous = [], None
    for row in rows:
        if previous is None or row.history_type == "+":
            changes = initial_values(row, slugs)
        else:
            delta = row.diff_against(previous, excluded_fields=UNTRACKED)
            changes = [
                {
                    "field": change.field,
                    "old": slugs.value(change.field, change.old),
                    "new": slugs.value(change.field, change.new),
                }
                for change in delta.changes
            ]
            # A change of links to records that are not public (a driver that is a draft)
            # shows as old == new once those are left out: it is not shown, and an entry made
            # only of such changes is not either, or it would tell of the unseen records.
            visible = [change for change in changes if change["old"] != change["new"]]
            if changes and not visible:
                previous = row
                continue
            changes = visible
        entries.append(
            {
                "id": row.history_id,
                "date": row.history_date,
                "type": HISTORY_TYPES[row.history_type],
                "user": row.history_user.get_username() if row.history_user else None,
                "reason": row.history_change_reason,
                "changes": changes,
            }
        )
        previous = row
    return entries[::-1]


def initial_values(row, slugs: SlugLookup) -> list[dict[str, Any]]:
    changes = []
    for field in slugs.model._meta.concrete_fields:
        if field.name in UNTRACKED or not hasattr(row, field.attname):
            continue
        value = getattr(row, field.attname)
        if value not in (None, ""):
            changes.append(
                {"field": field.name, "old": None, "new": slugs.value(field.name, value)}
            )
    for field in getattr(row, "_history_m2m_fields", []):
        targets = [
            getattr(through, f"{field.m2m_reverse_field_name()}_id")
            for through in getattr(row, field.name).all()
        ]
        changes.append({"field": field.name, "old": None, "new": slugs.value(field.name, targets)})
    return changes


class SlugLookup:
    """Turns stored values into what the API shows: slugs for related records, ISO strings for
    dates. Looks each related record up once."""

    def __init__(self, model: type[models.Model]):
        self.model = model
        self.cache: dict[tuple[type, Any], str | None] = {}

    def value(self, field_name: str, value: Any) -> Any:
        field = self.model._meta.get_field(field_name)
        if field.is_relation and field.related_model is not None:
            if field.many_to_many:
                ids = [self.m2m_target(field, item) for item in value or []]
                slugs = (self.slug(field.related_model, pk) for pk in ids)
                return sorted(slug for slug in slugs if slug is not None)
            return None if value is None else self.slug(field.related_model, value)
        if isinstance(value, datetime.date | datetime.datetime):
            return value.isoformat()
        return value

    @staticmethod
    def m2m_target(field, item: Any) -> Any:
        if isinstance(item, dict):  # a row of the historical through table
            return item[field.m2m_reverse_field_name()]
        return item

    def slug(self, model: type[models.Model], pk: Any) -> str | None:
        """The related record's slug; null when it is not public (drafts never show)."""
        key = (model, pk)
        if key not in self.cache:
            records = model._default_manager.all()
            if isinstance(records, RecordQuerySet):
                records = records.public()
            self.cache[key] = records.filter(pk=pk).values_list("slug", flat=True).first()
        return self.cache[key]
