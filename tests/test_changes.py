"""The changes feed, as a mirror uses it: replayed from the start into an empty store, it gives
exactly the public dataset the API serves, also when writes happen while it is read."""

from __future__ import annotations

import datetime
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client

from api.changes import decode_cursor, encode_cursor
from cryptogroups import feed, models
from cryptogroups.dataset import CITED_MODELS
from tests import factories as f
from tests.conftest import token_client

RESOURCES = [
    "organizations",
    "sources",
    "platforms",
    "platform-availabilities",
    "exchanges",
    "exchange-responses",
    "groups",
    "migrations",
    "regulatory-actions",
]

SOURCE = "star-2017-09-16-wechat-crackdown"
REASON = {"reason": "Feed test"}


def read_feed(client, after: str | None = None, page_size: int = 100):
    """Every entry after the cursor, following `next`; and the final `complete_through`."""
    url = "/api/v1/changes/"
    params = {"page_size": page_size, **({"after": after} if after else {})}
    entries = []
    while True:
        response = client.get(url, params)
        assert response.status_code == 200, response.content
        page = response.json()
        entries.extend(page["results"])
        if page["next"] is None:
            return entries, page["complete_through"]
        query = parse_qs(urlsplit(page["next"]).query)
        assert query["after"] == [page["complete_through"]]
        params = {"after": query["after"][0], "page_size": page_size}


def feed_page(client, cursor: str | None, page_size: int) -> dict:
    params = {"page_size": page_size}
    if cursor is not None:
        params["after"] = cursor
    response = client.get("/api/v1/changes/", params)
    assert response.status_code == 200, response.content
    return response.json()


def replay(entries, store: dict) -> dict:
    for entry in entries:
        key = (entry["resource"], entry["slug"])
        if entry["data"] is None:
            assert entry["operation"] in ("retracted", "deleted")
            store.pop(key, None)
        else:
            assert entry["operation"] in ("created", "updated")
            store[key] = entry["data"]
    return store


def live_dataset(client) -> dict:
    """The public dataset as the API serves it: every record of every list."""
    store = {}
    for resource in RESOURCES:
        url, params = f"/api/v1/{resource}/", {"page_size": 100}
        while url:
            page = client.get(url, params).json()
            for record in page["results"]:
                store[(resource, record["slug"])] = record
            url, params = page["next"], None
    return store


def citation() -> dict:
    return {
        "source": SOURCE,
        "quote": "Bitcoin devotees move to Telegram.",
        "verbatim": False,
        "support": "stated",
    }


def create_organization(client, slug: str, status: str = "published"):
    body = {
        "slug": slug,
        "name": f"Organisation {slug}",
        "org_type": "regulator",
        "country": "CN",
        "publication_status": status,
        "citations": [citation()],
    }
    response = client.post("/api/v1/organizations/?reason=Feed+test", body, format="json")
    assert response.status_code == 201, response.content
    return response


@pytest.fixture
def editor_api(curator):
    """A curator who may also delete for good."""
    curator.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="cryptogroups", codename__startswith="delete_"
        )
    )
    return token_client(curator)


def test_replaying_the_feed_from_the_start_gives_the_public_dataset(api):
    entries, _ = read_feed(api)

    live = live_dataset(api)
    public = sum(model.objects.public().count() for model in CITED_MODELS)
    assert len(live) == public + models.Source.objects.count()
    assert replay(entries, {}) == live


def writes(client) -> list:
    """Changes of every kind: creations, updates that other records embed, a rename, a
    retraction that hides dependent records, a draft, a publication and a hard delete."""

    def patch(path, body):
        response = client.patch(f"{path}?reason=Feed+test", body, format="json")
        assert response.status_code == 200, response.content

    def delete(path, query="reason=Feed+test"):
        response = client.delete(f"{path}?{query}")
        assert response.status_code == 204, response.content

    return [
        lambda: create_organization(client, "feed-regulator"),
        lambda: patch("/api/v1/platforms/telegram/", {"name": "Telegram Messenger"}),
        lambda: patch("/api/v1/groups/okcoin-telegram-group/", {"slug": "okcoin-tg"}),
        lambda: delete("/api/v1/exchanges/okcoin/"),  # its responses leave with it
        lambda: patch(f"/api/v1/sources/{SOURCE}/", {"title": "Crackdown (corrected title)"}),
        lambda: create_organization(client, "feed-draft", status="draft"),
        lambda: patch("/api/v1/organizations/feed-draft/", {"publication_status": "published"}),
        lambda: delete("/api/v1/organizations/feed-regulator/", "reason=Feed+test&hard=true"),
        lambda: patch("/api/v1/exchanges/okcoin/", {"publication_status": "published"}),
    ]


