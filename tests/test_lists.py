"""The list and detail endpoints as API users meet them: every filter, search, ordering,
pagination, query counts and the shape of a detail.

Every test builds its own records with the factories and looks only at those (the curated
dataset is loaded too), so that the assertions do not depend on the curated data.
"""

from __future__ import annotations

import datetime
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from api import filters, views
from cryptogroups import choices, models
from tests import factories as f

pytestmark = pytest.mark.django_db

API = "/api/v1"
BASE = f"http://testserver{API}"

FACTORIES: dict[str, Callable[..., models.Model]] = {
    "organizations": f.organization,
    "sources": f.source,
    "platforms": f.platform,
    "platform-availabilities": f.availability,
    "exchanges": f.exchange,
    "exchange-responses": f.response,
    "groups": f.group,
    "migrations": f.migration,
    "regulatory-actions": f.action,
}
RESOURCES = list(FACTORIES)
CITED_RESOURCES = [resource for resource in RESOURCES if resource != "sources"]

_ids = itertools.count(1)


def uid() -> str:
    """A prefix no other record of the session has, for slugs and search words."""
    return f"zt{next(_ids)}"


# --- helpers -------------------------------------------------------------------------------


def get_json(api, path: str, params: dict | None = None, status: int = 200) -> dict:
    response = api.get(path, params or {})
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def list_url(resource: str) -> str:
    return f"{API}/{resource}/"


def walk(api, resource: str, params: dict | None = None, page_size: int = 100) -> list[str]:
    """The slugs of every record of a list, in order, following the ``next`` links."""
    body = get_json(api, list_url(resource), {**(params or {}), "page_size": page_size})
    count = body["count"]
    slugs = [record["slug"] for record in body["results"]]
    while body["next"]:
        body = get_json(api, body["next"])
        slugs += [record["slug"] for record in body["results"]]
    assert len(slugs) == count
    return slugs


def listed(api, resource: str, params: dict, mine) -> list[str]:
    """Those of ``mine`` that the list returns, in the list's order."""
    mine = set(mine)
    return [slug for slug in walk(api, resource, params) if slug in mine]


def assert_refused(api, path: str, params: dict, *attrs: str) -> dict:
    """A 400 in the API's error shape, naming exactly ``attrs``."""
    response = api.get(path, params)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["type"] == "validation_error"
    assert {error["attr"] for error in body["errors"]} == set(attrs)
    assert all(error["code"] and error["detail"] for error in body["errors"])
    return body


def partial(prefix: str, date: datetime.date | None, precision: str = "day", qualifier="exact"):
    """The three fields of a partial date, all empty when ``date`` is None."""
    if date is None:
        precision = qualifier = None
    return {
        f"{prefix}_date": date,
        f"{prefix}_precision": precision,
        f"{prefix}_qualifier": qualifier,
    }


def cite(record, **fields) -> models.Citation:
    return f.cite(record, **fields)


def cite_twice(record, field_name: str) -> None:
    """Cite ``record`` as a whole and one of its fields, from two new sources."""
    f.cite(record)
    f.cite(record, field_name=field_name)


# --- 1. filters: exact values, slugs and codes --------------------------------------------


@dataclass(frozen=True)
class Exact:
    """A filter that matches records by a value. ``make(seed)`` builds a record that the query
    value it returns must match; two seeds give records that must not match each other."""

    resource: str
    param: str
    make: Callable[[object], tuple[str, str]]
    seeds: tuple = (None, None, None)
    repeatable: bool = True
    bad: str | None = None
    label: str = ""

    def __str__(self) -> str:
        return f"{self.resource}-{self.param}{self.label}"


def field_value(resource: str, field: str) -> Callable[[object], tuple[str, str]]:
    def make(seed):
        return seed, FACTORIES[resource](**{field: seed}).slug

    return make


def related_to(resource: str, field: str, maker) -> Callable[[object], tuple[str, str]]:
    def make(_seed):
        related = maker()
        return related.slug, FACTORIES[resource](**{field: related}).slug

    return make


def choice(resource, param, seeds, make=None) -> Exact:
    make = make or field_value(resource, param)
    return Exact(resource, param, make, seeds, repeatable=True, bad="bogus-value")


def relation(resource, param, make) -> Exact:
    return Exact(resource, param, make, repeatable=True, bad="no-such-record")


def code(resource, param, seeds, bad, make=None) -> Exact:
    make = make or field_value(resource, param)
    return Exact(resource, param, make, seeds, repeatable=False, bad=bad)


def published_by(seed):
    return seed.upper(), f.source(publisher=seed).slug


def blocked_in(seed):
    platform = f.platform()
    f.availability(platform=platform, jurisdiction=seed, status="blocked")
    return seed, platform.slug


def exchange_responding_with(seed):
    exchange = f.exchange()
    f.response(exchange=exchange, response_type=seed)
    return seed, exchange.slug


def exchange_responding_to(_seed):
    action, exchange = f.action(), f.exchange()
    f.response(exchange=exchange).actions.add(action)
    return action.slug, exchange.slug


def response_to(_seed):
    action, response = f.action(), f.response()
    response.actions.add(action)
    return action.slug, response.slug


def group_about(_seed):
    exchange, group = f.exchange(), f.group()
    models.GroupExchange.objects.create(group=group, exchange=exchange, affiliation="official")
    return exchange.slug, group.slug


def group_with_affiliation(seed):
    group = f.group()
    models.GroupExchange.objects.create(group=group, exchange=f.exchange(), affiliation=seed)
    return seed, group.slug


def aggregate(seed):
    return ("true" if seed else "false"), f.group(is_aggregate=seed).slug


def migration_on(seed):
    """A migration from (seed "from") or to (seed "to") a new platform."""
    platform = f.platform()
    return platform.slug, f.migration(**{f"{seed}_platform": platform}).slug


def migration_driven_by(_seed):
    action, migration = f.action(), f.migration()
    migration.drivers.add(action)
    return action.slug, migration.slug


def action_issued_by(_seed):
    organization, action = f.organization(), f.action()
    models.ActionIssuer.objects.create(action=action, organization=organization, role="lead")
    return organization.slug, action.slug


def action_targeting(kind: str):
    maker = {"exchange": f.exchange, "platform": f.platform}[kind]

    def make(_seed):
        target, action = maker(), f.action()
        models.ActionTarget.objects.create(action=action, effect="prohibited", **{kind: target})
        return target.slug, action.slug

    return make


def action_targeting_category(seed):
    action = f.action()
    models.ActionTarget.objects.create(action=action, category=seed, effect="prohibited")
    return seed, action.slug


