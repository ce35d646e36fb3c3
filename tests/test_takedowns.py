"""Takedowns: a record that must not be published leaves the public API, the changes feed
(earlier entries included, and the records that embedded it), its history and every later
snapshot; who did it, when and why are kept, and nothing of what it said."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command

from cryptogroups import feed, models
from tests import factories as f
from tests.conftest import token_client
from tests.test_changes import live_dataset, read_feed, replay

pytestmark = pytest.mark.django_db

#: Words only the record taken down says, and so that nothing may say after it.
EXPOSED = "Private phone number 555-0100 of a named administrator"


@pytest.fixture
def officer(curator):
    """A curator who may also take records down."""
    curator.user_permissions.add(Permission.objects.get(codename="add_takedown"))
    return curator


@pytest.fixture
def exposed(django_capture_on_commit_callbacks):
    """A published response that says too much, embedded in its exchange and its action,
    public and in the feed, edited twice (two slugs), with an admin log entry."""
    with django_capture_on_commit_callbacks(execute=True):
        exchange = f.exchange()
        f.cite(exchange)
        action = f.action()
        f.cite(action)
        response = f.response(exchange=exchange, slug="exposed-old", description=EXPOSED)
        response.actions.add(action)
        f.cite(response, quote=f"{EXPOSED}, said the source.")
    with django_capture_on_commit_callbacks(execute=True):
        response.slug = "exposed"
        response.description = f"{EXPOSED} (edited)"
        response.save()
    LogEntry.objects.create(
        content_type=ContentType.objects.get_for_model(response),
        object_id=str(response.pk),
        object_repr=EXPOSED,
        action_flag=CHANGE,
        user=User.objects.create_user("admin-editor"),
    )
    return response


def takedown_url(slug: str, reason: str | None = "legal request 2026-12") -> str:
    query = f"?reason={reason}" if reason else ""
    return f"/api/v1/exchange-responses/{slug}/takedown/{query}"


def everything_served(client) -> str:
    """The whole public API and the whole feed, as text."""
    entries, _ = read_feed(client)
    return json.dumps([entries, list(live_dataset(client).values())])


def test_a_takedown_removes_the_record_from_everything_served(api, officer, exposed):
    pk = exposed.pk
    assert EXPOSED in everything_served(api)
    assert api.get("/api/v1/exchange-responses/exposed/").status_code == 200

    response = token_client(officer).post(takedown_url("exposed"))

    assert response.status_code == 204, response.content
    assert api.get("/api/v1/exchange-responses/exposed/").status_code == 404
    served = everything_served(api)
    assert EXPOSED not in served
    assert "/api/v1/exchange-responses/exposed/" not in served
    assert "/api/v1/exchange-responses/exposed-old/" not in served
    # Its feed entries, under both slugs, are tombstones; the last one says it is gone.
    own = models.Change.objects.filter(
        resource="exchange-responses", slug__in=["exposed", "exposed-old"]
    )
    assert own.exists()
    assert set(own.values_list("operation", flat=True)) == {"deleted"}
    assert not own.exclude(data=None).exists()
    # A mirror replaying the feed from the start holds the public dataset, without it.
    entries, _ = read_feed(api)
    assert replay(entries, {}) == live_dataset(api)
    # Nothing of it is kept: no history, no citation history, no admin log entry.
    content_type = ContentType.objects.get_for_model(models.ExchangeResponse)
    assert not models.ExchangeResponse.history.filter(id=pk).exists()
    assert not models.Citation.history.filter(content_type=content_type, object_id=pk).exists()
    assert not LogEntry.objects.filter(content_type=content_type, object_id=str(pk)).exists()
    # Who, when and why are.
    takedown = models.Takedown.objects.get()
    assert (takedown.resource, takedown.slug, takedown.taken_by) == (
        "exchange-responses",
        "exposed",
        officer,
    )
    assert takedown.reason == "legal request 2026-12"


def test_no_later_snapshot_holds_it(api, officer, exposed, tmp_path):
    assert token_client(officer).post(takedown_url("exposed")).status_code == 204
    call_command("export_dataset", str(tmp_path / "snapshot"), verbosity=0)
    text = "".join(path.read_text(encoding="utf-8") for path in (tmp_path / "snapshot").iterdir())
    assert EXPOSED not in text
    assert "exposed" not in text


@pytest.mark.parametrize(
    ("who", "status"),
    [("anonymous", 401), ("curator", 403)],
)
def test_only_who_holds_the_permission_takes_down(api, curator, exposed, who, status):
    client = api if who == "anonymous" else token_client(curator)
    before = models.Change.objects.count(), list(models.Change.objects.values("data"))

    response = client.post(takedown_url("exposed"))

    assert response.status_code == status
    assert (models.Change.objects.count(), list(models.Change.objects.values("data"))) == before
    assert models.ExchangeResponse.objects.filter(slug="exposed").exists()
    assert not models.Takedown.objects.exists()


def test_a_takedown_needs_a_reason(officer, exposed):
    response = token_client(officer).post(takedown_url("exposed", reason=None))
    assert response.status_code == 400
    assert response.json()["errors"][0]["attr"] == "reason"
    assert models.ExchangeResponse.objects.filter(slug="exposed").exists()


def test_a_record_others_refer_to_is_a_409_with_nothing_changed(officer, exposed):
    exchange = exposed.exchange
    before = models.Change.objects.count()
    response = token_client(officer).post(f"/api/v1/exchanges/{exchange.slug}/takedown/?reason=x")
    assert response.status_code == 409
    assert models.Exchange.objects.filter(pk=exchange.pk).exists()
    assert models.Change.objects.count() == before
    assert exchange.history.exists()


def test_an_unknown_record_is_a_404(officer):
    assert token_client(officer).post(takedown_url("no-such-response")).status_code == 404


def test_a_draft_can_be_taken_down_too(officer, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        draft = f.response(publication_status="draft", description=EXPOSED)
    response = token_client(officer).post(takedown_url(draft.slug))
    assert response.status_code == 204
    assert not models.ExchangeResponse.objects.filter(pk=draft.pk).exists()
    assert not models.ExchangeResponse.history.filter(id=draft.pk).exists()


def test_scrubbing_leaves_out_only_the_record():
    from cryptogroups.takedowns import without

    url = "/api/v1/exchange-responses/gone/"
    document = {
        "url": "/api/v1/exchanges/kept/",
        "operator": {"url": url, "name": "x"},
        "responses": [{"url": url}, {"url": "/api/v1/exchange-responses/kept/"}],
    }
    assert without(document, url) == {
        "url": "/api/v1/exchanges/kept/",
        "operator": None,
        "responses": [{"url": "/api/v1/exchange-responses/kept/"}],
    }
    assert feed.digest(without(document, "/elsewhere/")) == feed.digest(document)
