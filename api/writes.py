"""Write serializers for curators, one per resource, built from the read serializers.

A record is written in the shape it is read in, so that a client can send back what it got:

- related records are given by slug, or as the summary object a read returns (its ``slug`` is
  used);
- partial dates and counts are the same objects as in a read (``value`` is ignored: the date
  and precision say it);
- fields that only a read has (``url``, ``created_at``, embedded lists of other resources)
  may be sent and are ignored; a field the resource does not have is refused;
- ``citations``, ``exchanges``, ``issuers`` and ``targets`` replace the whole list when given.

Validation is the admin's: the model's own validation (ISO codes, choices, date precision and
every database constraint), each citation's field checked against the record, and no record
published without a citation.
"""

from __future__ import annotations

import codecs
import re
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models
from django.db.models.signals import post_save
from rest_framework import parsers, serializers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.settings import api_settings
from rest_framework.utils import json

from cryptogroups import choices
from cryptogroups import models as domain
from cryptogroups.codes import SLUG_PATTERN
from cryptogroups.models.sources import validate_cited_field

from . import serializers as read
from .filters import MAX_COUNT

PUBLISHED = choices.PublicationStatus.PUBLISHED
SLUG_RE = re.compile(SLUG_PATTERN)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, made safe for any body: nesting too deep for the parser is a 400, a
    key given twice is refused (which value was meant?), and so is a lone surrogate escape
    (``"\\ud800"``), which is not text: no database can store it, and no error message can
    quote it."""

    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        try:
            data = json.load(codecs.getreader(encoding)(stream), object_pairs_hook=unique_keys)
        except RecursionError:
            raise ParseError("JSON parse error - nested too deeply.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        surrogate = lone_surrogate(data)
        if surrogate is not None:
            raise ParseError(
                f"JSON parse error - a lone surrogate (U+{ord(surrogate):04X}) is not text: "
                "send characters outside the Basic Multilingual Plane as a surrogate pair."
            )
        return data


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"the key {key[:100]!r} is given twice in an object")
        found[key] = value
    return found


_SURROGATE = re.compile(r"[\ud800-\udfff]")


def lone_surrogate(data: Any) -> str | None:
    """The first lone surrogate in the strings (keys included) of parsed JSON, if any. Walks
    without recursion: what the parser could nest, this must not overflow on."""
    pending = [data]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if found := _SURROGATE.search(item):
                return found.group()
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return None


def django_errors(error: DjangoValidationError, names: dict[str, str]) -> dict[str, list[str]]:
    """A Django validation error as DRF errors, with model field names turned into API names."""
    errors: dict[str, list[str]] = {}
    for field, messages in error.message_dict.items():
        name = api_settings.NON_FIELD_ERRORS_KEY if field == NON_FIELD_ERRORS else names.get(field)
        errors.setdefault(name or field, []).extend(messages)
    return errors


#: The JSON type each kind of field takes, the type a read gives it: nothing else is coerced
#: (DRF takes 5 for a name, "12" or 12.0 for a count, and "yes" or 1 for true).
JSON_TYPES: tuple[tuple[type[serializers.Field], type, str], ...] = (
    (serializers.BooleanField, bool, "true or false"),
    (serializers.IntegerField, int, "a whole number"),
    (serializers.CharField, str, "a string"),
    (serializers.DateField, str, "a string (YYYY-MM-DD)"),
)


def json_type_errors(fields: dict[str, serializers.Field], data: dict) -> dict[str, list[str]]:
    errors = {}
    for name, value in data.items():
        field = fields.get(name)
        if field is None or value is None:
            continue
        for field_class, json_type, described in JSON_TYPES:
            if isinstance(field, field_class):
                # A JSON true is a Python int too, but never a number here.
                if not isinstance(value, json_type) or (
                    isinstance(value, bool) and json_type is not bool
                ):
                    errors[name] = [f"Must be {described}, not {json_kind(value)}."]
                break
    return errors


def json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


class StrictMixin:
    """Refuse fields the shape does not have, and values of another JSON type than the field's;
    accept (and ignore) fields only a read has. A field with choices takes one of them or null,
    never an empty string."""

    read_only_names: frozenset[str] = frozenset()

    def build_standard_field(self, field_name, model_field):
        field_class, kwargs = super().build_standard_field(field_name, model_field)
        if model_field.choices:
            kwargs.pop("allow_blank", None)
        return field_class, kwargs

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = set(data) - set(self.fields) - set(self.read_only_names)
            errors = {name: ["Unknown field: this resource has no such field."] for name in unknown}
            errors.update(json_type_errors(self.fields, data))
            if errors:
                raise ValidationError(errors)
        return super().to_internal_value(data)


class RecordRefField(serializers.SlugRelatedField):
    """A related record, written by slug or as the summary object a read returns."""

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "slug")
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if isinstance(data, dict):
            data = data.get("slug")
        if not isinstance(data, str):
            self.fail("invalid")
        if not SLUG_RE.fullmatch(data):  # nothing the database could not even compare
            self.fail("does_not_exist", slug_name=self.slug_field, value=data[:100])
        return super().to_internal_value(data)


class CompositeInput(StrictMixin, serializers.Serializer):
    """An object written into several model fields (``model_fields``); null clears them all."""

    def __init__(self, prefix: str = "", **kwargs):
        self.prefix = prefix
        kwargs.setdefault("source", "*")
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def model_fields(self) -> list[str]:
        raise NotImplementedError

    def to_model(self, value: dict) -> dict:
        raise NotImplementedError

    def validate_empty_values(self, data):
        if data is None:
            return True, dict.fromkeys(self.model_fields())
        return super().validate_empty_values(data)

    def to_internal_value(self, data):
        # A partial update (PATCH) skips missing fields; an object is still given whole.
        if isinstance(data, dict):
            missing = [n for n, f in self.fields.items() if f.required and n not in data]
            if missing:
                raise ValidationError({name: ["This field is required."] for name in missing})
        return self.to_model(super().to_internal_value(data))


class DateField(serializers.DateField):
    """A date as YYYY-MM-DD in ASCII digits, as a read gives it. (DRF also takes the other
    forms of ISO 8601, such as 20170901 and 2017-W35-5, and digits of other scripts.)"""

    def to_internal_value(self, value):
        if isinstance(value, str) and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
            self.fail("invalid", format="YYYY-MM-DD")
        return super().to_internal_value(value)


class PartialDateInput(CompositeInput):
    """A date known to the day, month or year: its first day, its precision and its qualifier;
    null to clear it. A ``value``, as a read gives it, is ignored."""

    read_only_names = frozenset({"value"})

    date = DateField(help_text="First day of the known period (YYYY-MM-DD).")
    precision = serializers.ChoiceField(
        choices=choices.DatePrecision.choices, help_text="How much of the date is known."
    )
    qualifier = serializers.ChoiceField(
        choices=choices.DateQualifier.choices, help_text="How the date relates to the event."
    )

    def model_fields(self) -> list[str]:
        return [f"{self.prefix}_{part}" for part in ("date", "precision", "qualifier")]

    def to_model(self, value: dict) -> dict:
        parts = (value["date"], value["precision"], value["qualifier"])
        return dict(zip(self.model_fields(), parts, strict=True))


class CountInput(CompositeInput):
    """A count and how exact it is; null to clear it."""

    value = serializers.IntegerField(min_value=0, max_value=MAX_COUNT, help_text="The number.")
    qualifier = serializers.ChoiceField(
        choices=choices.CountQualifier.choices, help_text="How the number relates to the count."
    )

    def model_fields(self) -> list[str]:
        return [self.prefix, f"{self.prefix}_qualifier"]

    def to_model(self, value: dict) -> dict:
        return {self.prefix: value["value"], f"{self.prefix}_qualifier": value["qualifier"]}


class DatedCountInput(CountInput):
    """A count, how exact it is, and the date it refers to (or null); null to clear it."""

    def get_fields(self):
        fields = super().get_fields()
        fields["as_of"] = PartialDateInput(
            f"{self.prefix}_as_of", source=None, help_text="The date the count refers to."
        )
        return fields

    def as_of_fields(self) -> list[str]:
        return [f"{self.prefix}_as_of_{part}" for part in ("date", "precision", "qualifier")]

    def model_fields(self) -> list[str]:
        return [*super().model_fields(), *self.as_of_fields()]

    def to_model(self, value: dict) -> dict:
        as_of = value.get("as_of") or dict.fromkeys(self.as_of_fields())
        return {**super().to_model(value), **as_of}


class UserCountInput(DatedCountInput):
    """A platform's user count, what it measures, and the date it refers to; null to clear."""

    metric = serializers.ChoiceField(
        choices=choices.UserMetric.choices, help_text="What the count measures."
    )

    def model_fields(self) -> list[str]:
        return [*super().model_fields(), "user_metric"]

    def to_model(self, value: dict) -> dict:
        return {**super().to_model(value), "user_metric": value["metric"]}


