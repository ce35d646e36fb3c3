"""Per-record versions under concurrent curators, on PostgreSQL: each record's tag is its own,
so curators writing different records never fail each other's If-Match, a curator writing a
record someone else just changed always gets a 412 (never a lost update), writes to different
records do not wait for one another, and the changes feed, replayed by a mirror, still equals
the live public dataset."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, transaction

from cryptogroups import models
from tests.conftest import token_client
from tests.test_changes import live_dataset, read_feed, replay

pytestmark = [
    pytest.mark.usefixtures("dataset_left_in_place"),
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent curators need a server database"
    ),
]

#: Seconds any thread may take; a thread still running after it fails the test.
BOUND = 120


def close_thread_connection() -> None:
    from django.db import connection as thread_connection

    thread_connection.close()


def run_threads(*targets) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=BOUND)
    assert not any(thread.is_alive() for thread in threads), "a curator never finished"


def test_concurrent_curators_get_no_false_412_and_lose_no_update(committed_dataset, curator):
    own = list(
        models.Organization.objects.public().order_by("slug").values_list("slug", flat=True)[:3]
    )
    shared = "/api/v1/platforms/telegram/"
    outcomes: Counter[str] = Counter()
    errors: list[str] = []
    lock = threading.Lock()

    def count(outcome: str) -> None:
        with lock:
            outcomes[outcome] += 1

    def own_writer(index: int, slug: str) -> None:
        """Writes only its own record, each time with the tag its last write answered."""
        client = token_client(curator)
        path = f"/api/v1/organizations/{slug}/"
        try:
            tag = client.get(path)["ETag"]
            for step in range(8):
                response = client.patch(
                    f"{path}?reason=own",
                    {"hq_city": f"City {index}.{step}"},
                    "json",
                    HTTP_IF_MATCH=tag,
                )
                if response.status_code == 412:
                    count("false 412")
                    tag = client.get(path)["ETag"]
                elif response.status_code == 200:
                    count("own write")
                    tag = response["ETag"]
                else:
                    errors.append(f"{slug}: {response.status_code} {response.content[:200]!r}")
        except Exception as error:
            errors.append(repr(error))
        finally:
            close_thread_connection()

    def shared_writer(index: int) -> None:
        """Appends a mark to one shared record: read, change, write with If-Match, and on a
        412 read again and retry."""
        client = token_client(curator)
        try:
            for step in range(4):
                mark = f" [{index}.{step}]"
                for _attempt in range(50):
                    read = client.get(shared)
                    response = client.patch(
                        f"{shared}?reason=shared",
                        {"description": read.json()["description"] + mark},
                        "json",
                        HTTP_IF_MATCH=read["ETag"],
                    )
                    if response.status_code == 200:
                        count("shared write")
                        break
                    if response.status_code != 412:
                        errors.append(f"shared: {response.status_code} {response.content[:200]!r}")
                        break
                    count("true 412")
        except Exception as error:
            errors.append(repr(error))
        finally:
            close_thread_connection()

    description = token_client(curator).get(shared).json()["description"]
    run_threads(
        *[lambda i=i, slug=slug: own_writer(i, slug) for i, slug in enumerate(own)],
        *[lambda i=i: shared_writer(i) for i in range(3)],
    )

    assert errors == []
    assert outcomes["false 412"] == 0
    assert outcomes["own write"] == 3 * 8
    assert outcomes["shared write"] == 3 * 4
    # Every mark is there: no write was lost, whatever the order they came in.
    final = models.Platform.objects.get(slug="telegram").description
    assert final.startswith(description)
    marks = final[len(description) :]
    assert sorted(marks.split()) == sorted(f"[{i}.{s}]" for i in range(3) for s in range(4))
    for index, slug in enumerate(own):
        assert models.Organization.objects.get(slug=slug).hq_city == f"City {index}.7"
    # A mirror replayed from the feed holds the public dataset.
    entries, _ = read_feed(token_client(curator))
    assert replay(entries, {}) == live_dataset(token_client(curator))


def test_a_write_does_not_wait_for_a_write_to_another_record(committed_dataset, curator):
    """One transaction changes a record and stays open; a curator's write to another record
    is answered meanwhile."""
    holding, release, answered = threading.Event(), threading.Event(), threading.Event()
    statuses: list[int] = []

    def long_transaction() -> None:
        try:
            with transaction.atomic():
                record = models.Organization.objects.select_for_update().get(slug="cac")
                record.hq_city = "Held"
                record.save()
                holding.set()
                release.wait(timeout=BOUND)
        finally:
            close_thread_connection()

    def other_write() -> None:
        try:
            response = token_client(curator).patch(
                "/api/v1/organizations/tencent/?reason=other", {"hq_city": "Free"}, "json"
            )
            statuses.append(response.status_code)
            answered.set()
        finally:
            close_thread_connection()

    holder = threading.Thread(target=long_transaction)
    holder.start()
    assert holding.wait(timeout=BOUND)
    writer = threading.Thread(target=other_write)
    writer.start()
    try:
        assert answered.wait(timeout=30), "the write waited for a transaction on another record"
    finally:
        release.set()
        holder.join(timeout=BOUND)
        writer.join(timeout=BOUND)
    assert statuses == [200]
    assert models.Organization.objects.get(slug="cac").hq_city == "Held"
    assert models.Organization.objects.get(slug="tencent").hq_city == "Free"
