"""A large, synthetic and clearly marked dataset for benchmarks (``manage.py generate_synthetic``).

The rows obey every constraint of the real models, are all published, and are made in
proportion to the number of groups asked for (see :class:`Plan`). They are deterministic: the
same number of groups and seed give the same rows, because every value comes from a
``random.Random`` seeded with the seed and the table's name.

Every synthetic record is marked: its slug starts with ``synthetic-``, its description, notes or
quote says it is synthetic, and its sources live under ``https://synthetic.invalid/``.

On PostgreSQL the rows are loaded with ``COPY``, with primary keys assigned here (above each
table's largest id) and the id sequences moved past them afterwards; elsewhere they go through
``bulk_create`` in batches. Neither sends signals: the load writes no history and no
changes-feed entries, and moves the dataset version forward once, at the end.
"""

from __future__ import annotations

import datetime
import operator
import random
import time
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import accumulate
from typing import TextIO

import pycountry
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models, transaction
from django.db.models import Max
from tqdm import tqdm

from cryptogroups import choices, feed, published, visibility
from cryptogroups.codes import COUNTRY_CODES, LANGUAGE_CODES
from cryptogroups.dataset import CITED_MODELS
from cryptogroups.models import (
    ActionIssuer,
    ActionTarget,
    Citation,
    DatasetVersion,
    Exchange,
    ExchangeResponse,
    FeedState,
    Group,
    GroupExchange,
    Migration,
    Organization,
    Platform,
    PlatformAvailability,
    RegulatoryAction,
    Source,
)
from cryptogroups.resources import RESOURCE_MODELS

SLUG_PREFIX = "synthetic-"
URL_PREFIX = "https://synthetic.invalid/"

#: The auto-created many-to-many tables the dataset fills.
ResponseAction = ExchangeResponse._meta.get_field("actions").remote_field.through
MigrationDriver = Migration._meta.get_field("drivers").remote_field.through

#: Models whose rows carry a slug, in the order their synthetic rows can be deleted.
SLUGGED_MODELS: tuple[type[models.Model], ...] = (
    Migration,
    Group,
    ExchangeResponse,
    RegulatoryAction,
    PlatformAvailability,
    Exchange,
    Platform,
    Organization,
    Source,
)

#: Rows that link records; deleted when either side is synthetic.
LINK_MODELS: tuple[type[models.Model], ...] = (
    MigrationDriver,
    GroupExchange,
    ResponseAction,
    ActionTarget,
    ActionIssuer,
)

#: Every table the load writes, in the order it writes them.
LOADED_MODELS: tuple[type[models.Model], ...] = (
    Organization,
    Source,
    Platform,
    PlatformAvailability,
    Exchange,
    RegulatoryAction,
    ActionIssuer,
    ActionTarget,
    ExchangeResponse,
    ResponseAction,
    Group,
    GroupExchange,
    Migration,
    MigrationDriver,
    Citation,
)

# Values are drawn from these tuples (never from sets, whose order may vary between runs).
JURISDICTIONS = ("CN", "US", "KR", "JP", "RU", "GB", "SG", "HK", "DE", "IN", "TH", "VN", "TR")
LANGUAGES = ("zh", "en", "ko", "ja", "ru", "vi", "th", "tr", "de", "pt")
TOPICS = (
    "bitcoin traders",
    "OTC desk",
    "mining pool",
    "ICO investors",
    "arbitrage",
    "futures signals",
    "DeFi farming",
    "stablecoin",
    "P2P trading",
    "altcoin news",
)
AUTHORITY_TYPES = (
    (choices.OrganizationType.REGULATOR, "Financial Regulator"),
    (choices.OrganizationType.CENTRAL_BANK, "Central Bank"),
    (choices.OrganizationType.GOVERNMENT_AGENCY, "Cyberspace Agency"),
    (choices.OrganizationType.LOCAL_GOVERNMENT, "Municipal Finance Office"),
)
#: ISO 3166-2 codes of each jurisdiction that fit the subdivision column, sorted.
SUBDIVISIONS: dict[str, tuple[str, ...]] = {
    country: tuple(
        sorted(
            s.code
            for s in pycountry.subdivisions.get(country_code=country) or ()
            if len(s.code) <= 6 and s.code == s.code.upper()
        )
    )
    for country in JURISDICTIONS
}

FIRST_DAY = datetime.date(2012, 1, 1).toordinal()
LAST_DAY = datetime.date(2025, 12, 31).toordinal()
#: Synthetic rows are dated within this year, not when they were made, so that they repeat.
CREATED_FROM = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
CREATED_SPAN = 366 * 86_400

PRECISIONS = tuple(choices.DatePrecision.values)
PRECISION_WEIGHTS = tuple(accumulate((6, 3, 1)))
DATE_QUALIFIERS = tuple(choices.DateQualifier.values)
DATE_QUALIFIER_WEIGHTS = tuple(accumulate((7, 1, 1, 1)))
COUNT_QUALIFIERS = tuple(choices.CountQualifier.values)
#: How many exchanges a group is linked to: 0 to 3, one on average.
LINKS_PER_GROUP = tuple(accumulate((35, 40, 15, 10)))


