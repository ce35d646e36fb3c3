"""The write API for curators: POST, PUT, PATCH and DELETE on every resource, with a reason kept
in the history, the admin's validation, the publishing workflow, retraction and hard deletes,
If-Match, and the tokens and commands curators use. A refused write leaves the database exactly
as it was: same rows in every table (history and changes feed included), same dataset version."""

from __future__ import annotations

import datetime
import io
import json
import re
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Group, Permission, User
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone
from knox.crypto import hash_token
from knox.models import AuthToken
from rest_framework.test import APIClient

from cryptogroups import models
from tests import factories as f
from tests.conftest import token_client

pytestmark = pytest.mark.django_db

#: resource: (model, a published record of the curated dataset, a free-text field of it)
RESOURCES = {
    "organizations": (models.Organization, "tencent", "description"),
    "sources": (models.Source, "scmp-btcchina-halt", "notes"),
    "platforms": (models.Platform, "telegram", "description"),
    "platform-availabilities": (
        models.PlatformAvailability,
        "telegram-cn-blocked-2015",
        "description",
    ),
    "exchanges": (models.Exchange, "okcoin", "description"),
    "exchange-responses": (models.ExchangeResponse, "huobi-exit-mainland-2021", "description"),
    "groups": (models.Group, "okcoin-telegram-group", "description"),
    "migrations": (models.Migration, "wechat-to-telegram-2017", "description"),
    "regulatory-actions": (models.RegulatoryAction, "cn-2017-ico-ban", "summary"),
}
CITATION = {
    "source": "scmp-btcchina-halt",
    "field": None,
    "quote": "A quote.",
    "verbatim": False,
    "support": "stated",
}
ORG = {"slug": "valid-org", "name": "Valid", "org_type": "regulator"}


def url(resource: str, slug: str | None = None, *, history: bool = False, **params) -> str:
    path = f"/api/v1/{resource}/" + (f"{slug}/" if slug else "") + ("history/" if history else "")
    return path + (f"?{urlencode(params, doseq=True)}" if params else "")


def fixture_slugs(resource: str) -> list[str]:
    """The slugs of the resource's records, read from the fixture files themselves."""
    label = "cryptogroups." + RESOURCES[resource][0]._meta.model_name
    paths = sorted((Path(settings.BASE_DIR) / "fixtures").glob("*.json"))
    rows = [row for path in paths for row in json.loads(path.read_text())]
    return [row["fields"]["slug"] for row in rows if row["model"] == label]


def snapshot() -> dict:
    """Row counts of every table of the app (records, links, many-to-many tables, history,
    changes feed), in one query, and the dataset's version."""
    app = apps.get_app_config("cryptogroups")
    tables = sorted(model._meta.db_table for model in app.get_models(include_auto_created=True))
    counts = ", ".join(f"(SELECT COUNT(*) FROM {connection.ops.quote_name(t)})" for t in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}")
        row = cursor.fetchone()
    return {**dict(zip(tables, row, strict=True)), "version": version()}


def version() -> int:
    return models.DatasetVersion.current().counter


def attrs(response) -> set[str]:
    body = response.json()
    assert body["type"] == "validation_error", body
    return {error["attr"] for error in body["errors"]}


def code(response) -> str:
    body = response.json()
    assert body["type"] == "client_error", body
    [error] = body["errors"]
    return error["code"]


def history(client, resource: str, slug: str, **params) -> list[dict]:
    response = client.get(url(resource, slug, history=True, **params))
    assert response.status_code == 200, response.content
    return response.json()["results"]


def without_updated_at(body: dict) -> dict:
    return {key: value for key, value in body.items() if key != "updated_at"}


def grant(user: User, *codenames: str) -> APIClient:
    """Give the user permissions; a fresh client, as permissions are cached on the user."""
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return token_client(User.objects.get(pk=user.pk))


# --- Who may write ---------------------------------------------------------------------------


def write_request(client, resource: str, operation: str, representation: dict):
    _, slug, text = RESOURCES[resource]
    if operation == "post":
        body = {**representation, "slug": "matrix-new"}
        if "name" in body:
            body["name"] = "Matrix New"  # platforms' names are unique
        if resource == "sources":
            body["document_url"] = "https://example.org/matrix-new"  # unique too
        return client.post(url(resource, reason="matrix"), body, format="json")
    path = url(resource, slug, reason="matrix")
    if operation == "put":
        return client.put(path, {**representation, text: "Rewritten."}, format="json")
    if operation == "patch":
        return client.patch(path, {text: "Rewritten."}, format="json")
    return client.delete(path)


#: who: (status of the refused write, its error code). Curators' writes of the same shapes
#: succeed in the tests below.
WHO = {
    "anonymous": (401, "not_authenticated"),
    "bad_token": (401, "authentication_failed"),
    "non_curator": (403, "permission_denied"),
}


