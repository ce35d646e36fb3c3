"""Reads under load while a curator writes: ``python -m bench.writes``.

The run starts gunicorn as ``bench.load`` does (production settings, the response cache on,
Redis when ``REDIS_URL`` is set or ``--private-redis`` is given), finds the same URLs, and
drives wrk over them (``bench/load.lua``) in runs of ``--duration`` seconds: quiet runs, and
runs during which a curator's ``PATCH`` is sent every ``--every`` seconds through the write API,
in turn to an organisation (whose name the exchanges and platforms it operates embed) and to a
group. Each round has one run of each kind, in the other order each round.

It reports, for each kind of run, the reads' req/s, p50 and p99 (medians of the rounds), the
ratio of the p99 with writes to the p99 without, and each write's answer and time (p50, p99,
max). Every write must answer 200 and every read 2xx or 3xx, else the run fails. It writes the
figures to ``bench/results/writes-<UTC timestamp>.json``. See docs/performance.md.

The writes change the database: each one sets a description to a new text.
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench import load, run
from bench.run import HOST, free_port, git_state

ROOT = Path(__file__).resolve().parent.parent
CURATOR = "bench-writer"


class Writer(threading.Thread):
    """A curator's PATCH every ``every`` seconds, to each target in turn, until stopped."""

    def __init__(self, port: int, token: str, targets: list[str], every: float) -> None:
        super().__init__(daemon=True)
        self.port, self.token, self.targets, self.every = port, token, targets, every
        self.stopped = threading.Event()
        self.samples: list[dict] = []

    def run(self) -> None:
        due = time.monotonic() + self.every / 2
        while not self.stopped.wait(max(0.0, due - time.monotonic())):
            self.samples.append(self.write(len(self.samples)))
            due += self.every

    def write(self, number: int) -> dict:
        path = self.targets[number % len(self.targets)]
        body = json.dumps({"description": f"Edited under load, write {number} at {time.time()}."})
        connection = http.client.HTTPConnection(HOST, self.port, timeout=120)
        started = time.monotonic()
        try:
            connection.request(
                "PATCH",
                f"{path}?reason=Load+test",
                body,
                {"Authorization": f"Token {self.token}", "Content-Type": "application/json"},
            )
            response = connection.getresponse()
            response.read()
            status = response.status
        except OSError as error:
            status = f"error: {error}"
        finally:
            connection.close()
        return {"path": path, "status": status, "ms": round((time.monotonic() - started) * 1000, 1)}


