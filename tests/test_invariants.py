"""The domain's integrity rules hold whatever curators do, through every write path at once.

A state machine (Hypothesis) mixes the writes of curators through the write API, the admin and
the loader, on records of the curated dataset and on records it made itself, and checks after
each step, with a few queries over the whole database, that:

1. a citation points at an existing record of a cited model, and names one of its
   ``cited_fields`` or none;
2. a published record has at least one citation;
3. no organisation is its own ancestor, no action supersedes itself (even through others), no
   source is a copy of itself;
4. a migration's groups are on its platforms;
5. a verbatim citation was read against its source's text on a given date.

Every write is answered below 500; a refused one (4xx, or an admin form shown again with its
errors) leaves the database as it was. After every sequence, ``export_dataset`` followed by
``import_dataset`` into an emptied database round-trips: the import serves exactly what was
exported. Another test exports the dataset after random writes:
the snapshot is sealed, complete, what the writes touched reads back through the import's
validation, and imported into an emptied database it serves exactly what was exported. The
last tests replay, step by step, the failing examples the machine found.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
import json
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django import forms
from django.apps import apps
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db import models as db_models
from django.db.models import F
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from api import representations, snapshot
from cryptogroups import dataset, models, visibility
from cryptogroups.models.base import public_joined
from cryptogroups.models.sources import CITED_MODEL_NAMES
from cryptogroups.resources import RESOURCES
from tests import factories as f
from tests.conftest import token_client
from tests.test_snapshots import empty_domain_tables

pytestmark = pytest.mark.django_db

PUBLISHED = "published"

#: The records citations point at (every kind of record but sources).
CITED: tuple[type[db_models.Model], ...] = dataset.CITED_MODELS

#: The fields by which a record names another of its own kind.
SELF_REFERENCES: dict[type[db_models.Model], str] = {
    models.Organization: "parent",
    models.RegulatoryAction: "supersedes",
    models.Source: "syndicated_from",
}

CITATION_PREFIX = "cryptogroups-citation-content_type-object_id"
REASON = "Checking the integrity rules"

#: Slugs of the records the tests create; unique across examples.
_numbers = itertools.count(1)


def resource(model: type[db_models.Model]) -> str:
    return RESOURCES[model].path


def url(model: type[db_models.Model], slug: str | None = None, **params) -> str:
    path = f"/api/v1/{resource(model)}/" + (f"{slug}/" if slug else "")
    return path + (f"?{urlencode(params)}" if params else "")


def admin_url(model: type[db_models.Model], pk: int | None = None, action: str = "") -> str:
    path = f"/admin/cryptogroups/{model._meta.model_name}/"
    if pk is not None:
        path += f"{pk}/"
    return path + (f"{action}/" if action else "")


# --- What the database holds -----------------------------------------------------------------


def database_state() -> dict:
    """Row counts of every table of the app (records, links, citations, history, changes
    feed), in one query, and the dataset's version: a refused write leaves them as they were."""
    app = apps.get_app_config("cryptogroups")
    tables = sorted(model._meta.db_table for model in app.get_models(include_auto_created=True))
    counts = ", ".join(f"(SELECT COUNT(*) FROM {connection.ops.quote_name(t)})" for t in tables)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {counts}")
        row = cursor.fetchone()
    return {
        **dict(zip(tables, row, strict=True)),
        "version": models.DatasetVersion.current().counter,
    }


def cycles(links: dict[int, int | None]) -> list[int]:
    """The records whose chain of links (child → parent) comes back to a record of it."""
    looping = []
    for start in links:
        seen, node = set(), start
        while node is not None and node not in seen:
            seen.add(node)
            node = links.get(node)
        if node is not None:
            looping.append(start)
    return looping


