"""The orjson renderer gives exactly DRF's JSON bytes."""

from __future__ import annotations

import datetime
import decimal

from django.utils.translation import gettext_lazy
from hypothesis import given, settings
from hypothesis import strategies as st
from rest_framework import renderers
from rest_framework.exceptions import ErrorDetail

from api.renderers import JSONRenderer

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.text()
    | st.datetimes(timezones=st.just(datetime.UTC)),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_same_bytes_as_drf(value):
    assert JSONRenderer().render(value) == renderers.JSONRenderer().render(value)


def test_same_bytes_for_what_drf_encodes_itself():
    value = {
        "lazy": gettext_lazy("Not found."),
        "error": ErrorDetail("Unknown field.", code="invalid"),
        "when": datetime.datetime(2017, 9, 4, 12, 0, tzinfo=datetime.UTC),
        "day": datetime.date(2017, 9, 4),
        "amount": decimal.Decimal("1.50"),
        "separators": "\u2028\u2029 and 中文",
        1: "a non-string key",
    }
    assert JSONRenderer().render(value) == renderers.JSONRenderer().render(value)


def test_pretty_printing_is_drf_s():
    value = {"a": [1, 2]}
    media_type = "application/json; indent=2"
    assert JSONRenderer().render(value, media_type) == renderers.JSONRenderer().render(
        value, media_type
    )
