"""Building blocks shared by the domain models: timestamps, slugs, citations, partial dates,
approximate counts and ISO codes, each with the database constraints that keep it true."""

from __future__ import annotations

from contextlib import nullcontext

from django.contrib.contenttypes.fields import GenericRelation
from django.core.exceptions import FieldError
from django.db import DatabaseError, connections, models, router, transaction
from django.db.models import BooleanField, Exists, OuterRef, Q, Value
from django.db.models.functions import Coalesce, Lower
from django.db.models.sql import Query
from django.db.models.sql.constants import SINGLE
from django.utils import timezone
from simple_history.models import HistoricalRecords

from cryptogroups.choices import CountQualifier, DatePrecision, DateQualifier, PublicationStatus
from cryptogroups.codes import (
    COUNTRY_CODES,
    LANGUAGE_CODES,
    validate_country_code,
    validate_language_code,
)


def track_history(excluded_fields: list[str] = (), **options) -> HistoricalRecords:
    """Every change of the model, with who made it, when and why (django-simple-history).
    ``updated_at`` is left out: the history's own date says when; so are ``excluded_fields``
    (what the domain derives from other rows)."""
    return HistoricalRecords(excluded_fields=["updated_at", *excluded_fields], **options)


class CheckedModel(models.Model):
    """A model whose check constraints ``full_clean`` validates in one query.

    Django validates each check constraint with a query of its own, inside a savepoint when a
    transaction is open: three round trips per constraint, sixty for a group. Here the
    constraints that can be checked (those on fields not excluded) are checked together first;
    when they all hold, which is what almost every write meets, Django validates only the
    others. When one fails, or cannot be checked together, Django validates each as before, so
    that the errors are exactly its own (tests/test_constraints.py compares both)."""

    class Meta:
        abstract = True

    def validate_constraints(self, exclude=None):
        self._checks_that_hold = checks_that_hold(self, exclude)
        try:
            super().validate_constraints(exclude)
        finally:
            self._checks_that_hold = frozenset()

    def get_constraints(self):
        held = getattr(self, "_checks_that_hold", frozenset())
        return [
            (model, [constraint for constraint in constraints if id(constraint) not in held])
            for model, constraints in super().get_constraints()
        ]


def checks_that_hold(instance: models.Model, exclude=None) -> frozenset[int]:
    """The ids of the model's own check constraints that one query shows all to hold for the
    instance (with Django's rule: a condition that is NULL holds), or none when any fails,
    when a condition names an excluded field, or when the query cannot be made."""
    using = router.db_for_write(type(instance), instance=instance)
    connection = connections[using]
    against = instance._get_field_expression_map(meta=instance._meta, exclude=exclude)
    checks, named = [], set()
    for constraint in instance._meta.constraints:
        if isinstance(constraint, models.CheckConstraint):
            names = Q(constraint.condition).referenced_base_fields
            if names <= against.keys():
                checks.append(constraint)
                named |= names
    if len(checks) < 2 or not connection.features.supports_comparing_boolean_expr:
        return frozenset()
    try:
        query = Query(None)
        # Only the values the conditions name: resolving every field's is most of the cost.
        for name in named:
            query.add_annotation(against[name], name, select=False)
        query.add_annotation(Value(1), "_check")
        query.add_q(
            Q(
                *(
                    Coalesce(constraint.condition, True, output_field=BooleanField())
                    for constraint in checks
                )
            )
        )
        savepoint = transaction.atomic(using=using) if connection.in_atomic_block else nullcontext()
        with savepoint:
            holds = query.get_compiler(using=using).execute_sql(SINGLE) is not None
    except (DatabaseError, FieldError):
        return frozenset()
    return frozenset(map(id, checks)) if holds else frozenset()


class TimeStamped(CheckedModel):
    """A row that knows when it was created and last changed."""

    created_at = models.DateTimeField(
        default=timezone.now, editable=False, help_text="When the record was created (UTC)."
    )
    updated_at = models.DateTimeField(
        default=timezone.now, editable=False, help_text="When the record was last changed (UTC)."
    )

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            self.updated_at = timezone.now()
        super().save(*args, **kwargs)


def slug_constraint() -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=~Q(slug="") & Q(slug=Lower("slug")),
        name="%(app_label)s_%(class)s_slug_lowercase",
    )


class RecordQuerySet(models.QuerySet):
    #: Whether a relation to these records is checked one row at a time (EXISTS on the primary
    #: key) instead of against the set of public keys: true for tables too large for that set
    #: to fit in PostgreSQL's work_mem, where it would rescan the set for every row.
    looked_up_by_key = False
    #: The field that keeps whether each record is public, if one does (see public_joined).
    public_flag: str | None = None

    def published(self) -> RecordQuerySet:
        return self.filter(publication_status=PublicationStatus.PUBLISHED)

    def public(self) -> RecordQuerySet:
        """What the public API serves: published records whose related records (by foreign
        key) are public too, so that nothing unpublished shows through a published one: a
        migration is hidden with its group when the group's platform is a draft. A record
        that points to its own kind (an organisation's parent, the action an action
        supersedes) needs that record published, not public in turn."""
        return self.published().filter(public_relations(self.model))