EXACT = [
    # organizations
    choice("organizations", "org_type", ("regulator", "company", "media")),
    code("organizations", "country", ("CN", "US", "JP"), "XX"),
    relation("organizations", "parent", related_to("organizations", "parent", f.organization)),
    # sources
    choice("sources", "source_type", ("news", "analysis", "dataset")),
    code("sources", "language", ("en", "zh", "ja"), "xx"),
    Exact(
        "sources",
        "publisher",
        published_by,
        ("Alpha Test Wire", "Beta Test Wire", "Gamma Test Wire"),
        repeatable=False,
    ),
    # platforms
    choice("platforms", "platform_type", ("messaging", "social", "forum")),
    choice("platforms", "encryption", ("none", "e2e_default", "client_server")),
    relation("platforms", "operator", related_to("platforms", "operator", f.organization)),
    code("platforms", "blocked_in", ("CN", "IR", "RU"), "XX", make=blocked_in),
    # platform availabilities
    relation(
        "platform-availabilities",
        "platform",
        related_to("platform-availabilities", "platform", f.platform),
    ),
    code("platform-availabilities", "jurisdiction", ("CN", "RU", "IR"), "XX"),
    choice("platform-availabilities", "status", ("available", "restricted", "blocked")),
    # exchanges
    choice("exchanges", "exchange_type", ("spot", "otc_desk", "p2p")),
    choice("exchanges", "status", ("active", "ceased", "suspended")),
    code("exchanges", "country", ("CN", "KR", "JP"), "XX"),
    relation("exchanges", "operator", related_to("exchanges", "operator", f.organization)),
    choice(
        "exchanges",
        "response_type",
        ("halt_all_trading", "suspend_otc", "exit_market"),
        make=exchange_responding_with,
    ),
    relation("exchanges", "responded_to", exchange_responding_to),
    # exchange responses
    relation(
        "exchange-responses", "exchange", related_to("exchange-responses", "exchange", f.exchange)
    ),
    choice(
        "exchange-responses",
        "response_type",
        ("halt_all_trading", "stop_deposits", "close_website"),
    ),
    code("exchange-responses", "jurisdiction", ("CN", "KR", "JP"), "XX"),
    relation("exchange-responses", "action", response_to),
    # groups
    relation("groups", "platform", related_to("groups", "platform", f.platform)),
    relation("groups", "exchange", group_about),
    choice(
        "groups", "affiliation", ("official", "unofficial", "unknown"), make=group_with_affiliation
    ),
    choice("groups", "group_type", ("group", "channel", "room")),
    choice("groups", "status", ("active", "disbanded", "migrated")),
    code("groups", "language", ("zh", "en", "ko"), "xx"),
    Exact("groups", "is_aggregate", aggregate, (True, False), False, "maybe", "-true"),
    Exact("groups", "is_aggregate", aggregate, (False, True), False, "maybe", "-false"),
    # migrations
    relation("migrations", "from_platform", related_to("migrations", "from_platform", f.platform)),
    relation("migrations", "to_platform", related_to("migrations", "to_platform", f.platform)),
    Exact(
        "migrations",
        "platform",
        migration_on,
        ("from", "to", "from"),
        True,
        "no-such-record",
        "-left",
    ),
    Exact(
        "migrations",
        "platform",
        migration_on,
        ("to", "from", "to"),
        True,
        "no-such-record",
        "-joined",
    ),
    relation("migrations", "driver", migration_driven_by),
    # regulatory actions
    code("regulatory-actions", "jurisdiction", ("CN", "KR", "US"), "XX"),
    code("regulatory-actions", "subdivision", ("CN-SH", "CN-BJ", "CN-GD"), "CN-ZZ"),
    choice("regulatory-actions", "action_type", ("ban", "notice", "warning")),
    choice("regulatory-actions", "status", ("announced", "in_force", "repealed")),
    relation("regulatory-actions", "issuer", action_issued_by),
    relation("regulatory-actions", "target_exchange", action_targeting("exchange")),
    relation("regulatory-actions", "target_platform", action_targeting("platform")),
    choice(
        "regulatory-actions",
        "target_category",
        ("exchanges", "ico_issuers", "group_admins"),
        make=action_targeting_category,
    ),
]


@pytest.mark.parametrize("case", EXACT, ids=str)
def test_filter_returns_matching_records_only(api, case):
    value, match = case.make(case.seeds[0])
    _, other = case.make(case.seeds[1])

    assert listed(api, case.resource, {case.param: value}, {match, other}) == [match]


@pytest.mark.parametrize("case", [case for case in EXACT if case.repeatable], ids=str)
def test_repeated_filter_matches_any_of_its_values(api, case):
    (first_value, first), (second_value, second), (_, third) = map(case.make, case.seeds)

    found = listed(
        api, case.resource, {case.param: [first_value, second_value]}, {first, second, third}
    )

    assert sorted(found) == sorted([first, second])


@pytest.mark.parametrize("case", [case for case in EXACT if not case.repeatable], ids=str)
def test_single_valued_filter_refuses_several_values(api, case):
    first_value, _ = case.make(case.seeds[0])
    second_value, _ = case.make(case.seeds[1])

    assert_refused(
        api, list_url(case.resource), {case.param: [first_value, second_value]}, case.param
    )


@pytest.mark.parametrize("case", [case for case in EXACT if case.bad], ids=str)
def test_filter_refuses_malformed_value_naming_the_parameter(api, case):
    assert_refused(api, list_url(case.resource), {case.param: case.bad}, case.param)


def test_blocked_in_ignores_platforms_only_restricted_or_available_there(api):
    blocked, restricted, available = f.platform(), f.platform(), f.platform()
    f.availability(platform=blocked, jurisdiction="CN", status="blocked")
    f.availability(platform=restricted, jurisdiction="CN", status="restricted")
    f.availability(platform=available, jurisdiction="CN", status="available")
    f.availability(platform=available, jurisdiction="IR", status="blocked")
    mine = {blocked.slug, restricted.slug, available.slug}

    assert listed(api, "platforms", {"blocked_in": "CN"}, mine) == [blocked.slug]


def test_migration_platform_filter_matches_either_side(api):
    platform = f.platform()
    left = f.migration(from_platform=platform)
    joined = f.migration(to_platform=platform)
    unrelated = f.migration()
    mine = {left.slug, joined.slug, unrelated.slug}

    assert sorted(listed(api, "migrations", {"platform": platform.slug}, mine)) == sorted(
        [left.slug, joined.slug]
    )


def test_publisher_filter_is_case_insensitive_but_exact(api):
    exact = f.source(publisher="Caixin Test Global")
    longer = f.source(publisher="Caixin Test Global Weekly")
    mine = {exact.slug, longer.slug}

    assert listed(api, "sources", {"publisher": "caixin test global"}, mine) == [exact.slug]


@pytest.mark.parametrize(
    ("resource", "param", "value"),
    [
        ("organizations", "country", "cn"),
        ("platforms", "blocked_in", "cn"),
        ("platform-availabilities", "jurisdiction", "cn"),
        ("exchanges", "country", "cn"),
        ("exchange-responses", "jurisdiction", "cn"),
        ("regulatory-actions", "jurisdiction", "cn"),
        ("sources", "language", "EN"),
        ("groups", "language", "ZH"),
    ],
)
def test_code_filter_refuses_code_in_the_wrong_case(api, resource, param, value):
    assert_refused(api, list_url(resource), {param: value}, param)


