"""Validation checks a model's check constraints in one query (cryptogroups.models.base
.CheckedModel) and says exactly what Django's one query per constraint says: the same errors
for any values, with any fields excluded, on every model that has check constraints."""

from __future__ import annotations

import datetime

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError
from django.db import models as db_models
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryptogroups.models.base import CheckedModel

pytestmark = pytest.mark.django_db

#: The models checked together: those with more than one check constraint of their own.
CHECKED = sorted(
    (
        model
        for model in apps.get_app_config("cryptogroups").get_models()
        if issubclass(model, CheckedModel)
        and sum(isinstance(c, db_models.CheckConstraint) for c in model._meta.constraints) > 1
    ),
    key=lambda model: model.__name__,
)


def constrained_fields(model) -> list[db_models.Field]:
    """The plain fields that the model's check constraints name."""
    names = set()
    for constraint in model._meta.constraints:
        if isinstance(constraint, db_models.CheckConstraint):
            names |= db_models.Q(constraint.condition).referenced_base_fields
    return [
        field
        for field in model._meta.concrete_fields
        if field.name in names and not field.is_relation and not field.primary_key
    ]


def values_for(field: db_models.Field) -> st.SearchStrategy:
    """Values of the field's type that break its constraints or keep them: empty, out of
    range, off the list, too large for the column, NULL."""
    if field.choices:
        values = st.sampled_from([value for value, _ in field.flatchoices] + ["", "other"])
    elif isinstance(field, db_models.BooleanField):
        values = st.booleans()
    elif isinstance(field, db_models.IntegerField):
        values = st.sampled_from([-1, 0, 1, 2, 1000, 2**40]) | st.integers(-5, 10**7)
    elif isinstance(field, db_models.DateField):
        values = st.dates(datetime.date(1990, 1, 1), datetime.date(2030, 12, 31))
    elif isinstance(field, db_models.CharField):
        values = st.sampled_from(["", "a", "A", "CN", "cn", "zh", "ZH", "x-y", "1"]) | st.text(
            max_size=8
        )
    else:
        values = st.just(field.get_default())
    return st.none() | values


def errors_of(validate) -> dict | None:
    try:
        validate()
    except ValidationError as error:
        return error.message_dict
    return None


@pytest.mark.parametrize("model", CHECKED, ids=lambda model: model.__name__)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_the_constraints_checked_together_say_what_each_says(model, data):
    fields = constrained_fields(model)
    instance = model._default_manager.order_by("pk").first() or model()
    for field in fields:
        if data.draw(st.booleans(), label=f"change {field.name}"):
            setattr(instance, field.attname, data.draw(values_for(field), label=field.name))
    exclude = set(
        data.draw(st.lists(st.sampled_from([f.name for f in fields]), max_size=2), label="exclude")
    )
    together = errors_of(lambda: instance.validate_constraints(exclude=exclude))
    each = errors_of(lambda: db_models.Model.validate_constraints(instance, exclude=exclude))
    assert together == each


@pytest.mark.parametrize("model", CHECKED, ids=lambda model: model.__name__)
def test_a_record_that_keeps_its_constraints_is_checked_in_one_query(
    model, django_assert_num_queries
):
    """One query, in a savepoint of its own as Django's checks are (the test runs in a
    transaction), whatever the number of constraints; the curated records keep them all."""
    instance = model._default_manager.order_by("pk").first()
    assert instance is not None, f"the curated dataset has no {model.__name__}"
    with django_assert_num_queries(3) as context:
        instance.validate_constraints()
    assert sum("SELECT" in query["sql"] for query in context.captured_queries) == 1


def test_a_broken_constraint_is_named_as_django_names_it():
    group = apps.get_model("cryptogroups", "Group")._default_manager.order_by("pk").first()
    group.member_count_qualifier = "bogus"
    with pytest.raises(ValidationError) as refused:
        group.validate_constraints()
    assert refused.value.message_dict == errors_of(
        lambda: db_models.Model.validate_constraints(group)
    )
    assert refused.value.message_dict, "the broken constraint is reported"


def test_every_model_with_several_check_constraints_is_checked_together():
    several = [
        model
        for model in apps.get_app_config("cryptogroups").get_models()
        if sum(isinstance(c, db_models.CheckConstraint) for c in model._meta.constraints) > 1
    ]
    assert set(several) == set(CHECKED)
    assert len(CHECKED) >= 8
