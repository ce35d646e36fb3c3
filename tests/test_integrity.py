"""One set of rules for every write path: the domain's validation refuses the same things
whether a curator uses the admin, the write API or the loader.

Each test reproduces a hole that was found in the data's integrity: a citation of a user, a
published record left without a citation, cycles, a migration's group on another platform,
a PUT that kept what it left out, an If-Match compared loosely, and a verbatim flag nobody set."""

from __future__ import annotations

import json
import re
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command

from cryptogroups import feed, models
from tests import factories as f

pytestmark = pytest.mark.django_db

CITATION = {
    "source": "scmp-btcchina-halt",
    "field": None,
    "quote": "A quote.",
    "verbatim": False,
    "support": "stated",
}


def url(resource: str, slug: str | None = None, **params) -> str:
    path = f"/api/v1/{resource}/" + (f"{slug}/" if slug else "")
    return path + (f"?{urlencode(params)}" if params else "")


def errors(response) -> dict[str, list[str]]:
    """The error shape's errors by attribute."""
    found: dict[str, list[str]] = {}
    for error in response.json()["errors"]:
        found.setdefault(error["attr"], []).append(error["detail"])
    return found


@pytest.fixture
def admin_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("admin", "admin@example.org", None)
    client.force_login(user)
    return client


def citation_form(citation: models.Citation, **changes) -> dict:
    data = {
        "source": citation.source_id,
        "content_type": citation.content_type_id,
        "object_id": citation.object_id,
        "field_name": citation.field_name or "",
        "quote": citation.quote,
        "verbatim": "on" if citation.verbatim else "",
        "support": citation.support,
        "locator": citation.locator,
        "note": citation.note,
        "checked_on": citation.checked_on.isoformat() if citation.checked_on else "",
        "source_text": citation.source_text or "",
        "change_reason": "Testing the citation's target",
    }
    data.update(changes)
    return data


def citation_admin_url(citation: models.Citation) -> str:
    return f"/admin/cryptogroups/citation/{citation.pk}/change/"


# --- A citation points at a cited record -----------------------------------------------------


def test_the_citation_admin_refuses_a_citation_of_a_user(admin_client, curator_api):
    citation = f.cite(f.organization())
    f.cite(citation.record)  # a second one, so that moving this one leaves the record cited
    user_type = ContentType.objects.get_for_model(User)
    user = User.objects.first()

    response = admin_client.post(
        citation_admin_url(citation),
        citation_form(citation, content_type=user_type.pk, object_id=user.pk),
    )

    assert response.status_code == 200  # the form again, with its errors
    assert "content_type" in response.context["adminform"].form.errors
    citation.refresh_from_db()
    assert citation.content_type == ContentType.objects.get_for_model(models.Organization)
    write = curator_api.patch(
        url("organizations", "tencent", reason="still works"), {"hq_city": "Shenzhen"}, "json"
    )
    assert write.status_code == 200, write.content


def test_the_domain_refuses_a_citation_of_a_model_that_is_not_cited():
    citation = models.Citation(
        source=f.source(),
        content_type=ContentType.objects.get_for_model(User),
        object_id=User.objects.create_user("cited").pk,
        quote="Q.",
        verbatim=False,
        support="stated",
    )
    with pytest.raises(ValidationError) as raised:
        citation.full_clean()
    assert "content_type" in raised.value.message_dict


def test_a_citation_row_of_another_model_cannot_wedge_the_feed(curator_api):
    """Whatever reaches the database past validation (a raw update), the feed goes on: a
    record the feed does not serve is skipped, and later writes and retractions still reach
    it."""
    citation = f.cite(f.organization())
    f.cite(citation.record)
    user_type = ContentType.objects.get_for_model(User)
    models.Citation.objects.filter(pk=citation.pk).update(
        content_type=user_type, object_id=User.objects.create_user("x").pk
    )
    models.PendingChange.objects.create(content_type=user_type, object_id=1, expand=True)

    feed.flush()

    assert not models.PendingChange.objects.exists()
    last = models.Change.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    retract = curator_api.delete(url("organizations", "cac", reason="retract"))
    assert retract.status_code == 204
    after = models.Change.objects.filter(pk__gt=last).values_list("slug", "operation")
    assert ("cac", "retracted") in set(after)