def test_subdivision_filter_refuses_code_in_the_wrong_case(api):
    f.action(subdivision="CN-SH")

    assert_refused(api, list_url("regulatory-actions"), {"subdivision": "cn-sh"}, "subdivision")


def test_a_code_filter_copied_for_a_request_shares_only_its_schema_annotation():
    """A FilterSet deep-copies its filters for every request: the list of codes the schema's
    annotation holds (5,046 subdivisions) is shared, what the request may change is not."""
    base = filters.RegulatoryActionFilterSet.base_filters
    copied = filters.RegulatoryActionFilterSet(queryset=models.RegulatoryAction.objects.none())
    for name in ("subdivision", "jurisdiction"):
        original, copy = base[name], copied.filters[name]
        assert copy is not original
        assert copy._spectacular_annotation is original._spectacular_annotation
        assert copy.extra == original.extra
        assert copy.extra is not original.extra
        assert copy.extra["validators"] is not original.extra["validators"]
        assert copy.parent is copied


@pytest.mark.parametrize(
    ("resource", "param"),
    [
        ("groups", "status"),
        ("groups", "language"),
        ("groups", "is_aggregate"),
        ("groups", "member_count_min"),
        ("groups", "search"),
        ("groups", "ordering"),
        ("sources", "published_after"),
        ("regulatory-actions", "issuer"),
        ("migrations", "platform"),
    ],
)
def test_empty_value_is_refused_by_name(api, resource, param):
    assert_refused(api, list_url(resource), {param: ""}, param)


# --- to-many filters return each record once -----------------------------------------------


def twice_official():
    group = f.group()
    for _ in range(2):
        models.GroupExchange.objects.create(
            group=group, exchange=f.exchange(), affiliation="official"
        )
    return "groups", {"affiliation": ["official", "unofficial"]}, group.slug


def twice_halted():
    exchange = f.exchange()
    f.response(exchange=exchange, response_type="halt_all_trading")
    f.response(exchange=exchange, response_type="halt_all_trading")
    return "exchanges", {"response_type": "halt_all_trading"}, exchange.slug


def twice_responded():
    action, exchange = f.action(), f.exchange()
    f.response(exchange=exchange).actions.add(action)
    f.response(exchange=exchange).actions.add(action)
    return "exchanges", {"responded_to": action.slug}, exchange.slug


def two_linked_exchanges():
    group, first, second = f.group(), f.exchange(), f.exchange()
    models.GroupExchange.objects.create(group=group, exchange=first)
    models.GroupExchange.objects.create(group=group, exchange=second)
    return "groups", {"exchange": [first.slug, second.slug]}, group.slug


def twice_blocked():
    platform = f.platform()
    f.availability(platform=platform, jurisdiction="CN", status="blocked")
    f.availability(platform=platform, jurisdiction="CN", status="blocked")
    return "platforms", {"blocked_in": "CN"}, platform.slug


def two_category_targets():
    action = f.action()
    models.ActionTarget.objects.create(action=action, category="exchanges", effect="prohibited")
    models.ActionTarget.objects.create(action=action, category="exchanges", effect="must_cease")
    return "regulatory-actions", {"target_category": "exchanges"}, action.slug


def two_exchange_targets():
    action, exchange = f.action(), f.exchange()
    models.ActionTarget.objects.create(action=action, exchange=exchange, effect="prohibited")
    models.ActionTarget.objects.create(action=action, exchange=exchange, effect="must_cease")
    return "regulatory-actions", {"target_exchange": exchange.slug}, action.slug


def two_issuers():
    action, first, second = f.action(), f.organization(), f.organization()
    models.ActionIssuer.objects.create(action=action, organization=first, role="lead")
    models.ActionIssuer.objects.create(action=action, organization=second, role="co_issuer")
    return "regulatory-actions", {"issuer": [first.slug, second.slug]}, action.slug


def response_to_two_actions():
    first, second, response = f.action(), f.action(), f.response()
    response.actions.add(first, second)
    return "exchange-responses", {"action": [first.slug, second.slug]}, response.slug


def migration_with_two_drivers():
    first, second, migration = f.action(), f.action(), f.migration()
    migration.drivers.add(first, second)
    return "migrations", {"driver": [first.slug, second.slug]}, migration.slug


@pytest.mark.parametrize(
    "build",
    [
        twice_official,
        twice_halted,
        twice_responded,
        two_linked_exchanges,
        twice_blocked,
        two_category_targets,
        two_exchange_targets,
        two_issuers,
        response_to_two_actions,
        migration_with_two_drivers,
    ],
    ids=[
        "groups-affiliation",
        "exchanges-response_type",
        "exchanges-responded_to",
        "groups-exchange",
        "platforms-blocked_in",
        "actions-target_category",
        "actions-target_exchange",
        "actions-issuer",
        "responses-action",
        "migrations-driver",
    ],
)
def test_filter_across_a_to_many_relation_lists_each_record_once(api, build):
    resource, params, slug = build()

    assert walk(api, resource, params).count(slug) == 1


# --- date and count ranges ------------------------------------------------------------------

DATE_RANGES = [
    ("sources", "published"),
    ("platform-availabilities", "since"),
    ("exchanges", "founded"),
    ("exchange-responses", "announced"),
    ("exchange-responses", "effective"),
    ("migrations", "started"),
    ("regulatory-actions", "announced"),
    ("regulatory-actions", "effective"),
]

# Records: "early" on 2017-09-30, "month" known as 2017-10 (stored 2017-10-01), "late" on
# 2017-10-15 and "unknown" without a date.
DATE_QUERIES = [
    ({"after": "2017-10-01"}, {"month", "late"}),
    ({"after": "2017-10-02"}, {"late"}),
    ({"before": "2017-10-01"}, {"early", "month"}),
    ({"before": "2017-09-30"}, {"early"}),
    ({"after": "2017-10-01", "before": "2017-10-14"}, {"month"}),
]


@pytest.mark.parametrize(("resource", "name"), DATE_RANGES)
@pytest.mark.parametrize(("bounds", "expected"), DATE_QUERIES)
def test_date_range_is_inclusive_and_compares_first_day_of_partial_date(
    api, resource, name, bounds, expected
):
    dates = {
        "early": (datetime.date(2017, 9, 30), "day"),
        "month": (datetime.date(2017, 10, 1), "month"),
        "late": (datetime.date(2017, 10, 15), "day"),
        "unknown": (None, None),
    }
    slugs = {
        key: FACTORIES[resource](**partial(name, date, precision)).slug
        for key, (date, precision) in dates.items()
    }
    params = {f"{name}_{suffix}": value for suffix, value in bounds.items()}

    found = listed(api, resource, params, slugs.values())

    assert set(found) == {slugs[key] for key in expected}


@pytest.mark.parametrize(("resource", "name"), DATE_RANGES)
@pytest.mark.parametrize("suffix", ["after", "before"])
@pytest.mark.parametrize("value", ["2017-02-30", "2017-13-01", "yesterday"])
def test_date_range_refuses_malformed_date_naming_the_parameter(api, resource, name, suffix, value):
    assert_refused(api, list_url(resource), {f"{name}_{suffix}": value}, f"{name}_{suffix}")


