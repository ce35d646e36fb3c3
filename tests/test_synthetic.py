"""The synthetic benchmark dataset (``manage.py generate_synthetic``): its sizes, its marks, its
determinism, its refusal to load twice, and that the API serves it like curated data.

Each test loads a small dataset on top of the curated one, in the test's rolled-back
transaction. Expected sizes are written out by hand from the documented proportions."""

from __future__ import annotations

import io
from collections import Counter

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import Count, Max
from rest_framework.test import APIClient

from api import representations
from cryptogroups import feed, models
from cryptogroups.resources import RESOURCE_MODELS
from cryptogroups.synthetic import Plan

pytestmark = pytest.mark.django_db

GROUPS = 2000
MARK = "Synthetic record for benchmarks (seed {seed})."
PREFIX = "synthetic-"

#: For 2000 groups: platforms N/10,000 but at least 3; organisations and sources N/1,000 but
#: at least 4; exchanges and exchange responses N/100; regulatory actions N/200; migrations
#: N/1,000.
EXPECTED = {
    models.Platform: 3,
    models.Organization: 4,
    models.Source: 4,
    models.Exchange: 20,
    models.ExchangeResponse: 20,
    models.RegulatoryAction: 10,
    models.Group: 2000,
    models.Migration: 2,
}

#: Every model whose rows carry a slug, and the field that says a record is synthetic.
MARKED_FIELDS = {
    models.Organization: "description",
    models.Source: "notes",
    models.Platform: "description",
    models.PlatformAvailability: "description",
    models.Exchange: "description",
    models.ExchangeResponse: "description",
    models.RegulatoryAction: "summary",
    models.Group: "description",
    models.Migration: "description",
}

CITED = (
    models.Organization,
    models.Platform,
    models.PlatformAvailability,
    models.Exchange,
    models.ExchangeResponse,
    models.RegulatoryAction,
    models.Group,
    models.Migration,
)


def generate(seed: int = 1, **options) -> str:
    """Run the command quietly; return what it printed."""
    out = io.StringIO()
    call_command(
        "generate_synthetic",
        groups=GROUPS,
        seed=seed,
        verbosity=options.pop("verbosity", 0),
        stdout=out,
        stderr=options.pop("stderr", io.StringIO()),
        **options,
    )
    return out.getvalue()


def synthetic(model):
    return model.objects.filter(slug__startswith=PREFIX)


def per_parent(queryset, field: str) -> Counter:
    """How many rows of the queryset each value of ``field`` has."""
    return Counter(queryset.values_list(field, flat=True))


def test_plan_proportions():
    assert Plan.for_groups(1_000_000) == Plan(
        groups=1_000_000,
        platforms=100,
        organizations=1_000,
        sources=1_000,
        exchanges=10_000,
        responses=10_000,
        actions=5_000,
        migrations=1_000,
    )
    assert Plan.for_groups(10) == Plan(
        groups=10,
        platforms=3,
        organizations=4,
        sources=4,
        exchanges=3,
        responses=2,
        actions=2,
        migrations=1,
    )


def test_counts_follow_the_proportions():
    generate()
    for model, expected in EXPECTED.items():
        assert synthetic(model).count() == expected, model.__name__

    platforms = set(synthetic(models.Platform).values_list("pk", flat=True))
    availabilities = per_parent(synthetic(models.PlatformAvailability), "platform")
    assert set(availabilities) == platforms
    assert set(availabilities.values()) <= {1, 2, 3}

    groups = synthetic(models.Group)
    links = models.GroupExchange.objects.filter(group__in=groups)
    per_group = per_parent(links, "group")
    assert set(per_group.values()) <= {1, 2, 3}
    assert 0.8 * GROUPS <= links.count() <= 1.2 * GROUPS
    assert GROUPS - len(per_group) > 0.2 * GROUPS  # some groups have no exchange

    actions = synthetic(models.RegulatoryAction)
    issuers = models.ActionIssuer.objects.filter(action__in=actions)
    assert set(per_parent(issuers, "action").values()) <= {1, 2}
    assert issuers.values("action").distinct().count() == EXPECTED[models.RegulatoryAction]
    assert not issuers.filter(organization__org_type="company").exists()
    targets = models.ActionTarget.objects.filter(action__in=actions)
    assert set(per_parent(targets, "action").values()) <= {1, 2}
    assert targets.values("action").distinct().count() == EXPECTED[models.RegulatoryAction]

    responses = synthetic(models.ExchangeResponse)
    linked = responses.annotate(n=Count("actions"))
    assert set(linked.values_list("n", flat=True)) <= {1, 2}
    assert not responses.exclude(actions__slug__startswith=PREFIX).exists()

    migrations = synthetic(models.Migration)
    assert all(m.from_platform_id != m.to_platform_id for m in migrations)