def test_a_citation_must_name_a_field_of_the_api_representation(curator_api):
    response = curator_api.patch(
        url("exchanges", "btcchina", reason="cite a model field"),
        {"citations": [{**CITATION, "field": "founded_date"}]},
        "json",
    )
    assert response.status_code == 400
    assert "founded" in " ".join(errors(response)["citations.0.field"])

    allowed = curator_api.patch(
        url("exchanges", "btcchina", reason="cite an API field"),
        {"citations": [{**CITATION, "field": "founded"}]},
        "json",
    )
    assert allowed.status_code == 200, allowed.content
    assert allowed.json()["citations"][0]["field"] == "founded"


def test_citation_fields_of_the_curated_data_are_fields_of_the_representation(api):
    for resource in ("exchanges", "regulatory-actions", "groups", "platforms"):
        page = api.get(url(resource, page_size=100)).json()
        for record in page["results"]:
            for citation in record["citations"]:
                assert citation["field"] is None or citation["field"] in record, (
                    resource,
                    record["slug"],
                    citation["field"],
                )


# --- A published record keeps a citation -----------------------------------------------------


def test_the_citation_admin_cannot_move_a_published_records_last_citation(admin_client):
    record = f.organization()
    citation = f.cite(record)
    other = f.organization()

    response = admin_client.post(
        citation_admin_url(citation), citation_form(citation, object_id=other.pk)
    )

    assert response.status_code == 200
    assert "last citation" in str(response.context["adminform"].form.errors)
    citation.refresh_from_db()
    assert citation.object_id == record.pk


def test_the_citation_admin_cannot_delete_a_published_records_last_citation(admin_client):
    record = f.organization()
    citation = f.cite(record)

    page = admin_client.get(f"/admin/cryptogroups/citation/{citation.pk}/delete/")
    assert "last citation" in page.content.decode()
    admin_client.post(f"/admin/cryptogroups/citation/{citation.pk}/delete/", {"post": "yes"})
    bulk = admin_client.post(
        "/admin/cryptogroups/citation/",
        {"action": "delete_selected", "_selected_action": [citation.pk], "post": "yes"},
    )

    assert bulk.status_code in (200, 302)
    assert models.Citation.objects.filter(pk=citation.pk).exists()


def test_a_drafts_last_citation_may_go():
    record = f.organization(publication_status="draft")
    citation = f.cite(record)
    citation.delete()
    assert not record.citations.exists()


# --- No self-references, no cycles -----------------------------------------------------------


def test_an_organisation_cannot_be_its_own_parent_or_ancestor(curator_api):
    own = curator_api.patch(url("organizations", "pboc", reason="self"), {"parent": "pboc"}, "json")
    assert own.status_code == 400
    assert "cycle" in " ".join(errors(own)["parent"])

    first = curator_api.patch(url("organizations", "cac", reason="a-b"), {"parent": "miit"}, "json")
    assert first.status_code == 200, first.content
    loop = curator_api.patch(url("organizations", "miit", reason="b-a"), {"parent": "cac"}, "json")
    assert loop.status_code == 400
    assert models.Organization.objects.get(slug="miit").parent is None


def test_an_action_cannot_supersede_itself(curator_api):
    response = curator_api.patch(
        url("regulatory-actions", "cn-2017-ico-ban", reason="self"),
        {"supersedes": "cn-2017-ico-ban"},
        "json",
    )
    assert response.status_code == 400
    assert "supersedes" in errors(response)


def test_a_source_cannot_be_a_copy_of_itself(curator_api):
    response = curator_api.patch(
        url("sources", "scmp-btcchina-halt", reason="self"),
        {"syndicated_from": "scmp-btcchina-halt"},
        "json",
    )
    assert response.status_code == 400
    assert "syndicated_from" in errors(response)


def test_the_database_refuses_a_self_reference_written_past_validation():
    from django.db import IntegrityError, transaction

    organization = f.organization()
    with pytest.raises(IntegrityError), transaction.atomic():
        models.Organization.objects.filter(pk=organization.pk).update(parent=organization.pk)


def test_a_migrations_group_is_on_its_platform(curator_api):
    wechat_group = models.Group.objects.filter(platform__slug="wechat").first()
    response = curator_api.patch(
        url("migrations", "wechat-to-telegram-2017", reason="wrong end"),
        {"to_group": wechat_group.slug},
        "json",
    )
    assert response.status_code == 400
    assert "to_group" in errors(response)

    right = curator_api.patch(
        url("migrations", "wechat-to-telegram-2017", reason="right end"),
        {"from_group": wechat_group.slug},
        "json",
    )
    assert right.status_code == 200, right.content