@dataclass(frozen=True)
class Plan:
    """How many records of each kind a dataset of ``groups`` groups has. The other tables
    (availabilities, links, issuers, targets, citations) get a few rows per record."""

    groups: int
    platforms: int
    organizations: int
    sources: int
    exchanges: int
    responses: int
    actions: int
    migrations: int

    @classmethod
    def for_groups(cls, groups: int) -> Plan:
        """The proportions: per 1,000,000 groups, 100 platforms, 1,000 organisations (half
        authorities, half companies), 1,000 sources, 10,000 exchanges, 10,000 exchange
        responses, 5,000 regulatory actions and 1,000 migrations, with small minimums so
        that a small dataset still has every kind of link."""
        if groups < 1:
            raise ValueError("A synthetic dataset needs at least one group.")
        return cls(
            groups=groups,
            platforms=max(3, groups // 10_000),
            organizations=max(4, groups // 1_000),
            sources=max(4, groups // 1_000),
            exchanges=max(3, groups // 100),
            responses=max(2, groups // 100),
            actions=max(2, groups // 200),
            migrations=max(1, groups // 1_000),
        )


def marker(seed: int) -> str:
    """The sentence every synthetic description, note and quote carries."""
    return f"Synthetic record for benchmarks (seed {seed})."


def pick(rng: random.Random, values: tuple, cum_weights: tuple[int, ...] | None = None):
    """One of ``values``, uniformly or by cumulative weights."""
    if cum_weights is None:
        return values[int(rng.random() * len(values))]
    return rng.choices(values, cum_weights=cum_weights)[0]


def country(rng: random.Random) -> str:
    """Mostly one of the usual jurisdictions, sometimes any country."""
    return pick(rng, JURISDICTIONS) if rng.random() < 0.8 else pick(rng, COUNTRY_CODES)


def language(rng: random.Random) -> str:
    """Mostly one of the usual languages, sometimes any."""
    return pick(rng, LANGUAGES) if rng.random() < 0.9 else pick(rng, LANGUAGE_CODES)


def partial_date(
    rng: random.Random, label: str, row: dict, *, empty: float = 0.1, after: int = FIRST_DAY
) -> int | None:
    """Set ``<label>_date``, ``_precision`` and ``_qualifier`` of ``row``: all empty (with
    probability ``empty``), or a date on or after ``after`` aligned with its precision (the
    first of the month for month, 1 January for year). Returns the date's ordinal."""
    if rng.random() < empty:
        row[f"{label}_date"] = row[f"{label}_precision"] = row[f"{label}_qualifier"] = None
        return None
    day = datetime.date.fromordinal(rng.randint(after, max(after, LAST_DAY)))
    precision = pick(rng, PRECISIONS, PRECISION_WEIGHTS)
    if precision == choices.DatePrecision.MONTH:
        aligned = day.replace(day=1)
    elif precision == choices.DatePrecision.YEAR:
        aligned = day.replace(month=1, day=1)
    else:
        aligned = day
    if aligned.toordinal() < after:
        precision, aligned = choices.DatePrecision.DAY.value, day
    row[f"{label}_date"] = aligned
    row[f"{label}_precision"] = precision
    row[f"{label}_qualifier"] = pick(rng, DATE_QUALIFIERS, DATE_QUALIFIER_WEIGHTS)
    return aligned.toordinal()


def zipf_weights(n: int) -> tuple[float, ...]:
    """Cumulative weights that make the first of ``n`` items the most popular."""
    return tuple(accumulate(1 / (k + 1) for k in range(n)))


@dataclass
class Generator:
    """Makes the rows of each table, as dicts keyed by attribute name, ids included.

    ``first`` is the first id of each table; a record's id is its table's first id plus its
    index, so that rows can refer to rows of other tables without asking the database."""

    plan: Plan
    seed: int
    first: dict[type[models.Model], int]
    counts: dict[type[models.Model], int] = field(default_factory=dict)
    group_platforms: array = field(default_factory=lambda: array("I"))

    def rng(self, table: str) -> random.Random:
        """A generator of its own for each table, seeded by the seed and the table's name (a
        string seed is hashed with SHA-512, not with Python's randomised hash)."""
        return random.Random(f"synthetic:{self.seed}:{table}")

    def record(self, rng: random.Random, kind: str, index: int) -> dict:
        """The fields every record has: its slug, status and timestamps."""
        created = CREATED_FROM + datetime.timedelta(seconds=rng.randrange(CREATED_SPAN))
        return {
            "slug": f"{SLUG_PREFIX}{kind}-{index + 1:07d}",
            "publication_status": choices.PublicationStatus.PUBLISHED.value,
            "created_at": created,
            "updated_at": created,
        }

    def id_of(self, model: type[models.Model], index: int) -> int:
        return self.first[model] + index

    def tables(self) -> Iterator[tuple[type[models.Model], Iterator[dict], int]]:
        """Each table in load order, with its rows and how many are expected. A table's rows
        must be consumed before the next table is asked for: later tables use what earlier
        ones recorded (the groups' platforms, the number of availabilities)."""
        plan = self.plan
        yield Organization, self.organizations(), plan.organizations
        yield Source, self.sources(), plan.sources
        yield Platform, self.platforms(), plan.platforms
        yield PlatformAvailability, self.availabilities(), 2 * plan.platforms
        yield Exchange, self.exchanges(), plan.exchanges
        yield RegulatoryAction, self.actions(), plan.actions
        yield ActionIssuer, self.issuers(), plan.actions * 3 // 2
        yield ActionTarget, self.targets(), plan.actions * 3 // 2
        yield ExchangeResponse, self.responses(), plan.responses
        yield ResponseAction, self.response_actions(), plan.responses * 3 // 2
        yield Group, self.groups(), plan.groups
        yield GroupExchange, self.group_exchanges(), plan.groups
        yield Migration, self.migrations(), plan.migrations
        yield MigrationDriver, self.drivers(), plan.migrations
        cited = sum(self.counts.get(model, 0) for model in CITED_MODELS)
        yield Citation, self.citations(), cited + plan.groups // 2

    def counted(self, model: type[models.Model], rows: Iterable[dict]) -> Iterator[dict]:
        """Pass the rows on, recording how many there were."""
        n = 0
        for n, row in enumerate(rows, 1):  # noqa: B007 - n is the count after the loop
            yield row
        self.counts[model] = n

    # Records

    def organizations(self) -> Iterator[dict]:
        """Even indexes are authorities (issuers of actions), odd ones companies (operators
        of platforms and exchanges)."""
        rng, note = self.rng("organizations"), marker(self.seed)
        rows = []
        for i in range(self.plan.organizations):
            authority = i % 2 == 0
            org_type, label = (
                pick(rng, AUTHORITY_TYPES)
                if authority
                else (choices.OrganizationType.COMPANY, "Holdings")
            )
            parent = None
            if authority and i >= 2 and rng.random() < 0.1:
                parent = self.id_of(Organization, 2 * rng.randrange(i // 2))
            rows.append(
                {
                    "id": self.id_of(Organization, i),
                    **self.record(rng, "organization", i),
                    "name": f"Synthetic {label} {i + 1}",
                    "native_name": "",
                    "org_type": org_type.value,
                    "country": country(rng),
                    "hq_city": "",
                    "parent_id": parent,
                    "website": f"{URL_PREFIX}organizations/{i + 1}",
                    "wikidata_qid": None,
                    "description": f"{note} A synthetic {org_type.label.lower()}.",
                }
            )
        return self.counted(Organization, rows)

    def authority(self, rng: random.Random) -> int:
        return self.id_of(Organization, 2 * rng.randrange((self.plan.organizations + 1) // 2))

    def company(self, rng: random.Random) -> int:
        return self.id_of(Organization, 2 * rng.randrange(self.plan.organizations // 2) + 1)

    def sources(self) -> Iterator[dict]:
        rng, note = self.rng("sources"), marker(self.seed)
        source_types = tuple(choices.SourceType.values)

        def rows() -> Iterator[dict]:
            for i in range(self.plan.sources):
                source_type = pick(rng, source_types)
                syndicated = None
                if source_type == choices.SourceType.WIRE_SYNDICATION and i > 0:
                    syndicated = self.id_of(Source, rng.randrange(i))
                row = {
                    "id": self.id_of(Source, i),
                    "slug": f"{SLUG_PREFIX}source-{i + 1:07d}",
                    "created_at": CREATED_FROM,
                    "updated_at": CREATED_FROM,
                    "title": f"Synthetic source {i + 1}",
                    "publisher": "Synthetic Publisher",
                    "author": "",
                    "url": f"{URL_PREFIX}sources/{i + 1}",
                    "source_type": source_type,
                    "language": language(rng),
                    "syndicated_from_id": syndicated,
                    "notes": f"{note} Not a real document.",
                }
                partial_date(rng, "published", row, empty=0.05)
                row["undated"] = row["published_date"] is None
                yield row

        return self.counted(Source, rows())

    def platforms(self) -> Iterator[dict]:
        rng, note = self.rng("platforms"), marker(self.seed)
        platform_types = tuple(choices.PlatformType.values)
        encryptions = tuple(choices.Encryption.values)
        metrics = tuple(choices.UserMetric.values)

        def rows() -> Iterator[dict]:
            for i in range(self.plan.platforms):
                row = {
                    "id": self.id_of(Platform, i),
                    **self.record(rng, "platform", i),
                    "name": f"Synthetic platform {i + 1}",
                    "platform_type": pick(rng, platform_types),
                    "operator_id": self.company(rng) if rng.random() < 0.8 else None,
                    "origin_country": country(rng),
                    "encryption": pick(rng, encryptions),
                    "website": f"{URL_PREFIX}platforms/{i + 1}",
                    "wikidata_qid": None,
                    "description": f"{note} A synthetic platform.",
                }
                if rng.random() < 0.7:
                    row["user_count"] = int(10 ** rng.uniform(4, 9))
                    row["user_count_qualifier"] = pick(rng, COUNT_QUALIFIERS)
                    row["user_metric"] = pick(rng, metrics)
                    partial_date(rng, "user_count_as_of", row, empty=0)
                else:
                    row["user_count"] = row["user_count_qualifier"] = row["user_metric"] = None
                    partial_date(rng, "user_count_as_of", row, empty=1)
                yield row

        return self.counted(Platform, rows())

    def availabilities(self) -> Iterator[dict]:
        """One to three per platform, each in a different jurisdiction."""
        rng, note = self.rng("availabilities"), marker(self.seed)
        statuses = tuple(choices.AvailabilityStatus.values)

        def rows() -> Iterator[dict]:
            index = 0
            for p in range(self.plan.platforms):
                for jurisdiction in rng.sample(JURISDICTIONS, rng.randint(1, 3)):
                    row = {
                        "id": self.id_of(PlatformAvailability, index),
                        **self.record(rng, "availability", index),
                        "platform_id": self.id_of(Platform, p),
                        "jurisdiction": jurisdiction,
                        "status": pick(rng, statuses),
                        "workaround": "",
                        "description": f"{note} A synthetic availability.",
                    }
                    since = partial_date(rng, "since", row, empty=0.2)
                    if since is None or rng.random() < 0.5:
                        partial_date(rng, "until", row, empty=1)
                    else:
                        partial_date(rng, "until", row, empty=0, after=since)
                    index += 1
                    yield row

        return self.counted(PlatformAvailability, rows())

    def exchanges(self) -> Iterator[dict]:
        rng, note = self.rng("exchanges"), marker(self.seed)
        exchange_types = tuple(choices.ExchangeType.values)
        statuses = tuple(choices.ExchangeStatus.values)

        def rows() -> Iterator[dict]:
            for i in range(self.plan.exchanges):
                row = {
                    "id": self.id_of(Exchange, i),
                    **self.record(rng, "exchange", i),
                    "name": f"Synthetic exchange {i + 1}",
                    "native_name": "",
                    "exchange_type": pick(rng, exchange_types),
                    "operator_id": self.company(rng) if rng.random() < 0.7 else None,
                    "country": country(rng),
                    "city": "",
                    "status": pick(rng, statuses),
                    "website": f"{URL_PREFIX}exchanges/{i + 1}",
                    "coingecko_id": None,
                    "wikidata_qid": None,
                    "description": f"{note} A synthetic exchange.",
                }
                partial_date(rng, "founded", row, empty=0.3)
                partial_date(rng, "status_as_of", row, empty=0.5)
                yield row

        return self.counted(Exchange, rows())

    def actions(self) -> Iterator[dict]:
        rng, note = self.rng("actions"), marker(self.seed)
        action_types = tuple(choices.ActionType.values)
        statuses = tuple(choices.ActionStatus.values)

        def rows() -> Iterator[dict]:
            for i in range(self.plan.actions):
                jurisdiction = pick(rng, JURISDICTIONS)
                subdivisions = SUBDIVISIONS[jurisdiction]
                subdivision = None
                if subdivisions and rng.random() < 0.2:
                    subdivision = pick(rng, subdivisions)
                row = {
                    "id": self.id_of(RegulatoryAction, i),
                    **self.record(rng, "action", i),
                    "title": f"Synthetic regulatory action {i + 1}",
                    "official_title": "",
                    "native_title": "",
                    "document_number": f"SYN-{i + 1}",
                    "action_type": pick(rng, action_types),
                    "status": pick(rng, statuses),
                    "jurisdiction": jurisdiction,
                    "subdivision": subdivision,
                    "summary": f"{note} A synthetic regulatory action.",
                    "supersedes_id": (
                        self.id_of(RegulatoryAction, rng.randrange(i))
                        if i > 0 and rng.random() < 0.1
                        else None
                    ),
                }
                partial_date(rng, "status_as_of", row, empty=0.5)
                announced = partial_date(rng, "announced", row, empty=0.05)
                partial_date(rng, "effective", row, empty=0.3, after=announced or FIRST_DAY)
                yield row

        return self.counted(RegulatoryAction, rows())

    def issuers(self) -> Iterator[dict]:
        """One or two authorities per action: a lead, then a co-issuer or an enforcer."""
        rng = self.rng("issuers")
        authorities = (self.plan.organizations + 1) // 2
        roles = (choices.IssuerRole.CO_ISSUER.value, choices.IssuerRole.ENFORCER.value)

        def rows() -> Iterator[dict]:
            index = 0
            for a in range(self.plan.actions):
                chosen = rng.sample(range(authorities), min(authorities, rng.randint(1, 2)))
                for n, authority in enumerate(chosen):
                    yield {
                        "id": self.id_of(ActionIssuer, index),
                        "action_id": self.id_of(RegulatoryAction, a),
                        "organization_id": self.id_of(Organization, 2 * authority),
                        "role": choices.IssuerRole.LEAD.value if n == 0 else pick(rng, roles),
                    }
                    index += 1

        return self.counted(ActionIssuer, rows())

    def targets(self) -> Iterator[dict]:
        """One or two targets per action, each a category, an exchange or a platform."""
        rng = self.rng("targets")
        categories = tuple(choices.TargetCategory.values)
        effects = tuple(choices.TargetEffect.values)
        exchanges, platforms = self.plan.exchanges, self.plan.platforms

        def rows() -> Iterator[dict]:
            index = 0
            for a in range(self.plan.actions):
                for _ in range(rng.randint(1, 2)):
                    row = {
                        "id": self.id_of(ActionTarget, index),
                        "action_id": self.id_of(RegulatoryAction, a),
                        "category": None,
                        "exchange_id": None,
                        "platform_id": None,
                        "effect": pick(rng, effects),
                        "note": "",
                    }
                    kind = rng.random()
                    if kind < 0.5:
                        row["category"] = pick(rng, categories)
                    elif kind < 0.8:
                        row["exchange_id"] = self.id_of(Exchange, rng.randrange(exchanges))
                    else:
                        row["platform_id"] = self.id_of(Platform, rng.randrange(platforms))
                    index += 1
                    yield row

        return self.counted(ActionTarget, rows())

    def responses(self) -> Iterator[dict]:
        rng, note = self.rng("responses"), marker(self.seed)
        response_types = tuple(choices.ResponseType.values)

        def rows() -> Iterator[dict]:
            for i in range(self.plan.responses):
                row = {
                    "id": self.id_of(ExchangeResponse, i),
                    **self.record(rng, "response", i),
                    "exchange_id": self.id_of(Exchange, rng.randrange(self.plan.exchanges)),
                    "response_type": pick(rng, response_types),
                    "jurisdiction": pick(rng, JURISDICTIONS) if rng.random() < 0.8 else None,
                    "description": f"{note} A synthetic exchange response.",
                }
                announced = partial_date(rng, "announced", row, empty=0.1)
                partial_date(rng, "effective", row, empty=0.3, after=announced or FIRST_DAY)
                yield row

        return self.counted(ExchangeResponse, rows())

    def response_actions(self) -> Iterator[dict]:
        """Each response answers one or two regulatory actions."""
        rng = self.rng("response_actions")
        response, action = m2m_attnames(ExchangeResponse, "actions")

        def rows() -> Iterator[dict]:
            index = 0
            for r in range(self.plan.responses):
                count = min(self.plan.actions, rng.randint(1, 2))
                for a in rng.sample(range(self.plan.actions), count):
                    yield {
                        "id": self.id_of(ResponseAction, index),
                        response: self.id_of(ExchangeResponse, r),
                        action: self.id_of(RegulatoryAction, a),
                    }
                    index += 1

        return self.counted(ResponseAction, rows())

    def groups(self) -> Iterator[dict]:
        """The bulk of the dataset. Popular platforms host more groups than others."""
        rng, note = self.rng("groups"), marker(self.seed)
        group_types = tuple(choices.GroupType.values)
        group_type_weights = tuple(accumulate((6, 3, 1)))
        statuses = tuple(choices.GroupStatus.values)
        status_weights = tuple(accumulate((5, 2, 1, 2)))
        platform_weights = zipf_weights(self.plan.platforms)
        platform_indexes = tuple(range(self.plan.platforms))
        first_platform, first_group = self.first[Platform], self.first[Group]
        self.group_platforms = array("I")
        remember = self.group_platforms.append
        random_ = rng.random

        def rows() -> Iterator[dict]:
            for i in range(self.plan.groups):
                platform = rng.choices(platform_indexes, cum_weights=platform_weights)[0]
                remember(platform)
                group_type = pick(rng, group_types, group_type_weights)
                topic = pick(rng, TOPICS)
                aggregate = random_() < 0.03
                row = {
                    "id": first_group + i,
                    **self.record(rng, "group", i),
                    "name": (
                        f"Synthetic {topic} groups {i + 1:07d}"
                        if aggregate
                        else f"Synthetic {topic} {group_type} {i + 1:07d}"
                    ),
                    "platform_id": first_platform + platform,
                    "group_type": group_type,
                    "language": language(rng) if random_() < 0.85 else None,
                    "is_aggregate": aggregate,
                    "aggregate_count": rng.randint(2, 200) if aggregate else None,
                    "aggregate_count_qualifier": (
                        pick(rng, COUNT_QUALIFIERS) if aggregate else None
                    ),
                    "status": pick(rng, statuses, status_weights),
                    "description": f"{note} A synthetic {group_type} about {topic}.",
                    # Every synthetic record is published (visibility.refresh checks it).
                    "is_public": True,
                }
                if random_() < 0.8:
                    row["member_count"] = int(10 ** rng.uniform(1, 5.7))
                    row["member_count_qualifier"] = pick(rng, COUNT_QUALIFIERS)
                    partial_date(rng, "member_count_as_of", row, empty=0.2)
                else:
                    row["member_count"] = row["member_count_qualifier"] = None
                    partial_date(rng, "member_count_as_of", row, empty=1)
                partial_date(rng, "status_as_of", row, empty=0.5)
                yield row

        return self.counted(Group, rows())

    def group_exchanges(self) -> Iterator[dict]:
        """Zero to three distinct exchanges per group, one on average; popular exchanges are
        linked more often."""
        rng = self.rng("group_exchanges")
        exchange_weights = zipf_weights(self.plan.exchanges)
        exchange_indexes = tuple(range(self.plan.exchanges))
        affiliations = tuple(choices.Affiliation.values)
        affiliation_weights = tuple(accumulate((1, 3, 6)))
        counts = (0, 1, 2, 3)
        first_link, first_group = self.first[GroupExchange], self.first[Group]
        first_exchange = self.first[Exchange]

        def rows() -> Iterator[dict]:
            index = 0
            for g in range(self.plan.groups):
                k = rng.choices(counts, cum_weights=LINKS_PER_GROUP)[0]
                if not k:
                    continue
                drawn = rng.choices(exchange_indexes, cum_weights=exchange_weights, k=k)
                for e in dict.fromkeys(drawn):
                    yield {
                        "id": first_link + index,
                        "group_id": first_group + g,
                        "exchange_id": first_exchange + e,
                        "affiliation": pick(rng, affiliations, affiliation_weights),
                    }
                    index += 1

        return self.counted(GroupExchange, rows())

    def group_on(self, rng: random.Random, platform: int) -> int | None:
        """The index of a random group on the platform, if one turns up in a few draws."""
        for _ in range(50):
            g = rng.randrange(self.plan.groups)
            if self.group_platforms[g] == platform:
                return g
        return None

    def migrations(self) -> Iterator[dict]:
        """Movements between two different platforms, from and to one of their groups when
        one is drawn."""
        rng, note = self.rng("migrations"), marker(self.seed)
        platforms = self.plan.platforms

        def rows() -> Iterator[dict]:
            for i in range(self.plan.migrations):
                from_group = rng.randrange(self.plan.groups) if rng.random() < 0.7 else None
                if from_group is None:
                    from_platform = rng.randrange(platforms)
                else:
                    from_platform = self.group_platforms[from_group]
                to_platform = (from_platform + rng.randrange(1, platforms)) % platforms
                to_group = self.group_on(rng, to_platform) if rng.random() < 0.5 else None
                row = {
                    "id": self.id_of(Migration, i),
                    **self.record(rng, "migration", i),
                    "title": f"Synthetic migration {i + 1}",
                    "from_platform_id": self.id_of(Platform, from_platform),
                    "to_platform_id": self.id_of(Platform, to_platform),
                    "from_group_id": None if from_group is None else self.id_of(Group, from_group),
                    "to_group_id": None if to_group is None else self.id_of(Group, to_group),
                    "scale": "Synthetic: no figures.",
                    "description": f"{note} A synthetic migration.",
                }
                partial_date(rng, "started", row, empty=0.1)
                yield row

        return self.counted(Migration, rows())

    def drivers(self) -> Iterator[dict]:
        """Zero to two regulatory actions given as reasons for each migration."""
        rng = self.rng("drivers")
        migration, action = m2m_attnames(Migration, "drivers")

        def rows() -> Iterator[dict]:
            index = 0
            for m in range(self.plan.migrations):
                count = min(self.plan.actions, rng.randint(0, 2))
                for a in rng.sample(range(self.plan.actions), count):
                    yield {
                        "id": self.id_of(MigrationDriver, index),
                        migration: self.id_of(Migration, m),
                        action: self.id_of(RegulatoryAction, a),
                    }
                    index += 1

        return self.counted(MigrationDriver, rows())

    def citations(self) -> Iterator[dict]:
        """One citation of every synthetic record (two for half of the groups, the second of
        the member count), each pointing to a synthetic source."""
        rng, note = self.rng("citations"), marker(self.seed)
        quote = f"{note} No real source says this."
        supports = (choices.Support.STATED.value, choices.Support.IMPLIED.value)
        support_weights = tuple(accumulate((8, 2)))
        sources, first_source = self.plan.sources, self.first[Source]
        first_citation = self.first[Citation]
        content_types = ContentType.objects.get_for_models(*CITED_MODELS)

        def rows() -> Iterator[dict]:
            index = 0
            for model in CITED_MODELS:
                content_type = content_types[model].pk
                first, count = self.first[model], self.counts[model]
                two = 0.5 if model is Group else 0.0
                for object_id in range(first, first + count):
                    for field_name in (None, "member_count")[: 2 if rng.random() < two else 1]:
                        yield {
                            "id": first_citation + index,
                            "created_at": CREATED_FROM,
                            "updated_at": CREATED_FROM,
                            "source_id": first_source + rng.randrange(sources),
                            "content_type_id": content_type,
                            "object_id": object_id,
                            "field_name": field_name,
                            "quote": quote,
                            "verbatim": False,
                            "locator": "",
                            "support": pick(rng, supports, support_weights),
                            "note": "",
                            "checked_on": None,
                            "source_text": None,
                        }
                        index += 1

        return self.counted(Citation, rows())


def m2m_attnames(model: type[models.Model], name: str) -> tuple[str, str]:
    """The attribute names of the two foreign keys of an auto-created many-to-many table."""
    m2m = model._meta.get_field(name)
    through = m2m.remote_field.through._meta
    return (
        through.get_field(m2m.m2m_field_name()).attname,
        through.get_field(m2m.m2m_reverse_field_name()).attname,
    )


# Loading


class Loader:
    """Writes the rows of one table after another, in the current transaction."""

    batch = 5_000

    def next_id(self, model: type[models.Model]) -> int:
        """The first id above the table's current ones."""
        return (model._base_manager.aggregate(top=Max("pk"))["top"] or 0) + 1

    def load(self, model: type[models.Model], rows: Iterator[dict], bar: tqdm) -> int:
        raise NotImplementedError

    def finish(self, models_loaded: Iterable[type[models.Model]]) -> None:
        """Called once every table is written, in the transaction."""

    def analyze(self, models_loaded: Iterable[type[models.Model]]) -> None:
        """Called after the transaction."""


class BulkLoader(Loader):
    """Any database: ``bulk_create`` in batches (fine for the small datasets of tests)."""

    def load(self, model, rows, bar) -> int:
        n, batch = 0, []
        for row in rows:
            batch.append(model(**row))
            if len(batch) == self.batch:
                model._base_manager.bulk_create(batch)
                n += len(batch)
                bar.update(len(batch))
                batch = []
        if batch:
            model._base_manager.bulk_create(batch)
            n += len(batch)
            bar.update(len(batch))
        return n


class CopyLoader(Loader):
    """PostgreSQL: ``COPY ... FROM STDIN`` through psycopg 3, then each id sequence set past
    the ids given here, and ``VACUUM (ANALYZE)`` so that the planner knows the tables' new sizes
    and index-only scans need not visit the heap."""

    def load(self, model, rows, bar) -> int:
        iterator = iter(rows)
        first = next(iterator, None)
        if first is None:
            return 0
        names = tuple(first)
        values = operator.itemgetter(*names)
        qn = connection.ops.quote_name
        columns = ", ".join(qn(model._meta.get_field(name).column) for name in names)
        sql = f"COPY {qn(model._meta.db_table)} ({columns}) FROM STDIN"
        with connection.cursor() as cursor:
            raw = cursor.connection
            with raw.cursor() as raw_cursor, raw_cursor.copy(sql) as copy:
                write = copy.write_row
                write(values(first))
                n = step = 1
                for row in iterator:
                    write(values(row))
                    n += 1
                    step += 1
                    if step == self.batch:
                        bar.update(step)
                        step = 0
        bar.update(step)
        return n

    def finish(self, models_loaded) -> None:
        qn = connection.ops.quote_name
        with connection.cursor() as cursor:
            for model in models_loaded:
                table, pk = qn(model._meta.db_table), model._meta.pk.column
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence(%s, %s), (SELECT max({qn(pk)}) "
                    f"FROM {table}))",
                    [table, pk],
                )

    def analyze(self, models_loaded) -> None:
        """``VACUUM (ANALYZE)`` when no transaction is open: besides the statistics, it marks
        the new pages all-visible, so that the lists' index-only scans read no heap page
        (``Heap Fetches: 0``) from the first request. Inside a transaction (the tests), where
        VACUUM cannot run, ``ANALYZE``."""
        qn = connection.ops.quote_name
        command = "ANALYZE" if connection.in_atomic_block else "VACUUM (ANALYZE)"
        with connection.cursor() as cursor:
            for model in models_loaded:
                cursor.execute(f"{command} {qn(model._meta.db_table)}")


# Finding and deleting synthetic rows


def synthetic_exists() -> bool:
    """Whether any table holds a synthetic record."""
    return any(
        model._base_manager.filter(slug__startswith=SLUG_PREFIX).exists()
        for model in SLUGGED_MODELS
    )


def delete_synthetic() -> int:
    """Delete every synthetic row with plain ``DELETE`` statements (no signals, no history):
    citations of synthetic records or sources, then link rows touching a synthetic record,
    then the records, each table after those that refer to it. Returns the rows deleted."""
    qn = connection.ops.quote_name
    pattern = SLUG_PREFIX + "%"

    def table(model: type[models.Model]) -> str:
        return qn(model._meta.db_table)

    def column(model: type[models.Model], name: str) -> str:
        return qn(model._meta.get_field(name).column)

    def synthetic_ids(model: type[models.Model]) -> str:
        return (
            f"SELECT {qn(model._meta.pk.column)} FROM {table(model)} "
            f"WHERE {column(model, 'slug')} LIKE %s"
        )

    statements: list[tuple[str, list]] = []
    content_types = ContentType.objects.get_for_models(*CITED_MODELS)
    for model in CITED_MODELS:
        statements.append(
            (
                f"DELETE FROM {table(Citation)} WHERE {column(Citation, 'content_type')} = %s "
                f"AND {column(Citation, 'object_id')} IN ({synthetic_ids(model)})",
                [content_types[model].pk, pattern],
            )
        )
    statements.append(
        (
            f"DELETE FROM {table(Citation)} "
            f"WHERE {column(Citation, 'source')} IN ({synthetic_ids(Source)})",
            [pattern],
        )
    )
    for link in LINK_MODELS:
        for fk in link._meta.concrete_fields:
            if fk.many_to_one and fk.related_model in SLUGGED_MODELS:
                statements.append(
                    (
                        f"DELETE FROM {table(link)} WHERE {qn(fk.column)} "
                        f"IN ({synthetic_ids(fk.related_model)})",
                        [pattern],
                    )
                )
    # What the feed holds of them (its baseline, or later states), then the records.
    resource_types = ContentType.objects.get_for_models(*RESOURCE_MODELS)
    for model in SLUGGED_MODELS:
        if model in resource_types:
            statements.append(
                (
                    f"DELETE FROM {table(FeedState)} "
                    f"WHERE {column(FeedState, 'content_type')} = %s "
                    f"AND {column(FeedState, 'object_id')} IN ({synthetic_ids(model)})",
                    [resource_types[model].pk, pattern],
                )
            )
    for model in SLUGGED_MODELS:
        statements.append(
            (f"DELETE FROM {table(model)} WHERE {column(model, 'slug')} LIKE %s", [pattern])
        )
    deleted = 0
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
            deleted += max(cursor.rowcount, 0)
    return deleted


# The whole load


class SyntheticDataExists(Exception):
    """Synthetic rows are there already and were not to be replaced."""


@dataclass
class Summary:
    """What a load did: rows written per table, rows deleted first, and how long it took."""

    counts: dict[type[models.Model], int]
    deleted: int
    seconds: float


def generate(
    *, groups: int, seed: int, replace: bool = False, progress: TextIO | None = None
) -> Summary:
    """Make and load a synthetic dataset of ``groups`` groups, in one transaction.

    Refuses (``SyntheticDataExists``) when synthetic rows exist, unless ``replace``, which
    deletes them first in the same transaction. ``progress``: where to draw one progress bar
    per table, or None for none."""
    started = time.monotonic()
    plan = Plan.for_groups(groups)
    loader = CopyLoader() if connection.vendor == "postgresql" else BulkLoader()
    deleted = 0
    with transaction.atomic():
        if synthetic_exists():
            if not replace:
                raise SyntheticDataExists(
                    "Synthetic rows exist already; pass --replace to delete them first."
                )
            deleted = delete_synthetic()
        generator = Generator(plan, seed, {model: loader.next_id(model) for model in LOADED_MODELS})
        for model, rows, expected in generator.tables():
            with progress_bar(model, expected, progress) as bar:
                bar.total = loader.load(model, rows, bar)
                bar.refresh()
        loader.finish(LOADED_MODELS)
        # COPY and bulk_create send no signals: the flags are checked against the rule here.
        visibility.refresh(full=True)
        # The feed does not see these rows: what was published of any record stops counting.
        current = DatasetVersion.objects.select_for_update().filter(pk=1).first()
        counter, stamp = DatasetVersion.bump(current=current)
        set_feed_baseline(stamp, progress)
        published.raise_floor(counter)
        transaction.on_commit(lambda: published.publish(counter, stamp, []), robust=True)
    loader.analyze(LOADED_MODELS)
    counts = {model: generator.counts.get(model, 0) for model in LOADED_MODELS}
    return Summary(counts, deleted, time.monotonic() - started)


def set_feed_baseline(stamp: datetime.datetime, progress: TextIO | None) -> None:
    """The public state of every synthetic record, recorded as the feed's baseline (see
    ``feed.set_baseline``): the feed carries what changes after the load, and the first write
    after it compares with what the load made instead of taking every related record for
    new."""
    for model in LOADED_MODELS:
        if model not in RESOURCE_MODELS:
            continue
        pks = list(
            model._default_manager.filter(slug__startswith=SLUG_PREFIX)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        with progress_bar(model, len(pks), progress, desc="feed baseline") as bar:
            feed.set_baseline(model, pks, stamp=stamp, progress=bar.update)


def progress_bar(
    model: type[models.Model], expected: int, stream: TextIO | None, desc: str = ""
) -> tqdm:
    """A bar counting the rows of one table, or a silent one when there is no stream."""
    return tqdm(
        total=expected,
        desc=f"{desc}: {model._meta.db_table}" if desc else model._meta.db_table,
        unit=" rows",
        unit_scale=expected >= 10_000,
        file=stream,
        disable=stream is None,
        mininterval=0.5,
        leave=True,
    )