@pytest.mark.parametrize(("resource", "name"), DATE_RANGES)
def test_date_range_reports_each_malformed_bound(api, resource, name):
    params = {f"{name}_after": "2017-02-30", f"{name}_before": "2017-02-31"}

    assert_refused(api, list_url(resource), params, f"{name}_after", f"{name}_before")


@pytest.mark.parametrize(("resource", "name"), DATE_RANGES)
@pytest.mark.parametrize("suffix", ["after", "before"])
def test_date_range_bound_refuses_several_values(api, resource, name, suffix):
    params = {f"{name}_{suffix}": ["2017-01-01", "2018-01-01"]}

    assert_refused(api, list_url(resource), params, f"{name}_{suffix}")


MEMBER_COUNT_QUERIES = [
    ({"member_count_min": "100"}, {"hundred", "many"}),
    ({"member_count_max": "100"}, {"few", "hundred"}),
    ({"member_count_min": "100", "member_count_max": "100"}, {"hundred"}),
    ({"member_count_min": "0"}, {"few", "hundred", "many"}),
]


@pytest.mark.parametrize(("params", "expected"), MEMBER_COUNT_QUERIES)
def test_member_count_range_is_inclusive_and_skips_groups_without_count(api, params, expected):
    counts = {"few": 99, "hundred": 100, "many": 500, "unknown": None}
    slugs = {
        key: f.group(
            member_count=count, member_count_qualifier=None if count is None else "approx"
        ).slug
        for key, count in counts.items()
    }

    found = listed(api, "groups", params, slugs.values())

    assert set(found) == {slugs[key] for key in expected}


BEYOND_BIGINT = str(2**63)  # one more than any count the database can store


@pytest.mark.parametrize("param", ["member_count_min", "member_count_max"])
def test_member_count_beyond_any_storable_count_is_refused(api, param):
    assert_refused(api, list_url("groups"), {param: BEYOND_BIGINT}, param)


def test_member_count_range_with_bound_beyond_any_count_is_refused(api):
    params = {"member_count_min": "1", "member_count_max": BEYOND_BIGINT}

    assert_refused(api, list_url("groups"), params, "member_count_max")


def test_member_count_at_the_largest_storable_count_is_answered(api):
    counted = f.group(member_count=5, member_count_qualifier="exact").slug
    uncounted = f.group().slug
    params = {"member_count_min": "1", "member_count_max": str(2**63 - 1)}

    assert listed(api, "groups", params, {counted, uncounted}) == [counted]


@pytest.mark.parametrize("param", ["member_count_min", "member_count_max"])
@pytest.mark.parametrize("value", ["abc", "-1", "1.5"])
def test_member_count_refuses_non_whole_number_naming_the_parameter(api, param, value):
    assert_refused(api, list_url("groups"), {param: value}, param)


@pytest.mark.parametrize("param", ["member_count_min", "member_count_max"])
def test_member_count_bound_refuses_several_values(api, param):
    assert_refused(api, list_url("groups"), {param: ["1", "2"]}, param)


VIEWS = {
    "organizations": views.OrganizationViewSet,
    "sources": views.SourceViewSet,
    "platforms": views.PlatformViewSet,
    "platform-availabilities": views.PlatformAvailabilityViewSet,
    "exchanges": views.ExchangeViewSet,
    "exchange-responses": views.ExchangeResponseViewSet,
    "groups": views.GroupViewSet,
    "migrations": views.MigrationViewSet,
    "regulatory-actions": views.RegulatoryActionViewSet,
}


CHOICES_ON_THE_RECORD = [
    (resource, name, filter_.extra["choices"][0][0])
    for resource, view in VIEWS.items()
    for name, filter_ in view.filterset_class.base_filters.items()
    if isinstance(filter_, filters.ChoicesFilter)
    and not filters.crosses_to_many(view.queryset.model, filter_.field_name)
]


@pytest.mark.parametrize(("resource", "param", "value"), CHOICES_ON_THE_RECORD)
def test_a_filter_by_a_value_of_the_record_reads_the_list_without_removing_duplicates(
    api, resource, param, value
):
    """Nothing can match twice: no DISTINCT, which would keep the page from being read in the
    list's index (at a million groups PostgreSQL sorted every match first)."""
    with CaptureQueriesContext(connection) as queries:
        response = api.get(f"{API}/{resource}/?{param}={value}")
    assert response.status_code == 200
    assert not [q["sql"] for q in queries.captured_queries if "DISTINCT" in q["sql"]]


@pytest.mark.parametrize("resource", RESOURCES)
def test_every_filter_parameter_is_tested_here(resource):
    tested = {case.param for case in EXACT if case.resource == resource}
    tested |= {
        f"{name}_{suffix}"
        for range_resource, name in DATE_RANGES
        if range_resource == resource
        for suffix in ("after", "before")
    }
    if resource == "groups":
        tested |= {"member_count_min", "member_count_max"}

    assert set(filters.query_parameter_names(VIEWS[resource].filterset_class)) == tested


@pytest.mark.parametrize("resource", RESOURCES)
def test_unknown_query_parameter_is_refused_by_name(api, resource):
    assert_refused(api, list_url(resource), {"colour": "red"}, "colour")


@pytest.mark.parametrize("resource", RESOURCES)
def test_detail_refuses_list_parameters(api, resource):
    record = FACTORIES[resource]()

    assert_refused(api, f"{list_url(resource)}{record.slug}/", {"page": "1"}, "page")


# --- 2. search --------------------------------------------------------------------------------

SEARCH_FIELDS = {
    "organizations": ["name", "native_name", "description"],
    "sources": ["title", "publisher", "author", "notes"],
    "platforms": ["name", "description"],
    "platform-availabilities": ["platform__name", "workaround", "description"],
    "exchanges": ["name", "native_name", "city", "description"],
    "exchange-responses": ["exchange__name", "description"],
    "groups": ["name", "description"],
    "migrations": ["title", "scale", "description"],
    "regulatory-actions": ["title", "official_title", "native_title", "document_number", "summary"],
}


def with_text(resource: str, field: str, text: str) -> str:
    """A record of ``resource`` whose ``field`` (maybe across one relation) holds ``text``."""
    if "__" in field:
        relation, related_field = field.split("__")
        related = FACTORIES[f"{relation}s"](**{related_field: text})
        return FACTORIES[resource](**{relation: related}).slug
    return FACTORIES[resource](**{field: text}).slug


@pytest.mark.parametrize(
    ("resource", "field"),
    [(resource, field) for resource, fields in SEARCH_FIELDS.items() for field in fields],
)
def test_search_finds_records_by_each_search_field(api, resource, field):
    word, other_word = f"Qx{uid()}word", f"Qx{uid()}word"
    match = with_text(resource, field, f"Before {word.upper()} after")
    with_text(resource, field, f"Before {other_word} after")

    assert walk(api, resource, {"search": word.lower()}) == [match]