# --- PUT replaces ----------------------------------------------------------------------------


def test_put_replaces_what_it_leaves_out(curator_api):
    path = url("organizations", "tencent", reason="replace")
    before = curator_api.get(url("organizations", "tencent")).json()
    assert before["hq_city"]
    assert before["description"]
    body = {
        "slug": "tencent",
        "name": before["name"],
        "org_type": before["org_type"],
        "publication_status": "published",
        "citations": [CITATION],
    }

    response = curator_api.put(path, body, "json")

    assert response.status_code == 200, response.content
    after = response.json()
    assert (after["hq_city"], after["description"], after["country"]) == ("", "", None)
    assert [c["quote"] for c in after["citations"]] == ["A quote."]


def test_put_without_citations_cannot_keep_a_record_published(curator_api):
    before = curator_api.get(url("organizations", "tencent")).json()
    body = {"slug": "tencent", "name": before["name"], "org_type": before["org_type"]}
    body["publication_status"] = "published"

    response = curator_api.put(url("organizations", "tencent", reason="r"), body, "json")

    assert response.status_code == 400
    assert "publication_status" in errors(response)


# --- If-Match is exact -----------------------------------------------------------------------


@pytest.mark.parametrize("forge", ["tag-garbage", "truncated", "weak", "other-record"])
def test_if_match_is_compared_exactly(api, curator_api, forge):
    tag = api.get(url("organizations", "tencent"))["ETag"]
    opaque = tag.strip('"')
    header = {
        "tag-garbage": f'"{opaque}-garbage"',
        "truncated": f'"{opaque[:16]}"',
        "weak": f"W/{tag}",
        "other-record": api.get(url("organizations", "cac"))["ETag"],
    }[forge]

    response = curator_api.patch(
        url("organizations", "tencent", reason="forged"),
        {"hq_city": "X"},
        "json",
        HTTP_IF_MATCH=header,
    )

    assert response.status_code == 412
    assert models.Organization.objects.get(slug="tencent").hq_city != "X"
    right = curator_api.patch(
        url("organizations", "tencent", reason="right"),
        {"hq_city": "X"},
        "json",
        HTTP_IF_MATCH=tag,
    )
    assert right.status_code == 200


def test_a_drafts_tag_from_its_location_is_the_tag_of_the_next_write(curator_api):
    created = curator_api.post(
        url("organizations", reason="draft"),
        {"slug": "a-draft", "name": "A draft", "org_type": "company", "citations": [CITATION]},
        "json",
    )
    assert created.status_code == 201, created.content
    read = curator_api.get(created["Location"])
    assert read.status_code == 200
    assert read["ETag"] == created["ETag"]
    write = curator_api.patch(
        url("organizations", "a-draft", reason="next"),
        {"hq_city": "Z"},
        "json",
        HTTP_IF_MATCH=read["ETag"],
    )
    assert write.status_code == 200, write.content


# --- verbatim must be said, and is earned -----------------------------------------------------


def test_a_citation_must_say_whether_it_is_verbatim(curator_api):
    citation = {key: value for key, value in CITATION.items() if key != "verbatim"}
    response = curator_api.patch(
        url("organizations", "tencent", reason="r"), {"citations": [citation]}, "json"
    )
    assert response.status_code == 400
    assert "citations.0.verbatim" in errors(response)