def test_only_marked_rows_are_added():
    """Every row the command adds is synthetic and marked; no curated row changes."""
    before = {model: model.objects.aggregate(top=Max("pk"))["top"] or 0 for model in MARKED_FIELDS}
    curated = {model: list(model.objects.order_by("pk").values()) for model in MARKED_FIELDS}
    generate(seed=7)
    for model, field in MARKED_FIELDS.items():
        added = model.objects.filter(pk__gt=before[model])
        assert added.exists(), model.__name__
        assert not added.exclude(slug__startswith=PREFIX).exists(), model.__name__
        marked = {f"{field}__contains": MARK.format(seed=7)}
        assert not added.exclude(**marked).exists(), model.__name__
        if model is not models.Source:
            assert not added.exclude(publication_status="published").exists(), model.__name__
        assert (
            list(model.objects.filter(pk__lte=before[model]).order_by("pk").values())
            == (curated[model])
        )
    sources = synthetic(models.Source)
    assert not sources.exclude(url__startswith="https://synthetic.invalid/").exists()


def test_every_synthetic_record_is_cited():
    generate()
    citations = models.Citation.objects.all()
    for model in CITED:
        content_type = ContentType.objects.get_for_model(model)
        records = synthetic(model)
        ids = set(records.values_list("pk", flat=True))
        cited = per_parent(
            citations.filter(content_type=content_type, object_id__in=ids), "object_id"
        )
        assert set(cited) == ids, model.__name__
        allowed = {1, 2} if model is models.Group else {1}
        assert set(cited.values()) <= allowed, model.__name__
        sources = citations.filter(content_type=content_type, object_id__in=ids)
        assert not sources.exclude(source__slug__startswith=PREFIX).exists()
        assert not sources.exclude(quote__contains=MARK.format(seed=1)).exists()
    group_type = ContentType.objects.get_for_model(models.Group)
    group_ids = synthetic(models.Group).values("pk")
    group_citations = citations.filter(content_type=group_type, object_id__in=group_ids)
    assert 1.3 * GROUPS <= group_citations.count() <= 1.7 * GROUPS


def test_records_pass_model_validation():
    """The database's constraints hold (it enforces them); the models' validators too: ISO
    codes, subdivisions, slugs, partial dates. All small tables, and a sample of groups."""
    generate()
    for model in MARKED_FIELDS:
        records = synthetic(model).order_by("pk")
        for record in records[:50] if model is models.Group else records:
            record.full_clean()