class CitationInput(StrictMixin, serializers.ModelSerializer):
    """A citation: the source (by slug), the field it supports (or null), a short quote, and
    whether the source states, implies or contradicts the fact."""

    source = RecordRefField(queryset=domain.Source.objects.all(), help_text="The source's slug.")
    field = serializers.CharField(
        source="field_name",
        allow_null=True,
        required=False,
        max_length=50,
        help_text="The name of the field of the record's representation it supports (one of "
        "the record's fields, for example `announced`); null for the whole record.",
    )

    class Meta:
        model = domain.Citation
        fields = [
            "source",
            "field",
            "quote",
            "verbatim",
            "support",
            "locator",
            "note",
            "checked_on",
            "source_text",
        ]


class GroupExchangeInput(StrictMixin, serializers.ModelSerializer):
    """An exchange the group is about (by slug), and whether the exchange runs the group."""

    read_only_names = frozenset({"name", "url"})
    slug = RecordRefField(
        source="exchange", queryset=domain.Exchange.objects.all(), help_text="The exchange's slug."
    )

    class Meta:
        model = domain.GroupExchange
        fields = ["slug", "affiliation"]


class ActionIssuerInput(StrictMixin, serializers.ModelSerializer):
    """An issuing authority (by slug) and its part in the action."""

    read_only_names = frozenset({"name", "url"})
    slug = RecordRefField(
        source="organization",
        queryset=domain.Organization.objects.all(),
        help_text="The organisation's slug.",
    )

    class Meta:
        model = domain.ActionIssuer
        fields = ["slug", "role"]