@pytest.mark.parametrize("resource", RESOURCES)
def test_search_refuses_several_values(api, resource):
    assert_refused(api, list_url(resource), {"search": ["bitcoin", "wechat"]}, "search")


# --- 3. ordering ------------------------------------------------------------------------------

ORDERING_FIELDS = {
    "organizations": ["name", "slug", "country", "created_at", "updated_at"],
    "sources": ["slug", "title", "publisher", "published_date", "created_at", "updated_at"],
    "platforms": ["name", "slug", "user_count", "created_at", "updated_at"],
    "platform-availabilities": ["slug", "jurisdiction", "since_date", "created_at", "updated_at"],
    "exchanges": ["name", "slug", "country", "founded_date", "created_at", "updated_at"],
    "exchange-responses": [
        "slug",
        "announced_date",
        "effective_date",
        "response_type",
        "created_at",
        "updated_at",
    ],
    "groups": ["name", "slug", "member_count", "created_at", "updated_at"],
    "migrations": ["slug", "started_date", "created_at", "updated_at"],
    "regulatory-actions": [
        "slug",
        "title",
        "announced_date",
        "effective_date",
        "created_at",
        "updated_at",
    ],
}


def sort_value(field: str, rank: int | None) -> dict:
    """Fields giving a record the ``rank``-th smallest value of ``field``; empty when None."""
    if field in ("created_at", "updated_at"):
        return {field: datetime.datetime(2001 + rank, 1, 1, tzinfo=datetime.UTC)}
    if field.endswith("_date"):
        return partial(
            field[: -len("_date")], None if rank is None else datetime.date(2001 + rank, 1, 1)
        )
    if field in ("name", "title", "publisher"):
        return {field: f"Zz sort {rank}"}
    if field in ("country", "jurisdiction"):
        return {field: None if rank is None else ("AT", "BE", "CH")[rank]}
    if field == "member_count":
        return {
            field: None if rank is None else 10 * (rank + 1),
            f"{field}_qualifier": None if rank is None else "exact",
        }
    if field == "user_count":
        empty = rank is None
        return {
            field: None if empty else 10 * (rank + 1),
            f"{field}_qualifier": None if empty else "exact",
            "user_metric": None if empty else "users_unspecified",
        }
    if field == "response_type":
        return {field: sorted(choices.ResponseType.values)[rank]}
    raise AssertionError(f"no sort value for {field}")


def make_sorted(resource: str, field: str, ranks: dict[str, int | None]) -> dict[str, str]:
    """One record per key of ``ranks`` (created in key order), with slugs in key order."""
    prefix = uid()
    slugs = {}
    for key, rank in ranks.items():
        slugs[key] = f"{prefix}-{key}"
        values = {} if field == "slug" else sort_value(field, rank)
        FACTORIES[resource](slug=slugs[key], **values)
    return slugs


@pytest.mark.parametrize(
    ("resource", "field"),
    [(resource, field) for resource, fields in ORDERING_FIELDS.items() for field in fields],
)
def test_ordering_sorts_by_each_allowed_field_both_ways(api, resource, field):
    # Ranks differ from the slug (and default) order: b < c < a.
    slugs = make_sorted(resource, field, {"a": 2, "b": 0, "c": 1})
    order = "abc" if field == "slug" else "bca"
    expected = [slugs[key] for key in order]

    assert listed(api, resource, {"ordering": field}, slugs.values()) == expected
    assert listed(api, resource, {"ordering": f"-{field}"}, slugs.values()) == expected[::-1]


NULLABLE_ORDERING = [
    ("organizations", "country"),
    ("sources", "published_date"),
    ("platforms", "user_count"),
    ("platform-availabilities", "since_date"),
    ("exchanges", "country"),
    ("exchanges", "founded_date"),
    ("exchange-responses", "announced_date"),
    ("exchange-responses", "effective_date"),
    ("groups", "member_count"),
    ("migrations", "started_date"),
    ("regulatory-actions", "announced_date"),
    ("regulatory-actions", "effective_date"),
]


@pytest.mark.parametrize(("resource", "field"), NULLABLE_ORDERING)
@pytest.mark.parametrize("direction", ["", "-"])
def test_ordering_puts_empty_values_last_in_slug_order(api, resource, field, direction):
    slugs = make_sorted(resource, field, {"a": None, "b": 0, "c": 1, "d": None})
    filled = ["b", "c"] if direction == "" else ["c", "b"]
    expected = [slugs[key] for key in [*filled, "a", "d"]]

    assert listed(api, resource, {"ordering": f"{direction}{field}"}, slugs.values()) == expected


TIES = [
    ("groups", "name"),
    ("groups", "member_count"),
    ("groups", "created_at"),
    ("regulatory-actions", "title"),
    ("regulatory-actions", "announced_date"),
    ("regulatory-actions", "effective_date"),
    ("exchange-responses", "response_type"),
]


@pytest.mark.parametrize(("resource", "field"), TIES)
@pytest.mark.parametrize("direction", ["", "-"])
def test_ordering_returns_equal_sort_keys_in_slug_order(api, resource, field, direction):
    # Created out of slug order, all with the same value of the field.
    slugs = make_sorted(resource, field, {"c": 0, "a": 0, "b": 0})
    expected = [slugs[key] for key in "abc"]

    assert listed(api, resource, {"ordering": f"{direction}{field}"}, slugs.values()) == expected


def test_ordering_by_several_fields_applies_them_in_turn(api):
    platform = f.platform()
    prefix = uid()
    for key, name, count in [("a", "Same", 10), ("b", "Same", 20), ("c", "Other", 5)]:
        f.group(
            slug=f"{prefix}-{key}",
            name=name,
            platform=platform,
            member_count=count,
            member_count_qualifier="exact",
        )

    found = walk(api, "groups", {"platform": platform.slug, "ordering": "-name,-member_count"})

    assert found == [f"{prefix}-b", f"{prefix}-a", f"{prefix}-c"]


@pytest.mark.parametrize("resource", RESOURCES)
@pytest.mark.parametrize("ordering", ["colour", "-colour", "slug,colour", "description", ""])
def test_ordering_refuses_unknown_field(api, resource, ordering):
    assert_refused(api, list_url(resource), {"ordering": ordering}, "ordering")


def test_ordering_refuses_field_with_a_doubled_minus(api):
    assert_refused(api, list_url("groups"), {"ordering": "--name"}, "ordering")


@pytest.mark.parametrize("resource", RESOURCES)
def test_ordering_refuses_several_values(api, resource):
    assert_refused(api, list_url(resource), {"ordering": ["slug", "-slug"]}, "ordering")


# --- 4. pagination ----------------------------------------------------------------------------


def own_groups(count: int, **fields) -> tuple[models.Platform, list[str]]:
    platform = f.platform()
    prefix = uid()
    slugs = [
        f.group(slug=f"{prefix}-{index:02d}", name="Same name", platform=platform, **fields).slug
        for index in range(count)
    ]
    return platform, slugs


