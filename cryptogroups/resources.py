"""The records the public dataset is made of, and their names as resources: each model's
records are served at ``/api/v1/<path>/``, and its routes are named after ``basename``. The
changes feed names records by the same paths."""

from __future__ import annotations

from typing import NamedTuple

from django.db import models as db_models

from . import models
from .dataset import CITED_MODELS


class Resource(NamedTuple):
    path: str
    basename: str


#: Every resource, in the order the API lists them.
RESOURCES: dict[type[db_models.Model], Resource] = {
    models.Exchange: Resource("exchanges", "exchange"),
    models.ExchangeResponse: Resource("exchange-responses", "exchange-response"),
    models.Group: Resource("groups", "group"),
    models.Migration: Resource("migrations", "migration"),
    models.Organization: Resource("organizations", "organization"),
    models.Platform: Resource("platforms", "platform"),
    models.PlatformAvailability: Resource("platform-availabilities", "platform-availability"),
    models.RegulatoryAction: Resource("regulatory-actions", "regulatory-action"),
    models.Source: Resource("sources", "source"),
}

#: The models of the resources: the cited records and their sources.
RESOURCE_MODELS: tuple[type[db_models.Model], ...] = (*CITED_MODELS, models.Source)

#: Rows that are not resources of their own but are shown inside the records they link.
LINK_MODELS: tuple[type[db_models.Model], ...] = (
    models.Citation,
    models.GroupExchange,
    models.ActionIssuer,
    models.ActionTarget,
)