def test_replay_while_writes_happen_gives_the_public_dataset(api, editor_api):
    store, cursor = {}, None
    for write in writes(editor_api):
        # Read a few entries, then write, then read on from where the page ended.
        page = feed_page(api, cursor, 7)
        replay(page["results"], store)
        cursor = page["complete_through"]
        write()
    entries, _ = read_feed(api, after=cursor, page_size=7)
    replay(entries, store)

    live = live_dataset(api)
    assert ("groups", "okcoin-tg") in live
    assert ("groups", "okcoin-telegram-group") not in live
    assert live[("platforms", "telegram")]["name"] == "Telegram Messenger"
    assert ("organizations", "feed-regulator") not in live
    assert ("organizations", "feed-draft") in live
    assert store == live


def test_each_kind_of_change_is_in_the_feed(api, editor_api):
    _, start = read_feed(api)
    for write in writes(editor_api):
        write()
    entries, _ = read_feed(api, after=start)
    said = [(e["resource"], e["slug"], e["operation"]) for e in entries]

    assert ("organizations", "feed-regulator", "created") in said
    assert ("platforms", "telegram", "updated") in said
    # Records that embed the platform are updated with it.
    assert ("groups", "huobi-telegram-group", "updated") in said
    # A rename is a tombstone for the old slug and a creation for the new one.
    assert ("groups", "okcoin-telegram-group", "retracted") in said
    assert ("groups", "okcoin-tg", "created") in said
    # A retracted exchange takes its responses out of the public dataset with it.
    assert ("exchanges", "okcoin", "retracted") in said
    okcoin_responses = [s for r, s, op in said if r == "exchange-responses" and op == "retracted"]
    assert okcoin_responses
    assert all(slug.startswith("okcoin") for slug in okcoin_responses)
    # A draft is never in the feed; its publication is a creation.
    assert ("organizations", "feed-draft", "created") in said
    assert said.index(("organizations", "feed-draft", "created")) > said.index(
        ("sources", SOURCE, "updated")
    )
    assert ("organizations", "feed-regulator", "deleted") in said


def test_a_draft_never_reaches_the_feed(api, curator_api):
    _, start = read_feed(api)
    create_organization(curator_api, "draft-only", status="draft")
    response = curator_api.patch(
        "/api/v1/organizations/draft-only/?reason=x", {"name": "Still a draft"}, format="json"
    )
    assert response.status_code == 200

    entries, through = read_feed(api, after=start)

    assert entries == []
    assert through == start


def test_a_record_back_to_draft_leaves_the_feed_as_a_tombstone(api, curator_api):
    _, start = read_feed(api)
    response = curator_api.patch(
        "/api/v1/groups/huobi-telegram-group/?reason=x",
        {"publication_status": "draft"},
        format="json",
    )
    assert response.status_code == 200

    entries, _ = read_feed(api, after=start)

    assert [(e["slug"], e["operation"], e["data"]) for e in entries] == [
        ("huobi-telegram-group", "retracted", None)
    ]


def test_tombstones_are_kept_for_good(api, editor_api):
    create_organization(editor_api, "short-lived")
    response = editor_api.delete(
        "/api/v1/organizations/short-lived/?reason=Feed+test&hard=true", format="json"
    )
    assert response.status_code == 204
    create_organization(editor_api, "later")

    entries, _ = read_feed(api)

    said = [(e["slug"], e["operation"]) for e in entries if e["resource"] == "organizations"]
    assert said[-3:] == [
        ("short-lived", "created"),
        ("short-lived", "deleted"),
        ("later", "created"),
    ]


def test_pages_say_up_to_which_cursor_they_are_complete(api):
    first = api.get("/api/v1/changes/", {"page_size": 5}).json()
    cursors = [entry["cursor"] for entry in first["results"]]
    assert len(cursors) == 5
    assert first["complete_through"] == cursors[-1]
    second = api.get(first["next"]).json()
    assert second["results"][0]["cursor"] not in cursors
    assert decode_cursor(second["results"][0]["cursor"]) > decode_cursor(cursors[-1])

    entries, through = read_feed(api)
    caught_up = api.get("/api/v1/changes/", {"after": through}).json()
    assert caught_up == {
        "complete_through": through,
        "next": None,
        "catching_up": False,
        "results": [],
    }
    assert through == entries[-1]["cursor"]


def test_entries_carry_absolute_api_urls(api):
    entries, _ = read_feed(api)
    group = next(e for e in entries if e["resource"] == "groups")
    assert group["data"]["url"] == f"http://testserver/api/v1/groups/{group['slug']}/"
    assert group["data"]["platform"]["url"].startswith("http://testserver/api/v1/platforms/")


@pytest.mark.parametrize(
    ("query", "attr"),
    [
        ("after=abc", "after"),
        ("after=Y2cxOgAAAAAAAAAB%21", "after"),  # not base64url
        (f"after={encode_cursor(10**12)}", "after"),  # ahead of the feed
        ("page_size=0", "page_size"),
        ("page_size=501", "page_size"),
        ("page_size=ten", "page_size"),
        ("after=", "after"),
        ("since=2017-09-01", "since"),
        (f"after={encode_cursor(1)}&after={encode_cursor(2)}", "after"),
    ],
)
def test_bad_feed_parameters_are_400_naming_them(api, query, attr):
    response = api.get(f"/api/v1/changes/?{query}")
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "validation_error"
    assert [error["attr"] for error in body["errors"]] == [attr]


