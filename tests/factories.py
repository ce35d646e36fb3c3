"""Small builders for test records. Each returns a saved, valid instance; keyword arguments
override the defaults. Slugs are unique per call. Records are published unless a test says
otherwise (``publication_status="draft"``)."""

from __future__ import annotations

import datetime
import itertools

from django.contrib.contenttypes.models import ContentType

from cryptogroups import models

_counter = itertools.count(1)


def _slug(prefix: str) -> str:
    return f"{prefix}-{next(_counter)}"


def source(**fields) -> models.Source:
    slug = fields.pop("slug", _slug("test-source"))
    defaults = {
        "slug": slug,
        "title": f"Title of {slug}",
        "publisher": "Test Publisher",
        "url": f"https://example.org/{slug}",
        "source_type": "news",
        "language": "en",
    }
    return models.Source.objects.create(**{**defaults, **fields})


def cite(record, *, field_name: str | None = None, **fields) -> models.Citation:
    defaults = {
        "source": fields.pop("source", None) or source(),
        "content_type": ContentType.objects.get_for_model(record),
        "object_id": record.pk,
        "field_name": field_name,
        "quote": "A quote.",
        "verbatim": False,
        "support": "stated",
    }
    return models.Citation.objects.create(**{**defaults, **fields})


def organization(**fields) -> models.Organization:
    slug = fields.pop("slug", _slug("test-org"))
    defaults = {
        "publication_status": "published",
        "slug": slug,
        "name": f"Org {slug}",
        "org_type": "regulator",
        "country": "CN",
    }
    return models.Organization.objects.create(**{**defaults, **fields})


def platform(**fields) -> models.Platform:
    slug = fields.pop("slug", _slug("test-platform"))
    defaults = {
        "publication_status": "published",
        "slug": slug,
        "name": f"Platform {slug}",
        "platform_type": "messaging",
    }
    return models.Platform.objects.create(**{**defaults, **fields})


def exchange(**fields) -> models.Exchange:
    slug = fields.pop("slug", _slug("test-exchange"))
    defaults = {
        "publication_status": "published",
        "slug": slug,
        "name": f"Exchange {slug}",
        "exchange_type": "spot",
        "country": "CN",
    }
    return models.Exchange.objects.create(**{**defaults, **fields})


def group(**fields) -> models.Group:
    slug = fields.pop("slug", _slug("test-group"))
    defaults = {
        "publication_status": "published",
        "slug": slug,
        "name": f"Group {slug}",
        "group_type": "group",
    }
    if "platform" not in fields:
        defaults["platform"] = platform()
    return models.Group.objects.create(**{**defaults, **fields})


def action(**fields) -> models.RegulatoryAction:
    slug = fields.pop("slug", _slug("test-action"))
    defaults = {
        "publication_status": "published",
        "slug": slug,
        "title": f"Action {slug}",
        "action_type": "ban",
        "status": "announced",
        "jurisdiction": "CN",
        "announced_date": datetime.date(2017, 9, 4),
        "announced_precision": "day",
        "announced_qualifier": "exact",
    }
    return models.RegulatoryAction.objects.create(**{**defaults, **fields})


def response(**fields) -> models.ExchangeResponse:
    slug = fields.pop("slug", _slug("test-response"))
    defaults = {
        "publication_status": "published",
        "slug": slug,
        "response_type": "halt_all_trading",
    }
    if "exchange" not in fields:
        defaults["exchange"] = exchange()
    return models.ExchangeResponse.objects.create(**{**defaults, **fields})


def availability(**fields) -> models.PlatformAvailability:
    slug = fields.pop("slug", _slug("test-availability"))
    defaults = {
        "publication_status": "published",
        "slug": slug,
        "jurisdiction": "CN",
        "status": "blocked",
    }
    if "platform" not in fields:
        defaults["platform"] = platform()
    return models.PlatformAvailability.objects.create(**{**defaults, **fields})


def migration(**fields) -> models.Migration:
    slug = fields.pop("slug", _slug("test-migration"))
    defaults = {"publication_status": "published", "slug": slug, "title": f"Migration {slug}"}
    if "from_platform" not in fields:
        defaults["from_platform"] = platform()
    if "to_platform" not in fields:
        defaults["to_platform"] = platform()
    return models.Migration.objects.create(**{**defaults, **fields})