def broken_rules() -> list[str]:
    """Every breach of the seven integrity rules in the whole database, a few queries each."""
    problems: list[str] = []
    cited_types = {
        content_type.pk: content_type
        for content_type in ContentType.objects.filter(
            app_label="cryptogroups", model__in=CITED_MODEL_NAMES
        )
    }
    citations = models.Citation.objects.all()
    # 1. A citation points at an existing record of a cited model, at a field it has.
    stray = list(citations.exclude(content_type__in=list(cited_types)).values_list("pk", flat=True))
    if stray:
        problems.append(f"citations of a model that is not cited: {stray[:5]}")
    for content_type in cited_types.values():
        model = content_type.model_class()
        of_model = citations.filter(content_type=content_type)
        orphans = list(
            of_model.exclude(object_id__in=model.objects.values("pk")).values_list("pk", flat=True)
        )
        if orphans:
            problems.append(f"citations of missing {model.__name__} records: {orphans[:5]}")
        bad_fields = list(
            of_model.exclude(field_name__isnull=True)
            .exclude(field_name__in=model.cited_fields)
            .values_list("pk", "field_name")
        )
        if bad_fields:
            problems.append(f"citations of fields {model.__name__} lacks: {bad_fields[:5]}")
        # 2. A published record has at least one citation.
        uncited = list(
            model.objects.filter(publication_status=PUBLISHED)
            .exclude(pk__in=of_model.values("object_id"))
            .values_list("slug", flat=True)
        )
        if uncited:
            problems.append(f"published {model.__name__} records without a citation: {uncited}")
    # 3. No record is its own ancestor.
    for model, field in SELF_REFERENCES.items():
        links = dict(model.objects.values_list("pk", f"{field}_id"))
        looping = cycles(links)
        if looping:
            slugs = list(model.objects.filter(pk__in=looping).values_list("slug", flat=True))
            problems.append(f"{model.__name__} records in a cycle through {field}: {slugs}")
    # 4. A migration's groups are on its platforms.
    for end in ("from", "to"):
        elsewhere = list(
            models.Migration.objects.exclude(**{f"{end}_group": None})
            .exclude(**{f"{end}_group__platform": F(f"{end}_platform")})
            .values_list("slug", flat=True)
        )
        if elsewhere:
            problems.append(f"migrations whose {end}_group is off {end}_platform: {elsewhere}")
    # 5. A verbatim quote was read against the source's text, on a given date.
    unread = list(
        citations.filter(verbatim=True)
        .exclude(source_text="read", checked_on__isnull=False)
        .values_list("pk", flat=True)
    )
    if unread:
        problems.append(f"verbatim citations not read against the source: {unread[:5]}")
    # 6. A group's kept visibility is the rule's: published, on a public platform.
    by_rule = set(visibility.public_groups_by_rule().values_list("slug", flat=True))
    flagged = set(models.Group.objects.filter(is_public=True).values_list("slug", flat=True))
    if by_rule != flagged:
        problems.append(
            f"groups whose is_public disagrees with the rule: "
            f"shown {sorted(flagged - by_rule)[:5]}, hidden {sorted(by_rule - flagged)[:5]}"
        )
    # 7. The rule written on joined rows (for a page's few related records) is public()'s.
    for model in CITED:
        public = set(model.objects.public().values_list("slug", flat=True))
        joined = set(model.objects.filter(public_joined(model)).values_list("slug", flat=True))
        if public != joined:
            problems.append(
                f"{model.__name__} records public by one form of the rule only: "
                f"{sorted(public ^ joined)[:5]}"
            )
    return problems


# --- Choices ---------------------------------------------------------------------------------


class Choices:
    """What a step decides, drawn by Hypothesis (so that a failure shrinks and replays)."""

    def __init__(self, draw):
        self.draw = draw

    def one(self, items, label: str | None = None):
        items = list(items)
        return self.draw(st.sampled_from(items), label=label) if items else None

    def maybe(self, label: str | None = None) -> bool:
        return self.draw(st.booleans(), label=label)

    def some(self, items, *, min_size: int = 0, label: str | None = None) -> list:
        items = list(items)
        if not items:
            return []
        strategy = st.lists(st.sampled_from(items), unique=True, min_size=min_size)
        return self.draw(strategy, label=label)


def citation_body(choices: Choices, model: type[db_models.Model], sources: list[str]) -> dict:
    """A citation as a write sends it: of the record or one of its fields (or of a field it
    lacks), verbatim or not, checked against its source or not, or half checked."""
    body = {
        "source": choices.one(sources),
        "field": choices.one([None, *model.cited_fields, "colour", "founded_date"]),
        "quote": "A quote.",
        "verbatim": choices.maybe(),
        "support": choices.one(["stated", "implied", "contradicts"]),
    }
    check = choices.one(["unchecked", "read", "not_found", "date_only", "text_only"])
    if check in ("read", "not_found"):
        body.update(checked_on="2026-12-04", source_text=check)
    elif check == "date_only":
        body["checked_on"] = "2026-12-04"
    elif check == "text_only":
        body["source_text"] = "read"
    if choices.draw(st.integers(0, 9)) == 0:
        del body["verbatim"]  # whoever cites says whether the quote is verbatim
    return body


def form_data(context) -> dict:
    """The POST an admin change form sends unchanged: the record's form, and every inline
    formset with its management form, as the page shows them."""
    data: dict = {}

    def add(form: forms.BaseForm) -> None:
        for name, field in form.fields.items():
            bound = form[name]
            value = bound.value()
            if isinstance(field, forms.BooleanField):
                if value:
                    data[bound.html_name] = "on"
            elif isinstance(value, list | tuple):
                data[bound.html_name] = [str(getattr(v, "pk", v)) for v in value]
            elif value is None:
                data[bound.html_name] = ""
            elif isinstance(value, datetime.date):
                data[bound.html_name] = value.isoformat()
            else:
                data[bound.html_name] = str(getattr(value, "pk", value))

    add(context["adminform"].form)
    for inline in context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    data["change_reason"] = REASON
    return data


# --- Curators ----------------------------------------------------------------------------------