def test_page_size_sets_the_number_of_results_per_page(api):
    platform, slugs = own_groups(5)
    params = {"platform": platform.slug, "page_size": 2}

    pages = [get_json(api, list_url("groups"), {**params, "page": page}) for page in (1, 2, 3)]

    assert [len(page["results"]) for page in pages] == [2, 2, 1]
    assert {page["count"] for page in pages} == {5}
    assert [slug for page in pages for slug in (r["slug"] for r in page["results"])] == slugs


def test_page_size_defaults_to_twenty(api):
    platform, _ = own_groups(21)

    body = get_json(api, list_url("groups"), {"platform": platform.slug})

    assert body["count"] == 21
    assert len(body["results"]) == 20
    assert body["next"] is not None


@pytest.mark.parametrize("page_size", [1, 100])
def test_page_size_accepts_its_bounds(api, page_size):
    platform, _ = own_groups(3)

    body = get_json(api, list_url("groups"), {"platform": platform.slug, "page_size": page_size})

    assert len(body["results"]) == min(page_size, 3)


def test_links_point_to_neighbour_pages(api):
    platform, _ = own_groups(5)
    params = {"platform": platform.slug, "page_size": 2}

    first = get_json(api, list_url("groups"), params)
    middle = get_json(api, first["next"])
    last = get_json(api, middle["next"])

    assert first["previous"] is None
    assert first["next"].startswith(f"{BASE}/groups/?")
    assert "page=2" in first["next"]
    assert "page_size=2" in first["next"]
    assert f"platform={platform.slug}" in first["next"]
    assert get_json(api, middle["previous"]) == first
    assert last["next"] is None
    assert get_json(api, last["previous"]) == middle


@pytest.mark.parametrize("resource", RESOURCES)
def test_next_and_previous_links_walk_every_record_once_in_a_stable_order(api, resource):
    for _ in range(4):
        FACTORIES[resource]()  # default values: equal sort keys for several resources

    forward = walk(api, resource, page_size=3)
    first = get_json(api, list_url(resource), {"page_size": 3})
    last_page = -(-first["count"] // 3)
    body = get_json(api, list_url(resource), {"page_size": 3, "page": last_page})
    backward = [record["slug"] for record in body["results"]]
    while body["previous"]:
        body = get_json(api, body["previous"])
        backward = [record["slug"] for record in body["results"]] + backward

    assert len(forward) == len(set(forward)) == first["count"]
    assert forward == backward == walk(api, resource, page_size=100)


@pytest.mark.parametrize("resource", RESOURCES)
def test_page_past_the_end_is_not_found(api, resource):
    FACTORIES[resource]()
    count = get_json(api, list_url(resource))["count"]
    last_page = -(-count // 20)

    get_json(api, list_url(resource), {"page": last_page})
    body = get_json(api, list_url(resource), {"page": last_page + 1}, status=404)

    assert body["type"] == "client_error"
    assert [(e["code"], e["attr"]) for e in body["errors"]] == [("not_found", None)]


def test_first_page_of_an_empty_list_is_found(api):
    platform = f.platform()

    body = get_json(api, list_url("groups"), {"platform": platform.slug})

    assert body == {"count": 0, "next": None, "previous": None, "results": []}


@pytest.mark.parametrize("resource", ["groups", "regulatory-actions", "sources"])
@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("page", "0"),
        ("page", "-1"),
        ("page", "abc"),
        ("page", "1.5"),
        ("page_size", "0"),
        ("page_size", "101"),
        ("page_size", "abc"),
        ("page_size", "-5"),
    ],
)
def test_malformed_page_parameter_is_refused_by_name(api, resource, param, value):
    assert_refused(api, list_url(resource), {param: value}, param)


@pytest.mark.parametrize("param", ["page", "page_size"])
def test_page_parameter_refuses_several_values(api, param):
    assert_refused(api, list_url("groups"), {param: ["1", "1"]}, param)


# --- 5. query counts --------------------------------------------------------------------------


def rich_organization(word):
    organization = f.organization(parent=f.organization(), description=word)
    cite_twice(organization, "name")
    return organization


def rich_source(word):
    return f.source(syndicated_from=f.source(), notes=word)


def rich_platform(word):
    platform = f.platform(operator=f.organization(org_type="company"), description=word)
    f.availability(platform=platform, jurisdiction="CN")
    f.availability(platform=platform, jurisdiction="IR")
    cite_twice(platform, "name")
    return platform


def rich_availability(word):
    availability = f.availability(description=word)
    cite_twice(availability, "status")
    return availability


def rich_exchange(word):
    exchange = f.exchange(operator=f.organization(org_type="company"), description=word)
    for _ in range(2):
        f.response(exchange=exchange).actions.add(f.action())
    cite_twice(exchange, "name")
    return exchange


def rich_response(word):
    response = f.response(description=word)
    response.actions.add(f.action(), f.action())
    cite_twice(response, "response_type")
    return response


def rich_group(word):
    group = f.group(description=word)
    models.GroupExchange.objects.create(group=group, exchange=f.exchange(), affiliation="official")
    models.GroupExchange.objects.create(group=group, exchange=f.exchange())
    cite_twice(group, "name")
    return group


def rich_migration(word):
    migration = f.migration(from_group=f.group(), to_group=f.group(), description=word)
    migration.drivers.add(f.action(), f.action())
    cite_twice(migration, "title")
    return migration


def rich_action(word):
    action = f.action(supersedes=f.action(), summary=word)
    models.ActionIssuer.objects.create(action=action, organization=f.organization(), role="lead")
    models.ActionIssuer.objects.create(
        action=action, organization=f.organization(), role="enforcer"
    )
    models.ActionTarget.objects.create(action=action, exchange=f.exchange(), effect="prohibited")
    models.ActionTarget.objects.create(action=action, platform=f.platform(), effect="blocked")
    models.ActionTarget.objects.create(action=action, category="ico_issuers", effect="prohibited")
    f.response().actions.add(action)
    f.response().actions.add(action)
    cite_twice(action, "title")
    return action


# One query for the dataset version (ETag), one count query, one page query, and one query per
# prefetched relation (citations included).
LIST_QUERIES = {
    "organizations": (rich_organization, 4),
    "sources": (rich_source, 3),
    "platforms": (rich_platform, 5),
    "platform-availabilities": (rich_availability, 4),
    "exchanges": (rich_exchange, 5),
    "exchange-responses": (rich_response, 5),
    "groups": (rich_group, 5),
    "migrations": (rich_migration, 5),
    "regulatory-actions": (rich_action, 7),
}


# The counts are those of building a list; the cache of responses and counts (tests/test_cache.py)
# would otherwise answer the repeated requests.