class ActionTargetInput(StrictMixin, serializers.ModelSerializer):
    """What the action applies to: one exchange or one platform (by slug), or a category."""

    exchange = RecordRefField(
        queryset=domain.Exchange.objects.all(),
        allow_null=True,
        required=False,
        help_text="The exchange's slug, if the action names one.",
    )
    platform = RecordRefField(
        queryset=domain.Platform.objects.all(),
        allow_null=True,
        required=False,
        help_text="The platform's slug, if the action names one.",
    )

    class Meta:
        model = domain.ActionTarget
        fields = ["category", "exchange", "platform", "effect", "note"]


def citation_input(model) -> type[CitationInput]:
    """The citations of one resource as written: ``field`` takes that resource's field names."""
    field = serializers.ChoiceField(
        choices=list(model.cited_fields),
        source="field_name",
        allow_null=True,
        required=False,
        help_text=CitationInput._declared_fields["field"].help_text,
    )
    attributes = {"field": field, "__doc__": CitationInput.__doc__, "__module__": __name__}
    return type(f"{model.__name__}CitationInput", (CitationInput,), attributes)


#: Nested lists a write replaces as a whole: the input shape and the rows' key to the record.
NESTED_LISTS = {
    "citations": (CitationInput, None),
    "exchange_links": (GroupExchangeInput, "group"),
    "issuer_links": (ActionIssuerInput, "action"),
    "targets": (ActionTargetInput, "action"),
}


