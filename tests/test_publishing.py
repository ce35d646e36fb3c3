"""The publishing workflow: drafts and retracted records never reach the public API, not even
through a published record, a filter or a history; a record is published only with a citation."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cryptogroups import models
from cryptogroups.models.base import public_joined
from tests import factories as f

pytestmark = pytest.mark.django_db

HIDDEN = ["draft", "retracted"]


@pytest.fixture
def curator(client, django_user_model):
    user = django_user_model.objects.create_superuser("curator-bo", "bo@example.org", None)
    client.force_login(user)
    return client


def slugs(api, path: str) -> set[str]:
    response = api.get(path)
    assert response.status_code == 200, response.content
    return {record["slug"] for record in response.json()["results"]}


@pytest.mark.parametrize("status", HIDDEN)
@pytest.mark.parametrize(
    ("resource", "factory"),
    [
        ("organizations", f.organization),
        ("platforms", f.platform),
        ("platform-availabilities", f.availability),
        ("exchanges", f.exchange),
        ("exchange-responses", f.response),
        ("groups", f.group),
        ("migrations", f.migration),
        ("regulatory-actions", f.action),
    ],
)
def test_an_unpublished_record_is_not_served(api, resource, factory, status):
    hidden = factory(publication_status=status)
    shown = factory()

    listed = set()
    url = f"/api/v1/{resource}/?page_size=100"
    while url:
        body = api.get(url).json()
        listed |= {record["slug"] for record in body["results"]}
        url = body["next"]
    assert shown.slug in listed
    assert hidden.slug not in listed
    for path in [
        f"/api/v1/{resource}/{hidden.slug}/",
        f"/api/v1/{resource}/{hidden.slug}/history/",
    ]:
        assert api.get(path).status_code == 404


def test_a_record_whose_parent_is_unpublished_is_not_served(api):
    draft_platform = f.platform(publication_status="draft")
    group = f.group(platform=draft_platform)

    assert api.get(f"/api/v1/groups/{group.slug}/").status_code == 404
    assert (
        api.get(f"/api/v1/platform-availabilities/?platform={draft_platform.slug}").status_code
        == 400
    )


def test_a_published_record_shows_no_unpublished_relation(api):
    exchange = f.exchange()
    draft_response = f.response(exchange=exchange, publication_status="draft")
    shown_response = f.response(exchange=exchange)
    group = f.group()
    models.GroupExchange.objects.create(
        group=group, exchange=f.exchange(publication_status="draft")
    )
    action = f.action()
    models.ActionIssuer.objects.create(
        action=action, organization=f.organization(publication_status="retracted"), role="lead"
    )
    models.ActionTarget.objects.create(
        action=action, exchange=f.exchange(publication_status="draft"), effect="prohibited"
    )
    draft_action = f.action(publication_status="draft")
    shown_response.actions.add(draft_action)
    platform = f.platform()
    f.availability(platform=platform, publication_status="draft")

    assert [
        r["slug"] for r in api.get(f"/api/v1/exchanges/{exchange.slug}/").json()["responses"]
    ] == [shown_response.slug]
    assert draft_response.slug not in str(api.get(f"/api/v1/exchanges/{exchange.slug}/").json())
    assert api.get(f"/api/v1/groups/{group.slug}/").json()["exchanges"] == []
    body = api.get(f"/api/v1/regulatory-actions/{action.slug}/").json()
    assert (body["issuers"], body["targets"]) == ([], [])
    response_body = api.get(f"/api/v1/exchange-responses/{shown_response.slug}/").json()
    assert response_body["actions"] == []
    assert api.get(f"/api/v1/platforms/{platform.slug}/").json()["availabilities"] == []


STATUSES = st.sampled_from(["published", *HIDDEN])


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    exchange_status=STATUSES,
    operator_status=st.none() | STATUSES,
    parent_status=st.none() | STATUSES,
    grandparent_status=st.none() | STATUSES,
)
def test_a_group_shows_an_exchange_exactly_when_the_exchange_is_public(
    api, exchange_status, operator_status, parent_status, grandparent_status
):
    """An exchange is embedded in a group's detail and list entry when it is public: published,
    with no operator or a public one (published, with no parent or a published one; the
    parent's own parent does not count). The page checks the exchange by key on joined rows,
    which must say what ``public()`` says."""
    operator = None
    if operator_status is not None:
        parent = None
        if parent_status is not None:
            grandparent = (
                f.organization(publication_status=grandparent_status)
                if grandparent_status is not None
                else None
            )
            parent = f.organization(publication_status=parent_status, parent=grandparent)
        operator = f.organization(publication_status=operator_status, parent=parent)
    exchange = f.exchange(publication_status=exchange_status, operator=operator)
    group = f.group()
    models.GroupExchange.objects.create(group=group, exchange=exchange)
    public = models.Exchange.objects.public().filter(pk=exchange.pk).exists()
    assert public == (
        exchange_status == "published"
        and (operator_status is None or operator_status == "published")
        and (operator_status is None or parent_status in (None, "published"))
    )
    joined = models.Exchange.objects.filter(public_joined(models.Exchange), pk=exchange.pk)
    assert joined.exists() == public
    shown = [exchange.slug] if public else []
    detail = api.get(f"/api/v1/groups/{group.slug}/").json()
    assert [embedded["slug"] for embedded in detail["exchanges"]] == shown
    listed = api.get(f"/api/v1/groups/?platform={group.platform.slug}").json()["results"]
    assert [entry["slug"] for entry in listed] == [group.slug]
    assert [embedded["slug"] for embedded in listed[0]["exchanges"]] == shown


def test_filters_do_not_reveal_unpublished_records(api):
    draft_exchange = f.exchange(publication_status="draft")
    response = api.get(f"/api/v1/groups/?exchange={draft_exchange.slug}")
    assert response.status_code == 400  # as if it did not exist

    exchange = f.exchange()
    f.response(exchange=exchange, response_type="close_website", publication_status="draft")
    assert exchange.slug not in slugs(
        api, "/api/v1/exchanges/?response_type=close_website&page_size=100"
    )

    platform = f.platform()
    f.availability(platform=platform, jurisdiction="KP", publication_status="draft")
    assert platform.slug not in slugs(api, "/api/v1/platforms/?blocked_in=KP")


@pytest.mark.parametrize("hidden", ["operator", "operator's parent"])
def test_a_slug_filter_refuses_a_record_hidden_by_its_operator_chain(api, hidden):
    """A published platform run by a draft organisation (or by one whose parent is a draft)
    is not public: naming it in a filter is refused as if it did not exist."""
    parent = f.organization(publication_status="draft" if hidden != "operator" else "published")
    operator = f.organization(
        parent=parent, publication_status="draft" if hidden == "operator" else "published"
    )
    platform = f.platform(operator=operator)
    shown = f.platform(operator=f.organization(parent=f.organization()))

    for path in ["groups", "migrations", "platform-availabilities"]:
        assert api.get(f"/api/v1/{path}/?platform={platform.slug}").status_code == 400, path
        assert api.get(f"/api/v1/{path}/?platform={shown.slug}").status_code == 200, path


def test_a_published_history_does_not_name_unpublished_records(api):
    response = f.response()
    response.actions.add(f.action(slug="secret-draft-action", publication_status="draft"))

    history = api.get(f"/api/v1/exchange-responses/{response.slug}/history/").json()

    assert "secret-draft-action" not in str(history)


def organization_form(organization, **changes) -> dict:
    prefix = "cryptogroups-citation-content_type-object_id"
    return {
        "slug": organization.slug,
        "name": organization.name,
        "org_type": organization.org_type,
        "country": organization.country,
        "change_reason": "Review",
        f"{prefix}-TOTAL_FORMS": "0",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
        **changes,
    }


def test_the_admin_refuses_to_publish_without_a_citation(curator):
    draft = f.organization(publication_status="draft")

    response = curator.post(
        f"/admin/cryptogroups/organization/{draft.pk}/change/",
        organization_form(draft, publication_status="published"),
    )

    assert response.status_code == 200
    assert "cannot be published without at least one citation" in response.content.decode()
    draft.refresh_from_db()
    assert draft.publication_status == "draft"


def test_the_admin_publishes_with_a_citation_added_in_the_same_save(curator, api):
    draft, source = f.organization(publication_status="draft"), f.source()
    prefix = "cryptogroups-citation-content_type-object_id"
    data = organization_form(draft, publication_status="published")
    data.update(
        {
            f"{prefix}-TOTAL_FORMS": "1",
            f"{prefix}-0-source": source.pk,
            f"{prefix}-0-quote": "The ministry said so.",
            f"{prefix}-0-support": "stated",
        }
    )

    response = curator.post(f"/admin/cryptogroups/organization/{draft.pk}/change/", data)

    assert response.status_code == 302
    assert api.get(f"/api/v1/organizations/{draft.slug}/").status_code == 200


def test_bulk_publish_publishes_cited_records_only(curator, api):
    cited, uncited = f.exchange(publication_status="draft"), f.exchange(publication_status="draft")
    f.cite(cited)

    response = curator.post(
        "/admin/cryptogroups/exchange/",
        {"action": "publish", "_selected_action": [cited.pk, uncited.pk]},
        follow=True,
    )

    assert f"for want of a citation: {uncited.slug}" in response.content.decode()
    cited.refresh_from_db()
    uncited.refresh_from_db()
    assert (cited.publication_status, uncited.publication_status) == ("published", "draft")
    latest = api.get(f"/api/v1/exchanges/{cited.slug}/history/").json()["results"][0]
    assert latest["reason"] == "Published from the list"
    assert latest["user"] == "curator-bo"


def test_bulk_retract_keeps_the_record_and_its_history(curator, api):
    exchange = f.exchange()
    f.cite(exchange)

    curator.post(
        "/admin/cryptogroups/exchange/", {"action": "retract", "_selected_action": [exchange.pk]}
    )

    exchange.refresh_from_db()
    assert exchange.publication_status == "retracted"
    assert exchange.history.first().history_change_reason == "Retracted from the list"
    assert api.get(f"/api/v1/exchanges/{exchange.slug}/").status_code == 404


def test_the_admin_lists_status_and_citations_and_filters_on_both(curator):
    uncited = f.exchange(name="Uncited Exchange", publication_status="draft")
    cited = f.exchange(name="Cited Exchange")
    f.cite(cited)

    page = curator.get("/admin/cryptogroups/exchange/?cited=no&publication_status__exact=draft")

    html = page.content.decode()
    assert uncited.name in html
    assert cited.name not in html
    assert "Draft" in html


def test_the_admin_links_published_records_to_the_api(curator):
    exchange = f.exchange()
    f.cite(exchange)

    page = curator.get(f"/admin/cryptogroups/exchange/{exchange.pk}/change/")

    assert f'href="/api/v1/exchanges/{exchange.slug}/"' in page.content.decode()


def test_curated_records_are_all_published_and_cited():
    for model in [models.Exchange, models.Group, models.RegulatoryAction]:
        curated = model.objects.filter(
            slug__in=["btcchina", "okcoin-telegram-group", "cn-2017-ico-ban"]
        )
        assert curated.exists()
        assert set(curated.values_list("publication_status", flat=True)) == {"published"}
        content_type = ContentType.objects.get_for_model(model)
        for record in curated:
            assert models.Citation.objects.filter(
                content_type=content_type, object_id=record.pk
            ).exists()