def public_relations(model: type[models.Model]) -> Q:
    """The condition on a model's foreign keys for its records to be public (built once per
    model: the subqueries are the same for every request)."""
    if model not in _PUBLIC_RELATIONS:
        condition = Q()
        for field in model._meta.concrete_fields:
            if not (field.many_to_one and issubclass(field.related_model, Record)):
                continue
            targets = field.related_model._default_manager.all()
            targets = targets.published() if field.related_model is model else targets.public()
            if targets.looked_up_by_key:
                visible = Q(Exists(targets.filter(pk=OuterRef(field.attname))))
            else:
                visible = Q(**{f"{field.name}__in": targets.values("pk")})
            if field.null:
                visible |= Q(**{f"{field.name}__isnull": True})
            condition &= visible
        _PUBLIC_RELATIONS[model] = condition
    return _PUBLIC_RELATIONS[model]


_PUBLIC_RELATIONS: dict[type[models.Model], Q] = {}


def public_joined(model: type[models.Model], path: str = "") -> Q:
    """The rule of ``public()`` for the record of ``model`` that ``path`` (a chain of foreign
    keys from the rows queried, empty for the model's own rows) reaches, written on joined rows
    rather than on sets of public keys: for the few related rows of a page (the exchanges of a
    page of groups), the database then checks each by key instead of listing every public
    record first. A model whose visibility is kept on its rows (``public_flag``) is read from
    it. ``tests/test_invariants.py`` checks that both forms agree."""

    def at(name: str) -> str:
        return f"{path}__{name}" if path else name

    flag = getattr(model._default_manager.get_queryset(), "public_flag", None)
    if flag is not None:
        return Q(**{at(flag): True})
    condition = Q(**{at("publication_status"): PublicationStatus.PUBLISHED})
    for field in model._meta.concrete_fields:
        if not (field.many_to_one and issubclass(field.related_model, Record)):
            continue
        target = at(field.name)
        if field.related_model is model:
            visible = Q(**{f"{target}__publication_status": PublicationStatus.PUBLISHED})
        else:
            visible = public_joined(field.related_model, target)
        if field.null:
            visible = Q(**{f"{target}__isnull": True}) | visible
        condition &= visible
    return condition


