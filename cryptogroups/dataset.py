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


def uncited_records() -> Iterator[db_models.Model]:
    """Records of the cited models that have no citation at all."""
    for model in CITED_MODELS:
        content_type = ContentType.objects.get_for_model(model)
        cited = models.Citation.objects.filter(content_type=content_type).values("object_id")
        yield from model.objects.exclude(pk__in=cited)
