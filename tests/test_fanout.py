"""A change that reaches many records: the write appends its own entries and answers; the feed
worker appends those of the records that embed it, in batches, and the feed says when it has
caught up. Replaying the feed then gives the public dataset, whatever the batches."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import transaction
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from api import representations
from cryptogroups import feed, models
from cryptogroups.resources import RESOURCES
from tests import factories as f
from tests.test_changes import live_dataset, read_feed, replay

REASON = "?reason=Fan-out+test"


@pytest.fixture
def small_inline_limit(settings):
    """A write looks at no more than 2 records along one relation; the worker, 2 at a time."""
    settings.FEED_INLINE_RELATED = 2
    settings.FEED_FANOUT_BATCH = 2


def platform_with_groups(count: int) -> tuple[models.Platform, list[models.Group]]:
    platform = f.platform()
    f.cite(platform)
    groups = [f.group(platform=platform) for _ in range(count)]
    feed.catch_up()
    return platform, groups


def rename(client, platform: models.Platform) -> None:
    response = client.patch(
        f"/api/v1/platforms/{platform.slug}/{REASON}", {"name": "Renamed"}, format="json"
    )
    assert response.status_code == 200, response.content


def test_a_rename_reaching_many_groups_answers_with_its_own_entry_and_the_worker_appends_theirs(
    api, curator_api, small_inline_limit
):
    platform, groups = platform_with_groups(5)
    _, start = read_feed(api)

    rename(curator_api, platform)

    page = api.get("/api/v1/changes/", {"after": start}).json()
    assert [(e["resource"], e["slug"]) for e in page["results"]] == [("platforms", platform.slug)]
    assert page["catching_up"] is True
    assert page["next"] is None
    noted = models.PendingFanout.objects.values_list("relation", "object_id")
    assert list(noted) == [("groups", platform.pk)]
    # The groups' details already say the new name; the feed has still to.
    detail = api.get(f"/api/v1/groups/{groups[0].slug}/").json()
    assert detail["platform"]["name"] == "Renamed"
    tag = api.get("/api/v1/changes/", {"after": start}).headers["ETag"]

    call_command("feed_worker", "--once", verbosity=0)

    assert not models.PendingFanout.objects.exists()
    caught_up = api.get("/api/v1/changes/", {"after": start}, HTTP_IF_NONE_MATCH=tag)
    assert caught_up.status_code == 200
    page = caught_up.json()
    assert page["catching_up"] is False
    assert [(e["resource"], e["slug"]) for e in page["results"]] == [
        ("platforms", platform.slug),
        *[("groups", group.slug) for group in groups],
    ]
    assert all(e["operation"] == "updated" for e in page["results"])
    assert all(e["data"]["platform"]["name"] == "Renamed" for e in page["results"][1:])
    assert replay(read_feed(api)[0], {}) == live_dataset(api)


def test_within_the_limit_the_write_appends_every_entry_itself(api, curator_api, settings):
    settings.FEED_INLINE_RELATED = 5
    platform, groups = platform_with_groups(5)
    _, start = read_feed(api)

    rename(curator_api, platform)

    page = api.get("/api/v1/changes/", {"after": start}).json()
    assert len(page["results"]) == 1 + len(groups)
    assert page["catching_up"] is False
    assert not models.PendingFanout.objects.exists()


def test_the_worker_takes_a_relation_in_batches_each_committed_on_its_own(
    api, curator_api, small_inline_limit
):
    platform, groups = platform_with_groups(5)
    rename(curator_api, platform)
    last = models.Change.objects.order_by("-pk").first().pk

    assert feed.fan_out(batch=2) == 2
    assert feed.catching_up()
    job = models.PendingFanout.objects.get()
    assert job.after == groups[1].pk
    assert list(models.Change.objects.filter(pk__gt=last).values_list("slug", flat=True)) == [
        group.slug for group in groups[:2]
    ]
    assert feed.fan_out(batch=2) == 2
    assert feed.fan_out(batch=2) == 1
    assert not feed.catching_up()
    assert feed.fan_out(batch=2) is None


def test_a_record_gone_before_the_worker_reaches_its_relation_is_dropped(
    api, curator_api, small_inline_limit
):
    platform, _ = platform_with_groups(3)
    rename(curator_api, platform)
    models.PendingFanout.objects.update(object_id=0)  # a record that is no more

    assert feed.fan_out() == 0
    assert not feed.catching_up()


def test_an_export_waits_for_the_feed_to_catch_up(api, curator_api, small_inline_limit, tmp_path):
    platform, _ = platform_with_groups(3)
    rename(curator_api, platform)
    assert feed.catching_up()

    call_command("export_dataset", str(tmp_path / "snapshot"), verbosity=0)

    assert not feed.catching_up()
    assert replay(read_feed(api)[0], {}) == live_dataset(api)


def test_the_worker_flushes_records_a_writer_left_pending(api):
    """A change committed by a writer whose flush after the commit did not run (a crash):
    its records wait in PendingChange until the worker flushes them."""
    platform = f.platform()
    f.cite(platform)  # saved outside the write API: flushed after the commit, which a test's
    assert models.PendingChange.objects.exists()  # transaction never reaches

    call_command("feed_worker", "--once", verbosity=0)

    assert not models.PendingChange.objects.exists()
    entries, _ = read_feed(api)
    assert ("platforms", platform.slug) in {(e["resource"], e["slug"]) for e in entries}


def test_a_change_through_other_rows_is_looked_for_in_the_records_that_read_them():
    """Next to a group that changed through its platform, the feed looks at the migrations
    (their representations read the groups' table), not at its exchanges or sources."""
    assert models.Migration in feed.readers_of(models.Group)
    assert models.Exchange not in feed.readers_of(models.Group)
    assert models.Source not in feed.readers_of(models.Group)
    assert representations.tables_read(models.Source) == {models.Source._meta.db_table}
    assert models.Group._meta.db_table in representations.tables_read(models.Migration)


# --- Any writes, any batches --------------------------------------------------------------------


def public_dataset() -> dict[tuple[str, str], dict]:
    """Every public record as the feed represents it (API URLs relative to the host)."""
    return {
        (RESOURCES[model].path, slug): document
        for model in RESOURCES
        for _pk, slug, document in representations.represent_public(
            model, list(model._default_manager.values_list("pk", flat=True))
        )
    }


def entries_after(position: int) -> list[dict]:
    return [
        {"resource": c.resource, "slug": c.slug, "operation": c.operation, "data": c.data}
        for c in models.Change.objects.filter(pk__gt=position).order_by("pk")
    ]


class RenamesAndWorker(RuleBasedStateMachine):
    """Curators rename, retract and publish a platform, its operator and its groups through the
    API, while the worker takes batches of any size. A mirror replays the feed as it goes.
    Whenever the feed is not catching up, the mirror is the public dataset; and at any moment,
    once the worker has caught up, it is too."""

    def __init__(self, client):
        super().__init__()
        self.client = client
        self.savepoint = transaction.savepoint()

    def teardown(self) -> None:
        transaction.savepoint_rollback(self.savepoint)
        transaction.savepoint_commit(self.savepoint)

    @initialize()
    def dataset(self):
        self.operator = f.organization(org_type="company")
        self.platform = f.platform(operator=self.operator)
        self.groups = [f.group(platform=self.platform) for _ in range(5)]
        for record in [self.operator, self.platform, *self.groups]:
            f.cite(record)
        feed.catch_up()
        self.position = 0
        self.mirror: dict = {}
        self.read_on()

    def read_on(self) -> None:
        entries = entries_after(self.position)
        if entries:
            self.position = models.Change.objects.order_by("-pk").first().pk
        replay(entries, self.mirror)

    def patch(self, resource: str, slug: str, body: dict) -> None:
        response = self.client.patch(f"/api/v1/{resource}/{slug}/{REASON}", body, format="json")
        assert response.status_code == 200, response.content

    @rule(name=st.sampled_from(["Alpha", "Beta", "Gamma"]))
    def rename_platform(self, name):
        self.patch("platforms", self.platform.slug, {"name": name})

    @rule(name=st.sampled_from(["Operator A", "Operator B"]))
    def rename_operator(self, name):
        self.patch("organizations", self.operator.slug, {"name": name})

    @rule(status=st.sampled_from(["draft", "published"]))
    def platform_status(self, status):
        self.patch("platforms", self.platform.slug, {"publication_status": status})

    @rule(index=st.integers(0, 4), name=st.sampled_from(["One", "Two"]))
    def rename_group(self, index, name):
        self.patch("groups", self.groups[index].slug, {"name": name})

    @rule(batch=st.integers(1, 3))
    def worker_batch(self, batch):
        feed.fan_out(batch=batch)

    @rule()
    def mirror_reads(self):
        self.read_on()

    @invariant()
    def caught_up_mirror_is_the_dataset(self):
        self.read_on()
        if not feed.catching_up():
            assert self.mirror == public_dataset()

    @invariant()
    def catching_up_ends_in_the_dataset(self):
        savepoint = transaction.savepoint()
        try:
            feed.catch_up(batch=2)
            assert not models.PendingFanout.objects.exists()
            mirror = replay(entries_after(self.position), dict(self.mirror))
            assert mirror == public_dataset()
        finally:
            transaction.savepoint_rollback(savepoint)
            transaction.savepoint_commit(savepoint)


MACHINE_SETTINGS = settings(
    max_examples=15,
    stateful_step_count=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_any_writes_and_batches_leave_a_feed_that_replays_into_the_dataset(
    curator_api, small_inline_limit
):
    run_state_machine_as_test(
        lambda: RenamesAndWorker(curator_api),
        settings=MACHINE_SETTINGS,
    )


def test_the_state_machine_catches_a_worker_that_skips_a_batch(
    curator_api, small_inline_limit, monkeypatch
):
    """The machine's invariant fails when the worker loses records (the check can fail)."""
    real = feed.fan_out

    def skipping(using="default", batch=None):
        job = models.PendingFanout.objects.order_by("pk").first()
        if job is not None and job.after:
            job.after += 1  # the next group (their keys follow each other) never looked at
            job.save()
        return real(using=using, batch=batch)

    monkeypatch.setattr(feed, "fan_out", skipping)
    with pytest.raises(AssertionError):
        run_state_machine_as_test(
            lambda: RenamesAndWorker(curator_api),
            # Nothing from the database of examples: only what a mutant makes.
            settings=settings(MACHINE_SETTINGS, phases=[Phase.generate]),
        )