@override_settings(API_CACHE_SECONDS=0, API_COUNT_CACHE_SECONDS=0)
@pytest.mark.parametrize("resource", RESOURCES)
def test_list_query_count_does_not_grow_with_page_size(api, django_assert_num_queries, resource):
    build, queries = LIST_QUERIES[resource]
    word = f"Qx{uid()}word"
    for _ in range(5):
        build(word)
    params = {"search": word}
    get_json(api, list_url(resource), {**params, "page_size": 1})  # warm the content-type cache

    with django_assert_num_queries(queries):
        small = get_json(api, list_url(resource), {**params, "page_size": 1})
    with django_assert_num_queries(queries):
        large = get_json(api, list_url(resource), {**params, "page_size": 100})

    assert len(small["results"]) == 1
    assert len(large["results"]) == 5


@override_settings(API_CACHE_SECONDS=0, API_COUNT_CACHE_SECONDS=0)
@pytest.mark.parametrize("resource", RESOURCES)
def test_curated_list_query_count_does_not_grow_with_page_size(
    api, django_assert_num_queries, resource
):
    _, queries = LIST_QUERIES[resource]
    get_json(api, list_url(resource), {"page_size": 1})  # warm the content-type cache

    with django_assert_num_queries(queries):
        get_json(api, list_url(resource), {"page_size": 1})
    with django_assert_num_queries(queries):
        get_json(api, list_url(resource), {"page_size": 100})


# --- 6. details -------------------------------------------------------------------------------


def detail(api, resource: str, slug: str) -> dict:
    return get_json(api, f"{list_url(resource)}{slug}/")


def summary(resource: str, record, label: str = "name") -> dict:
    return {
        "slug": record.slug,
        label: getattr(record, label),
        "url": f"{BASE}/{resource}/{record.slug}/",
    }


def date_json(value: str, date: str, precision: str, qualifier: str) -> dict:
    return {"value": value, "date": date, "precision": precision, "qualifier": qualifier}


@pytest.mark.parametrize("resource", RESOURCES)
def test_detail_returns_the_record_by_slug(api, resource):
    record = FACTORIES[resource]()
    FACTORIES[resource]()

    body = detail(api, resource, record.slug)

    assert body["slug"] == record.slug
    assert body["url"] == f"{BASE}/{resource}/{record.slug}/"


@pytest.mark.parametrize("resource", CITED_RESOURCES)
def test_detail_lists_citations_with_their_source(api, resource):
    record = FACTORIES[resource]()
    source = f.source(publisher="Citing Test Press")
    cite(
        record,
        source=source,
        quote="Whole record.",
        verbatim=True,
        checked_on=datetime.date(2026, 12, 4),
        source_text="read",
    )
    field = type(record).cited_fields[-1]
    cite(
        record,
        source=source,
        field_name=field,
        quote="A paraphrase.",
        verbatim=False,
        support="implied",
        locator="para. 3",
        note="Read in print.",
    )

    body = detail(api, resource, record.slug)

    source_json = {
        "slug": source.slug,
        "title": source.title,
        "publisher": "Citing Test Press",
        "document_url": source.url,
        "url": f"{BASE}/sources/{source.slug}/",
    }
    assert field in body
    assert body["citations"] == [
        {
            "source": source_json,
            "field": None,
            "quote": "Whole record.",
            "verbatim": True,
            "support": "stated",
            "locator": "",
            "note": "",
            "checked_on": "2026-12-04",
            "source_text": "read",
        },
        {
            "source": source_json,
            "field": field,
            "quote": "A paraphrase.",
            "verbatim": False,
            "support": "implied",
            "locator": "para. 3",
            "note": "Read in print.",
            "checked_on": None,
            "source_text": None,
        },
    ]


@pytest.mark.parametrize("resource", RESOURCES)
def test_detail_of_unknown_slug_is_not_found(api, resource):
    body = get_json(api, f"{list_url(resource)}no-such-record/", status=404)

    assert body["type"] == "client_error"
    assert [(e["code"], e["attr"]) for e in body["errors"]] == [("not_found", None)]


def test_group_detail_embeds_platform_exchanges_and_counts(api):
    platform = f.platform()
    zeta, alpha = f.exchange(name="Zeta Test Exchange"), f.exchange(name="Alpha Test Exchange")
    group = f.group(
        platform=platform,
        member_count=1500,
        member_count_qualifier="approx",
        **partial("member_count_as_of", datetime.date(2017, 9, 1), "month", "no_later_than"),
    )
    models.GroupExchange.objects.create(group=group, exchange=zeta, affiliation="official")
    models.GroupExchange.objects.create(group=group, exchange=alpha, affiliation="unofficial")

    body = detail(api, "groups", group.slug)

    assert body["platform"] == summary("platforms", platform)
    assert body["exchanges"] == [
        {**summary("exchanges", alpha), "affiliation": "unofficial"},
        {**summary("exchanges", zeta), "affiliation": "official"},
    ]
    assert body["member_count"] == {
        "value": 1500,
        "qualifier": "approx",
        "as_of": date_json("2017-09", "2017-09-01", "month", "no_later_than"),
    }
    assert body["aggregate_count"] is None
    assert body["is_aggregate"] is False


def test_group_detail_renders_aggregate_count_and_count_without_date(api):
    group = f.group(
        is_aggregate=True,
        aggregate_count=30,
        aggregate_count_qualifier="at_least",
        member_count=200,
        member_count_qualifier="more_than",
    )

    body = detail(api, "groups", group.slug)

    assert body["aggregate_count"] == {"value": 30, "qualifier": "at_least"}
    assert body["member_count"] == {"value": 200, "qualifier": "more_than", "as_of": None}


def test_group_detail_renders_unknown_member_count_as_null(api):
    body = detail(api, "groups", f.group().slug)

    assert body["member_count"] is None
    assert body["exchanges"] == []


def test_action_detail_embeds_issuers_targets_responses_and_superseded_action(api):
    earlier = f.action()
    action = f.action(supersedes=earlier, **partial("effective", datetime.date(2017, 1, 1), "year"))
    lead = f.organization(name="Lead Test Bank")
    enforcer = f.organization(name="Enforcing Test Office")
    models.ActionIssuer.objects.create(action=action, organization=enforcer, role="enforcer")
    models.ActionIssuer.objects.create(action=action, organization=lead, role="lead")
    exchange, platform = f.exchange(), f.platform()
    models.ActionTarget.objects.create(action=action, exchange=exchange, effect="must_cease")
    models.ActionTarget.objects.create(action=action, platform=platform, effect="blocked")
    models.ActionTarget.objects.create(
        action=action, category="ico_issuers", effect="prohibited", note="All of them."
    )
    response = f.response(exchange=exchange, response_type="halt_all_trading")
    response.actions.add(action)

    body = detail(api, "regulatory-actions", action.slug)

    assert body["issuers"] == [
        {**summary("organizations", enforcer), "role": "enforcer"},
        {**summary("organizations", lead), "role": "lead"},
    ]
    assert body["targets"] == [
        {
            "category": None,
            "exchange": summary("exchanges", exchange),
            "platform": None,
            "effect": "must_cease",
            "note": "",
        },
        {
            "category": None,
            "exchange": None,
            "platform": summary("platforms", platform),
            "effect": "blocked",
            "note": "",
        },
        {
            "category": "ico_issuers",
            "exchange": None,
            "platform": None,
            "effect": "prohibited",
            "note": "All of them.",
        },
    ]
    assert body["supersedes"] == summary("regulatory-actions", earlier, "title")
    assert body["responses"] == [
        {
            "slug": response.slug,
            "url": f"{BASE}/exchange-responses/{response.slug}/",
            "exchange": summary("exchanges", exchange),
            "response_type": "halt_all_trading",
            "announced": None,
            "effective": None,
        }
    ]
    assert body["announced"] == date_json("2017-09-04", "2017-09-04", "day", "exact")
    assert body["effective"] == date_json("2017", "2017-01-01", "year", "exact")