class Curators:
    """Curators at work through the three write paths: each operation draws what it does, does
    it, and checks that the answer is not a server error and that a refusal changed nothing."""

    def __init__(self, api, editor_api, admin, fixtures_copy: Path):
        self.api = api
        self.editor_api = editor_api  # a curator who may also delete for good
        self.admin = admin
        self.fixtures_copy = fixtures_copy
        self.created: dict[type[db_models.Model], list[str]] = {}
        self.written: set[tuple[str, str]] = set()  # (resource, slug) of accepted API writes

    # Helpers ------------------------------------------------------------------------------

    def record(self, choices: Choices, model: type[db_models.Model]):
        """A record of the curated dataset, or one made by an earlier step."""
        made = list(
            model.objects.filter(slug__in=self.created.get(model, [])).values_list("pk", flat=True)
        )
        label = f"{model.__name__} pk"
        if made and choices.maybe(label="one made by a step"):
            return model.objects.get(pk=choices.one(made, label))
        pk = choices.one(model.objects.order_by("pk").values_list("pk", flat=True), label)
        return None if pk is None else model.objects.get(pk=pk)

    @staticmethod
    def kind(choices: Choices, candidates) -> type[db_models.Model] | None:
        """One of the models that has records left."""
        return choices.one([model for model in candidates if model.objects.exists()], "model")

    @staticmethod
    def slugs(model: type[db_models.Model]) -> list[str]:
        return list(model.objects.order_by("pk").values_list("slug", flat=True))

    def citations(self, choices: Choices, model: type[db_models.Model]) -> list[dict]:
        sources = self.slugs(models.Source)
        count = choices.draw(st.integers(0, 3))
        return [citation_body(choices, model, sources) for _ in range(count)]

    def write(self, client, method: str, path: str, body: dict | None = None):
        """An API write; below 500 always, and nothing changed when refused."""
        before = database_state()
        send = getattr(client, method)
        response = send(path) if body is None else send(path, body, "json")
        described = (method.upper(), path, body, response.status_code, response.content[:1500])
        assert response.status_code < 500, described
        if response.status_code >= 400:
            assert database_state() == before, ("a refused write changed the database", described)
        else:
            parts = path.split("?")[0].strip("/").split("/")  # api, v1, resource[, slug]
            slug = parts[3] if len(parts) > 3 else (body or {}).get("slug")
            self.written.add((parts[2], slug))
        return response

    def admin_post(self, path: str, data: dict, *, refused_if_200: bool = True):
        """An admin form; a form shown again (200) with its errors changed nothing."""
        before = database_state()
        response = self.admin.post(path, data)
        described = (path, {k: v for k, v in data.items() if "citation" not in k})
        assert response.status_code in (200, 302), (response.status_code, described)
        if refused_if_200 and response.status_code == 200:
            assert database_state() == before, ("a refused admin form changed the database",)
        return response

    # The write API ------------------------------------------------------------------------

    def api_link_own_kind(self, choices: Choices) -> None:
        """PATCH an organisation's parent, an action's supersedes or a source's
        syndicated_from: to nothing, to any record, or to the record itself or one below it
        (a cycle)."""
        model = self.kind(choices, SELF_REFERENCES)
        field = SELF_REFERENCES[model]
        record = self.record(choices, model)
        if record is None:
            return
        links = dict(model.objects.values_list("pk", f"{field}_id"))
        below, grown = {record.pk}, True  # the record and the records under it
        while grown:
            more = {pk for pk, parent in links.items() if parent in below} - below
            below, grown = below | more, bool(more)
        kind = choices.one(["none", "any", "cycle"])
        target = None
        if kind == "any":
            target = self.record(choices, model)
        elif kind == "cycle":
            target = model.objects.get(pk=choices.one(sorted(below)))
        self.write(
            self.api,
            "patch",
            url(model, record.slug, reason="link"),
            {field: target.slug if target else None},
        )

    def api_set_migration_group(self, choices: Choices) -> None:
        """PATCH a migration's from_group or to_group: a group on the platform, elsewhere, or
        none."""
        migration = self.record(choices, models.Migration)
        if migration is None:
            return
        end = choices.one(["from", "to"])
        platform = getattr(migration, f"{end}_platform_id")
        groups = models.Group.objects.order_by("pk")
        on = list(groups.filter(platform=platform).values_list("slug", flat=True))
        elsewhere = list(groups.exclude(platform=platform).values_list("slug", flat=True))
        group = choices.one([None, *on, *elsewhere] if not on else [*on, None, *elsewhere[:3]])
        self.write(
            self.api,
            "patch",
            url(models.Migration, migration.slug, reason="group"),
            {f"{end}_group": group},
        )

    def api_move_migration(self, choices: Choices) -> None:
        """PATCH a migration's from_platform or to_platform."""
        migration = self.record(choices, models.Migration)
        if migration is None:
            return
        end = choices.one(["from", "to"])
        platform = choices.one(self.slugs(models.Platform))
        self.write(
            self.api,
            "patch",
            url(models.Migration, migration.slug, reason="platform"),
            {f"{end}_platform": platform},
        )

    def api_move_group(self, choices: Choices) -> None:
        """PATCH a group's platform, most often a group a migration names."""
        named = models.Group.objects.filter(
            db_models.Q(migrations_out__isnull=False) | db_models.Q(migrations_in__isnull=False)
        ).values_list("pk", flat=True)
        named = sorted(set(named))
        if named and choices.maybe():
            group = models.Group.objects.get(pk=choices.one(named))
        else:
            group = self.record(choices, models.Group)
        if group is None:
            return
        platform = choices.one(self.slugs(models.Platform))
        self.write(
            self.api,
            "patch",
            url(models.Group, group.slug, reason="platform"),
            {"platform": platform},
        )

    def api_set_citations(self, choices: Choices) -> None:
        """PATCH a record's citations to a random list, possibly empty."""
        model = self.kind(choices, CITED)
        record = self.record(choices, model)
        if record is None:
            return
        self.write(
            self.api,
            "patch",
            url(model, record.slug, reason="citations"),
            {"citations": self.citations(choices, model)},
        )

    def api_put(self, choices: Choices) -> None:
        """PUT a record as it reads, with some of its fields left out (a PUT replaces them),
        and perhaps another publication status."""
        model = self.kind(choices, [*CITED, models.Source])
        record = self.record(choices, model)
        if record is None:
            return
        viewset = representations.viewset_of(model)
        read = viewset.serializer_class(
            viewset.queryset.all().get(pk=record.pk), context={"request": None}
        )
        body = json.loads(json.dumps(read.data, cls=DjangoJSONEncoder))
        for name in choices.some(sorted(body)):
            del body[name]
        if "publication_status" in body and choices.maybe():
            body["publication_status"] = choices.one(["draft", "published", "retracted"])
        self.write(self.api, "put", url(model, record.slug, reason="replace"), body)

    def api_retract(self, choices: Choices) -> None:
        """DELETE a record: a retraction (a source, which has none, is refused)."""
        model = self.kind(choices, [*CITED, models.Source])
        record = self.record(choices, model)
        if record is None:
            return
        self.write(self.api, "delete", url(model, record.slug, reason="retract"))

    def api_delete_for_good(self, choices: Choices) -> None:
        """DELETE a record with hard=true, as a curator who may; refused while other records
        refer to it."""
        model = self.kind(choices, [*CITED, models.Source])
        record = self.record(choices, model)
        if record is None:
            return
        params = {"reason": "delete"} if model is models.Source else {"reason": "x", "hard": "true"}
        self.write(self.editor_api, "delete", url(model, record.slug, **params))

    def api_publish(self, choices: Choices) -> None:
        """PATCH publication_status to published."""
        model = self.kind(choices, CITED)
        record = self.record(choices, model)
        if record is None:
            return
        self.write(
            self.api,
            "patch",
            url(model, record.slug, reason="publish"),
            {"publication_status": PUBLISHED},
        )

    def api_create(self, choices: Choices) -> None:
        """POST a new organisation, action, source, group or migration, linked to records
        that exist, published or not, with or without citations."""
        model = choices.one(
            [
                models.Organization,
                models.RegulatoryAction,
                models.Source,
                models.Group,
                models.Migration,
            ]
        )
        slug = f"made-{model._meta.model_name}-{next(_numbers)}"
        platforms = self.slugs(models.Platform)
        body: dict = {"slug": slug}
        if model is models.Source:
            body |= {
                "title": slug,
                "publisher": "Publisher",
                "document_url": f"https://example.org/{slug}",
                "source_type": "news",
                "language": "en",
                "syndicated_from": choices.one([None, *self.slugs(models.Source)]),
            }
        else:
            body["publication_status"] = choices.one(["draft", PUBLISHED])
            body["citations"] = self.citations(choices, model)
        if model is models.Organization:
            body |= {
                "name": slug,
                "org_type": "regulator",
                "parent": choices.one([None, *self.slugs(models.Organization)]),
            }
        elif model is models.RegulatoryAction:
            body |= {
                "title": slug,
                "action_type": "ban",
                "status": "announced",
                "jurisdiction": "CN",
                "supersedes": choices.one([None, *self.slugs(models.RegulatoryAction)]),
            }
        elif model is models.Group:
            body |= {"name": slug, "group_type": "group", "platform": choices.one(platforms)}
        elif model is models.Migration:
            body |= {
                "title": slug,
                "from_platform": choices.one(platforms),
                "to_platform": choices.one(platforms),
                "from_group": choices.one([None, *self.slugs(models.Group)]),
                "to_group": choices.one([None, *self.slugs(models.Group)]),
            }
        response = self.write(self.api, "post", url(model, reason="create"), body)
        if response.status_code == 201:
            self.created.setdefault(model, []).append(slug)

    # The admin ----------------------------------------------------------------------------

    def a_citation(self, choices: Choices) -> models.Citation:
        """A citation of a record, most often of a published record with few citations."""
        cited = models.Citation.objects.values_list("content_type", flat=True).distinct()
        content_type = ContentType.objects.get_for_id(choices.one(sorted(cited), "cited type"))
        model = content_type.model_class()
        of_model = models.Citation.objects.filter(content_type=content_type)
        few = (
            model.objects.filter(publication_status=PUBLISHED, pk__in=of_model.values("object_id"))
            .annotate(cited=db_models.Count("citations"))
            .filter(cited__lte=2)
            .values_list("pk", flat=True)
        )
        few = sorted(few)
        if few and choices.maybe(label="a published record with few citations"):
            record_pk = choices.one(few, "cited record pk")
        else:
            cited_pks = sorted(set(of_model.values_list("object_id", flat=True)))
            record_pk = choices.one(cited_pks, "cited record pk")
        pks = of_model.filter(object_id=record_pk).order_by("pk").values_list("pk", flat=True)
        return models.Citation.objects.get(pk=choices.one(pks, "citation pk"))

    def admin_move_citation(self, choices: Choices) -> None:
        """The citation's change form: point the citation at another record (of a cited model,
        of another model, or missing), another field, or make it verbatim."""
        citation = self.a_citation(choices)
        target_model = choices.one([*CITED, User], "target model")
        pks = sorted(target_model.objects.values_list("pk", flat=True))
        object_id = choices.one([*pks[:50], max(pks, default=0) + 1000], "target pk")
        fields = getattr(target_model, "cited_fields", ())
        data = {
            "source": citation.source_id,
            "content_type": ContentType.objects.get_for_model(target_model).pk,
            "object_id": object_id,
            "field_name": choices.one(["", *fields, "colour"]),
            "quote": citation.quote,
            "verbatim": "on" if citation.verbatim else "",
            "support": citation.support,
            "locator": citation.locator,
            "note": citation.note,
            "checked_on": citation.checked_on.isoformat() if citation.checked_on else "",
            "source_text": citation.source_text or "",
            "change_reason": REASON,
        }
        if choices.maybe():
            data["verbatim"] = "on" if choices.maybe() else ""
        self.admin_post(admin_url(models.Citation, citation.pk, "change"), data)

    def admin_delete_citation(self, choices: Choices) -> None:
        """The citation's delete page, confirmed."""
        citation = self.a_citation(choices)
        self.admin_post(admin_url(models.Citation, citation.pk, "delete"), {"post": "yes"})

    def admin_delete_citations(self, choices: Choices) -> None:
        """The citation list's bulk delete, confirmed, of some or all of a record's citations
        (and perhaps others)."""
        citation = self.a_citation(choices)
        siblings = models.Citation.objects.filter(
            content_type=citation.content_type_id, object_id=citation.object_id
        ).values_list("pk", flat=True)
        selected = choices.some(sorted(siblings), min_size=1, label="citation pks")
        if choices.maybe():
            selected.append(self.a_citation(choices).pk)
        data = {"action": "delete_selected", "_selected_action": selected, "post": "yes"}
        self.admin_post(admin_url(models.Citation), data, refused_if_200=False)

    def admin_change_record(self, choices: Choices) -> None:
        """A record's change form: a new parent, superseded action, original story, platform
        or migration end; perhaps another publication status; and some of its inline
        citations deleted, made verbatim or not, or pointed at another field."""
        model = self.kind(choices, [*CITED, models.Source])
        record = self.record(choices, model)
        if record is None:
            return
        page = self.admin.get(admin_url(model, record.pk, "change"))
        assert page.status_code == 200
        data = form_data(page.context)
        if model in SELF_REFERENCES:
            field = SELF_REFERENCES[model]
            data[field] = choices.one(["", *model.objects.values_list("pk", flat=True)])
        elif model is models.Group:
            data["platform"] = choices.one(models.Platform.objects.values_list("pk", flat=True))
        elif model is models.Migration:
            field = choices.one(["from_group", "to_group", "from_platform", "to_platform"])
            related = models.Group if field.endswith("group") else models.Platform
            data[field] = choices.one(["", *related.objects.values_list("pk", flat=True)])
        if "publication_status" in data and choices.maybe():
            data["publication_status"] = choices.one(["draft", PUBLISHED, "retracted"])
        total = int(data.get(f"{CITATION_PREFIX}-TOTAL_FORMS", 0))
        for index in choices.some(range(total)):
            row = f"{CITATION_PREFIX}-{index}"
            change = choices.one(["delete", "verbatim", "field"])
            if change == "delete":
                data[f"{row}-DELETE"] = "on"
            elif change == "verbatim":
                data[f"{row}-verbatim"] = "on"
                if choices.maybe():
                    data[f"{row}-source_text"] = ""
            else:
                data[f"{row}-field_name"] = choices.one(["", *model.cited_fields, "colour"])
        self.admin_post(admin_url(model, record.pk, "change"), data)

    def admin_publish_selected(self, choices: Choices) -> None:
        """The list's bulk publish action, on records with and without citations."""
        model = choices.one(CITED, "model")
        unpublished = model.objects.exclude(publication_status=PUBLISHED)
        pks = sorted(unpublished.values_list("pk", flat=True))
        selected = choices.some(pks, min_size=1, label="pks")
        if not selected:
            return
        data = {"action": "publish", "_selected_action": selected}
        self.admin_post(admin_url(model), data, refused_if_200=False)

    def admin_add_citation(self, choices: Choices) -> None:
        """The citation's add form: of a record of any model (or a missing one), any field,
        verbatim or not, checked or not."""
        target_model = choices.one([*CITED, User], "target model")
        pks = sorted(target_model.objects.values_list("pk", flat=True))
        check = choices.one(["", "read", "not_found"], "source_text")
        data = {
            "source": choices.one(models.Source.objects.values_list("pk", flat=True)),
            "content_type": ContentType.objects.get_for_model(target_model).pk,
            "object_id": choices.one([*pks[:50], max(pks, default=0) + 1000], "target pk"),
            "field_name": choices.one(["", *getattr(target_model, "cited_fields", ()), "colour"]),
            "quote": "A quote.",
            "verbatim": "on" if choices.maybe() else "",
            "support": "stated",
            "locator": "",
            "note": "",
            "checked_on": "2026-12-04" if check and choices.maybe() else "",
            "source_text": check,
            "change_reason": REASON,
        }
        self.admin_post(admin_url(models.Citation, action="add"), data)

    # The loader ---------------------------------------------------------------------------

    def load_a_broken_row(self, choices: Choices) -> None:
        self.load_broken(choices.one(sorted(BROKEN_ROWS), "broken row"))

    def load_broken(self, name: str) -> None:
        """``manage.py load_dataset`` on the curated fixtures with one row that breaks a rule
        (see BROKEN_ROWS): refused with a CommandError, nothing changed."""
        directory = self.fixtures_copy / f"{name.replace(' ', '-')}-{next(_numbers)}"
        directory.mkdir()
        rows = {path.name: json.loads(path.read_text()) for path in dataset.fixture_paths()}
        BROKEN_ROWS[name](rows)
        for file_name, content in rows.items():
            (directory / file_name).write_text(json.dumps(content))
        before = database_state()
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(dataset, "FIXTURES_DIR", directory)
            with pytest.raises(CommandError):
                call_command("load_dataset", verbosity=0)
        assert database_state() == before, name