@pytest.mark.parametrize("who", list(WHO))
@pytest.mark.parametrize("operation", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("resource", list(RESOURCES))
def test_only_curators_write(api, user_api, resource, operation, who):
    client = {"anonymous": api, "non_curator": user_api}.get(who)
    if client is None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Token " + "0f" * 32)
    slug = RESOURCES[resource][1]
    detail = api.get(url(resource, slug)).json()
    listed = api.get(url(resource, page_size=1)).json()["count"]
    before = snapshot()

    response = write_request(client, resource, operation, detail)

    status, error = WHO[who]
    assert response.status_code == status, response.content
    assert code(response) == error
    assert response.json()["errors"][0]["attr"] is None
    if status == 401:
        assert response["WWW-Authenticate"] == "Token"
    assert snapshot() == before
    assert api.get(url(resource, slug)).json() == detail
    assert api.get(url(resource, page_size=1)).json()["count"] == listed


def test_a_session_write_needs_the_csrf_token(curator):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(curator)
    path = url("organizations", reason="session")
    before = snapshot()

    refused = client.post(path, ORG, format="json")
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["detail"].startswith("CSRF Failed")
    assert snapshot() == before

    client.get("/admin/login/")  # a page with a form sets the CSRF cookie
    token = client.cookies["csrftoken"].value
    created = client.post(path, ORG, format="json", HTTP_X_CSRFTOKEN=token)
    assert created.status_code == 201, created.content
    assert models.Organization.objects.get(slug="valid-org").history.get().history_user == curator


# --- The reason and the query parameters -------------------------------------------------


@pytest.mark.parametrize(
    ("query", "attr"),
    [
        ("", "reason"),
        ("?reason=", "reason"),
        ("?reason=%20%20", "reason"),
        ("?reason=" + "r" * 101, "reason"),
        ("?reason=a&reason=b", "reason"),
        ("?reason=ok&dry_run=1", "dry_run"),
        ("?reason=ok&hard=true", "hard"),  # only a DELETE takes it
    ],
)
@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_writes_need_a_reason_and_known_parameters(curator_api, method, query, attr):
    if method == "delete" and attr == "hard":
        query = query.replace("hard=true", "force=1")
        attr = "force"
    body = {**curator_api.get(url("organizations", "pboc")).json(), "name": "Renamed"}
    path = url("organizations", None if method == "post" else "pboc")
    if method == "post":
        body["slug"] = "reasonless"
    before = snapshot()
    response = getattr(curator_api, method)(path + query, body, format="json")
    assert response.status_code == 400, response.content
    assert attrs(response) == {attr}
    assert snapshot() == before


# --- Creating ------------------------------------------------------------------------------


def day(date: str, precision: str = "day", qualifier: str = "exact") -> dict:
    return {"date": date, "precision": precision, "qualifier": qualifier}


# resource: (a body in the read shape, dotted paths of the answer with the values expected)
# fmt: off
CREATES = {
    "organizations": (
        {**ORG, "country": "HK", "parent": {"slug": "pboc", "name": "ignored", "url": "ignored"}},
        {"parent.name": "People's Bank of China", "country": "HK", "publication_status": "draft"},
    ),
    "sources": (
        {"slug": "new-source", "title": "T", "publisher": "P", "source_type": "news",
         "document_url": "https://example.org/new", "language": "zh",
         "syndicated_from": "scmp-btcchina-halt",
         "published": {"value": "ignored", **day("2017-09-01", "month")}},
        {"published.value": "2017-09", "syndicated_from.publisher": "South China Morning Post"},
    ),
    "platforms": (
        {"slug": "new-platform", "name": "NP", "platform_type": "messaging", "operator": "tencent",
         "users": {"value": 1000, "qualifier": "approx", "metric": "monthly_active_users",
                   "as_of": day("2017-01-01", "year")}, "availabilities": [{"slug": "any"}]},
        {"users.as_of.value": "2017", "users.value": 1000, "availabilities": [],
         "encryption": "unknown", "operator.name": "Tencent Holdings Ltd"},
    ),
    "platform-availabilities": (
        {"slug": "new-availability", "platform": "wechat", "jurisdiction": "RU",
         "status": "blocked", "since": day("2018-04-16"), "until": None},
        {"platform.name": "WeChat", "since.value": "2018-04-16", "until": None},
    ),
    "exchanges": (
        {"slug": "new-exchange", "name": "NX", "exchange_type": "spot", "country": "CN",
         "founded": day("2014-01-01", "year", "no_later_than"), "responses": [{"slug": "any"}],
         "url": "https://elsewhere.example/", "created_at": "2000-01-01T00:00:00Z"},
        {"responses": [], "url": "http://testserver/api/v1/exchanges/new-exchange/",
         "founded.value": "2014", "status": "unknown"},
    ),
    "exchange-responses": (
        {"slug": "new-response", "exchange": {"slug": "huobi"}, "response_type": "suspend_otc",
         "actions": ["cn-2017-ico-ban", {"slug": "cn-2017-exchange-ban-reported"}]},
        {"exchange.name": "Huobi", "actions.1.slug": "cn-2017-exchange-ban-reported"},
    ),
    "groups": (
        {"slug": "new-group", "name": "NG", "platform": {"slug": "telegram", "name": "x"},
         "group_type": "channel", "exchanges": [{"slug": "okcoin", "affiliation": "unofficial"}],
         "member_count": {"value": 500, "qualifier": "approx", "as_of": day("2017-09-15")}},
        {"platform.name": "Telegram", "member_count.as_of.value": "2017-09-15",
         "exchanges.0.name": "OKCoin", "exchanges.0.affiliation": "unofficial"},
    ),
    "migrations": (
        {"slug": "new-migration", "title": "NM", "from_platform": "wechat",
         "to_platform": "telegram", "from_group": "wechat-petition-group",
         "drivers": ["cn-2017-group-chat-rules"]},
        {"to_platform.name": "Telegram", "drivers.0.slug": "cn-2017-group-chat-rules",
         "from_group.slug": "wechat-petition-group", "to_group": None},
    ),
    "regulatory-actions": (
        {"slug": "new-action", "title": "New", "action_type": "ban", "status": "announced",
         "jurisdiction": "CN", "supersedes": {"slug": "cn-2017-ico-ban", "title": "ignored"},
         "announced": day("2018-01-01", "year", "circa"),
         "issuers": [{"slug": "pboc", "role": "lead", "name": "ignored"}],
         "targets": [{"category": None, "exchange": {"slug": "huobi"}, "effect": "blocked"},
                     {"category": "ico_issuers", "effect": "prohibited", "note": "All."}],
         "publication_status": "published", "citations": [{**CITATION, "field": "issuers"}]},
        {"issuers.0.name": "People's Bank of China", "targets.0.exchange.name": "Huobi",
         "targets.1.exchange": None, "targets.1.note": "All.", "announced.value": "2018",
         "publication_status": "published", "citations.0.field": "issuers",
         "citations.0.source.publisher": "South China Morning Post"},
    ),
}
# fmt: on


def pick(body, path: str):
    for part in path.split("."):
        body = body[int(part)] if isinstance(body, list) else body[part]
    return body


@pytest.mark.parametrize("resource", list(CREATES))
def test_a_record_is_created_in_the_shape_it_is_read(api, curator_api, resource):
    body, expected = CREATES[resource]
    slug = body["slug"]
    listed = api.get(url(resource, page_size=1)).json()["count"]
    changes = models.Change.objects.count()

    response = curator_api.post(url(resource, reason="new record"), body, format="json")

    assert response.status_code == 201, response.content
    public = resource in ("sources", "regulatory-actions")  # drafts unless published
    # A draft is read by curators, who ask for its status: the Location says so.
    params = {} if public else {"publication_status": "draft"}
    assert response["Location"] == url(resource, slug, **params)
    # The tag the record's next read gives, for the next write's If-Match.
    assert response["ETag"] == curator_api.get(response["Location"])["ETag"]
    created = response.json()
    for path, value in expected.items():
        assert pick(created, path) == value, path
    created_at = datetime.datetime.fromisoformat(created["created_at"])
    assert abs(timezone.now() - created_at) < datetime.timedelta(minutes=5)  # not the body's
    assert created.get("publication_status", "published") == ("published" if public else "draft")
    assert curator_api.get(response["Location"]).json() == created
    entries = history(curator_api, resource, slug, **params)
    assert entries[-1]["type"] == "created"
    assert {(e["user"], e["reason"]) for e in entries} == {("curator", "new record")}
    assert RESOURCES[resource][0].objects.filter(slug=slug).count() == 1

    # A draft stays out of the public API, and so out of the feed; a published record enters.
    assert api.get(url(resource, slug)).status_code == (200 if public else 404)
    assert api.get(url(resource, page_size=1)).json()["count"] == listed + public
    assert models.Change.objects.filter(slug=slug, operation="created").count() == public
    if not public:
        assert models.Change.objects.count() == changes

    path, tag = url(resource, slug, reason="round trip"), response["ETag"]
    again = curator_api.put(path, created, format="json", HTTP_IF_MATCH=tag)
    assert again.status_code == 200, again.content
    assert without_updated_at(again.json()) == without_updated_at(created)


def test_drafts_are_for_curators_only(api, user_api, curator_api):
    body = {**ORG, "slug": "zebra-draft", "name": "Zebra Draftname"}
    assert (
        curator_api.post(url("organizations", reason="d"), body, format="json").status_code == 201
    )
    assert curator_api.delete(url("organizations", "cac", reason="r")).status_code == 204
    published = len(fixture_slugs("organizations")) - 1

    for params in ({}, {"search": "Zebra"}, {"page_size": 100}):
        slugs = {r["slug"] for r in api.get(url("organizations", **params)).json()["results"]}
        assert not slugs & {"zebra-draft", "cac"}
    assert api.get(url("organizations")).json()["count"] == published
    assert api.get(url("organizations", search="Zebra")).json()["count"] == 0
    for client, status in [(api, 401), (user_api, 403)]:
        for slug in (None, "zebra-draft"):
            response = client.get(url("organizations", slug, publication_status="draft"))
            assert response.status_code == status
            assert code(response) == ("not_authenticated" if status == 401 else "permission_denied")

    def slugs(*statuses):
        response = curator_api.get(
            url("organizations", publication_status=list(statuses), page_size=100)
        )
        assert response.status_code == 200
        return {record["slug"] for record in response.json()["results"]}

    assert slugs("draft") == {"zebra-draft"}
    assert slugs("retracted") == {"cac"}
    assert slugs("draft", "retracted") == {"zebra-draft", "cac"}
    assert len(slugs("draft", "published")) == published + 1
    bad = curator_api.get(url("organizations", publication_status="hidden"))
    assert bad.status_code == 400
    assert attrs(bad) == {"publication_status"}


# --- Updating ------------------------------------------------------------------------------


@pytest.mark.parametrize("resource", list(RESOURCES))
def test_every_curated_record_can_be_written_back_as_read(curator_api, resource):
    slugs = fixture_slugs(resource)
    assert slugs
    entries = {slug: len(history(curator_api, resource, slug)) for slug in slugs}
    for slug in slugs:
        before = curator_api.get(url(resource, slug))
        assert before.status_code == 200, slug
        response = curator_api.put(url(resource, slug, reason="as read"), before.json(), "json")
        assert response.status_code == 200, (slug, response.content)
        after = curator_api.get(url(resource, slug)).json()
        assert after == response.json()
        # Nothing changed, so nothing was saved: not even the time of the last change.
        assert after == before.json(), slug
        assert len(history(curator_api, resource, slug)) == entries[slug]


@pytest.mark.parametrize("resource", list(RESOURCES))
def test_a_patch_changes_one_field_and_the_history_says_so(api, curator_api, resource):
    model, slug, text = RESOURCES[resource]
    before = api.get(url(resource, slug)).json()
    old = getattr(model.objects.get(slug=slug), text)

    reason = f"Reworded the {resource}.".ljust(100, ".")  # the longest reason kept
    response = curator_api.patch(url(resource, slug, reason=reason), {text: "New."}, "json")

    assert response.status_code == 200, response.content
    after = api.get(url(resource, slug)).json()
    assert after[text] == "New."
    assert {**after, text: old, "updated_at": None} == {**before, "updated_at": None}
    newest = history(api, resource, slug)[0]
    assert (newest["user"], newest["reason"], newest["type"]) == ("curator", reason, "changed")
    assert newest["changes"] == [{"field": text, "old": old, "new": "New."}]
    change = models.Change.objects.order_by("-pk").first()
    assert (change.resource, change.slug, change.operation) == (resource, slug, "updated")
    assert change.data[text] == "New."


def test_lists_given_replace_the_lists(curator_api):
    def patch(resource, slug, body):
        response = curator_api.patch(url(resource, slug, reason="lists"), body, format="json")
        assert response.status_code == 200, response.content
        return response.json()

    exchanges = [{"slug": "huobi", "affiliation": "official"}, {"slug": "okcoin"}]
    body = patch("groups", "okcoin-telegram-group", {"exchanges": exchanges})
    assert [(e["slug"], e["affiliation"]) for e in body["exchanges"]] == [
        ("huobi", "official"),
        ("okcoin", "unknown"),
    ]
    citation = {**CITATION, "field": "name", "locator": "p. 1", "verbatim": False}
    body = patch("organizations", "tencent", {"citations": [citation]})
    assert [(c["source"]["slug"], c["field"], c["locator"]) for c in body["citations"]] == [
        ("scmp-btcchina-halt", "name", "p. 1")
    ]
    assert models.Organization.objects.get(slug="tencent").citations.count() == 1
    issuers, targets = (
        [{"slug": "cac", "role": "enforcer"}],
        [{"platform": "wechat", "effect": "warned"}],
    )
    body = patch("regulatory-actions", "cn-2017-ico-ban", {"issuers": issuers, "targets": targets})
    assert [(i["slug"], i["role"]) for i in body["issuers"]] == [("cac", "enforcer")]
    assert [(t["platform"]["slug"], t["effect"]) for t in body["targets"]] == [("wechat", "warned")]
    assert models.ActionTarget.objects.filter(action__slug="cn-2017-ico-ban").count() == 1
    body = patch("migrations", "wechat-to-telegram-2017", {"drivers": ["cn-2015-telegram-block"]})
    assert [d["slug"] for d in body["drivers"]] == ["cn-2015-telegram-block"]
    drivers = models.Migration.objects.get(slug="wechat-to-telegram-2017").drivers
    assert list(drivers.values_list("slug", flat=True)) == ["cn-2015-telegram-block"]
    body = patch(
        "exchange-responses",
        "okcoin-halt-cny-trading-2017",
        {"actions": [{"slug": "cn-2017-ico-ban"}]},
    )
    assert [a["slug"] for a in body["actions"]] == ["cn-2017-ico-ban"]


def test_one_write_of_a_list_is_one_history_entry(curator_api):
    path = url("migrations", "wechat-to-telegram-2017", reason="drivers")
    assert (
        curator_api.patch(path, {"drivers": ["cn-2015-telegram-block"]}, "json").status_code == 200
    )
    entries = history(curator_api, "migrations", "wechat-to-telegram-2017")
    old, new = ["cn-2017-group-chat-rules", "cn-2017-ico-ban"], ["cn-2015-telegram-block"]
    assert [e["changes"] for e in entries if e["reason"] == "drivers"] == [
        [{"field": "drivers", "old": old, "new": new}]
    ]


def test_writing_back_a_read_keeps_links_to_unpublished_records(curator_api):
    """A read hides links to drafts; sending that read back must not delete them."""
    draft = f.exchange(publication_status="draft")
    group = models.Group.objects.get(slug="okcoin-telegram-group")
    models.GroupExchange.objects.create(group=group, exchange=draft)
    read = curator_api.get(url("groups", group.slug)).json()
    assert [e["slug"] for e in read["exchanges"]] == ["okcoin"]
    assert curator_api.put(url("groups", group.slug, reason="r"), read, "json").status_code == 200
    linked = set(group.exchange_links.values_list("exchange__slug", flat=True))
    assert linked == {"okcoin", draft.slug}


def test_a_link_to_an_unpublished_record_can_be_listed_again(curator_api):
    curator_api.raise_request_exception = False
    draft = f.exchange(publication_status="draft")
    group = models.Group.objects.get(slug="okcoin-telegram-group")
    models.GroupExchange.objects.create(group=group, exchange=draft)
    exchanges = [{"slug": draft.slug, "affiliation": "official"}]
    path = url("groups", group.slug, reason="relist")
    response = curator_api.patch(path, {"exchanges": exchanges}, format="json")
    assert response.status_code == 200
    links = group.exchange_links.values_list("exchange__slug", "affiliation")
    assert list(links) == [(draft.slug, "official")]


# --- Validation ----------------------------------------------------------------------------

MISALIGNED = day("2017-09-15", "month")
OK_DATE = day("2017-09-01", "month")
# case: (method, resource, body, the attrs the 400 names; None: not checked)
# fmt: off
INVALID = {
    "unknown country": ("post", "organizations", {**ORG, "country": "XX"}, {"country"}),
    "unknown choice": ("post", "organizations", {**ORG, "org_type": "club"}, {"org_type"}),
    "taken slug": ("post", "organizations", {**ORG, "slug": "tencent"}, {"slug"}),
    "unknown parent": ("post", "organizations", {**ORG, "parent": "nobody"}, {"parent"}),
    "unknown field": ("post", "organizations", {**ORG, "headcount": 5}, {"headcount"}),
    "several errors": ("post", "organizations", {**ORG, "slug": "pboc", "country": "XX",
                       "org_type": "club"}, {"slug", "country", "org_type"}),
    "published without citation": ("post", "organizations",
                                   {**ORG, "publication_status": "published"},
                                   {"publication_status"}),
    "cited field unknown": ("post", "organizations",
                            {**ORG, "citations": [{**CITATION, "field": "revenue"}]},
                            {"citations.0.field"}),
    "cited source unknown": ("post", "organizations",
                             {**ORG, "citations": [{**CITATION, "source": "nowhere"}]},
                             {"citations.0.source"}),
    "unknown citation key": ("post", "organizations",
                             {**ORG, "citations": [{**CITATION, "page": 1}]}, {"citations.0.page"}),
    "not an object": ("post", "organizations", [ORG], {"non_field_errors"}),
    "unknown status": ("patch", "organizations", {"publication_status": "hidden"},
                       {"publication_status"}),
    "citations emptied": ("patch", "organizations", {"citations": []}, {"publication_status"}),
    "misaligned date": ("patch", "exchanges", {"founded": MISALIGNED}, None),
    "unknown date key": ("patch", "exchanges", {"founded": {**OK_DATE, "era": "CE"}},
                         {"founded.era"}),
    "impossible date": ("patch", "exchanges", {"founded": {**OK_DATE, "date": "2017-02-30"}},
                        {"founded.date"}),
    "negative count": ("patch", "groups", {"member_count": {"value": -1, "qualifier": "exact"}},
                       {"member_count.value"}),
    "unknown metric": ("patch", "platforms", {"users": {"value": 1, "qualifier": "exact",
                       "metric": "daily"}}, {"users.metric"}),
    "required relation nulled": ("patch", "groups", {"platform": None}, {"platform"}),
    "unknown exchange": ("patch", "groups", {"exchanges": [{"slug": "nowhere"}]},
                         {"exchanges.0.slug"}),
    "exchange twice": ("patch", "groups", {"exchanges": [{"slug": "huobi"}, {"slug": "huobi"}]},
                       {"exchanges.0.non_field_errors"}),
    "target of two kinds": ("patch", "regulatory-actions",
                            {"targets": [{"category": "exchanges", "exchange": "huobi",
                                          "effect": "blocked"}]}, {"targets.0.non_field_errors"}),
    "unknown issuer": ("patch", "regulatory-actions",
                       {"issuers": [{"slug": "nobody", "role": "lead"}]}, {"issuers.0.slug"}),
    "unknown driver": ("patch", "migrations", {"drivers": ["cn-2017-ico-ban", "nothing"]},
                       {"drivers"}),
    "taken slug on update": ("patch", "platforms", {"slug": "wechat"}, {"slug"}),
    "unknown jurisdiction": ("patch", "platform-availabilities", {"jurisdiction": "XX"},
                             {"jurisdiction"}),
    "not a url": ("patch", "sources", {"document_url": "not a url"}, {"document_url"}),
    "unknown language": ("patch", "sources", {"language": "xx-nope"}, {"language"}),
}
# fmt: on


@pytest.mark.parametrize("case", list(INVALID))
def test_an_invalid_write_is_refused_and_saves_nothing(curator_api, case):
    method, resource, body, expected = INVALID[case]
    slug = RESOURCES[resource][1]
    path = url(resource, None if method == "post" else slug, reason="invalid")
    detail = curator_api.get(url(resource, slug)).json()
    before = snapshot()

    response = getattr(curator_api, method)(path, body, format="json")

    assert response.status_code == 400, response.content
    found = attrs(response)
    if expected is not None:
        assert found == expected
    assert snapshot() == before
    assert curator_api.get(url(resource, slug)).json() == detail
    assert not models.Organization.objects.filter(slug="valid-org").exists()


def test_a_misaligned_date_is_named_by_its_field(curator_api):
    path = url("exchanges", "okcoin", reason="x")
    response = curator_api.patch(path, {"founded": MISALIGNED}, format="json")
    assert response.status_code == 400
    assert attrs(response) == {"founded"}


@pytest.mark.parametrize(
    ("resource", "body"),
    [
        ("exchanges", {"founded": {"date": "2013-01-01"}}),
        ("groups", {"member_count": {"value": 3}}),
    ],
)
def test_a_patch_with_an_incomplete_object_is_a_400(curator_api, resource, body):
    curator_api.raise_request_exception = False
    before = snapshot()
    path = url(resource, RESOURCES[resource][1], reason="incomplete")
    response = curator_api.patch(path, body, format="json")
    assert response.status_code == 400
    assert snapshot() == before


def test_a_body_that_is_not_json_is_refused(curator_api):
    before = snapshot()
    path = url("organizations", reason="x")
    response = curator_api.post(path, '{"slug": "a",', content_type="application/json")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    assert [e["code"] for e in body["errors"]] == ["parse_error"]
    for content_type in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        response = curator_api.post(path, "slug=a&name=b", content_type=content_type)
        assert response.status_code == 415
        assert code(response) == "unsupported_media_type"
    assert snapshot() == before


# --- Retraction and hard deletes ---------------------------------------------------------


def test_a_delete_retracts_the_record(api, curator_api):
    before = api.get(url("organizations", "bitcoin-com")).json()
    response = curator_api.delete(url("organizations", "bitcoin-com", reason="unsure"))
    assert response.status_code == 204
    assert response.content == b""

    assert api.get(url("organizations", "bitcoin-com")).status_code == 404
    assert curator_api.get(url("organizations", "bitcoin-com")).status_code == 404
    kept = curator_api.get(url("organizations", "bitcoin-com", publication_status="retracted"))
    assert kept.status_code == 200
    assert kept.json()["publication_status"] == "retracted"
    assert {**without_updated_at(kept.json()), "publication_status": "published"} == (
        without_updated_at(before)
    )
    [newest, *_] = history(
        curator_api, "organizations", "bitcoin-com", publication_status="retracted"
    )
    assert (newest["user"], newest["reason"]) == ("curator", "unsure")
    assert newest["changes"] == [
        {"field": "publication_status", "old": "published", "new": "retracted"}
    ]
    change = models.Change.objects.order_by("-pk").first()
    assert (change.resource, change.slug, change.operation, change.data) == (
        "organizations",
        "bitcoin-com",
        "retracted",
        None,
    )

    state = snapshot()
    assert (
        curator_api.delete(url("organizations", "bitcoin-com", reason="again")).status_code == 204
    )
    assert snapshot() == state


def test_a_hard_delete_removes_the_record(api, curator, curator_api):
    body = {**ORG, "publication_status": "published", "citations": [CITATION]}
    assert curator_api.post(url("organizations", reason="new"), body, "json").status_code == 201
    pk = models.Organization.objects.get(slug="valid-org").pk
    assert api.get(url("organizations", "valid-org")).status_code == 200
    before = snapshot()
    refused = curator_api.delete(url("organizations", "valid-org", reason="x", hard="true"))
    assert refused.status_code == 403
    assert code(refused) == "permission_denied"
    bad = curator_api.delete(url("organizations", "valid-org", reason="x", hard="yes"))
    assert bad.status_code == 400
    assert attrs(bad) == {"hard"}
    assert snapshot() == before
    client = grant(curator, "delete_organization")
    changes = models.Change.objects.count()

    response = client.delete(url("organizations", "valid-org", reason="duplicate", hard="true"))

    assert response.status_code == 204
    assert not models.Organization.objects.filter(pk=pk).exists()
    citations = models.Citation.objects.filter(object_id=pk, content_type__model="organization")
    assert not citations.exists()
    for status in ("published", "draft", "retracted"):
        gone = client.get(url("organizations", "valid-org", publication_status=status))
        assert gone.status_code == 404
    last = models.Organization.history.filter(id=pk).latest("history_date")
    assert (last.history_type, last.history_change_reason, last.history_user) == (
        "-",
        "duplicate",
        curator,
    )
    feed = models.Change.objects.order_by("pk").values_list("slug", "operation")
    assert list(feed[changes:]) == [("valid-org", "deleted")]


@pytest.mark.parametrize(
    ("resource", "slug"),
    [("platforms", "telegram"), ("organizations", "pboc"), ("exchanges", "huobi"),
     ("sources", "scmp-btcchina-halt")],
)  # fmt: skip
def test_a_hard_delete_of_a_record_others_refer_to_is_a_conflict(api, curator, resource, slug):
    client = grant(curator, f"delete_{RESOURCES[resource][0]._meta.model_name}")
    detail = api.get(url(resource, slug)).json()
    before = snapshot()
    hard = {} if resource == "sources" else {"hard": "true"}
    response = client.delete(url(resource, slug, reason="gone", **hard))
    assert response.status_code == 409
    assert code(response) == "conflict"
    assert snapshot() == before
    assert api.get(url(resource, slug)).json() == detail


def test_a_source_can_only_be_deleted_for_good(api, curator, curator_api):
    f.source(slug="uncited-source")
    before = snapshot()
    assert curator_api.delete(url("sources", "uncited-source", reason="x")).status_code == 403
    refused = curator_api.delete(url("sources", "uncited-source", reason="x", hard="false"))
    assert refused.status_code == 400
    assert attrs(refused) == {"hard"}
    assert snapshot() == before

    client = grant(curator, "delete_source")
    assert client.delete(url("sources", "uncited-source", reason="unused")).status_code == 204
    assert not models.Source.objects.filter(slug="uncited-source").exists()
    assert api.get(url("sources", "uncited-source")).status_code == 404


# --- If-Match ------------------------------------------------------------------------------


def test_if_match_guards_against_lost_updates(api, curator_api):
    path = url("organizations", "tencent", reason="if-match")
    tag = api.get(url("organizations", "tencent"))["ETag"]

    first = curator_api.patch(path, {"hq_city": "Shenzhen, PRC"}, "json", HTTP_IF_MATCH=tag)
    assert first.status_code == 200, first.content
    assert first["ETag"] != tag
    assert first["ETag"] == api.get(url("organizations", "tencent"))["ETag"]

    current = api.get(url("organizations", "tencent")).json()
    before = snapshot()
    for method in ("patch", "put", "delete"):
        stale = getattr(curator_api, method)(path, current, format="json", HTTP_IF_MATCH=tag)
        assert stale.status_code == 412, method
        assert code(stale) == "precondition_failed"
    assert snapshot() == before
    assert api.get(url("organizations", "tencent")).json() == current

    second = curator_api.patch(path, {"hq_city": "A"}, "json", HTTP_IF_MATCH=first["ETag"])
    assert second.status_code == 200
    other = curator_api.patch(url("organizations", "cac", reason="o"), {"hq_city": "B"}, "json")
    assert other.status_code == 200
    # A write to another record leaves this record's tag current; its own next write does not.
    third = curator_api.patch(path, {"hq_city": "C"}, "json", HTTP_IF_MATCH=second["ETag"])
    assert third.status_code == 200
    stale = curator_api.patch(path, {"hq_city": "C2"}, "json", HTTP_IF_MATCH=second["ETag"])
    assert stale.status_code == 412
    assert curator_api.patch(path, {"hq_city": "D"}, "json", HTTP_IF_MATCH="*").status_code == 200
    assert models.Organization.objects.get(slug="tencent").hq_city == "D"

    for header in ("", "not-a-tag"):
        unreadable = curator_api.patch(path, {"hq_city": "E"}, "json", HTTP_IF_MATCH=header)
        assert unreadable.status_code == 400
        assert attrs(unreadable) == {"If-Match"}
    assert models.Organization.objects.get(slug="tencent").hq_city == "D"
    fresh = api.get(url("organizations", "cac"))["ETag"]
    retract = curator_api.delete(url("organizations", "cac", reason="x"), HTTP_IF_MATCH=fresh)
    assert retract.status_code == 204


def test_a_retraction_answers_with_the_new_tag(curator_api):
    response = curator_api.delete(url("organizations", "cac", reason="x"))
    assert response.status_code == 204
    read = curator_api.get(url("organizations", "cac", publication_status="retracted"))
    assert response["ETag"] == read["ETag"]


# --- Tokens, commands and the curators group ---------------------------------------------


def test_the_commands_make_a_curator_with_a_working_token(db):
    out = io.StringIO()
    call_command("add_curator", "alice", "--staff", stdout=out)
    assert "alice" in out.getvalue()
    alice = User.objects.get(username="alice")
    assert alice.is_staff
    assert not alice.has_usable_password()
    assert alice.groups.filter(name="curators").exists()

    out, err = io.StringIO(), io.StringIO()
    call_command("issue_token", "alice", "--days", "3", stdout=out, stderr=err)
    token = out.getvalue().strip()
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert token not in err.getvalue()
    row = AuthToken.objects.filter(user=alice).values().get()  # a digest, not the token
    assert all(token not in str(value) for value in row.values())
    assert row["digest"] == hash_token(token)
    expiry = row["expiry"]
    assert abs(expiry - timezone.now() - datetime.timedelta(days=3)) < datetime.timedelta(minutes=1)

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    created = client.post(url("organizations", reason="by command"), ORG, format="json")
    assert created.status_code == 201, created.content
    entry = history(client, "organizations", "valid-org", publication_status="draft")[0]
    assert (entry["user"], entry["reason"]) == ("alice", "by command")

    AuthToken.objects.update(expiry=timezone.now() - datetime.timedelta(seconds=1))
    path = url("organizations", "valid-org", reason="x")
    assert client.patch(path, {"name": "N"}, format="json").status_code == 401


def test_a_token_does_not_make_a_curator_and_is_issued_with_care(db):
    User.objects.create_user("bob")
    for args, message in [(["nobody"], "nobody"), (["bob", "--days", "0"], "--days")]:
        with pytest.raises(CommandError, match=message):
            call_command("issue_token", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not AuthToken.objects.exists()
    out = io.StringIO()
    call_command("issue_token", "bob", stdout=out, stderr=io.StringIO())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {out.getvalue().strip()}")
    before = snapshot()
    assert client.post(url("organizations", reason="x"), ORG, format="json").status_code == 403
    assert snapshot() == before


def test_curators_may_add_change_and_view_but_not_delete(db):
    names = [
        *("organization", "source", "platform", "platformavailability", "exchange", "group"),
        *("exchangeresponse", "migration", "regulatoryaction", "citation", "groupexchange"),
        *("actionissuer", "actiontarget"),
    ]
    granted = Group.objects.get(name="curators").permissions.values_list("codename", flat=True)
    assert set(granted) == {f"{a}_{name}" for name in names for a in ("add", "change", "view")}


def test_creating_a_small_record_costs_a_bounded_number_of_queries(
    curator_api, django_assert_max_num_queries
):
    # Measured: 43 queries on SQLite and on PostgreSQL (authentication, the dataset lock,
    # validation, the save with its history and version bumps, the feed's flush, the answer);
    # 58 when each check constraint was validated with a query of its own.
    with django_assert_max_num_queries(48):
        response = curator_api.post(url("organizations", reason="cost"), ORG, format="json")
    assert response.status_code == 201