class WriteSerializer(StrictMixin, serializers.ModelSerializer):
    """Base of the write serializers: model validation and saves with nested lists."""

    serializer_related_field = RecordRefField

    def build_relational_field(self, field_name, relation_info):
        _class, kwargs = super().build_relational_field(field_name, relation_info)
        kwargs.pop("slug_field", None)
        kwargs["help_text"] = f"{kwargs.get('help_text') or 'The related record.'} By slug."
        return RecordRefField, kwargs

    def to_internal_value(self, data):
        attrs = super().to_internal_value(data)
        if self.instance is not None and not self.partial and isinstance(data, dict):
            # PUT replaces: a field left out takes its empty or default value, as it would on
            # a create; it does not keep what the record held.
            attrs = {**self.left_out(data), **attrs}
        return attrs

    def left_out(self, data: dict) -> dict[str, Any]:
        """The values of the writable fields ``data`` leaves out, as a create would set them."""
        model = self.Meta.model
        values: dict[str, Any] = {}
        for name, field in self.fields.items():
            if field.read_only or name in data:
                continue
            if isinstance(field, CompositeInput):
                values.update(dict.fromkeys(field.model_fields()))
            elif isinstance(field, serializers.ListSerializer | serializers.ManyRelatedField):
                values[field.source] = []
            else:
                values[field.source] = model._meta.get_field(field.source).get_default()
        return values

    # Names: which API field each model field is written through, to name errors.
    def api_names(self) -> dict[str, str]:
        names = {}
        for name, field in self.fields.items():
            if hasattr(field, "model_fields"):
                names.update(dict.fromkeys(field.model_fields(), name))
            elif field.source and field.source != "*":
                names[field.source] = name
        return names

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        model = self.Meta.model
        many = {name for name in attrs if name in NESTED_LISTS or self.is_many_to_many(name)}
        plain = {name: value for name, value in attrs.items() if name not in many}
        instance = self.copy_of_instance()
        for name, value in plain.items():
            setattr(instance, name, value)
        exclude = [field.name for field in model._meta.many_to_many]
        try:
            instance.full_clean(exclude=exclude)
        except DjangoValidationError as error:
            names = self.api_names()
            errors = django_errors(error, names)
            attributed = constraint_errors(instance, exclude, names)
            if attributed and api_settings.NON_FIELD_ERRORS_KEY in errors:
                del errors[api_settings.NON_FIELD_ERRORS_KEY]
                for name, messages in attributed.items():
                    errors.setdefault(name, []).extend(messages)
            raise ValidationError(errors) from None
        errors: dict[str, Any] = {}
        for name in many & set(NESTED_LISTS):
            rows_errors = self.validate_rows(name, attrs[name], model)
            if rows_errors:
                errors[self.api_name_of(name)] = rows_errors
        if getattr(instance, "publication_status", None) == PUBLISHED and not self.has_citations(
            attrs
        ):
            errors.setdefault("publication_status", []).append(
                "A record cannot be published without at least one citation: add one in "
                "citations, or keep the record as a draft."
            )
        if errors:
            raise ValidationError(errors)
        return attrs

    def api_name_of(self, source: str) -> str:
        for name, field in self.fields.items():
            if field.source == source:
                return name
        return source

    def is_many_to_many(self, name: str) -> bool:
        try:
            return self.Meta.model._meta.get_field(name).many_to_many
        except FieldDoesNotExist:
            return False

    def copy_of_instance(self) -> models.Model:
        model = self.Meta.model
        if self.instance is None:
            return model()
        copy = model._default_manager.get(pk=self.instance.pk)
        return copy

    def has_citations(self, attrs) -> bool:
        if "citations" in attrs:
            return bool(attrs["citations"])
        return self.instance is not None and self.instance.citations.exists()

    def validate_rows(self, name: str, rows: list[dict], model) -> list[dict]:
        """Each row of a nested list, checked as the admin's inline would check it."""
        row_model = NESTED_LISTS[name][0].Meta.model
        parent_key = NESTED_LISTS[name][1]
        errors, any_error = [], False
        for row in rows:
            row_errors: dict[str, list[str]] = {}
            instance = row_model(**row)
            exclude = ["content_type", "object_id"] if parent_key is None else [parent_key]
            try:
                if parent_key is None:
                    validate_cited_field(model, row.get("field_name"))
                instance.full_clean(exclude=exclude, validate_unique=False)
            except DjangoValidationError as error:
                row_errors = django_errors(error, {"field_name": "field", **self.row_names(name)})
            errors.append(row_errors)
            any_error = any_error or bool(row_errors)
        keys = [self.row_key(name, row) for row in rows if self.row_key(name, row) is not None]
        if len(keys) != len(set(keys)):
            return [{api_settings.NON_FIELD_ERRORS_KEY: ["The list names a record twice."]}]
        return errors if any_error else []

    @staticmethod
    def row_names(name: str) -> dict[str, str]:
        return {
            "exchange_links": {"exchange": "slug"},
            "issuer_links": {"organization": "slug"},
        }.get(name, {})

    @staticmethod
    def row_key(name: str, row: dict | models.Model):
        """The record a link row links to, for the lists that link each record once."""
        target = {"exchange_links": "exchange", "issuer_links": "organization"}.get(name)
        if target is None:
            return None
        if isinstance(row, dict):
            return row[target].pk
        return getattr(row, f"{target}_id")

    # Saving ------------------------------------------------------------------------------

    def save(self, *, reason: str, **kwargs):
        self.reason = reason
        return super().save(**kwargs)

    def create(self, validated_data):
        nested, m2m = self.split(validated_data)
        instance = self.Meta.model(**validated_data)
        return self.save_record(instance, nested, m2m, created=True, changed=True)

    def update(self, instance, validated_data):
        nested, m2m = self.split(validated_data)
        before = field_values(instance)
        for name, value in validated_data.items():
            setattr(instance, name, value)
        changed = field_values(instance) != before
        return self.save_record(instance, nested, m2m, created=False, changed=changed)

    def save_record(self, instance, nested: dict, m2m: dict, *, created: bool, changed: bool):
        """Save the record and its lists. The record's history gets one entry, made once its
        many-to-many lists are final (rows of other lists have their own history); a write
        that changes nothing saves nothing."""
        instance._change_reason = self.reason
        instance.skip_history_when_saving = True
        try:
            if changed:
                instance.save()
            lists_changed = False
            for name, values in m2m.items():
                lists_changed |= self.replace_many_to_many(instance, name, values)
        finally:
            del instance.skip_history_when_saving
        for name, rows in nested.items():
            self.replace_rows(instance, name, rows)
        if changed or lists_changed:
            post_save.send(
                sender=type(instance),
                instance=instance,
                created=created,
                raw=False,
                using=instance._state.db,
                update_fields=None,
            )
        return instance

    def split(self, validated_data) -> tuple[dict, dict]:
        nested = {
            name: validated_data.pop(name) for name in list(validated_data) if name in NESTED_LISTS
        }
        m2m = {
            name: validated_data.pop(name)
            for name in list(validated_data)
            if self.is_many_to_many(name)
        }
        return nested, m2m

    @staticmethod
    def replace_many_to_many(instance, name: str, values: list) -> bool:
        """Set the list to the records given. Links to records that reads do not show (not
        public) are kept: a client cannot be expected to repeat what it was never shown."""
        manager = getattr(instance, name)
        before = set(manager.values_list("pk", flat=True))
        manager.set(values)
        return before != {value.pk for value in values}

    def replace_rows(self, instance, name: str, rows: list[dict]) -> None:
        """Keep the rows that are unchanged, add the new ones and delete the others, so that
        the history shows only what changed. Rows that reads do not show (links to records
        that are not public) are kept; one given again is updated, not added twice."""
        row_model = NESTED_LISTS[name][0].Meta.model
        parent_key = NESTED_LISTS[name][1]
        wanted = [row_values(row_model, row) for row in rows]
        shown = list(getattr(instance, name).all())
        gone = []
        for existing in shown:
            values = row_values(row_model, existing)
            if values in wanted:
                wanted.remove(values)
                continue
            gone.append(existing)
        if parent_key is not None:
            # Link rows go first: a row given again with other values reuses its key.
            for existing in gone:
                existing._change_reason = self.reason
                existing.delete()
            gone = []
        hidden = (
            row_model._default_manager.filter(**{parent_key: instance}).exclude(
                pk__in=[row.pk for row in shown]
            )
            if parent_key is not None
            else row_model._default_manager.none()
        )
        hidden_by_key = {self.row_key(name, row): row for row in hidden}
        hidden_by_key.pop(None, None)
        for row in rows:
            values = row_values(row_model, row)
            if values not in wanted:
                continue
            wanted.remove(values)
            key = self.row_key(name, row)
            new = (hidden_by_key.get(key) if key is not None else None) or row_model()
            for field_name, value in row.items():
                setattr(new, field_name, value)
            if parent_key is None:
                new.record = instance
            else:
                setattr(new, parent_key, instance)
            new._change_reason = self.reason
            new.save()
        # Citations that go are deleted once the new ones are in: a published record is never
        # left without a citation, not even between the two steps.
        for existing in gone:
            existing._change_reason = self.reason
            existing.delete()