# --- Broken fixture rows for the loader --------------------------------------------------------


def fixture_rows(rows: dict[str, list[dict]], model_name: str) -> list[dict]:
    return [row for file in rows.values() for row in file if row["model"] == model_name]


def _parent_cycle(rows) -> None:
    first, second = fixture_rows(rows, "cryptogroups.organization")[:2]
    first["fields"]["parent"], second["fields"]["parent"] = second["pk"], first["pk"]


def _supersedes_cycle(rows) -> None:
    first, second = fixture_rows(rows, "cryptogroups.regulatoryaction")[:2]
    first["fields"]["supersedes"], second["fields"]["supersedes"] = second["pk"], first["pk"]


def _own_copy(rows) -> None:
    source = fixture_rows(rows, "cryptogroups.source")[0]
    source["fields"]["syndicated_from"] = source["pk"]


def _group_elsewhere(rows) -> None:
    migration = fixture_rows(rows, "cryptogroups.migration")[0]
    platform = migration["fields"]["from_platform"]
    groups = fixture_rows(rows, "cryptogroups.group")
    migration["fields"]["from_group"] = next(
        row["pk"] for row in groups if row["fields"]["platform"] != platform
    )


def _field_lacking(rows) -> None:
    fixture_rows(rows, "cryptogroups.citation")[0]["fields"]["field_name"] = "colour"


