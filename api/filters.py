"""FilterSets, one per resource, and the strict filter backends.

Every list accepts its FilterSet's parameters plus ``search``, ``ordering``, ``page`` and
``page_size``. Parameters that take several values (``?status=a&status=b``) match any of them.
Date ranges compare the stored first day of a partial date (a date known to the month matches
``..._after=2017-10-01`` but not ``..._after=2017-10-02``).
"""

from __future__ import annotations

import copy
import re

import pycountry
from django import forms
from django.db.models import F, OrderBy, Q, QuerySet
from django_filters import rest_framework as filters
from django_filters.fields import DateRangeField, RangeField
from django_filters.widgets import SuffixedMultiWidget
from drf_spectacular.utils import extend_schema_field
from rest_framework import filters as drf_filters
from rest_framework.exceptions import ErrorDetail, ValidationError

from cryptogroups import choices, models
from cryptogroups.codes import (
    COUNTRY_CODES,
    LANGUAGE_CODES,
    SLUG_PATTERN,
    validate_country_code,
    validate_language_code,
    validate_subdivision_code,
)
from cryptogroups.models.base import public_joined

#: Every ISO 3166-2 subdivision code the server accepts (codes.validate_subdivision_code).
SUBDIVISION_CODES: tuple[str, ...] = tuple(sorted(s.code for s in pycountry.subdivisions))

#: The closed lists of codes the server accepts, by the validator that enforces each: the
#: schema states them as enums (CountryCodeEnum, LanguageCodeEnum, SubdivisionCodeEnum).
CODE_ENUMS = {
    validate_country_code: COUNTRY_CODES,
    validate_language_code: LANGUAGE_CODES,
    validate_subdivision_code: SUBDIVISION_CODES,
}

#: White space as Python's str.isspace() sees it, which is where str.strip() and Django's
#: smart_split() cut, for a character class that every regular expression dialect reads alike:
#: Python's \s is exactly that set; ECMAScript's lacks U+001C-U+001F and U+0085, added here,
#: and also takes U+FEFF (a pattern that must be exact sets it apart). No \u escape: some
#: generators write U+2028 and U+2029 into a regular expression literal as line breaks.
SPACE = r"\s\x1c-\x1f\x85"


#: How many values one query parameter takes (one that takes several, repeated); every view
#: refuses more (views.requests.check_query_parameters), and the schema states it as maxItems.
MAX_VALUES = 100


class StrictDjangoFilterBackend(filters.DjangoFilterBackend):
    """django-filter's backend, with each error reported under the query parameter that caused
    it (``announced_after``, not the filter's name ``announced``)."""

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise ValidationError(errors_by_parameter(filterset))
        return filterset.qs

    def to_html(self, request, queryset, view):
        """No filter form in the browsable API: an HTML form submits its empty fields, which
        this API refuses. Filters go in the URL, as the schema documents them."""
        return None


def _details(error: forms.ValidationError) -> list[ErrorDetail]:
    return [
        ErrorDetail(message, code=e.code or "invalid") for e in error.error_list for message in e
    ]


def errors_by_parameter(filterset: filters.FilterSet) -> dict[str, list[ErrorDetail]]:
    errors: dict[str, list[ErrorDetail]] = {}
    for name, form_errors in filterset.form.errors.as_data().items():
        field = filterset.form.fields[name]
        if isinstance(field.widget, SuffixedMultiWidget):
            for suffix, subfield in zip(field.widget.suffixes, field.fields, strict=True):
                parameter = field.widget.suffixed(name, suffix)
                try:
                    subfield.clean(filterset.data.get(parameter))
                except forms.ValidationError as error:
                    errors[parameter] = _details(error)
            if any(key.startswith(f"{name}_") for key in errors):
                continue
        errors[name] = [detail for error in form_errors for detail in _details(error)]
    return errors


