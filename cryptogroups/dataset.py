"""The curated dataset in ``fixtures/`` and the rule every record of it obeys: it is cited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models as db_models

from . import models

FIXTURES_DIR = Path(settings.BASE_DIR) / "fixtures"

#: The records that state facts, and so must each carry at least one citation.
CITED_MODELS: tuple[type[db_models.Model], ...] = (
    models.Organization,
    models.Platform,
    models.PlatformAvailability,
    models.Exchange,
    models.ExchangeResponse,
    models.Group,
    models.Migration,
    models.RegulatoryAction,
)


def fixture_paths() -> list[Path]:
    """Every fixture file, in a stable order (loaddata resolves references across files)."""
    return sorted(FIXTURES_DIR.glob("*.json"))


def invalid_rows(rows: list[dict]) -> Iterator[str]:
    """Each loaded row checked by its model's own validation (fields, ``clean()`` and
    constraints), the same rules the admin and the write API apply: one line per problem."""
    from django.apps import apps
    from django.core.exceptions import ValidationError

    by_model: dict[str, list] = {}
    for row in rows:
        by_model.setdefault(row["model"], []).append(row["pk"])
    for label, pks in sorted(by_model.items()):
        model = apps.get_model(label)
        for instance in model._default_manager.filter(pk__in=pks).order_by("pk"):
            try:
                # The database has checked its constraints, unique keys and foreign keys as
                # the rows went in; the rest (clean(), validators) is the model's own.
                foreign_keys = [f.name for f in model._meta.concrete_fields if f.many_to_one]
                instance.full_clean(
                    exclude=foreign_keys, validate_unique=False, validate_constraints=False
                )
            except ValidationError as error:
                for field, messages in error.message_dict.items():
                    for message in messages:
                        yield f"{label} {instance.pk} {field}: {message}"


def uncited_records() -> Iterator[db_models.Model]:
    """Records of the cited models that have no citation at all."""
    for model in CITED_MODELS:
        content_type = ContentType.objects.get_for_model(model)
        cited = models.Citation.objects.filter(content_type=content_type).values("object_id")
        yield from model.objects.exclude(pk__in=cited)
