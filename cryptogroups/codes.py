"""ISO code lists and validators: countries (3166-1 alpha-2), subdivisions (3166-2) and
languages (639-1), taken from pycountry (Debian's iso-codes data).

The country and language lists also become database check constraints, so an invalid code is
refused by the database itself, not only by forms and serializers.
"""

from __future__ import annotations

import pycountry
from django.core.exceptions import ValidationError

#: What a slug may be made of: SlugField's characters, lower case as the database requires.
SLUG_PATTERN = r"^[-a-z0-9_]+$"

COUNTRY_CODES: tuple[str, ...] = tuple(sorted(c.alpha_2 for c in pycountry.countries))
LANGUAGE_CODES: tuple[str, ...] = tuple(
    sorted(lang.alpha_2 for lang in pycountry.languages if hasattr(lang, "alpha_2"))
)


def validate_country_code(value: str) -> None:
    if value not in COUNTRY_CODES:
        raise ValidationError(
            "%(value)r is not an ISO 3166-1 alpha-2 country code (for example CN, HK, US).",
            code="invalid_country",
            params={"value": value},
        )


def validate_language_code(value: str) -> None:
    if value not in LANGUAGE_CODES:
        raise ValidationError(
            "%(value)r is not an ISO 639-1 language code (for example zh, en).",
            code="invalid_language",
            params={"value": value},
        )


def validate_subdivision_code(value: str) -> None:
    subdivision = pycountry.subdivisions.get(code=value)
    if subdivision is None or subdivision.code != value:
        raise ValidationError(
            "%(value)r is not an ISO 3166-2 subdivision code (for example CN-SH, CN-BJ).",
            code="invalid_subdivision",
            params={"value": value},
        )