#: What a search may hold. Each word is one more pattern matched against every searched
#: field, and SQLite refuses a query past 1000 nested conditions or a pattern past 50000 bytes.
MAX_SEARCH_WORDS = 20
MAX_SEARCH_LENGTH = 200
#: The schema's pattern for a search: at most 20 runs of characters between white space and
#: commas (the server counts a quoted phrase as one word, so the pattern is the stricter of the
#: two: whatever it matches is accepted).
SEARCH_PATTERN = rf"^[{SPACE},]*(?:[^{SPACE},\x00]+(?:[{SPACE},]+|$)){{0,{MAX_SEARCH_WORDS}}}$"


class SearchFilter(drf_filters.SearchFilter):
    search_description = "Words to look for (case-insensitive) in the resource's main text fields."

    def get_search_terms(self, request):
        value = request.query_params.get(self.search_param, "")
        if len(value) > MAX_SEARCH_LENGTH:
            message = f"At most {MAX_SEARCH_LENGTH} characters; {len(value)} given."
            raise ValidationError({self.search_param: [message]})
        terms = super().get_search_terms(request)
        if len(terms) > MAX_SEARCH_WORDS:
            message = f"At most {MAX_SEARCH_WORDS} words; {len(terms)} given."
            raise ValidationError({self.search_param: [message]})
        return terms

    def get_schema_operation_parameters(self, view):
        """The limits as schema keywords: at most 200 characters and SEARCH_PATTERN."""
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"].update(
                example="telegram",
                minLength=1,
                maxLength=MAX_SEARCH_LENGTH,
                pattern=SEARCH_PATTERN,
            )
            parameter["description"] = (
                f"{self.search_description} At most {MAX_SEARCH_WORDS} words and "
                f"{MAX_SEARCH_LENGTH} characters."
            )
        return parameters


def searched(request, view) -> bool:
    """Whether a list is searched: its view searches and ``search=`` holds a word."""
    return bool(getattr(view, "search_fields", None)) and bool(
        SearchFilter().get_search_terms(request)
    )


class StrictOrderingFilter(drf_filters.OrderingFilter):
    """Ordering that refuses unknown fields with a 400 instead of ignoring them, and always ends
    with the view's unique tie-breaker so that pages are deterministic."""

    def get_ordering(self, request, queryset, view):
        raw = request.query_params.get(self.ordering_param)
        if raw is None:
            terms = list(self.get_default_ordering(view))
        else:
            terms = [term.strip() for term in raw.split(",")]
            allowed = {
                name for name, _ in self.get_valid_fields(queryset, view, {"request": request})
            }
            invalid = [term for term in terms if term.removeprefix("-") not in allowed]
            if invalid:
                raise ValidationError(
                    {
                        self.ordering_param: [
                            f"Unknown ordering field(s): {', '.join(map(repr, invalid))}. Allowed: "
                            f"{', '.join(sorted(allowed))}, each optionally prefixed by '-'."
                        ]
                    }
                )
        if view.ordering_tie_breaker not in {term.removeprefix("-") for term in terms}:
            terms.append(view.ordering_tie_breaker)
        return [nulls_last(term) for term in terms]

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        fields = ", ".join(view.ordering_fields)
        terms = "|".join(view.ordering_fields)
        for parameter in parameters:
            parameter["schema"]["pattern"] = rf"^-?({terms})(,-?({terms}))*$"
            parameter["example"] = view.ordering_fields[0]
            parameter["description"] = (
                f"Comma-separated fields to sort by, each optionally prefixed by '-' for "
                f"descending order. Allowed: {fields}. Ties are broken by "
                f"'{view.ordering_tie_breaker}'."
            )
        return parameters


def nulls_last(term: str) -> OrderBy:
    """Sort empty values last in both directions, so that SQLite and PostgreSQL agree."""
    if term.startswith("-"):
        return F(term[1:]).desc(nulls_last=True)
    return F(term).asc(nulls_last=True)