def _record_missing(rows) -> None:
    fixture_rows(rows, "cryptogroups.citation")[0]["fields"]["object_id"] = 10**9


def _verbatim_unread(rows) -> None:
    citation = fixture_rows(rows, "cryptogroups.citation")[0]
    citation["fields"].update(verbatim=True, source_text=None, checked_on=None)


def _published_uncited(rows) -> None:
    organization = fixture_rows(rows, "cryptogroups.organization")[0]
    fields = {**organization["fields"], "slug": "uncited-authority", "wikidata_qid": None}
    rows["organizations.json"].append(
        {"model": "cryptogroups.organization", "pk": 10**6, "fields": fields}
    )


#: One row that breaks one rule each.
BROKEN_ROWS = {
    "parent cycle": _parent_cycle,
    "supersedes cycle": _supersedes_cycle,
    "source syndicated from itself": _own_copy,
    "migration group on another platform": _group_elsewhere,
    "citation of a field the record lacks": _field_lacking,
    "citation of a missing record": _record_missing,
    "verbatim citation never read": _verbatim_unread,
    "published record without citation": _published_uncited,
}


# --- The state machine -------------------------------------------------------------------------

#: The loader runs in about one run of the state machine out of this many.
LOADER_ODDS = 8


class WritePaths(RuleBasedStateMachine):
    """Curators' writes through the API, the admin and the loader, on the curated dataset.
    Each run of the machine works inside a savepoint rolled back after it."""

    def __init__(self, curators: Curators):
        super().__init__()
        self.curators = curators
        self.loaded = False
        curators.created, curators.written = {}, set()
        self.savepoint = transaction.savepoint()
        cache.clear()

    def teardown(self) -> None:
        """After every sequence: the export of what the writes left imports into an emptied
        database, which then serves exactly what was exported."""
        try:
            directory = self.curators.fixtures_copy / f"machine-{next(_numbers)}"
            call_command("export_dataset", str(directory), verbosity=0)
            assert_round_trip(directory)
        finally:
            transaction.savepoint_rollback(self.savepoint)
            # Released too, as Django's atomic does: ROLLBACK TO leaves a savepoint open, and
            # on SQLite every write got slower as they piled up, one a run (an import 7 s in
            # the first run, 27 s in the sixth).
            transaction.savepoint_commit(self.savepoint)
            cache.clear()

    def choices(self, data) -> Choices:
        return Choices(data.draw)

    @rule(data=st.data())
    def api_link_own_kind(self, data):
        self.curators.api_link_own_kind(self.choices(data))

    @rule(data=st.data())
    def api_set_migration_group(self, data):
        self.curators.api_set_migration_group(self.choices(data))

    @rule(data=st.data())
    def api_move_migration(self, data):
        self.curators.api_move_migration(self.choices(data))

    @rule(data=st.data())
    def api_move_group(self, data):
        self.curators.api_move_group(self.choices(data))

    @rule(data=st.data())
    def api_set_citations(self, data):
        self.curators.api_set_citations(self.choices(data))

    @rule(data=st.data())
    def api_put(self, data):
        self.curators.api_put(self.choices(data))

    @rule(data=st.data())
    def api_retract(self, data):
        self.curators.api_retract(self.choices(data))

    @rule(data=st.data())
    def api_delete_for_good(self, data):
        self.curators.api_delete_for_good(self.choices(data))

    @rule(data=st.data())
    def api_publish(self, data):
        self.curators.api_publish(self.choices(data))

    @rule(data=st.data())
    def api_create(self, data):
        self.curators.api_create(self.choices(data))

    @rule(data=st.data())
    def admin_move_citation(self, data):
        self.curators.admin_move_citation(self.choices(data))

    @rule(data=st.data())
    def admin_delete_citation(self, data):
        self.curators.admin_delete_citation(self.choices(data))

    @rule(data=st.data())
    def admin_delete_citations(self, data):
        self.curators.admin_delete_citations(self.choices(data))

    @rule(data=st.data())
    def admin_change_record(self, data):
        self.curators.admin_change_record(self.choices(data))

    @rule(data=st.data())
    def admin_publish_selected(self, data):
        self.curators.admin_publish_selected(self.choices(data))

    @rule(data=st.data())
    def admin_add_citation(self, data):
        self.curators.admin_add_citation(self.choices(data))

    @precondition(lambda self: not self.loaded)
    @rule(data=st.data())
    def load_a_broken_row(self, data):
        # Loads are slow (seconds each): at most one per run, and in one run out of a few.
        if data.draw(st.integers(0, LOADER_ODDS - 1), label="load") == 0:
            self.loaded = True
            self.curators.load_a_broken_row(self.choices(data))

    @invariant()
    def the_rules_hold(self):
        assert broken_rules() == []


