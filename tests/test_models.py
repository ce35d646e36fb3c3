"""The database itself refuses records that break the domain's invariants, on every engine."""

from __future__ import annotations

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, transaction

from cryptogroups import models
from tests import factories

pytestmark = pytest.mark.django_db


def refused(build) -> bool:
    """True when the database refuses the row: a broken constraint, or (PostgreSQL) a value too
    long for its column."""
    try:
        with transaction.atomic():
            build()
    except (IntegrityError, DataError):
        return True
    return False


@pytest.mark.parametrize("code", ["XX", "cn", "CHN", "C"])
def test_invalid_country_code_is_refused_by_the_database(code):
    assert refused(lambda: factories.exchange(country=code))


def test_valid_country_code_is_accepted():
    assert factories.exchange(country="HK").country == "HK"


@pytest.mark.parametrize("code", ["xx", "EN", "eng"])
def test_invalid_language_code_is_refused_by_the_database(code):
    assert refused(lambda: factories.source(language=code))


@pytest.mark.parametrize(
    ("date", "precision"),
    [
        (datetime.date(2017, 10, 8), "month"),  # a month is stored as its first day
        (datetime.date(2017, 10, 1), "year"),  # a year as 1 January
        (datetime.date(2017, 10, 1), "week"),  # not a precision
    ],
)
def test_partial_date_with_inconsistent_precision_is_refused(date, precision):
    assert refused(
        lambda: factories.action(
            effective_date=date, effective_precision=precision, effective_qualifier="exact"
        )
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"effective_date": datetime.date(2017, 10, 1)},
        {"effective_precision": "month", "effective_qualifier": "exact"},
        {"effective_date": datetime.date(2017, 10, 1), "effective_precision": "month"},
    ],
)
def test_partial_date_must_be_complete_or_empty(fields):
    assert refused(lambda: factories.action(**fields))


def test_partial_date_keeps_month_precision():
    action = factories.action(
        effective_date=datetime.date(2017, 10, 1),
        effective_precision="month",
        effective_qualifier="exact",
    )
    action.refresh_from_db()
    assert (action.effective_date, action.effective_precision) == (
        datetime.date(2017, 10, 1),
        "month",
    )


def test_unknown_date_qualifier_is_refused():
    assert refused(
        lambda: factories.action(
            effective_date=datetime.date(2017, 10, 1),
            effective_precision="month",
            effective_qualifier="sometime",
        )
    )


def test_negative_member_count_is_refused():
    assert refused(lambda: factories.group(member_count=-1, member_count_qualifier="exact"))


def test_count_without_qualifier_is_refused():
    assert refused(lambda: factories.group(member_count=500))


def test_unknown_count_qualifier_is_refused():
    assert refused(lambda: factories.group(member_count=500, member_count_qualifier="roughly"))


def test_aggregate_count_only_on_aggregates():
    assert refused(
        lambda: factories.group(
            is_aggregate=False, aggregate_count=30, aggregate_count_qualifier="at_least"
        )
    )
    group = factories.group(
        is_aggregate=True, aggregate_count=30, aggregate_count_qualifier="at_least"
    )
    assert group.aggregate_count == 30


@pytest.mark.parametrize(
    ("factory", "field", "value"),
    [
        (factories.exchange, "exchange_type", "casino"),
        (factories.exchange, "status", "sleeping"),
        (factories.group, "group_type", "forum"),
        (factories.action, "action_type", "decree"),
        (factories.action, "status", "rumoured"),
        (factories.organization, "org_type", "club"),
        (factories.platform, "encryption", "rot13"),
        (factories.source, "source_type", "tweet"),
    ],
)
def test_unknown_choice_is_refused_by_the_database(factory, field, value):
    assert refused(lambda: factory(**{field: value}))


@pytest.mark.parametrize("slug", ["BTCChina", ""])
def test_slug_must_be_lower_case_and_set(slug):
    assert refused(lambda: factories.platform(slug=slug))


def test_slug_is_unique():
    factories.exchange(slug="same")
    assert refused(lambda: factories.exchange(slug="same"))


def test_subdivision_must_lie_in_the_jurisdiction():
    assert refused(lambda: factories.action(jurisdiction="CN", subdivision="US-CA"))
    assert factories.action(jurisdiction="CN", subdivision="CN-SH").subdivision == "CN-SH"


@pytest.mark.parametrize(
    "targets",
    [
        {},
        {"category": "exchanges", "exchange": "exchange"},
        {"exchange": "exchange", "platform": "platform"},
    ],
)
def test_action_target_names_exactly_one_thing(targets):
    action = factories.action()
    resolved = {
        "exchange": factories.exchange(),
        "platform": factories.platform(),
    }
    fields = {key: resolved.get(value, value) for key, value in targets.items()}
    assert refused(
        lambda: models.ActionTarget.objects.create(action=action, effect="prohibited", **fields)
    )


def test_migration_between_the_same_platform_is_refused():
    platform = factories.platform()
    assert refused(lambda: factories.migration(from_platform=platform, to_platform=platform))


def test_availability_period_must_not_end_before_it_starts():
    assert refused(
        lambda: factories.availability(
            since_date=datetime.date(2017, 1, 1),
            since_precision="year",
            since_qualifier="exact",
            until_date=datetime.date(2016, 1, 1),
            until_precision="year",
            until_qualifier="exact",
        )
    )


def test_citation_needs_a_quote():
    assert refused(lambda: factories.cite(factories.exchange(), quote=""))


def test_citation_support_must_be_a_known_value():
    assert refused(lambda: factories.cite(factories.exchange(), support="rumour"))


def test_citation_of_an_unknown_field_fails_validation():
    citation = factories.cite(factories.exchange(), field_name="colour")
    with pytest.raises(ValidationError) as error:
        citation.full_clean()
    assert "field_name" in error.value.message_dict


@pytest.mark.parametrize(
    ("field", "value"),
    [("country", "XX"), ("country", "cn"), ("wikidata_qid", "42"), ("wikidata_qid", "Q0")],
)
def test_validation_explains_bad_codes(field, value):
    exchange = factories.exchange()
    setattr(exchange, field, value)
    with pytest.raises(ValidationError) as error:
        exchange.full_clean()
    assert field in error.value.message_dict


def test_subdivision_validation_uses_iso_3166_2():
    action = factories.action()
    action.subdivision = "CN-ZZ"
    with pytest.raises(ValidationError) as error:
        action.full_clean()
    assert "subdivision" in error.value.message_dict


def test_saving_changes_updated_at_but_not_created_at():
    exchange = factories.exchange()
    created, updated = exchange.created_at, exchange.updated_at
    exchange.name = "Renamed"
    exchange.save()
    exchange.refresh_from_db()
    assert exchange.created_at == created
    assert exchange.updated_at > updated


def domain_models():
    from django.apps import apps

    return [
        model
        for model in apps.get_app_config("cryptogroups").get_models()
        if not model._meta.auto_created
        and not model._meta.model_name.startswith("historical")  # made by django-simple-history
    ]


@pytest.mark.parametrize("model", domain_models(), ids=lambda m: m.__name__)
def test_every_model_and_field_is_documented(model):
    # Django writes "Name(field, ...)" as the docstring of a model that has none.
    assert model.__doc__
    assert not model.__doc__.startswith(f"{model.__name__}(")
    undocumented = [
        field.name
        for field in model._meta.get_fields()
        if (field.concrete or field.many_to_many) and not field.auto_created and not field.help_text
    ]
    assert undocumented == []
