"""The admin as a curator meets it: every model listed, searched, added and changed, citations
edited inline, and no access for anyone who is not staff."""

from __future__ import annotations

import datetime
import io
import itertools
import re

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.html import escape

from cryptogroups import models
from cryptogroups.admin import ReviewItem
from cryptogroups.takedowns import take_down
from tests import factories as f

pytestmark = pytest.mark.django_db

CITATION_PREFIX = "cryptogroups-citation-content_type-object_id"

REGISTERED = [
    models.Source,
    models.Citation,
    models.Organization,
    models.Platform,
    models.PlatformAvailability,
    models.Exchange,
    models.ExchangeResponse,
    models.Group,
    models.GroupExchange,
    models.Migration,
    models.RegulatoryAction,
    models.ActionIssuer,
    models.ActionTarget,
]
CITED = [
    models.Organization,
    models.Platform,
    models.PlatformAvailability,
    models.Exchange,
    models.ExchangeResponse,
    models.Group,
    models.Migration,
    models.RegulatoryAction,
]

_ids = itertools.count(1)


def word() -> str:
    """A word that appears nowhere else in the database."""
    return f"Qy{next(_ids)}word"


def changelist_url(model) -> str:
    return f"/admin/cryptogroups/{model._meta.model_name}/"


def add_url(model) -> str:
    return f"{changelist_url(model)}add/"


def change_url(record) -> str:
    return f"{changelist_url(type(record))}{record.pk}/change/"


@pytest.fixture
def curator(client, django_user_model):
    user = django_user_model.objects.create_superuser("curator", "curator@example.org", None)
    client.force_login(user)
    return client


def searchable(model, text: str):
    """A record of ``model`` that the admin search finds by ``text``, and only by it."""
    build = {
        models.Source: lambda: f.source(title=text),
        models.Citation: lambda: f.cite(f.organization(), quote=text),
        models.Organization: lambda: f.organization(name=text),
        models.Platform: lambda: f.platform(name=text),
        models.PlatformAvailability: lambda: f.availability(workaround=text),
        models.Exchange: lambda: f.exchange(name=text),
        models.ExchangeResponse: lambda: f.response(description=text),
        models.Group: lambda: f.group(name=text),
        models.GroupExchange: lambda: models.GroupExchange.objects.create(
            group=f.group(name=text), exchange=f.exchange()
        ),
        models.Migration: lambda: f.migration(title=text),
        models.RegulatoryAction: lambda: f.action(title=text),
        models.ActionIssuer: lambda: models.ActionIssuer.objects.create(
            action=f.action(title=text), organization=f.organization(), role="lead"
        ),
        models.ActionTarget: lambda: models.ActionTarget.objects.create(
            action=f.action(), category="exchanges", effect="prohibited", note=text
        ),
    }[model]
    return build()


def model_id(model) -> str:
    return model.__name__


def cite_twice(record, field_name: str) -> None:
    """Cite ``record`` as a whole and one of its fields, from two new sources."""
    f.cite(record)
    f.cite(record, field_name=field_name)


# --- every registered model -------------------------------------------------------------------


def test_every_model_of_the_app_is_registered():
    app_models = {
        model
        for model in apps.get_app_config("cryptogroups").get_models()
        # History is shown per record; the dataset version and the changes feed's tables are
        # bookkeeping, not data (the feed is read in the API).
        if not model._meta.model_name.startswith("historical")
        and model
        not in {
            models.DatasetVersion,
            models.Change,
            models.FeedState,
            models.PendingChange,
            models.PendingFanout,
        }
    }

    assert {model for model in admin.site._registry if model in app_models} == app_models
    # Takedowns are listed read-only (tests below); every other model is edited.
    assert app_models == {*REGISTERED, models.Takedown}


def test_takedowns_are_listed_and_cannot_be_added_changed_or_deleted(curator):
    record = f.organization(name="Taken down Ltd")
    user = User.objects.get(username="curator")

    takedown = take_down(record, user=user, reason="A court order of 2026-11-30")
    url = changelist_url(models.Takedown)

    listing = curator.get(url)
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "A court order of 2026-11-30" in html
    assert takedown.slug in html
    assert "Taken down Ltd" not in html
    assert curator.get(add_url(models.Takedown)).status_code == 403
    detail = curator.get(f"{url}{takedown.pk}/change/")
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert curator.post(f"{url}{takedown.pk}/delete/", {"post": "yes"}).status_code == 403
    assert models.Takedown.objects.filter(pk=takedown.pk).exists()