#: Shrinking replays the machine many times (minutes): a failure shows the steps as run.
MACHINE_SETTINGS = settings(
    max_examples=10,
    stateful_step_count=12,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@pytest.fixture
def curators(curator_api, client, django_user_model, curator, tmp_path) -> Curators:
    admin = django_user_model.objects.create_superuser("admin", "admin@example.org", None)
    client.force_login(admin)
    editor = User.objects.create_user("editor")
    editor.groups.set(curator.groups.all())
    editor.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="cryptogroups", codename__startswith="delete_"
        )
    )
    return Curators(curator_api, token_client(editor), client, tmp_path)


def test_the_curated_dataset_keeps_the_rules():
    assert broken_rules() == []


def test_every_write_path_keeps_the_rules(curators):
    """The examples the machine found breaking the rules are replayed, step by step, by the
    tests at the end of this module: a bulk delete of a published record's citations (a 500),
    a group moved off the platform a migration names it on, and loader rows refused by the
    database's check constraints (an IntegrityError, not a CommandError)."""
    run_state_machine_as_test(lambda: WritePaths(curators), settings=MACHINE_SETTINGS)


# --- A snapshot after random writes --------------------------------------------------------------

#: The API writes made before the export: each leaves a dataset that keeps the rules.
SNAPSHOT_WRITES = [
    "api_link_own_kind",
    "api_set_migration_group",
    "api_move_migration",
    "api_set_citations",
    "api_put",
    "api_retract",
    "api_publish",
    "api_create",
]