def test_a_verbatim_quote_needs_a_check_against_the_source_text(curator_api):
    unchecked = {**CITATION, "verbatim": True}
    response = curator_api.patch(
        url("organizations", "tencent", reason="r"), {"citations": [unchecked]}, "json"
    )
    assert response.status_code == 400

    checked = {**unchecked, "checked_on": "2026-12-04", "source_text": "read"}
    response = curator_api.patch(
        url("organizations", "tencent", reason="r"), {"citations": [checked]}, "json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["citations"][0]["source_text"] == "read"


# --- The loader goes through the same rules --------------------------------------------------


def test_the_loader_refuses_a_row_that_breaks_a_domain_rule(tmp_path, settings, monkeypatch):
    from cryptogroups import dataset

    rows = json.loads((dataset.FIXTURES_DIR / "organizations.json").read_text())
    cac = next(row for row in rows if row["fields"]["slug"] == "cac")
    miit = next(row for row in rows if row["fields"]["slug"] == "miit")
    cac["fields"]["parent"] = miit["pk"]
    miit["fields"]["parent"] = cac["pk"]
    for path in dataset.fixture_paths():
        target = tmp_path / path.name
        target.write_text(path.read_text() if path.name != "organizations.json" else "")
    (tmp_path / "organizations.json").write_text(json.dumps(rows))
    monkeypatch.setattr(dataset, "FIXTURES_DIR", tmp_path)

    with pytest.raises(CommandError, match="cycle"):
        call_command("load_dataset", verbosity=0)
    assert models.Organization.objects.get(slug="cac").parent is None


# --- The cited fields are the representation's fields -------------------------------------


#: Fields of a representation that are not facts to cite: bookkeeping, and lists of other
#: resources' records (cited on those records).
NOT_CITED = {"slug", "url", "publication_status", "citations", "created_at", "updated_at"}
OTHER_RECORDS = {"responses", "availabilities"}


def test_each_models_cited_fields_are_its_representations_fields():
    from api.representations import viewset_of
    from cryptogroups.dataset import CITED_MODELS

    for model in CITED_MODELS:
        serializer = viewset_of(model).serializer_class
        shown = set(serializer.Meta.fields) - NOT_CITED - OTHER_RECORDS
        assert set(model.cited_fields) == shown, model.__name__


def test_the_schema_lists_the_fields_a_citation_can_name(api):
    import yaml

    schema = yaml.safe_load(api.get("/api/schema/").content)
    components = schema["components"]["schemas"]
    for name in ("Organization", "Exchange", "RegulatoryAction", "Group"):
        model = getattr(models, name)
        assert components[f"{name}CitedFieldEnum"]["enum"] == list(model.cited_fields)
        field = components[f"{name}CitationInputRequest"]["properties"]["field"]
        refs = [branch.get("$ref", "") for branch in field["oneOf"]]
        assert f"#/components/schemas/{name}CitedFieldEnum" in refs


# --- Public history shows published states only ---------------------------------------------


def test_the_public_history_shows_published_states_only(api, curator_api):
    created = curator_api.post(
        url("organizations", reason="a secret draft reason"),
        {
            "slug": "history-draft",
            "name": "Working title",
            "org_type": "company",
            "hq_city": "Draft city",
            "citations": [CITATION],
        },
        "json",
    )
    assert created.status_code == 201, created.content
    published = curator_api.patch(
        url("organizations", "history-draft", reason="Publish it"),
        {"name": "Final name", "hq_city": "", "publication_status": "published"},
        "json",
    )
    assert published.status_code == 200, published.content
    curator_api.patch(
        url("organizations", "history-draft", reason="Add the city"), {"hq_city": "Beijing"}, "json"
    )

    public = api.get("/api/v1/organizations/history-draft/history/").json()["results"]
    text = json.dumps(public)
    assert [entry["reason"] for entry in public] == ["Add the city", "Publish it"]
    assert "Working title" not in text
    assert "Draft city" not in text
    assert "secret draft reason" not in text
    first = {change["field"]: change["new"] for change in public[-1]["changes"]}
    assert first["name"] == "Final name"
    assert public[0]["changes"] == [{"field": "hq_city", "old": "", "new": "Beijing"}]

    full = curator_api.get(
        "/api/v1/organizations/history-draft/history/"
        "?publication_status=published&publication_status=draft"
    )
    assert full.status_code == 200, full.content
    reasons = [entry["reason"] for entry in full.json()["results"]]
    assert reasons == ["Add the city", "Publish it", "a secret draft reason"]


# --- An admin built for citing ------------------------------------------------------------------


def test_the_citation_inline_offers_the_records_api_fields(admin_client):
    record = models.Organization.objects.get(slug="tencent")
    page = admin_client.get(f"/admin/cryptogroups/organization/{record.pk}/change/")
    body = page.content.decode()
    prefix = "cryptogroups-citation-content_type-object_id-0"
    select = body[body.index(f'name="{prefix}-field_name"') :]
    select = select[: select.index("</select>")]
    offered = re.findall(r'<option value="([^"]*)"', select)
    assert offered == ["", *models.Organization.cited_fields]
    assert f'<textarea name="{prefix}-quote"' in body
    assert "<title>" in body
    assert "cryptogroups curation" in body
    assert "Django administration" not in body


def test_a_citation_is_labelled_by_its_source_and_record():
    citation = models.Citation.objects.filter(field_name="hq_city").first()
    label = str(citation)
    assert citation.source.title in label
    assert str(citation.record) in label
    assert "hq_city" in label