def test_exchange_detail_embeds_operator_and_responses(api):
    operator = f.organization(org_type="company")
    exchange = f.exchange(
        operator=operator, **partial("founded", datetime.date(2013, 1, 1), "year", "circa")
    )
    later = f.response(
        exchange=exchange,
        response_type="close_exchange",
        **partial("effective", datetime.date(2017, 10, 31)),
    )
    earlier = f.response(
        exchange=exchange,
        response_type="stop_registrations",
        **partial("announced", datetime.date(2017, 9, 1), "month", "circa"),
        **partial("effective", datetime.date(2017, 9, 14)),
    )

    body = detail(api, "exchanges", exchange.slug)

    assert body["operator"] == summary("organizations", operator)
    assert body["founded"] == date_json("2013", "2013-01-01", "year", "circa")
    assert body["responses"] == [
        {
            "slug": earlier.slug,
            "url": f"{BASE}/exchange-responses/{earlier.slug}/",
            "exchange": summary("exchanges", exchange),
            "response_type": "stop_registrations",
            "announced": date_json("2017-09", "2017-09-01", "month", "circa"),
            "effective": date_json("2017-09-14", "2017-09-14", "day", "exact"),
        },
        {
            "slug": later.slug,
            "url": f"{BASE}/exchange-responses/{later.slug}/",
            "exchange": summary("exchanges", exchange),
            "response_type": "close_exchange",
            "announced": None,
            "effective": date_json("2017-10-31", "2017-10-31", "day", "exact"),
        },
    ]


def test_exchange_response_detail_embeds_exchange_and_actions(api):
    exchange = f.exchange()
    action = f.action()
    response = f.response(exchange=exchange, jurisdiction="CN")
    response.actions.add(action)

    body = detail(api, "exchange-responses", response.slug)

    assert body["exchange"] == summary("exchanges", exchange)
    assert body["actions"] == [summary("regulatory-actions", action, "title")]
    assert body["jurisdiction"] == "CN"


def test_platform_detail_embeds_operator_users_and_availabilities(api):
    operator = f.organization(org_type="company")
    platform = f.platform(
        operator=operator,
        user_count=1_000_000_000,
        user_count_qualifier="more_than",
        user_metric="monthly_active_users",
        **partial("user_count_as_of", datetime.date(2018, 1, 1), "year"),
    )
    availability = f.availability(
        platform=platform,
        jurisdiction="CN",
        status="blocked",
        **partial("since", datetime.date(2015, 7, 1), "month", "no_later_than"),
    )

    body = detail(api, "platforms", platform.slug)

    assert body["operator"] == summary("organizations", operator)
    assert body["users"] == {
        "value": 1_000_000_000,
        "qualifier": "more_than",
        "as_of": date_json("2018", "2018-01-01", "year", "exact"),
        "metric": "monthly_active_users",
    }
    assert body["availabilities"] == [
        {
            "slug": availability.slug,
            "url": f"{BASE}/platform-availabilities/{availability.slug}/",
            "jurisdiction": "CN",
            "status": "blocked",
            "since": date_json("2015-07", "2015-07-01", "month", "no_later_than"),
            "until": None,
        }
    ]


def test_platform_detail_renders_unknown_user_count_as_null(api):
    body = detail(api, "platforms", f.platform(operator=None).slug)

    assert body["users"] is None
    assert body["operator"] is None
    assert body["availabilities"] == []


def test_availability_detail_embeds_platform(api):
    platform = f.platform()
    availability = f.availability(platform=platform, workaround="VPN")

    body = detail(api, "platform-availabilities", availability.slug)

    assert body["platform"] == summary("platforms", platform)
    assert body["workaround"] == "VPN"


def test_migration_detail_embeds_platforms_groups_and_drivers(api):
    wechat, telegram = f.platform(), f.platform()
    left, joined = f.group(platform=wechat), f.group(platform=telegram)
    driver = f.action()
    migration = f.migration(
        from_platform=wechat,
        to_platform=telegram,
        from_group=left,
        to_group=joined,
        scale="Thousands",
        **partial("started", datetime.date(2017, 9, 1), "month"),
    )
    migration.drivers.add(driver)

    body = detail(api, "migrations", migration.slug)

    assert body["from_platform"] == summary("platforms", wechat)
    assert body["to_platform"] == summary("platforms", telegram)
    assert body["from_group"] == summary("groups", left)
    assert body["to_group"] == summary("groups", joined)
    assert body["drivers"] == [summary("regulatory-actions", driver, "title")]
    assert body["started"] == date_json("2017-09", "2017-09-01", "month", "exact")


def test_organization_detail_embeds_parent(api):
    parent = f.organization(name="Test State Council")
    child = f.organization(parent=parent)

    assert detail(api, "organizations", child.slug)["parent"] == summary("organizations", parent)
    assert detail(api, "organizations", parent.slug)["parent"] is None


def test_source_detail_embeds_original_and_has_no_citations(api):
    original = f.source()
    copy = f.source(syndicated_from=original, url="https://example.org/syndicated-copy")

    body = detail(api, "sources", copy.slug)

    assert body["syndicated_from"] == {
        "slug": original.slug,
        "title": original.title,
        "publisher": original.publisher,
        "document_url": original.url,
        "url": f"{BASE}/sources/{original.slug}/",
    }
    assert body["document_url"] == "https://example.org/syndicated-copy"
    assert "citations" not in body


PARTIAL_DATES = [
    *DATE_RANGES,
    ("platform-availabilities", "until"),
    ("exchanges", "status_as_of"),
    ("groups", "status_as_of"),
    ("regulatory-actions", "status_as_of"),
]


@pytest.mark.parametrize(("resource", "name"), PARTIAL_DATES)
@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        (
            (datetime.date(2017, 10, 8), "day", "exact"),
            date_json("2017-10-08", "2017-10-08", "day", "exact"),
        ),
        (
            (datetime.date(2017, 10, 1), "month", "no_later_than"),
            date_json("2017-10", "2017-10-01", "month", "no_later_than"),
        ),
        (
            (datetime.date(2017, 1, 1), "year", "circa"),
            date_json("2017", "2017-01-01", "year", "circa"),
        ),
        ((None, None, None), None),
    ],
    ids=["day", "month", "year", "unknown"],
)
def test_partial_date_renders_at_its_precision(api, resource, name, stored, expected):
    record = FACTORIES[resource](**partial(name, *stored))

    assert detail(api, resource, record.slug)[name] == expected