def filters_by_parameter(filterset_class: type[filters.FilterSet]) -> dict[str, filters.Filter]:
    """Map each query parameter a FilterSet reads to the filter that reads it (a range reads
    two: ``member_count_min`` and ``member_count_max``)."""
    found: dict[str, filters.Filter] = {}
    for name, filter_ in filterset_class.base_filters.items():
        widget = filter_.field.widget
        if isinstance(widget, SuffixedMultiWidget):
            for suffix in widget.suffixes:
                found[widget.suffixed(name, suffix)] = filter_
        else:
            found[name] = filter_
    return found


def query_parameter_names(filterset_class: type[filters.FilterSet]) -> dict[str, bool]:
    """Map each query parameter a FilterSet reads to whether it may be repeated."""
    return {
        name: not isinstance(filter_.field.widget, SuffixedMultiWidget)
        and isinstance(filter_.field, forms.MultipleChoiceField | forms.ModelMultipleChoiceField)
        for name, filter_ in filters_by_parameter(filterset_class).items()
    }


class PatternMixin:
    """Documents the filter's value as a string of a given pattern, with its help text (an
    override of the schema replaces the description drf-spectacular would take from it)."""

    pattern: str

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        schema = {"type": "string", "pattern": self.pattern}
        extend_schema_field({**schema, "description": self.extra.get("help_text", "")})(self)


class CodeFilter(filters.CharFilter):
    """A code, exactly: no surrounding space is trimmed ("CN " is not "CN"). The schema lists
    the codes the validator accepts (CODE_ENUMS), as an enum."""

    validator: staticmethod

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("validators", [self.validator])
        kwargs.setdefault("strip", False)
        super().__init__(*args, **kwargs)
        schema = {"type": "string", "enum": list(CODE_ENUMS[self.validator])}
        extend_schema_field({**schema, "description": self.extra.get("help_text", "")})(self)

    def __deepcopy__(self, memo):
        """A FilterSet deep-copies its filters for every request. The copies share the schema's
        annotation, which only the schema generator reads: copying its list of codes (5,046
        subdivisions) was most of the cost of building a list's filters."""
        annotation = self._spectacular_annotation
        memo[id(annotation)] = annotation
        clone = copy.copy(self)
        memo[id(self)] = clone
        clone.__dict__.update(copy.deepcopy(self.__dict__, memo))
        return clone


class CountryFilter(CodeFilter):
    validator = staticmethod(validate_country_code)


class LanguageFilter(CodeFilter):
    validator = staticmethod(validate_language_code)


class SubdivisionFilter(CodeFilter):
    validator = staticmethod(validate_subdivision_code)


#: The largest count the database stores (a 64-bit signed integer).
MAX_COUNT = 2**63 - 1


class WholeNumberField(forms.IntegerField):
    """A whole number in ASCII digits, nothing else: Python's int() also takes "+5", "1_000"
    and digits of other scripts (Arabic-Indic, full-width), and Django's IntegerField "12.0"."""

    def to_python(self, value):
        if value not in self.empty_values and not re.fullmatch(r"[0-9]+", str(value)):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class CountRangeField(RangeField):
    """A range of whole, non-negative numbers (django-filter's RangeField takes decimals)."""

    def __init__(self, fields=None, *args, **kwargs):
        if fields is None:
            fields = [WholeNumberField(min_value=0, max_value=MAX_COUNT) for _ in range(2)]
        super().__init__(fields, *args, **kwargs)


class CountRangeFilter(filters.RangeFilter):
    field_class = CountRangeField