def field_values(instance: models.Model) -> tuple:
    return tuple(
        getattr(instance, field.attname)
        for field in instance._meta.concrete_fields
        if field.name != "updated_at"
    )


def constraint_errors(instance, exclude, names: dict[str, str]) -> dict[str, list[str]]:
    """The check constraints the record breaks, each reported on the API fields it reads,
    with a message that says what is wrong rather than the constraint's name."""
    errors: dict[str, list[str]] = {}
    for constraint in instance._meta.constraints:
        if not isinstance(constraint, models.CheckConstraint):
            continue
        try:
            constraint.validate(type(instance), instance, exclude=exclude)
        except DjangoValidationError:
            fields = sorted({names.get(field, field) for field in q_fields(constraint.condition)})
            message = constraint_message(constraint.name)
            for field in fields or [api_settings.NON_FIELD_ERRORS_KEY]:
                if message not in errors.get(field, []):
                    errors.setdefault(field, []).append(message)
    return errors


def q_fields(condition) -> set[str]:
    """The model fields a constraint's condition reads."""
    found: set[str] = set()
    for child in getattr(condition, "children", ()):
        if isinstance(child, tuple):
            found.add(child[0].split("__")[0])
        else:
            found |= q_fields(child)
    return found


#: What each kind of constraint (by the end of its name) means for a curator.
CONSTRAINT_MESSAGES = {
    "_complete": "Give the date, its precision and its qualifier together, or none of them.",
    "_aligned": "The date must be the first day of the period its precision names: the 1st of "
    "the month for a month, 1 January for a year.",
    "_qualified": "Give the number with its qualifier, or neither.",
    "_non_negative": "Must not be negative.",
    "_valid": "Not one of the allowed values.",
    "_iso3166": "Not an ISO 3166-1 alpha-2 country code.",
    "_iso639": "Not an ISO 639-1 language code.",
    "_slug_lowercase": "Use lower-case letters, digits, hyphens and underscores.",
}