class Record(TimeStamped):
    """A citable record with a stable slug used in its URL, and a place in the publishing
    workflow: a draft until a curator publishes it, retracted (kept, with its history, but no
    longer served) when it should no longer be."""

    slug = models.SlugField(
        max_length=100,
        unique=True,
        help_text="Stable identifier used in URLs: lower-case letters, digits and hyphens.",
    )
    publication_status = models.CharField(
        max_length=9,
        choices=PublicationStatus.choices,
        default=PublicationStatus.DRAFT,
        db_index=True,
        help_text="draft, published or retracted; the public API serves published records only.",
    )
    citations = GenericRelation("cryptogroups.Citation")

    #: The fields of the API representation that a citation can name in ``field_name``; each
    #: model lists its own (the API's serializers are tested to offer the same names).
    cited_fields: tuple[str, ...] = ()

    objects = RecordQuerySet.as_manager()

    class Meta:
        abstract = True
        constraints = [
            slug_constraint(),
            models.CheckConstraint(
                condition=Q(publication_status__in=PublicationStatus.values),
                name="%(app_label)s_%(class)s_publication_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return getattr(self, "name", None) or getattr(self, "title", None) or self.slug


def refuse_cycle(instance: models.Model, field: str, what: str) -> None:
    """Refuse a self-reference through ``field``, or a chain through it that comes back to
    ``instance`` (A → B → A): an organisation cannot be its own ancestor, an action cannot
    supersede itself, a source cannot be a copy of itself."""
    from django.core.exceptions import ValidationError

    attname = instance._meta.get_field(field).attname
    seen = {instance.pk} if instance.pk is not None else set()
    target = getattr(instance, attname)
    manager = type(instance)._default_manager
    steps = 0
    while target is not None:
        if target in seen:
            raise ValidationError({field: f"This would make a cycle: {what}."})
        seen.add(target)
        target = manager.filter(pk=target).values_list(attname, flat=True).first()
        steps += 1
        if steps > 10_000:  # a cycle already stored elsewhere in the chain
            raise ValidationError({field: f"The chain through {field} does not end."})


def no_self_reference(field: str) -> models.CheckConstraint:
    """The database's half of :func:`refuse_cycle`: a row never points at itself."""
    return models.CheckConstraint(
        condition=~Q(**{field: models.F("pk")}),
        name=f"%(app_label)s_%(class)s_{field}_not_self",
        violation_error_message=f"A record cannot name itself in {field}.",
    )


def partial_date(label: str, *, what: str) -> tuple[models.Field, models.Field, models.Field]:
    """Three fields for a date that may be known only to the month or year.

    ``<label>_date`` is the first day of the known period, ``<label>_precision`` says how much of
    it is known and ``<label>_qualifier`` how it relates to the event. All three are empty
    together when the date is unknown. Unpack the result into three class attributes.
    """
    return (
        models.DateField(
            null=True,
            blank=True,
            help_text=f"{what}: the first day of the known period (see the precision).",
        ),
        models.CharField(
            max_length=5,
            choices=DatePrecision.choices,
            null=True,
            blank=True,
            help_text=f"{what}: how much of the date is known (day, month or year).",
        ),
        models.CharField(
            max_length=15,
            choices=DateQualifier.choices,
            null=True,
            blank=True,
            help_text=f"{what}: exact, no later than, no earlier than, or circa.",
        ),
    )


def partial_date_constraints(label: str) -> list[models.BaseConstraint]:
    """The database invariants of one partial date (see :func:`partial_date`)."""
    date, precision, qualifier = f"{label}_date", f"{label}_precision", f"{label}_qualifier"
    all_empty = Q(
        **{f"{date}__isnull": True, f"{precision}__isnull": True, f"{qualifier}__isnull": True}
    )
    all_set = Q(
        **{f"{date}__isnull": False, f"{precision}__isnull": False, f"{qualifier}__isnull": False}
    )
    aligned = (
        Q(**{f"{date}__isnull": True})
        | Q(**{precision: DatePrecision.DAY})
        | Q(**{precision: DatePrecision.MONTH, f"{date}__day": 1})
        | Q(**{precision: DatePrecision.YEAR, f"{date}__month": 1, f"{date}__day": 1})
    )
    return [
        models.CheckConstraint(
            condition=all_empty | all_set, name=f"%(app_label)s_%(class)s_{label}_complete"
        ),
        models.CheckConstraint(
            condition=Q(**{f"{precision}__in": DatePrecision.values})
            | Q(**{f"{precision}__isnull": True}),
            name=f"%(app_label)s_%(class)s_{precision}_valid",
        ),
        models.CheckConstraint(
            condition=Q(**{f"{qualifier}__in": DateQualifier.values})
            | Q(**{f"{qualifier}__isnull": True}),
            name=f"%(app_label)s_%(class)s_{qualifier}_valid",
        ),
        models.CheckConstraint(condition=aligned, name=f"%(app_label)s_%(class)s_{date}_aligned"),
    ]


def approximate_count(label: str, *, what: str) -> tuple[models.Field, models.Field]:
    """A non-negative count and how exact it is (``<label>`` and ``<label>_qualifier``)."""
    return (
        models.PositiveBigIntegerField(
            null=True, blank=True, help_text=f"{what}; read it with its qualifier."
        ),
        models.CharField(
            max_length=9,
            choices=CountQualifier.choices,
            null=True,
            blank=True,
            help_text=f"{what}: exact, approx, at_least or more_than.",
        ),
    )


def approximate_count_constraints(label: str) -> list[models.BaseConstraint]:
    qualifier = f"{label}_qualifier"
    return [
        models.CheckConstraint(
            condition=Q(**{f"{label}__gte": 0}) | Q(**{f"{label}__isnull": True}),
            name=f"%(app_label)s_%(class)s_{label}_non_negative",
        ),
        models.CheckConstraint(
            condition=Q(**{f"{label}__isnull": True, f"{qualifier}__isnull": True})
            | Q(**{f"{label}__isnull": False, f"{qualifier}__isnull": False}),
            name=f"%(app_label)s_%(class)s_{label}_qualified",
        ),
        models.CheckConstraint(
            condition=Q(**{f"{qualifier}__in": CountQualifier.values})
            | Q(**{f"{qualifier}__isnull": True}),
            name=f"%(app_label)s_%(class)s_{qualifier}_valid",
        ),
    ]


def choice_constraint(field: str, choices: type[models.TextChoices]) -> models.CheckConstraint:
    """Refuse, in the database, a value that is not one of the field's choices."""
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": choices.values}) | Q(**{f"{field}__isnull": True}),
        name=f"%(app_label)s_%(class)s_{field}_valid",
    )


def country_field(*, help_text: str, required: bool = False) -> models.CharField:
    return models.CharField(
        max_length=2,
        null=not required,
        blank=not required,
        validators=[validate_country_code],
        help_text=f"{help_text} ISO 3166-1 alpha-2 code, upper case (for example CN).",
    )


def language_field(*, help_text: str, required: bool = False) -> models.CharField:
    return models.CharField(
        max_length=2,
        null=not required,
        blank=not required,
        validators=[validate_language_code],
        help_text=f"{help_text} ISO 639-1 code, lower case (for example zh).",
    )


def country_constraint(field: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": COUNTRY_CODES}) | Q(**{f"{field}__isnull": True}),
        name=f"%(app_label)s_%(class)s_{field}_iso3166",
    )


def language_constraint(field: str) -> models.CheckConstraint:
    return models.CheckConstraint(
        condition=Q(**{f"{field}__in": LANGUAGE_CODES}) | Q(**{f"{field}__isnull": True}),
        name=f"%(app_label)s_%(class)s_{field}_iso639",
    )