class StrictBooleanFilter(filters.TypedChoiceFilter):
    """``true`` or ``false``; anything else is a 400 (django-filter's BooleanFilter ignores it)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("choices", [("true", "true"), ("false", "false")])
        kwargs.setdefault("coerce", lambda value: value == "true")
        super().__init__(*args, **kwargs)
        schema = {"type": "boolean", "description": self.extra.get("help_text", "")}
        extend_schema_field(schema)(self)


class DistinctThroughToManyMixin:
    """A filter of several values that removes duplicates only when its path can match a row
    several times. django-filter's multiple-choice filters always ask for DISTINCT, which
    takes the list's rows out of its index: PostgreSQL then sorts every matching row to
    read a page (0.4 s for ``?group_type=group`` at a million groups)."""

    def filter(self, qs, value):
        self.distinct = crosses_to_many(qs.model, self.field_name)
        return super().filter(qs, value)


class SlugFilter(DistinctThroughToManyMixin, PatternMixin, filters.ModelMultipleChoiceFilter):
    """Related records named by slug; matches by the record itself (django-filter would compare
    the slug with the foreign key's own column)."""

    pattern = SLUG_PATTERN

    def filter(self, qs, value):
        # Without the parameter, the form field cleans to an empty queryset, which
        # django-filter's test of the value (``if not value``) would compile as a query on
        # every request: an empty one means no filter.
        if isinstance(value, QuerySet) and value.query.is_empty():
            return qs
        return super().filter(qs, value)

    def get_filter_predicate(self, value):
        return {self.field_name: value}


class ChoicesFilter(DistinctThroughToManyMixin, filters.MultipleChoiceFilter):
    """Values from a closed list; repeat the parameter to match any of several."""


def crosses_to_many(model, path: str) -> bool:
    """Whether a lookup path goes through a relation that can match a row several times."""
    for part in path.split("__"):
        field = model._meta.get_field(part)
        if field.one_to_many or field.many_to_many:
            return True
        if not field.is_relation:
            return False
        model = field.related_model
    return False


def public_by_slug(model) -> QuerySet:
    """The public records a slug filter may name. The few named are looked up by slug, so the
    rule of ``public()`` is checked on their joined rows (each related record by key), not by
    listing every public organisation first (at a million groups: 0.3 ms for a platform,
    against 1.6 ms)."""
    return model.objects.filter(public_joined(model))


def slug_filter(model, field_name: str, help_text: str) -> SlugFilter:
    """Filter by the slug of a related record; repeat the parameter to match any of several."""
    return SlugFilter(
        field_name=field_name,
        to_field_name="slug",
        queryset=public_by_slug(model),
        help_text=help_text,
    )


def choice_filter(choice_class, help_text: str, field_name: str | None = None):
    kwargs = {"choices": choice_class.choices, "help_text": help_text}
    if field_name:
        kwargs["field_name"] = field_name
    return ChoicesFilter(**kwargs)


class ISODateField(forms.DateField):
    """A date as YYYY-MM-DD in ASCII digits, nothing else: Django's formats also take
    10/08/2017, which is 8 October in most of the world and 10 August in some."""

    input_formats = ["%Y-%m-%d"]
    default_error_messages = {"invalid": "Enter a real date as YYYY-MM-DD."}

    def to_python(self, value):
        if value not in self.empty_values and not re.fullmatch(
            r"[0-9]{4}-[0-9]{2}-[0-9]{2}", str(value)
        ):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return super().to_python(value)


class ISODateRangeField(DateRangeField):
    def __init__(self, *args, **kwargs):
        RangeField.__init__(self, (ISODateField(), ISODateField()), *args, **kwargs)


class DateRangeFilter(filters.DateFromToRangeFilter):
    field_class = ISODateRangeField


def date_range(field_name: str, what: str) -> DateRangeFilter:
    return DateRangeFilter(
        field_name=field_name,
        help_text=f"{what}: `_after` and `_before` bound it, inclusive (YYYY-MM-DD).",
    )


class OrganizationFilterSet(filters.FilterSet):
    org_type = choice_filter(choices.OrganizationType, "Kind of organisation.")
    country = CountryFilter(help_text="Country, ISO 3166-1 alpha-2 (for example CN).")
    parent = slug_filter(models.Organization, "parent", "Slug of the parent organisation.")

    class Meta:
        model = models.Organization
        fields = ["org_type", "country", "parent"]


class SourceFilterSet(filters.FilterSet):
    source_type = choice_filter(choices.SourceType, "Kind of document.")
    language = LanguageFilter(help_text="Language of the document, ISO 639-1 (for example en).")
    publisher = filters.CharFilter(
        lookup_expr="iexact",
        max_length=models.Source._meta.get_field("publisher").max_length,
        help_text="Publisher, exact name, case-insensitive.",
    )
    published = date_range("published_date", "Publication date")

    class Meta:
        model = models.Source
        fields = ["source_type", "language", "publisher"]


class PlatformFilterSet(filters.FilterSet):
    platform_type = choice_filter(choices.PlatformType, "Kind of service.")
    encryption = choice_filter(choices.Encryption, "How messages are encrypted.")
    operator = slug_filter(models.Organization, "operator", "Slug of the operating company.")
    blocked_in = CountryFilter(
        method="filter_blocked_in",
        help_text="Only platforms recorded as blocked in this country (ISO 3166-1 alpha-2) "
        "at some time.",
    )

    class Meta:
        model = models.Platform
        fields = ["platform_type", "encryption", "operator"]

    def filter_blocked_in(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        blocked = models.PlatformAvailability.objects.public().filter(
            jurisdiction=value, status=choices.AvailabilityStatus.BLOCKED
        )
        return queryset.filter(pk__in=blocked.values("platform"))


class PlatformAvailabilityFilterSet(filters.FilterSet):
    platform = slug_filter(models.Platform, "platform", "Slug of the platform.")
    jurisdiction = CountryFilter(help_text="Country, ISO 3166-1 alpha-2 (for example CN).")
    status = choice_filter(choices.AvailabilityStatus, "Available, restricted or blocked.")
    since = date_range("since_date", "Start of the period")

    class Meta:
        model = models.PlatformAvailability
        fields = ["platform", "jurisdiction", "status"]


class ExchangeFilterSet(filters.FilterSet):
    exchange_type = choice_filter(choices.ExchangeType, "Kind of venue.")
    status = choice_filter(choices.ExchangeStatus, "Operating status.")
    country = CountryFilter(help_text="Country where it is based, ISO 3166-1 alpha-2.")
    operator = slug_filter(models.Organization, "operator", "Slug of the operating company.")
    founded = date_range("founded_date", "Founding date")
    response_type = filters.MultipleChoiceFilter(
        choices=choices.ResponseType.choices,
        method="filter_response_type",
        help_text="Only exchanges that made a response of this type.",
    )
    responded_to = SlugFilter(
        queryset=public_by_slug(models.RegulatoryAction),
        to_field_name="slug",
        method="filter_responded_to",
        help_text="Only exchanges that responded to this regulatory action (its slug).",
    )

    class Meta:
        model = models.Exchange
        fields = ["exchange_type", "status", "country", "operator"]

    def filter_response_type(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        return (
            self.with_published_response(queryset, response_type__in=value) if value else queryset
        )

    def filter_responded_to(self, queryset: QuerySet, name: str, value: list) -> QuerySet:
        return self.with_published_response(queryset, actions__in=value) if value else queryset

    @staticmethod
    def with_published_response(queryset: QuerySet, **conditions) -> QuerySet:
        responses = models.ExchangeResponse.objects.public().filter(**conditions)
        return queryset.filter(pk__in=responses.values("exchange"))


class ExchangeResponseFilterSet(filters.FilterSet):
    exchange = slug_filter(models.Exchange, "exchange", "Slug of the exchange.")
    response_type = choice_filter(choices.ResponseType, "What the exchange did.")
    jurisdiction = CountryFilter(help_text="Scope of the response, ISO 3166-1 alpha-2.")
    action = slug_filter(
        models.RegulatoryAction, "actions", "Slug of a regulatory action it responded to."
    )
    announced = date_range("announced_date", "Announcement date")
    effective = date_range("effective_date", "Effective date")

    class Meta:
        model = models.ExchangeResponse
        fields = ["exchange", "response_type", "jurisdiction", "action"]


class GroupFilterSet(filters.FilterSet):
    platform = slug_filter(models.Platform, "platform", "Slug of the hosting platform.")
    exchange = slug_filter(models.Exchange, "exchanges", "Slug of an exchange the group is about.")
    affiliation = filters.MultipleChoiceFilter(
        choices=choices.Affiliation.choices,
        method="filter_affiliation",
        help_text="Only groups with an exchange link of this affiliation (official, unofficial, "
        "unknown).",
    )
    group_type = choice_filter(choices.GroupType, "Group, channel or room.")
    status = choice_filter(choices.GroupStatus, "Active, disbanded, migrated or unknown.")
    language = LanguageFilter(help_text="Main language, ISO 639-1 (for example zh).")
    is_aggregate = StrictBooleanFilter(
        help_text="`true` for records that stand for several unnamed groups, `false` otherwise."
    )
    member_count = CountRangeFilter(
        help_text="Member count: `_min` and `_max` bound it, inclusive. Groups without a count "
        "never match. The count's qualifier is not taken into account."
    )

    class Meta:
        model = models.Group
        fields = ["platform", "exchange", "group_type", "status", "language"]

    def filter_affiliation(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        """Links to exchanges that are not public count for nothing, as in the groups'
        ``exchanges``: a group linked to a draft exchange must not show through this filter."""
        if not value:
            return queryset
        links = models.GroupExchange.objects.filter(
            affiliation__in=value, exchange__in=models.Exchange.objects.public()
        )
        return queryset.filter(pk__in=links.values("group"))


class MigrationFilterSet(filters.FilterSet):
    from_platform = slug_filter(models.Platform, "from_platform", "Slug of the platform left.")
    to_platform = slug_filter(models.Platform, "to_platform", "Slug of the platform joined.")
    platform = SlugFilter(
        queryset=public_by_slug(models.Platform),
        to_field_name="slug",
        method="filter_platform",
        help_text="Slug of a platform either left or joined.",
    )
    driver = slug_filter(
        models.RegulatoryAction, "drivers", "Slug of a regulatory action given as a reason."
    )
    started = date_range("started_date", "Start of the movement")

    class Meta:
        model = models.Migration
        fields = ["from_platform", "to_platform", "driver"]

    def filter_platform(self, queryset: QuerySet, name: str, value: list) -> QuerySet:
        if not value:
            return queryset
        return queryset.filter(Q(from_platform__in=value) | Q(to_platform__in=value)).distinct()


class RegulatoryActionFilterSet(filters.FilterSet):
    jurisdiction = CountryFilter(help_text="Country, ISO 3166-1 alpha-2 (for example CN).")
    subdivision = SubdivisionFilter(
        help_text="ISO 3166-2 subdivision for local actions (for example CN-SH).",
    )
    action_type = choice_filter(choices.ActionType, "Kind of action.")
    status = choice_filter(choices.ActionStatus, "How far the action is known to have gone.")
    issuer = slug_filter(models.Organization, "issuers", "Slug of an issuing organisation.")
    target_exchange = slug_filter(
        models.Exchange, "targets__exchange", "Slug of an exchange the action targets by name."
    )
    target_platform = slug_filter(
        models.Platform, "targets__platform", "Slug of a platform the action targets by name."
    )
    target_category = choice_filter(
        choices.TargetCategory,
        "A category of actors the action targets.",
        field_name="targets__category",
    )
    announced = date_range("announced_date", "Announcement date")
    effective = date_range("effective_date", "Effective date")

    class Meta:
        model = models.RegulatoryAction
        fields = ["jurisdiction", "subdivision", "action_type", "status", "issuer"]