def curator_token(env: dict[str, str]) -> str:
    """A token of a curator made for the run (manage.py add_curator and issue_token)."""
    manage = [sys.executable, "manage.py"]
    subprocess.run(
        [*manage, "add_curator", CURATOR], env=env, cwd=ROOT, check=True, capture_output=True
    )
    issued = subprocess.run(
        [*manage, "issue_token", CURATOR, "--days", "1"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    return issued.stdout.strip()


def write_targets(details: list[str]) -> list[str]:
    """The first organisation and the first group among the details found."""
    targets = [
        next((path for path in details if path.startswith(f"/api/v1/{resource}/")), None)
        for resource in ("organizations", "groups")
    ]
    if None in targets:
        raise run.BenchError("No organisation or no group to write to.")
    return targets


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summarise(figures: list[dict]) -> dict:
    """Medians over the rounds of one kind of run."""
    return {
        "rps": round(statistics.median(f["rps"] for f in figures), 1),
        "p50_ms": round(statistics.median(f["latency_ms"]["p50"] for f in figures), 2),
        "p99_ms": round(statistics.median(f["latency_ms"]["p99"] for f in figures), 2),
        "max_ms": max(f["latency_ms"]["max"] for f in figures),
        "requests": sum(f["requests"] for f in figures),
    }


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.writes", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--duration", type=int, default=60, help="seconds per run (60)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, one run of each kind (2)")
    parser.add_argument("--every", type=float, default=10, help="seconds between writes (10)")
    load.add_load_arguments(parser, connections=16, details=50)
    args = parser.parse_args(argv)
    load.check_load_arguments(parser, args)
    if args.rounds < 1 or args.every <= 0:
        parser.error("--rounds from 1, --every above 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if not run.wrk_installed():
        return 2
    started = datetime.datetime.now(datetime.UTC)
    redis_server = load.PrivateRedis() if args.private_redis else None
    redis_url = redis_server.url if redis_server else os.environ.get("REDIS_URL") or None
    port = free_port()
    env = load.server_environment(port, redis_url)
    server = load.Server(port, env)
    runs: dict[str, list[dict]] = {"quiet": [], "writes": []}
    writes: list[dict] = []

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        token = curator_token(env)
        server.start()
        kinds = load.discover(port, args.details_per_resource)
        kinds["filters_searches_feed"] = load.read_url_file(args.urls)
        paths = list(dict.fromkeys(path for group in kinds.values() for path in group))
        load.preflight(port, paths)
        targets = write_targets(kinds["details"])
        print(
            f"Reads: {len(paths)} URLs, {args.connections} connections; a write every "
            f"{args.every:g} s to {', '.join(targets)}; cache "
            f"{'redis' if redis_url else 'memory of each worker'}, "
            f"PUBLISH_VERSIONS={env.get('PUBLISH_VERSIONS', '') or 'off'}",
            flush=True,
        )
        with tempfile.NamedTemporaryFile("w", prefix="writes-urls-", suffix=".txt") as urls:
            urls.write("\n".join(paths) + "\n")
            urls.flush()
            for number in range(args.rounds):
                order = ["quiet", "writes"] if number % 2 == 0 else ["writes", "quiet"]
                for kind in order:
                    writer = Writer(port, token, targets, args.every) if kind == "writes" else None
                    if writer:
                        writer.start()
                    summary, _ = load.wrk(port, Path(urls.name), args)
                    if writer:
                        writer.stopped.set()
                        writer.join()
                        writes += writer.samples
                    figures = load.evaluate(summary)
                    runs[kind].append(figures)
                    latency = figures["latency_ms"]
                    print(
                        f"  round {number + 1} {kind:<6} {figures['rps']:8.1f} req/s  "
                        f"p50 {latency['p50']} ms  p99 {latency['p99']} ms"
                        + (
                            f"  writes: {[(w['status'], w['ms']) for w in writer.samples]}"
                            if writer
                            else ""
                        ),
                        flush=True,
                    )
    finally:
        server.stop()
        if redis_server:
            redis_server.stop()
        signal.signal(signal.SIGTERM, previous)

    quiet, loaded = summarise(runs["quiet"]), summarise(runs["writes"])
    times = [w["ms"] for w in writes if w["status"] == 200]
    failures = [f for figures in runs["quiet"] + runs["writes"] for f in figures["failures"]]
    failures += [f"write to {w['path']}: {w['status']}" for w in writes if w["status"] != 200]
    result = {
        "reads_without_writes": quiet,
        "reads_with_writes": loaded,
        "p99_ratio": round(loaded["p99_ms"] / quiet["p99_ms"], 2) if quiet["p99_ms"] else None,
        "writes": {
            "count": len(writes),
            "p50_ms": percentile(times, 0.5),
            "p99_ms": percentile(times, 0.99),
            "max_ms": max(times, default=None),
            "answers": writes,
        },
        "failures": failures,
    }
    print()
    for label, figures in (("reads, no writes", quiet), ("reads, with writes", loaded)):
        print(
            f"{label:<19} {figures['rps']:8.1f} req/s  p50 {figures['p50_ms']} ms  "
            f"p99 {figures['p99_ms']} ms  max {figures['max_ms']} ms"
        )
    print(f"p99 with writes / without: {result['p99_ratio']}")
    print(
        f"writes: {len(writes)}, p50 {result['writes']['p50_ms']} ms, "
        f"p99 {result['writes']['p99_ms']} ms, max {result['writes']['max_ms']} ms"
    )
    report = {
        "started": started.isoformat(),
        "git": git_state(),
        "cpu_count": os.cpu_count(),
        "settings": {
            **{name: value for name, value in vars(args).items() if name != "urls"},
            "redis": bool(redis_url),
            "publish_versions": env.get("PUBLISH_VERSIONS", ""),
            "api_cache_seconds": int(env.get("API_CACHE_SECONDS", "3600")),
        },
        "urls": len(paths),
        "write_targets": targets,
        "runs": runs,
        "results": result,
    }
    return run.finish("writes-", started, report, failures)


if __name__ == "__main__":
    run.main_of("writes", main)
