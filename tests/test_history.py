"""Every change is recorded: who, when, why and which fields. Curators give the reason in the
admin; the API shows the history at /api/v1/<resource>/<slug>/history/."""

from __future__ import annotations

import pytest
from django.contrib.contenttypes.models import ContentType

from cryptogroups import models
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def curator(client, django_user_model):
    user = django_user_model.objects.create_superuser("curator-ann", "ann@example.org", None)
    client.force_login(user)
    return client


def change_url(record) -> str:
    return f"/admin/cryptogroups/{record._meta.model_name}/{record.pk}/change/"


def citation_management(total: int = 0) -> dict:
    prefix = "cryptogroups-citation-content_type-object_id"
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def organization_form(organization, **changes) -> dict:
    return {
        "slug": organization.slug,
        "publication_status": organization.publication_status,
        "name": organization.name,
        "org_type": organization.org_type,
        "country": organization.country,
        **citation_management(),
        **changes,
    }


def existing_citations(record) -> dict:
    """The citation inline's POST data that keeps the record's citations as they are."""
    prefix = "cryptogroups-citation-content_type-object_id"
    citations = list(record.citations.all())
    data = {**citation_management(len(citations)), f"{prefix}-INITIAL_FORMS": str(len(citations))}
    for number, citation in enumerate(citations):
        row = {
            "id": citation.pk,
            "source": citation.source_id,
            "quote": citation.quote,
            "support": citation.support,
            "verbatim": "on" if citation.verbatim else "",
            "checked_on": citation.checked_on.isoformat() if citation.checked_on else "",
            "source_text": citation.source_text or "",
        }
        data.update({f"{prefix}-{number}-{name}": value for name, value in row.items()})
    return data


def history(api, resource: str, slug: str) -> list[dict]:
    response = api.get(f"/api/v1/{resource}/{slug}/history/")
    assert response.status_code == 200, response.content
    return response.json()["results"]


def test_the_admin_asks_for_a_reason_and_saves_nothing_without_one(curator):
    organization = f.organization(name="Old name", publication_status="draft")
    before = organization.history.count()

    response = curator.post(change_url(organization), organization_form(organization, name="New"))

    assert response.status_code == 200
    assert "change_reason" in response.context["adminform"].form.errors
    organization.refresh_from_db()
    assert organization.name == "Old name"
    assert organization.history.count() == before


def test_a_change_in_the_admin_is_in_the_api_history_with_curator_reason_and_fields(curator, api):
    organization = f.organization(name="Old name")
    f.cite(organization)
    data = organization_form(organization, name="New name", change_reason="Name per the notice")
    data.update(existing_citations(organization))

    assert curator.post(change_url(organization), data).status_code == 302

    latest = history(api, "organizations", organization.slug)[0]
    assert latest["type"] == "changed"
    assert latest["user"] == "curator-ann"
    assert latest["reason"] == "Name per the notice"
    assert latest["changes"] == [{"field": "name", "old": "Old name", "new": "New name"}]


def test_a_new_record_starts_its_history_with_its_values(api):
    platform = f.platform(slug="history-platform", name="Signal")

    (created,) = history(api, "platforms", platform.slug)

    assert created["type"] == "created"
    assert {"field": "name", "old": None, "new": "Signal"} in created["changes"]


def test_related_records_appear_by_slug(api):
    group = f.group()
    new_platform = f.platform()
    old_platform = group.platform
    group.platform = new_platform
    group._change_reason = "Moved"
    group.save()

    latest = history(api, "groups", group.slug)[0]

    assert latest["changes"] == [
        {"field": "platform", "old": old_platform.slug, "new": new_platform.slug}
    ]


def test_partial_dates_appear_as_iso_dates(api):
    action = f.action()
    action.announced_date = action.announced_date.replace(day=7)
    action.save()

    latest = history(api, "regulatory-actions", action.slug)[0]

    assert latest["changes"] == [
        {"field": "announced_date", "old": "2017-09-04", "new": "2017-09-07"}
    ]


def test_many_to_many_changes_appear_as_lists_of_slugs(api):
    response, action = f.response(), f.action(slug="history-action")
    response.actions.add(action)

    latest = history(api, "exchange-responses", response.slug)[0]

    assert latest["changes"] == [{"field": "actions", "old": [], "new": ["history-action"]}]


def test_citations_added_inline_carry_the_reason(curator):
    organization, source = f.organization(), f.source()
    prefix = "cryptogroups-citation-content_type-object_id"
    data = organization_form(organization, change_reason="Cite the announcement")
    data.update(citation_management(1))
    data.update(
        {
            f"{prefix}-0-source": source.pk,
            f"{prefix}-0-quote": "Quoted words.",
            f"{prefix}-0-support": "stated",
            f"{prefix}-0-verbatim": "on",
            f"{prefix}-0-checked_on": "2026-12-04",
            f"{prefix}-0-source_text": "read",
        }
    )

    assert curator.post(change_url(organization), data).status_code == 302

    citation = models.Citation.objects.get(
        content_type=ContentType.objects.get_for_model(organization), object_id=organization.pk
    )
    entry = citation.history.get()
    assert (entry.history_type, entry.history_change_reason) == ("+", "Cite the announcement")
    assert entry.history_user.username == "curator-ann"


def test_the_admin_history_page_shows_the_changes(curator):
    organization = f.organization(name="Old name", publication_status="draft")
    data = organization_form(organization, name="New name", change_reason="Rename")
    curator.post(change_url(organization), data)

    page = curator.get(f"{change_url(organization).removesuffix('change/')}history/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Rename" in html
    assert "New name" in html


def test_every_curated_record_has_its_load_in_its_history(api):
    for resource, model in [
        ("exchanges", models.Exchange),
        ("regulatory-actions", models.RegulatoryAction),
        ("exchange-responses", models.ExchangeResponse),
    ]:
        for slug in model.objects.values_list("slug", flat=True):
            entries = history(api, resource, slug)
            assert entries[-1]["type"] == "created"
            assert entries[-1]["reason"].startswith("Loaded from the curated dataset")


def test_the_load_records_many_to_many_relations_in_the_first_entry(api):
    response = models.ExchangeResponse.objects.filter(actions__isnull=False).first()
    entries = history(api, "exchange-responses", response.slug)
    actions = next(c for c in entries[-1]["changes"] if c["field"] == "actions")
    assert actions["new"] == sorted(response.actions.values_list("slug", flat=True))


def test_history_of_an_unknown_record_is_a_json_404(api):
    response = api.get("/api/v1/exchanges/no-such-exchange/history/")
    assert response.status_code == 404
    assert response.json()["type"] == "client_error"


def test_history_refuses_unknown_parameters(api):
    response = api.get("/api/v1/exchanges/btcchina/history/?since=2017")
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "since"


def test_history_pages(api):
    organization = f.organization()
    for number in range(3):
        organization.name = f"Name {number}"
        organization.save()

    first = api.get(f"/api/v1/organizations/{organization.slug}/history/?page_size=2").json()

    assert first["count"] == 4
    assert len(first["results"]) == 2
    assert first["results"][0]["changes"] == [{"field": "name", "old": "Name 1", "new": "Name 2"}]
    assert first["next"]