@pytest.mark.parametrize("model", REGISTERED, ids=model_id)
def test_changelist_lists_every_record(curator, model):
    searchable(model, word())

    response = curator.get(changelist_url(model))

    assert response.status_code == 200
    assert response.context["cl"].result_count == model.objects.count() > 0


@pytest.mark.parametrize("model", REGISTERED, ids=model_id)
def test_changelist_search_finds_the_record(curator, model):
    text = word()
    record = searchable(model, f"Before {text} after")
    searchable(model, f"Before {word()} after")

    response = curator.get(changelist_url(model), {"q": text.lower()})

    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [record]
    assert change_url(record) in response.content.decode()


@pytest.mark.parametrize("model", REGISTERED, ids=model_id)
def test_add_form_is_shown(curator, model):
    response = curator.get(add_url(model))

    assert response.status_code == 200
    assert response.context["add"] is True


@pytest.mark.parametrize("model", REGISTERED, ids=model_id)
def test_change_form_is_shown(curator, model):
    record = searchable(model, word())

    response = curator.get(change_url(record))

    assert response.status_code == 200
    assert response.context["original"] == record


@pytest.mark.parametrize("model", REGISTERED, ids=model_id)
def test_change_form_of_a_curated_record_is_shown(curator, model):
    record = model.objects.order_by("pk").first()
    assert record is not None, f"the curated dataset has no {model.__name__}"

    response = curator.get(change_url(record))

    assert response.status_code == 200


# --- citations inline -------------------------------------------------------------------------


@pytest.mark.parametrize("model", CITED, ids=model_id)
def test_change_form_edits_citations_inline(curator, model):
    record = searchable(model, word())
    quote = f"Quoted {word()}"
    f.cite(record, quote=quote)

    html = curator.get(change_url(record)).content.decode()

    assert f'name="{CITATION_PREFIX}-TOTAL_FORMS" value="1"' in html
    assert f'name="{CITATION_PREFIX}-0-quote"' in html
    assert quote in html


@pytest.mark.parametrize("model", CITED, ids=model_id)
def test_add_form_offers_citations_inline(curator, model):
    html = curator.get(add_url(model)).content.decode()

    assert f'name="{CITATION_PREFIX}-TOTAL_FORMS"' in html


@pytest.mark.parametrize("model", CITED, ids=model_id)
def test_changelist_counts_each_records_citations(curator, model):
    text = word()
    record = searchable(model, text)
    f.cite(record)
    f.cite(record, field_name="slug")

    html = curator.get(changelist_url(model), {"q": text}).content.decode()

    assert re.search(r'<td class="field-citations_count">\s*2\s*</td>', html)


def required_fields(model, slug: str) -> dict:
    """What the add form needs for a valid record of ``model``."""
    if model is models.Organization:
        return {"name": "Test Ministry", "org_type": "regulator", "country": "CN"}
    if model is models.Platform:
        return {"name": f"Platform {slug}", "platform_type": "messaging", "encryption": "unknown"}
    if model is models.PlatformAvailability:
        return {"platform": f.platform().pk, "jurisdiction": "CN", "status": "blocked"}
    if model is models.Exchange:
        return {"name": "Test Exchange", "exchange_type": "spot", "status": "unknown"}
    if model is models.ExchangeResponse:
        return {"exchange": f.exchange().pk, "response_type": "halt_all_trading"}
    if model is models.Group:
        return {
            "name": "Test group",
            "platform": f.platform().pk,
            "group_type": "group",
            "status": "unknown",
        }
    if model is models.Migration:
        return {
            "title": "Test migration",
            "from_platform": f.platform().pk,
            "to_platform": f.platform().pk,
        }
    if model is models.RegulatoryAction:
        return {
            "title": "Test ban",
            "action_type": "ban",
            "status": "announced",
            "jurisdiction": "CN",
        }
    raise AssertionError(model)


REASON = "Add what the source says."


