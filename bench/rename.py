"""Renaming the platform with the most groups: ``python -m bench.rename``.

The run starts gunicorn as ``bench.load`` does (production settings) and the changes feed's
worker (``manage.py feed_worker``), then renames, through the write API, the platform that the
most groups are on (every one of them shows its name). It reports how long the rename took to
answer, how long until the feed had caught up (every group's entry appended: the feed's pages
say ``catching_up: false``) and how many entries that was, and the answers of the curator writes
sent every ``--every`` seconds to a group while the worker ran (each must answer within a
second). It writes the figures to ``bench/results/rename-<UTC timestamp>.json``. See
docs/performance.md.

The rename changes the database: the platform's name gains " (renamed)", or loses it when it
has it already.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.db.models import Count

from bench import load, run
from bench.run import HOST, free_port, git_state
from bench.writes import Writer, curator_token, percentile

ROOT = Path(__file__).resolve().parent.parent
SUFFIX = " (renamed)"


def largest_platform() -> tuple[str, str, int]:
    """The slug and name of the platform with the most groups, and how many it has."""
    from cryptogroups import models

    platform = (
        models.Platform.objects.annotate(size=Count("groups")).order_by("-size", "pk").first()
    )
    if platform is None:
        raise run.BenchError("No platform: load the dataset first.")
    return platform.slug, platform.name, platform.size


def last_cursor() -> str:
    """The cursor of the feed's last entry."""
    from api.changes import encode_cursor
    from cryptogroups import models

    last = models.Change.objects.order_by("-pk").values_list("pk", flat=True).first()
    return encode_cursor(last or 0)


def patch(port: int, token: str, path: str, body: dict) -> tuple[int, float]:
    connection = http.client.HTTPConnection(HOST, port, timeout=600)
    started = time.monotonic()
    try:
        connection.request(
            "PATCH",
            f"{path}?reason=Rename+benchmark",
            json.dumps(body),
            {"Authorization": f"Token {token}", "Content-Type": "application/json"},
        )
        response = connection.getresponse()
        response.read()
        return response.status, (time.monotonic() - started) * 1000
    finally:
        connection.close()


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.rename", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--every",
        type=float,
        default=2,
        help="seconds between other writes while the worker runs (2)",
    )
    parser.add_argument(
        "--timeout", type=float, default=900, help="seconds to wait for the feed to catch up (900)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    started = datetime.datetime.now(datetime.UTC)
    port = free_port()
    env = load.server_environment(port, os.environ.get("REDIS_URL") or None)
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cryptogroups.settings")
    os.environ.setdefault("SECRET_KEY", env["SECRET_KEY"])
    django.setup()
    from django.conf import settings

    slug, name, size = largest_platform()
    server = load.Server(port, env)
    worker = None
    failures: list[str] = []

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        token = curator_token(env)
        server.start()
        worker = subprocess.Popen(
            [sys.executable, "manage.py", "feed_worker"],
            env={**env, "LOG_FORMAT": "text"},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        cursor = last_cursor()
        group = load.get_json(port, f"/api/v1/groups/?platform={slug}&page_size=1")["results"][0]
        new_name = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else name + SUFFIX
        print(f"Renaming {slug} ({size} groups) to {new_name!r}", flush=True)
        renamed_at = time.monotonic()
        status, rename_ms = patch(port, token, f"/api/v1/platforms/{slug}/", {"name": new_name})
        if status != 200:
            failures.append(f"rename: {status}")
        print(f"  the rename answered {status} in {rename_ms:.0f} ms", flush=True)
        writer = Writer(port, token, [load.local_path(group["url"])], args.every)
        writer.start()
        caught_up_s = None
        while time.monotonic() - renamed_at < args.timeout:
            page = load.get_json(port, f"/api/v1/changes/?page_size=1&after={cursor}")
            if not page["catching_up"]:
                caught_up_s = time.monotonic() - renamed_at
                break
            time.sleep(1)
        writer.stopped.set()
        writer.join()
        if caught_up_s is None:
            failures.append(f"the feed had not caught up after {args.timeout:g} s")
        entries = 0
        page = load.get_json(port, f"/api/v1/changes/?after={cursor}&page_size=500")
        while True:
            entries += len(page["results"])
            if not page["next"]:
                break
            page = load.get_json(port, load.local_path(page["next"]))
    finally:
        if worker is not None:
            worker.terminate()
            worker.wait(timeout=60)
        server.stop()
        signal.signal(signal.SIGTERM, previous)

    times = [w["ms"] for w in writer.samples if w["status"] == 200]
    failures += [
        f"write to {w['path']}: {w['status']}" for w in writer.samples if w["status"] != 200
    ]
    result = {
        "platform": slug,
        "groups": size,
        "rename_ms": round(rename_ms, 1),
        "caught_up_s": round(caught_up_s, 1) if caught_up_s is not None else None,
        "entries": entries,
        "writes_while_catching_up": {
            "count": len(writer.samples),
            "p50_ms": percentile(times, 0.5),
            "p99_ms": percentile(times, 0.99),
            "max_ms": max(times, default=None),
        },
        "failures": failures,
    }
    print(
        f"rename answered in {result['rename_ms']} ms; feed caught up after "
        f"{result['caught_up_s']} s with {entries} entries; other writes meanwhile: "
        f"{len(writer.samples)}, p50 {result['writes_while_catching_up']['p50_ms']} ms, "
        f"p99 {result['writes_while_catching_up']['p99_ms']} ms, "
        f"max {result['writes_while_catching_up']['max_ms']} ms"
    )
    report = {
        "started": started.isoformat(),
        "git": git_state(),
        "cpu_count": os.cpu_count(),
        "settings": {**vars(args), "feed_fanout_batch": settings.FEED_FANOUT_BATCH},
        "results": result,
    }
    return run.finish("rename-", started, report, failures)


if __name__ == "__main__":
    run.main_of("rename", main)