def test_the_cursor_is_opaque_not_a_number_or_a_date(api):
    cursor = api.get("/api/v1/changes/", {"page_size": 1}).json()["complete_through"]
    assert not cursor.isdigit()
    with pytest.raises(ValueError, match="Invalid isoformat"):
        datetime.datetime.fromisoformat(cursor)
    assert decode_cursor(cursor) == models.Change.objects.order_by("pk").first().pk


def test_the_feed_answers_304_until_it_changes(api, curator_api):
    response = api.get("/api/v1/changes/")
    etag = response["ETag"]

    assert api.get("/api/v1/changes/", HTTP_IF_NONE_MATCH=etag).status_code == 304
    create_organization(curator_api, "news")
    assert api.get("/api/v1/changes/", HTTP_IF_NONE_MATCH=etag).status_code == 200


def test_an_admin_save_reaches_the_feed(api, admin_client, django_capture_on_commit_callbacks):
    _, start = read_feed(api)
    group = models.Group.objects.get(slug="huobi-telegram-group")
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/cryptogroups/group/",
            {"action": "retract", "_selected_action": [group.pk]},
        )
    assert response.status_code == 302

    entries, _ = read_feed(api, after=start)

    assert [(e["slug"], e["operation"]) for e in entries] == [("huobi-telegram-group", "retracted")]


def test_a_write_that_fails_adds_nothing_to_the_feed(api, curator_api):
    before = models.Change.objects.count()
    response = curator_api.patch(
        "/api/v1/platforms/telegram/?reason=x", {"origin_country": "XX"}, format="json"
    )
    assert response.status_code == 400
    assert models.Change.objects.count() == before
    assert models.PendingChange.objects.count() == 0


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent writers need a server database"
)
def test_replay_with_concurrent_writers_gives_the_public_dataset(committed_dataset, curator):
    """Writers in other threads commit while the feed is read page by page. Entries are
    appended in commit order, so a reader never misses one behind its cursor."""
    curator.user_permissions.add(
        *Permission.objects.filter(
            codename__startswith="delete_", content_type__app_label="cryptogroups"
        )
    )
    errors: list[str] = []

    def writer(index: int) -> None:
        client = token_client(curator)
        try:
            for step in range(6):
                slug = f"concurrent-{index}-{step}"
                create_organization(client, slug)
                response = client.patch(
                    f"/api/v1/organizations/{slug}/?reason=x",
                    {"name": f"Renamed {index} {step}"},
                    format="json",
                )
                if response.status_code != 200:
                    errors.append(response.content.decode())
                if step % 2:
                    client.delete(f"/api/v1/organizations/{slug}/?reason=x")
                response = client.patch(
                    "/api/v1/platforms/telegram/?reason=x",
                    {"description": f"Edited by writer {index}, step {step}."},
                    format="json",
                )
                if response.status_code != 200:
                    errors.append(response.content.decode())
        except Exception as error:
            errors.append(repr(error))
        finally:
            from django.db import connection as thread_connection

            thread_connection.close()

    organizations = models.Organization.objects.public().count()
    reader = Client()
    store, cursor, pages = {}, None, 0
    threads = [threading.Thread(target=writer, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        page = feed_page(reader, cursor, 5)
        replay(page["results"], store)
        cursor, pages = page["complete_through"], pages + 1
    for thread in threads:
        thread.join(timeout=60)
    entries, _ = read_feed(reader, after=cursor)
    replay(entries, store)

    assert errors == []
    assert pages > 1
    live = live_dataset(reader)
    assert sum(1 for resource, _ in live if resource == "organizations") == organizations + 3 * 3
    assert store == live


def test_hiding_a_platform_hides_what_depends_on_it_two_steps_away(api, curator_api):
    """A migration points to a group that is on a platform: back to draft goes the platform,
    and out of the public dataset go the group and, through it, the migration. The feed says
    so, and replaying it still gives the live dataset."""
    platform = f.platform()
    group = f.group(platform=platform)
    migration = models.Migration.objects.get(slug="wechat-to-telegram-2017")
    migration.from_platform, migration.from_group = platform, group
    migration.save()
    feed.flush()  # what the write API does after its writes
    assert api.get("/api/v1/migrations/wechat-to-telegram-2017/").status_code == 200
    _, start = read_feed(api)

    response = curator_api.patch(
        f"/api/v1/platforms/{platform.slug}/?reason=x",
        {"publication_status": "draft"},
        format="json",
    )
    assert response.status_code == 200

    entries, _ = read_feed(api, after=start)
    gone = {(e["resource"], e["slug"]) for e in entries if e["operation"] == "retracted"}
    assert gone == {
        ("platforms", platform.slug),
        ("groups", group.slug),
        ("migrations", "wechat-to-telegram-2017"),
    }
    assert api.get("/api/v1/migrations/wechat-to-telegram-2017/").status_code == 404
    assert replay(read_feed(api)[0], {}) == live_dataset(api)