def management_form(prefix: str, total: int) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def add_form_data(curator, model, slug: str, citation: dict) -> dict:
    """A complete add-form POST: the record, no rows in the other inlines, one citation."""
    inline_prefixes = [
        inline.formset.prefix
        for inline in curator.get(add_url(model)).context["inline_admin_formsets"]
    ]
    assert CITATION_PREFIX in inline_prefixes
    data = {
        "slug": slug,
        "publication_status": "published",
        "change_reason": REASON,
        **required_fields(model, slug),
    }
    for prefix in inline_prefixes:
        data.update(management_form(prefix, 1 if prefix == CITATION_PREFIX else 0))
    data.update({f"{CITATION_PREFIX}-0-{name}": value for name, value in citation.items()})
    return data


def citation_row(source, **fields) -> dict:
    return {
        "source": source.pk,
        "field_name": "",
        "quote": "The authorities said so.",
        "verbatim": "on",
        "support": "stated",
        "locator": "",
        "note": "",
        "checked_on": "2026-12-04",
        "source_text": "read",
        **fields,
    }


@pytest.mark.parametrize("model", CITED, ids=model_id)
def test_add_form_saves_the_record_with_its_citation(curator, model):
    slug = f"admin-{word().lower()}"
    source = f.source()
    data = add_form_data(curator, model, slug, citation_row(source, locator="p. 2"))

    response = curator.post(add_url(model), data)

    assert response.status_code == 302, response.context["errors"] if response.context else ""
    record = model.objects.get(slug=slug)
    citation = models.Citation.objects.get(
        content_type=ContentType.objects.get_for_model(model), object_id=record.pk
    )
    assert (citation.source, citation.field_name, citation.locator) == (source, None, "p. 2")
    assert citation.quote == "The authorities said so."
    assert citation.verbatim is True


def test_add_form_refuses_a_citation_of_a_field_the_record_lacks(curator):
    slug = f"admin-{word().lower()}"
    data = add_form_data(
        curator, models.Organization, slug, citation_row(f.source(), field_name="colour")
    )

    response = curator.post(add_url(models.Organization), data)

    assert response.status_code == 200
    assert "colour is not one of the available choices" in response.content.decode()
    assert not models.Organization.objects.filter(slug=slug).exists()
    assert not models.Citation.objects.filter(quote="The authorities said so.").exists()


def test_change_form_adds_a_citation_to_an_existing_record(curator):
    organization = f.organization()
    source = f.source()
    data = {
        "slug": organization.slug,
        "change_reason": REASON,
        "publication_status": organization.publication_status,
        "name": organization.name,
        "org_type": organization.org_type,
        "country": organization.country,
        **management_form(CITATION_PREFIX, 1),
        **{f"{CITATION_PREFIX}-0-{k}": v for k, v in citation_row(source).items()},
    }

    response = curator.post(change_url(organization), data)

    assert response.status_code == 302
    assert [citation.source for citation in organization.citations.all()] == [source]


def test_add_form_refuses_a_lower_case_subdivision(curator):
    slug = f"admin-{word().lower()}"
    data = add_form_data(curator, models.RegulatoryAction, slug, citation_row(f.source()))
    data["subdivision"] = "cn-sh"

    response = curator.post(add_url(models.RegulatoryAction), data)

    assert response.status_code == 200
    assert not models.RegulatoryAction.objects.filter(slug=slug).exists()


def test_exchange_change_form_saves_a_response_with_its_effective_date(curator):
    exchange = f.exchange(publication_status="draft")  # a draft needs no citation
    slug = f"admin-{word().lower()}"
    data = {
        "slug": exchange.slug,
        "change_reason": REASON,
        "publication_status": exchange.publication_status,
        "name": exchange.name,
        "exchange_type": exchange.exchange_type,
        "status": exchange.status,
        "country": exchange.country,
        **management_form("responses", 1),
        "responses-0-slug": slug,
        "responses-0-response_type": "halt_all_trading",
        "responses-0-effective_date": "2017-10-31",
        "responses-0-effective_precision": "day",
        "responses-0-effective_qualifier": "exact",
        **management_form(CITATION_PREFIX, 0),
    }

    response = curator.post(change_url(exchange), data)

    assert response.status_code == 302
    saved = models.ExchangeResponse.objects.get(slug=slug)
    assert (saved.effective_date, saved.effective_precision, saved.effective_qualifier) == (
        datetime.date(2017, 10, 31),
        "day",
        "exact",
    )