def public_representations() -> dict[tuple[str, str], dict]:
    """Every public record as its detail serves it (API URLs relative to the host)."""
    return {
        (resource.path, record.slug): representations.representation(record)
        for model, resource in RESOURCES.items()
        for record in representations.public_queryset(model)
    }


def assert_round_trip(directory: Path) -> None:
    """The snapshot in the directory, exported from the database as it is, imports into an
    emptied database, which then serves exactly what was exported and keeps the rules."""
    before = public_representations()
    empty_domain_tables()
    call_command("import_dataset", str(directory), verbosity=0)
    assert public_representations() == before
    assert broken_rules() == []


def checksums(directory: Path) -> dict[str, str]:
    lines = (directory / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    return {line.split("  ", 1)[1]: line.split("  ", 1)[0] for line in lines}


@settings(
    max_examples=2,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_snapshot_after_random_writes_is_sealed_and_importable(curators, data):
    """Export after a few random writes: SHA256SUMS lists every file with its hash, the
    export holds every public record, and each record the writes touched passes, as exported,
    the validation the import gives it (its write shape, naming records by slug). A full
    import into an empty database takes about a minute: tests/test_snapshots.py spends it
    once, on the curated dataset."""
    savepoint = transaction.savepoint()
    cache.clear()
    try:
        choices = Choices(data.draw)
        curators.created, curators.written = {}, set()
        for _ in range(data.draw(st.integers(3, 8), label="writes")):
            getattr(curators, choices.one(SNAPSHOT_WRITES, "write"))(choices)
        # A record that names one whose slug sorts after its own.
        parent = f.organization(slug="zz-late-parent")
        f.cite(parent)
        f.cite(f.organization(slug="aa-early-child", parent=parent))

        directory = curators.fixtures_copy / f"snapshot-{next(_numbers)}"
        call_command("export_dataset", str(directory), verbosity=0)

        listed = checksums(directory)
        files = {path.name for path in directory.iterdir()} - {"SHA256SUMS"}
        assert set(listed) == files
        for name, digest in listed.items():
            assert hashlib.sha256((directory / name).read_bytes()).hexdigest() == digest, name
        # What the random writes touched (and the two records above) reads back: each record
        # passes the validation the import gives it.
        written = curators.written | {("organizations", "zz-late-parent")}
        written |= {("organizations", "aa-early-child")}
        refused, exported = {}, 0
        for model, name in ((m, r.path) for m, r in RESOURCES.items()):
            write_class = snapshot.write_serializer_of(model)
            lines = (directory / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
            exported += len(lines)
            for line in lines:
                record = json.loads(line)
                if (name, record["slug"]) not in written:
                    continue
                instance = model.objects.get(slug=record["slug"])
                serializer = write_class(instance, data=record)
                if not serializer.is_valid():
                    refused[f"{name}/{record['slug']}"] = serializer.errors
        assert refused == {}
        assert exported == sum(
            representations.public_queryset(model).count() for model in RESOURCES
        )
        assert broken_rules() == []

        assert_round_trip(directory)
    finally:
        transaction.savepoint_rollback(savepoint)
        transaction.savepoint_commit(savepoint)
        cache.clear()


# --- Examples the machine found breaking the rules ---------------------------------------------


def test_deleting_all_of_a_published_records_citations_in_bulk_is_refused(curators):
    """The citation list's bulk delete of the two citations of a published record (each has
    another, so neither is protected on its own)."""
    record = f.organization()
    first, second = f.cite(record), f.cite(record)

    response = curators.admin_post(
        admin_url(models.Citation),
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
        refused_if_200=False,
    )

    assert response.status_code in (200, 302)
    assert record.citations.count() == 2


@pytest.mark.parametrize("path", ["api", "admin"])
def test_a_group_cannot_leave_the_platform_a_migration_names_it_on(curators, path):
    """A migration names a group on its from_platform; the group is then moved to another
    platform, through the write API or the group's change form."""
    migration = models.Migration.objects.get(slug="wechat-to-telegram-2017")
    group = models.Group.objects.filter(platform=migration.from_platform).first()
    curators.write(
        curators.api,
        "patch",
        url(models.Migration, migration.slug, reason="group"),
        {"from_group": group.slug},
    )

    if path == "api":
        response = curators.write(
            curators.api,
            "patch",
            url(models.Group, group.slug, reason="platform"),
            {"platform": migration.to_platform.slug},
        )
        assert response.status_code == 400
    else:
        page = curators.admin.get(admin_url(models.Group, group.pk, "change"))
        data = {**form_data(page.context), "platform": migration.to_platform_id}
        response = curators.admin_post(admin_url(models.Group, group.pk, "change"), data)
        assert response.status_code == 200  # the form again, with its errors
    assert broken_rules() == []


BROKEN_BY_CONSTRAINTS = ["source syndicated from itself", "verbatim citation never read"]


@pytest.mark.parametrize("broken", BROKEN_BY_CONSTRAINTS)
def test_the_loader_refuses_a_row_the_database_refuses_with_a_command_error(curators, broken):
    """A row that breaks one of the database's check constraints (a source syndicated from
    itself, a verbatim quote never read)."""
    curators.load_broken(broken)