def dump() -> dict[str, list]:
    """The synthetic rows, by natural keys, in a stable order."""
    groups = synthetic(models.Group).order_by("slug")
    slugs = {
        ContentType.objects.get_for_model(model).pk: dict(
            synthetic(model).values_list("pk", "slug")
        )
        for model in CITED
    }
    citations = models.Citation.objects.filter(source__slug__startswith=PREFIX)
    return {
        "groups": list(
            groups.values_list(
                "slug",
                "name",
                "platform__slug",
                "group_type",
                "language",
                "member_count",
                "member_count_as_of_date",
                "status",
                "created_at",
            )
        ),
        "links": list(
            models.GroupExchange.objects.filter(group__in=groups)
            .order_by("group__slug", "exchange__slug")
            .values_list("group__slug", "exchange__slug", "affiliation")
        ),
        "platforms": list(
            synthetic(models.Platform)
            .order_by("slug")
            .values_list("slug", "platform_type", "operator__slug", "user_count")
        ),
        "actions": list(
            synthetic(models.RegulatoryAction)
            .order_by("slug")
            .values_list("slug", "jurisdiction", "subdivision", "announced_date", "action_type")
        ),
        "migrations": list(
            synthetic(models.Migration)
            .order_by("slug")
            .values_list("slug", "from_platform__slug", "to_group__slug", "started_date")
        ),
        "citations": sorted(
            (slugs[ct][object_id], source, field or "", support)
            for ct, object_id, source, field, support in citations.values_list(
                "content_type", "object_id", "source__slug", "field_name", "support"
            )
        ),
    }


def test_same_seed_same_rows_other_seed_other_rows():
    generate(seed=1)
    first = dump()
    generate(seed=1, replace=True)
    assert dump() == first
    generate(seed=2, replace=True)
    other = dump()
    assert other["groups"] != first["groups"]
    assert other["links"] != first["links"]
    assert other["citations"] != first["citations"]
    assert [row[0] for row in other["groups"]] == [row[0] for row in first["groups"]]


def test_refuses_a_second_set_and_replaces_it():
    generate()
    version = models.DatasetVersion.current().counter
    with pytest.raises(CommandError, match="--replace"):
        generate()
    assert models.DatasetVersion.current().counter == version
    out = generate(replace=True, verbosity=1)
    assert "Deleted" in out
    for model, expected in EXPECTED.items():
        assert synthetic(model).count() == expected, model.__name__
    assert models.GroupExchange.objects.filter(group__slug__startswith=PREFIX).count() < (
        1.2 * GROUPS
    )
    assert (
        not models.Citation.objects.filter(
            source__slug__startswith=PREFIX,
            content_type=ContentType.objects.get_for_model(models.Group),
        )
        .exclude(object_id__in=synthetic(models.Group).values("pk"))
        .exists()
    )
    assert models.DatasetVersion.current().counter == version + 1


def test_no_history_no_feed_one_version_bump():
    history = {model: model.history.count() for model in MARKED_FIELDS}
    changes = models.Change.objects.count()
    version = models.DatasetVersion.current().counter
    generate()
    assert {model: model.history.count() for model in MARKED_FIELDS} == history
    assert models.Change.objects.count() == changes
    assert models.DatasetVersion.current().counter == version + 1


def test_the_feed_baseline_is_what_the_feed_would_hold():
    """Every public synthetic record has the state the feed would hold had it published it: a
    flush that looks at them again appends nothing."""
    generate()
    looked_at = []
    for model in MARKED_FIELDS:
        if model not in RESOURCE_MODELS:
            continue
        content_type = ContentType.objects.get_for_model(model)
        public = synthetic(model)
        if hasattr(public, "public"):
            public = public.public()
        states = models.FeedState.objects.filter(
            content_type=content_type, object_id__in=synthetic(model).values("pk")
        )
        assert states.count() == public.count()
        assert not states.filter(digest="").exists()
        # Every record of the small tables, a spread of the groups.
        looked_at += [(model, pk) for pk in synthetic(model).values_list("pk", flat=True)[:150]]
    with transaction.atomic():
        feed.mark(looked_at, using="default", expand=False)
        feed.cancel_scheduled_flush()
    changes = models.Change.objects.count()
    assert feed.flush() == 0
    assert models.Change.objects.count() == changes
    for model, pk in looked_at[:40]:
        state = models.FeedState.objects.get(
            content_type=ContentType.objects.get_for_model(model), object_id=pk
        )
        record = model.objects.get(pk=pk)
        assert state.digest == feed.digest(representations.representation(record))
        assert state.slug == record.slug