def constraint_message(name: str) -> str:
    for suffix, message in CONSTRAINT_MESSAGES.items():
        if name.endswith(suffix):
            return message
    return f"These values do not fit together ({name.split('_', 2)[-1].replace('_', ' ')})."


def row_values(model: type[models.Model], row: dict | models.Model) -> tuple:
    """What a nested row says, to compare a row given with one stored."""
    values = []
    for field in model._meta.concrete_fields:
        if field.primary_key or field.name in ("created_at", "updated_at", "content_type"):
            continue
        if field.name == "object_id" or (field.many_to_one and field.name in ("group", "action")):
            continue  # the record the row belongs to
        if isinstance(row, dict):
            value = row.get(field.name, field.get_default())
            value = value.pk if isinstance(value, models.Model) else value
        else:
            value = getattr(row, field.attname)
        values.append(value)
    return tuple(values)


def write_serializer(read_serializer: type[serializers.ModelSerializer]) -> type[WriteSerializer]:
    """The write shape of a resource, from its read serializer (see the module docstring)."""
    model = read_serializer.Meta.model
    declared: dict[str, serializers.Field] = {}
    fields: list[str] = []
    read_only: set[str] = set()
    for name in read_serializer.Meta.fields:
        field = read_serializer._declared_fields.get(name)
        if name in ("url", "created_at", "updated_at"):
            read_only.add(name)
            continue
        if field is None:
            fields.append(name)
            continue
        source = field.source or name
        help_text = field.help_text
        if isinstance(field, read.UserCountSerializer):
            declared[name] = UserCountInput(field.prefix, help_text=help_text)
        elif isinstance(field, read.DatedCountSerializer):
            declared[name] = DatedCountInput(field.prefix, help_text=help_text)
        elif isinstance(field, read.ApproximateCountSerializer):
            declared[name] = CountInput(field.prefix, help_text=help_text)
        elif isinstance(field, read.PartialDateSerializer):
            declared[name] = PartialDateInput(field.prefix, help_text=help_text)
        elif name == "citations":
            declared[name] = citation_input(model)(
                many=True,
                required=False,
                help_text="The sources that support the record; replaces the list when given.",
            )
        elif source in NESTED_LISTS:
            declared[name] = NESTED_LISTS[source][0](
                many=True,
                required=False,
                source=source if source != name else None,
                help_text=f"{help_text} Replaces the list when given.",
            )
        elif isinstance(field, serializers.ListSerializer):
            model_field = model._meta.get_field(source)
            if not model_field.many_to_many or model_field.auto_created:
                read_only.add(name)  # a list of records of another resource
                continue
            declared[name] = RecordRefField(
                many=True,
                required=False,
                queryset=model_field.related_model.objects.all(),
                help_text=f"{help_text} By slug; replaces the list when given.",
            )
        elif isinstance(field, serializers.URLField) and source != name:
            declared[name] = serializers.URLField(
                source=source, max_length=500, help_text=help_text
            )
        elif not model._meta.get_field(source).is_relation:
            pass  # a model field declared for its description: built by ModelSerializer
        else:  # a summary of a related record
            model_field = model._meta.get_field(source)
            declared[name] = RecordRefField(
                queryset=model_field.related_model.objects.all(),
                allow_null=model_field.null,
                required=not model_field.null,
                help_text=f"{help_text} By slug.",
            )
        fields.append(name)
    if hasattr(model, "publication_status") and "publication_status" not in fields:
        fields.append("publication_status")
    meta = type("Meta", (), {"model": model, "fields": fields})
    attributes = {
        "Meta": meta,
        "read_only_names": frozenset(read_only),
        "__doc__": f"A {model._meta.verbose_name} as a curator writes it: related records by "
        "slug, the other fields as they are read.",
        **declared,
    }
    return type(f"{model.__name__}WriteSerializer", (WriteSerializer,), attributes)