def test_platform_change_form_saves_an_availability_with_its_start_date(curator):
    platform = f.platform(publication_status="draft")  # a draft needs no citation
    slug = f"admin-{word().lower()}"
    data = {
        "slug": platform.slug,
        "change_reason": REASON,
        "publication_status": platform.publication_status,
        "name": platform.name,
        "platform_type": platform.platform_type,
        "encryption": platform.encryption,
        **management_form("availabilities", 1),
        "availabilities-0-slug": slug,
        "availabilities-0-jurisdiction": "CN",
        "availabilities-0-status": "blocked",
        "availabilities-0-since_date": "2017-09-01",
        "availabilities-0-since_precision": "month",
        "availabilities-0-since_qualifier": "no_later_than",
        **management_form(CITATION_PREFIX, 0),
    }

    response = curator.post(change_url(platform), data)

    assert response.status_code == 302
    saved = models.PlatformAvailability.objects.get(slug=slug)
    assert (saved.platform, saved.since_date, saved.since_precision) == (
        platform,
        datetime.date(2017, 9, 1),
        "month",
    )


# --- access -----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/admin/", changelist_url(models.Group), add_url(models.Group)])
def test_anonymous_user_is_sent_to_the_login_page(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert f"next={path}" in response["Location"]


@pytest.mark.parametrize("path", ["/admin/", changelist_url(models.Group)])
def test_user_who_is_not_staff_cannot_reach_the_admin(client, django_user_model, path):
    user = django_user_model.objects.create_user("reader", "reader@example.org", None)
    client.force_login(user)

    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_staff_user_without_permissions_cannot_see_a_changelist(client, django_user_model):
    user = django_user_model.objects.create_user("intern", is_staff=True)
    client.force_login(user)

    assert client.get(changelist_url(models.Group)).status_code == 403


# --- query counts -----------------------------------------------------------------------------


def listed_group(text: str) -> models.Group:
    group = f.group(name=f"{text} group", member_count=10, member_count_qualifier="exact")
    models.GroupExchange.objects.create(group=group, exchange=f.exchange())
    cite_twice(group, "name")
    return group


def listed_action(text: str) -> models.RegulatoryAction:
    action = f.action(title=f"{text} action", subdivision="CN-SH")
    models.ActionIssuer.objects.create(action=action, organization=f.organization(), role="lead")
    models.ActionTarget.objects.create(action=action, exchange=f.exchange(), effect="prohibited")
    cite_twice(action, "title")
    return action


def changelist_queries(curator, model, text: str, rows: int) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = curator.get(changelist_url(model), {"q": text})
    assert response.status_code == 200
    assert response.context["cl"].result_count == rows
    return len(queries)


@pytest.mark.parametrize(
    ("model", "build"),
    [(models.Group, listed_group), (models.RegulatoryAction, listed_action)],
    ids=["Group", "RegulatoryAction"],
)
def test_changelist_query_count_does_not_grow_with_rows(curator, model, build):
    text = word()
    for _ in range(5):
        build(text)
    curator.get(changelist_url(model))  # warm the content-type and session caches

    with_5 = changelist_queries(curator, model, text, rows=5)
    for _ in range(35):
        build(text)
    with_40 = changelist_queries(curator, model, text, rows=40)

    assert with_5 == with_40


AUTOCOMPLETES = [
    (model_admin.model, field)
    for model_admin in admin.site._registry.values()
    for field in model_admin.autocomplete_fields
]


@pytest.mark.parametrize(
    ("model", "field"), AUTOCOMPLETES, ids=[f"{m.__name__}.{f}" for m, f in AUTOCOMPLETES]
)
def test_autocompletes_page_an_ordered_list(curator, model, field):
    # Counting citations groups the rows, which drops the model's default ordering; a page of
    # an unordered list may repeat or skip records (Django warns, and the suite makes warnings
    # of that kind errors).
    response = curator.get(
        "/admin/autocomplete/",
        {"app_label": "cryptogroups", "model_name": model._meta.model_name, "field_name": field},
    )
    assert response.status_code == 200
    results = response.json()["results"]
    target = model._meta.get_field(field).related_model
    assert len(results) == min(target.objects.count(), 20)
    assert len({r["id"] for r in results}) == len(results)


# --- citations inline, as curators read them --------------------------------------------------


def option_values(html: str, name: str) -> list[str]:
    """The values a <select> of the page offers, in order."""
    match = re.search(rf'<select name="{re.escape(name)}"[^>]*>(.*?)</select>', html, re.S)
    assert match, name
    return re.findall(r'<option value="([^"]*)"', match.group(1))


@pytest.mark.parametrize("model", CITED, ids=model_id)
def test_citation_rows_are_labelled_by_name(curator, model):
    record = searchable(model, word())
    citation = f.cite(record, field_name=model.cited_fields[0])

    html = curator.get(change_url(record)).content.decode()

    label = re.search(r'<td class="original">\s*<p>\s*(.*?)\s*</p>', html, re.S).group(1)
    assert label == escape(str(citation))
    assert citation.source.title in label
    assert str(record) in label
    assert "Citation object" not in html


@pytest.mark.parametrize("model", CITED, ids=model_id)
def test_citation_field_is_a_choice_of_the_records_api_fields(curator, model):
    record = searchable(model, word())
    f.cite(record)

    html = curator.get(change_url(record)).content.decode()

    assert option_values(html, f"{CITATION_PREFIX}-0-field_name") == ["", *model.cited_fields]
    assert re.search(rf'<textarea name="{CITATION_PREFIX}-0-quote"', html)
    assert re.search(rf'<textarea name="{CITATION_PREFIX}-0-note"', html)


def change_form_queries(curator, record) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = curator.get(change_url(record))
    assert response.status_code == 200
    return len(queries)


def test_citation_rows_do_not_read_their_record_or_source_again(curator):
    group = f.group()
    for _ in range(2):
        f.cite(group)
    curator.get(change_url(group))  # warm the content-type and session caches
    with_2 = change_form_queries(curator, group)
    for _ in range(10):
        f.cite(group)
    with_12 = change_form_queries(curator, group)

    # A row costs one query: the source autocomplete reads the chosen source to show it.
    assert with_12 - with_2 == 10


def test_citation_change_form_names_its_record_and_offers_its_fields_first(curator):
    organization = f.organization()
    citation = f.cite(organization, field_name="name")

    response = curator.get(change_url(citation))

    html = response.content.decode()
    assert re.search(r'<textarea name="quote"', html)
    assert f'<a href="{change_url(organization)}">Organization: {organization}</a>' in html
    groups = re.findall(r'<optgroup label="([^"]+)">', html)
    assert groups[0] == "Organization"
    assert len(groups) == len(CITED)
    assert option_values(html, "field_name")[: 1 + len(models.Organization.cited_fields)] == [
        "",
        *models.Organization.cited_fields,
    ]


def test_citation_change_form_refuses_a_field_its_record_lacks(curator):
    organization = f.organization()
    citation = f.cite(organization, field_name="name")
    assert "workaround" not in models.Organization.cited_fields
    data = {
        "content_type": citation.content_type_id,
        "object_id": organization.pk,
        "field_name": "workaround",  # a platform availability's
        "source": citation.source_id,
        "quote": citation.quote,
        "support": "stated",
        "change_reason": REASON,
    }

    response = curator.post(change_url(citation), data)

    assert response.status_code == 200
    [(where, message, anchor)] = summary(response)
    assert (where, anchor) == ("Field", "id_field_name")
    assert message.startswith("Organization has no field 'workaround' to cite; one of: name,")
    citation.refresh_from_db()
    assert citation.field_name == "name"


# --- a failed save says what is wrong, at the top ------------------------------------------------


def organization_change_data(organization, rows: list[dict], initial: int = 0) -> dict:
    return {
        "slug": organization.slug,
        "change_reason": REASON,
        "publication_status": organization.publication_status,
        "name": organization.name,
        "org_type": organization.org_type,
        "country": organization.country,
        **management_form(CITATION_PREFIX, len(rows)),
        f"{CITATION_PREFIX}-INITIAL_FORMS": str(initial),
        **{
            f"{CITATION_PREFIX}-{number}-{name}": value
            for number, row in enumerate(rows)
            for name, value in row.items()
        },
    }


def summary(response) -> list[tuple[str, str, str]]:
    return [(e.where, e.message, e.anchor) for e in response.context["error_summary"]]


def test_a_failed_save_lists_each_error_at_the_top_by_field_and_row(curator):
    organization = f.organization()
    cited = f.cite(organization)
    source = f.source()
    data = organization_change_data(
        organization,
        [
            {"id": cited.pk, **citation_row(cited.source, quote=cited.quote)},
            citation_row(source, quote=""),
        ],
        initial=1,
    )
    data["name"] = ""

    response = curator.post(change_url(organization), data)

    assert response.status_code == 200
    assert summary(response) == [
        ("Name", "This field is required.", "id_name"),
        (
            "Citations, row 2: Quote",
            "This field is required.",
            f"id_{CITATION_PREFIX}-1-quote",
        ),
    ]
    html = response.content.decode()
    top = html.index('id="error-summary"')
    assert top < html.index("<fieldset")
    items = re.findall(r"<li>(.*?)</li>", html[top : html.index("</div>", top)], re.S)
    assert items == [
        '<a href="#id_name">Name</a>: This field is required.',
        f'<a href="#id_{CITATION_PREFIX}-1-quote">Citations, row 2: Quote</a>: '
        "This field is required.",
    ]
    organization.refresh_from_db()
    assert organization.name != ""
    assert not models.Citation.objects.filter(source=source).exists()


def test_the_summary_names_the_inline_for_an_error_of_all_its_rows(curator):
    data = add_form_data(curator, models.Organization, f"admin-{word().lower()}", {})
    data[f"{CITATION_PREFIX}-TOTAL_FORMS"] = "0"  # published, with no citation

    response = curator.post(add_url(models.Organization), data)

    assert summary(response) == [
        (
            "Citations",
            "A record cannot be published without at least one citation: add one, or keep the "
            "record as a draft.",
            f"{CITATION_PREFIX}-group",
        )
    ]


def test_the_summary_names_the_row_and_field_of_an_invalid_choice(curator):
    data = add_form_data(
        curator,
        models.Organization,
        f"admin-{word().lower()}",
        citation_row(f.source(), field_name="colour"),
    )

    response = curator.post(add_url(models.Organization), data)

    assert summary(response) == [
        (
            "Citations, row 1: Field",
            "Select a valid choice. colour is not one of the available choices.",
            f"id_{CITATION_PREFIX}-0-field_name",
        )
    ]


def test_the_summary_leaves_out_a_row_marked_for_deletion(curator):
    organization = f.organization(publication_status="draft")
    cited = f.cite(organization)
    data = organization_change_data(
        organization,
        [{"id": cited.pk, **citation_row(cited.source, quote=""), "DELETE": "on"}],
        initial=1,
    )
    data["change_reason"] = ""

    response = curator.post(change_url(organization), data)

    assert summary(response) == [
        ("Reason for this change", "This field is required.", "id_change_reason")
    ]


def test_a_page_without_errors_has_no_summary(curator):
    organization = f.organization()
    f.cite(organization)

    response = curator.get(change_url(organization))

    assert "error_summary" not in response.context
    assert 'id="error-summary"' not in response.content.decode()


# --- the start page ---------------------------------------------------------------------------

CHECKED = {"checked_on": datetime.date(2026, 12, 4), "source_text": "read"}


@pytest.fixture
def desk_curator(client):
    """A curator as the project makes one (``manage.py add_curator --staff``): staff, in the
    curators group, with its permissions only."""
    call_command("add_curator", "desk-curator", "--staff", stdout=io.StringIO())
    client.force_login(User.objects.get(username="desk-curator"))
    return client


def start_page(client):
    response = client.get("/admin/")
    assert response.status_code == 200
    return response


def review_section(response, key: str):
    """One list of the start page: its counted items (from the page's context) and its HTML."""
    (section,) = [s for s in response.context["review_queue"] if s.key == key]
    html = response.content.decode()
    match = re.search(
        rf'<section class="review-section" id="review-{key}".*?</section>', html, re.S
    )
    assert match, key
    return section, match.group(0)


def is_listed(response, key: str, record, label: str) -> bool:
    section, html = review_section(response, key)
    in_context = ReviewItem(label, change_url(record)) in [
        ReviewItem(item.label, item.url) for item in section.items
    ]
    in_html = f'<a href="{change_url(record)}">{escape(label)}</a>' in html
    assert in_context == in_html, (key, label)
    return in_html


def count(response, key: str) -> int:
    section, html = review_section(response, key)
    assert f"({section.count})</h3>" in html
    assert f'id="review-{key}-count">{section.count}</span>' in response.content.decode()
    return section.count


def test_start_page_lists_what_waits_for_curators_until_it_is_fixed(desk_curator):
    complete = f.source(undated=True)  # a source the audit finds nothing missing from
    draft = f.group(name="Draft group", publication_status="draft")
    f.cite(draft, source=complete, **CHECKED)
    implied = f.response(description="Implied response")  # named after its exchange
    f.cite(implied, source=complete, support="implied", **CHECKED)
    f.cite(implied, source=complete, support="implied", field_name="exchange", **CHECKED)
    stated_too = f.platform(name="Stated platform")
    f.cite(stated_too, source=complete, support="implied", **CHECKED)
    f.cite(stated_too, source=complete, support="stated", **CHECKED)
    unchecked = f.cite(f.organization(), source=complete)
    checked = f.cite(f.organization(), source=complete, **CHECKED)
    incomplete = f.source(title="Undated article", publisher="")

    before = start_page(desk_curator)

    assert is_listed(before, "drafts", draft, "Group: Draft group")
    assert is_listed(before, "implied", implied, f"Exchange response: {implied}")
    assert not is_listed(before, "implied", stated_too, "Platform: Stated platform")
    assert not is_listed(before, "implied", draft, "Group: Draft group")
    assert is_listed(before, "unchecked", unchecked, str(unchecked))
    assert not is_listed(before, "unchecked", checked, str(checked))
    assert is_listed(before, "sources", incomplete, str(incomplete))
    assert not is_listed(before, "sources", complete, str(complete))
    _, sources_html = review_section(before, "sources")
    assert "no publisher, published date" in sources_html

    draft.publication_status = "published"
    draft.save()
    f.cite(implied, source=complete, support="stated", **CHECKED)
    models.Citation.objects.filter(pk=unchecked.pk).update(**CHECKED)
    incomplete.publisher = "Test Publisher"
    incomplete.undated = True
    incomplete.save()
    after = start_page(desk_curator)

    assert not is_listed(after, "drafts", draft, "Group: Draft group")
    assert not is_listed(after, "implied", implied, f"Exchange response: {implied}")
    assert not is_listed(after, "unchecked", unchecked, str(unchecked))
    assert not is_listed(after, "sources", incomplete, str(incomplete))
    for key in ("drafts", "implied", "unchecked", "sources"):
        assert count(after, key) == count(before, key) - 1, key


def test_start_page_links_the_audit_and_the_models(desk_curator):
    html = start_page(desk_curator).content.decode()

    assert 'href="/admin/audit/"' in html
    assert 'href="/admin/cryptogroups/citation/"' in html
    assert "cryptogroups curation" in html


def test_start_page_shows_only_what_the_user_may_see(client, django_user_model):
    user = django_user_model.objects.create_user("source-reader", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_source"))
    client.force_login(user)
    f.group(publication_status="draft")
    f.source(publisher="")

    response = start_page(client)

    assert [section.key for section in response.context["review_queue"]] == ["sources"]
    assert "review-drafts" not in response.content.decode()


def waiting_of_every_kind() -> None:
    """A draft of every kind of record, each cited only by implication and unchecked, from a
    source missing its publication date."""
    for record in (
        f.organization(publication_status="draft"),
        f.platform(publication_status="draft"),
        f.availability(publication_status="draft"),
        f.exchange(publication_status="draft"),
        f.response(publication_status="draft"),
        f.group(publication_status="draft"),
        f.migration(publication_status="draft"),
        f.action(publication_status="draft"),
    ):
        f.cite(record, support="implied")


def start_page_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        start_page(client)
    return len(queries)


#: The start page's queries: the session and its user (2), the user's permissions (2), the
#: drafts and the records cited only by implication (one per kind of record: 8), the unchecked
#: citations (their count, the first of them with their sources, the records they cite: one
#: per kind: 10), the sources the audit finds incomplete (2) and the recent actions (1).
START_PAGE_QUERIES = 25


def test_start_page_queries_do_not_grow_with_what_it_lists(
    desk_curator, django_assert_max_num_queries
):
    waiting_of_every_kind()
    start_page(desk_curator)  # warm the content-type cache
    with_1 = start_page_queries(desk_curator)
    for _ in range(9):
        waiting_of_every_kind()

    with django_assert_max_num_queries(START_PAGE_QUERIES):
        response = start_page(desk_curator)
    with_10 = start_page_queries(desk_curator)

    assert with_10 == with_1
    for key in ("drafts", "implied", "unchecked", "sources"):
        assert count(response, key) >= 80, key