def test_the_first_write_after_the_load_appends_what_it_changed(curator_api):
    """A synthetic organisation's description changes: the feed gains that organisation's
    entry, and the records that embed it are compared with the baseline, not published anew."""
    generate()
    organisation = synthetic(models.Organization).public().order_by("pk").first()
    changes = models.Change.objects.count()
    response = curator_api.patch(
        f"/api/v1/organizations/{organisation.slug}/?reason=Edited",
        {"description": "Edited after the load."},
        format="json",
    )
    assert response.status_code == 200, response.content
    appended = list(models.Change.objects.order_by("pk")[changes:])
    assert [(c.resource, c.slug, c.operation) for c in appended] == [
        ("organizations", organisation.slug, "updated")
    ]


def test_replacing_the_set_replaces_its_baseline():
    generate()
    generate(replace=True)
    group_type = ContentType.objects.get_for_model(models.Group)
    assert (
        models.FeedState.objects.filter(
            content_type=group_type, object_id__in=synthetic(models.Group).values("pk")
        ).count()
        == synthetic(models.Group).public().count()
    )
    assert (
        not models.FeedState.objects.filter(content_type=group_type, slug__startswith=PREFIX)
        .exclude(object_id__in=synthetic(models.Group).values("pk"))
        .exists()
    )


def test_the_api_serves_synthetic_groups():
    generate()
    client = APIClient()
    listing = client.get("/api/v1/groups/", {"page_size": 100, "search": "synthetic"})
    assert listing.status_code == 200
    assert listing.json()["count"] >= GROUPS
    assert len(listing.json()["results"]) == 100

    found = client.get("/api/v1/groups/", {"page_size": 100, "search": "0000042"})
    assert found.status_code == 200
    assert [g["slug"] for g in found.json()["results"]] == ["synthetic-group-0000042"]

    link = (
        models.GroupExchange.objects.filter(group__slug__startswith=PREFIX)
        .order_by("group__slug")
        .select_related("group__platform")
        .first()
    )
    group = link.group
    detail = client.get(f"/api/v1/groups/{group.slug}/")
    assert detail.status_code == 200
    body = detail.json()
    assert body["platform"]["slug"] == group.platform.slug
    exchanges = set(group.exchanges.values_list("slug", flat=True))
    assert {e["slug"] for e in body["exchanges"]} == exchanges
    assert link.exchange.slug in exchanges
    assert len(body["citations"]) == group.citations.count() >= 1
    assert all(c["source"]["slug"].startswith(PREFIX) for c in body["citations"])


def test_new_rows_after_the_load_get_fresh_ids():
    """The id sequences were moved past the ids the load gave (PostgreSQL's COPY leaves them
    behind otherwise), so the ORM can create rows again."""
    generate()
    top = models.Source.objects.aggregate(top=Max("pk"))["top"]
    source = models.Source.objects.create(
        slug="after-synthetic",
        title="A source created after the synthetic load",
        publisher="Test",
        url="https://example.org/after-synthetic",
        source_type="news",
        language="en",
    )
    assert source.pk > top
    group = models.Group.objects.create(
        slug="after-synthetic",
        name="After",
        group_type="group",
        platform=synthetic(models.Platform).first(),
    )
    models.Citation.objects.create(
        source=source, record=group, quote="A test quote.", verbatim=False, support="stated"
    )
    models.GroupExchange.objects.create(group=group, exchange=synthetic(models.Exchange).first())


def test_progress_and_summary():
    stderr = io.StringIO()
    out = generate(verbosity=1, stderr=stderr)
    assert "cryptogroups_group" in stderr.getvalue()
    assert "100%" in stderr.getvalue()
    assert "cryptogroups_group" in out
    assert "2,000" in out
    assert "Loaded" in out
    assert " s." in out

    quiet = io.StringIO()
    generate(verbosity=1, stderr=quiet, replace=True, no_progress=True)
    assert quiet.getvalue() == ""


def test_refuses_no_groups():
    with pytest.raises(CommandError, match="at least 1"):
        call_command("generate_synthetic", groups=0, verbosity=0)
