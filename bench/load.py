"""A bounded load test of the API as production serves it: ``python -m bench.load``.

The run starts gunicorn with the production configuration (``-c gunicorn.conf.py``,
``cryptogroups.settings``, DEBUG off) on a free loopback port, against the database
``DATABASE_URL`` names. It makes a list of URLs from what the API serves: every list, the detail
of every public record (up to ``--details-per-resource`` per resource), a few histories, the
last page of every list with more than one page, and the filters, searches and feed pages of
``bench/load_urls.txt``. Each must answer 200 first. Then wrk drives the load for
``--duration`` seconds over ``--connections`` connections, spreading the requests over the
list (``bench/load.lua``).

It reports the requests served, req/s, the latency (p50, p99, max), the count of each status,
socket errors (connect, read, write, timeout) and 5xx answers, writes them with the run's
settings to ``bench/results/load-<UTC timestamp>.json``, and exits 1 when any request failed: a
socket error, a 5xx, or any answer other than 2xx or 3xx.

All the load comes from one address, so the rate limits are raised for the run
(``THROTTLE_ANON_RATE`` and ``THROTTLE_USER_RATE``, see ``RAISED_RATE``): every request is still
counted, none is refused. The response cache is the environment's (``API_CACHE_SECONDS``;
``REDIS_URL``, or ``--private-redis`` for a redis-server of the run's own). See
docs/reliability.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from bench import run
from bench.run import HOST, free_port, get, git_state

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "load.lua"
URLS = ROOT / "bench" / "load_urls.txt"

#: The rate limit of the run, anonymous and authenticated alike: far above what one address
#: sends, so that requests are counted as in production but never refused.
RAISED_RATE = "100000000/minute"
#: Histories requested per resource.
HISTORIES_PER_RESOURCE = 1
#: Records read per list page while finding the details to request.
DISCOVERY_PAGE = 100


class LoadError(run.BenchError):
    """The run cannot go on: the message says why."""


# The server ---------------------------------------------------------------------------------------


def server_environment(port: int, redis_url: str | None) -> dict[str, str]:
    """Production settings on loopback, with the rate limits raised for the run."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "cryptogroups.settings",
            "DEBUG": "0",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "ALLOWED_HOSTS": HOST,
            "GUNICORN_BIND": f"{HOST}:{port}",
            "THROTTLE_ANON_RATE": RAISED_RATE,
            "THROTTLE_USER_RATE": RAISED_RATE,
        }
    )
    if redis_url:
        env["REDIS_URL"] = redis_url
    return env


class Server(run.Server):
    """gunicorn as bench.run starts it, with the production settings given, and what the
    load run reads of it afterwards."""

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def boots(self) -> int:
        """How many workers gunicorn has started so far (a replaced worker adds one)."""
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace")
        return text.count("Booting worker with pid")

    def errors_logged(self) -> list[str]:
        """The log lines at level ERROR or above, other than the 5xx answers themselves."""
        self.log.flush()
        found = []
        for line in Path(self.log.name).read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                if "Traceback" in line or "[ERROR]" in line or "[CRITICAL]" in line:
                    found.append(line)
                continue
            if isinstance(entry, dict) and entry.get("level") in ("ERROR", "CRITICAL"):
                found.append(line)
        return found


class PrivateRedis:
    """A redis-server of the run's own on a free loopback port, keeping nothing on disk."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise LoadError("--private-redis needs redis-server (apt-get install redis-server)")
        self.port = free_port()
        self.url = f"redis://{HOST}:{self.port}/0"
        self.process = subprocess.Popen(
            [
                binary,
                *("--port", str(self.port), "--bind", HOST),
                *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection((HOST, self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise LoadError("redis-server did not start")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


# What to request ----------------------------------------------------------------------------------


def get_json(port: int, path: str) -> dict:
    status, _, body = get(port, path, timeout=60)
    if status != 200:
        raise LoadError(f"{path} answered {status}: {body[:300]!r}")
    return json.loads(body)


def local_path(url: str) -> str:
    """The path and query of one of the API's absolute URLs."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def read_url_file(path: Path) -> list[str]:
    """The paths of a URL file: one per line; blank lines and '#' comments left out."""
    paths = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        if not entry.startswith("/") or any(char.isspace() for char in entry):
            raise LoadError(f"{path.name}:{number}: not a path: {entry!r}")
        paths.append(entry)
    return paths


def discover(port: int, details_per_resource: int) -> dict[str, list[str]]:
    """The URLs to request, by kind, found in the API itself."""
    root = get_json(port, "/api/v1/")
    kinds: dict[str, list[str]] = {"lists": [], "details": [], "histories": [], "deep_pages": []}
    for name in sorted(root):
        path = local_path(root[name])
        kinds["lists"].append(path)
        page = get_json(port, f"{path}?{urlencode({'page_size': DISCOVERY_PAGE})}")
        count = page["count"]
        slugs = [record["slug"] for record in page["results"]]
        while page["next"] and len(slugs) < details_per_resource:
            page = get_json(port, local_path(page["next"]))
            slugs += [record["slug"] for record in page["results"]]
        slugs = slugs[:details_per_resource]
        kinds["details"] += [f"{path}{slug}/" for slug in slugs]
        kinds["histories"] += [f"{path}{slug}/history/" for slug in slugs[:HISTORIES_PER_RESOURCE]]
        # The last page of the default page size, and of a small one.
        for size in (20, 2):
            last = math.ceil(count / size)
            if last > 1:
                kinds["deep_pages"].append(f"{path}?{urlencode({'page_size': size, 'page': last})}")
    return kinds


def preflight(port: int, paths: list[str]) -> dict[str, int]:
    """Each URL answers 200; the bytes of each answer, by path."""
    sizes = {}
    failed = []
    for path in paths:
        status, headers, body = get(port, path, timeout=60)
        if status != 200 or not headers.get("Content-Type", "").startswith("application/json"):
            failed.append(f"  {path}: {status} {body[:200]!r}")
        sizes[path] = len(body)
    if failed:
        raise LoadError("Not every URL answers 200 before the load:\n" + "\n".join(failed))
    return sizes


# Load ---------------------------------------------------------------------------------------------


def parse_summary(output: str) -> dict:
    """The LOAD-SUMMARY line bench/load.lua prints, as a dict."""
    for line in output.splitlines():
        if line.startswith("LOAD-SUMMARY "):
            return json.loads(line.removeprefix("LOAD-SUMMARY "))
    raise LoadError(f"wrk printed no LOAD-SUMMARY line:\n{output[-2000:]}")


def evaluate(summary: dict) -> dict:
    """The figures of a run, and what went wrong in it (``failures``, empty when nothing did)."""
    statuses = {int(status): count for status, count in summary["statuses"].items()}
    errors = summary["errors"]
    socket_errors = {name: errors[name] for name in ("connect", "read", "write", "timeout")}
    seconds = summary["duration_us"] / 1e6
    latency = summary["latency_us"]
    five_xx = sum(count for status, count in statuses.items() if status >= 500)
    other = sum(count for status, count in statuses.items() if not 200 <= status < 400)
    failures = []
    if sum(socket_errors.values()):
        failures.append(f"socket errors: {socket_errors}")
    if five_xx:
        failures.append(f"{five_xx} answers 5xx")
    if other:
        failures.append(f"{other} answers other than 2xx/3xx")
    if not summary["requests"]:
        failures.append("no request was answered")
    return {
        "requests": summary["requests"],
        "seconds": round(seconds, 2),
        "rps": round(summary["requests"] / seconds, 1) if seconds else 0.0,
        "latency_ms": {
            name: round(latency[name] / 1000, 2) for name in ("p50", "p90", "p99", "p999", "max")
        },
        "statuses": dict(sorted(statuses.items())),
        "socket_errors": socket_errors,
        "status_5xx": five_xx,
        "non_2xx_3xx": other,
        "bytes": summary["bytes"],
        "failures": failures,
    }


def wrk(port: int, urls_file: Path, args: argparse.Namespace) -> tuple[dict, str]:
    command = [
        shutil.which("wrk") or "wrk",
        f"-t{args.threads}",
        f"-c{args.connections}",
        f"-d{args.duration}s",
        "--timeout",
        f"{args.timeout}s",
        "--latency",
        "-s",
        str(SCRIPT),
        f"http://{HOST}:{port}",
        "--",
        str(urls_file),
    ]
    try:
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=args.duration + 120, check=False
        )
    except subprocess.TimeoutExpired:
        raise LoadError("wrk did not finish in time") from None
    if result.returncode != 0:
        raise LoadError(f"wrk failed ({result.returncode}): {result.stderr.strip()}")
    return parse_summary(result.stdout), result.stdout


# Report -------------------------------------------------------------------------------------------


def report_lines(figures: dict, context: dict) -> list[str]:
    latency = figures["latency_ms"]
    statuses = ", ".join(f"{status}: {count}" for status, count in figures["statuses"].items())
    errors = ", ".join(f"{name} {count}" for name, count in figures["socket_errors"].items())
    return [
        f"requests served   {figures['requests']} in {figures['seconds']} s",
        f"req/s             {figures['rps']}",
        f"latency ms        p50 {latency['p50']}  p99 {latency['p99']}  max {latency['max']}",
        f"statuses          {statuses or 'none'}",
        f"socket errors     {errors}",
        f"5xx               {figures['status_5xx']}",
        f"non-2xx/3xx       {figures['non_2xx_3xx']}",
        f"workers replaced  {context['workers_replaced']} "
        f"(gunicorn max_requests: {context['max_requests']})",
        f"errors logged     {len(context['errors_logged'])}",
    ]


def add_load_arguments(parser: argparse.ArgumentParser, *, connections: int, details: int) -> None:
    """The options of a load over the API's URLs (this script's and bench.writes')."""
    parser.add_argument(
        "--connections", type=int, default=connections, help=f"wrk connections ({connections})"
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--timeout", type=int, default=10, help="wrk's request timeout, s (10)")
    parser.add_argument(
        "--details-per-resource",
        type=int,
        default=details,
        help=f"record details requested per resource, at most ({details})",
    )
    parser.add_argument(
        "--urls", type=Path, default=URLS, help="file of further paths (bench/load_urls.txt)"
    )
    parser.add_argument(
        "--private-redis",
        action="store_true",
        help="start a redis-server of the run's own and use it as the cache (as production "
        "does with REDIS_URL)",
    )


def check_load_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.duration < 1 or args.threads < 1 or args.connections < args.threads:
        parser.error("--duration and --threads from 1, --connections from --threads")


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--duration", type=int, default=60, help="seconds of load (60)")
    add_load_arguments(parser, connections=64, details=200)
    args = parser.parse_args(argv)
    check_load_arguments(parser, args)
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if not run.wrk_installed():
        return 2
    started = datetime.datetime.now(datetime.UTC)
    load_before = [round(x, 2) for x in os.getloadavg()]
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        print("Note: DATABASE_URL does not name PostgreSQL; production figures need it.")
    extra = read_url_file(args.urls)
    redis_server = PrivateRedis() if args.private_redis else None
    redis_url = redis_server.url if redis_server else os.environ.get("REDIS_URL") or None
    port = free_port()
    env = server_environment(port, redis_url)
    server = Server(port, env)

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        server.start()
        kinds = discover(port, args.details_per_resource)
        kinds["filters_searches_feed"] = extra
        paths = list(dict.fromkeys(path for group in kinds.values() for path in group))
        sizes = preflight(port, paths)
        cache_seconds = int(env.get("API_CACHE_SECONDS", "3600"))
        cache = (
            "off"
            if cache_seconds == 0
            else f"{'redis' if redis_url else 'memory of each worker'}, {cache_seconds} s"
        )
        workers = server.workers()
        print(
            f"Load: {args.duration} s, {args.connections} connections, {args.threads} wrk "
            f"threads, over {len(paths)} URLs ("
            + ", ".join(f"{len(group)} {name.replace('_', ' ')}" for name, group in kinds.items())
            + ")",
            flush=True,
        )
        print(
            f"Server: gunicorn -c gunicorn.conf.py, {len(workers)} workers x "
            f"{env.get('GUNICORN_THREADS', '2')} threads, cache {cache}",
            flush=True,
        )
        print(
            f"Rate limits raised for the run: THROTTLE_ANON_RATE={RAISED_RATE}, "
            f"THROTTLE_USER_RATE={RAISED_RATE} (all the load comes from one address; requests "
            "are counted, none refused).",
            flush=True,
        )
        with tempfile.NamedTemporaryFile("w", prefix="load-urls-", suffix=".txt") as urls_file:
            urls_file.write("\n".join(paths) + "\n")
            urls_file.flush()
            summary, output = wrk(port, Path(urls_file.name), args)
        alive = server.alive()
        replaced = server.boots() - len(workers)
        health = get(port, "/healthz", timeout=10)[0] if alive else None
        errors_logged = server.errors_logged()
    finally:
        server.stop()
        if redis_server:
            redis_server.stop()
        signal.signal(signal.SIGTERM, previous)

    figures = evaluate(summary)
    if not alive:
        figures["failures"].append("gunicorn's master exited during the run")
    elif health != 200:
        figures["failures"].append(f"/healthz answered {health} after the run")
    max_requests = int(env.get("GUNICORN_MAX_REQUESTS", "10000"))
    context = {
        "workers_replaced": replaced,
        "max_requests": max_requests,
        "errors_logged": errors_logged[:20],
    }
    report = {
        "started": started.isoformat(),
        "finished": datetime.datetime.now(datetime.UTC).isoformat(),
        "git": git_state(),
        "cpu_count": os.cpu_count(),
        # The machine's load average (1, 5, 15 min) when the run began and ended: other work
        # on the machine weighs on the figures.
        "load_average": {"start": load_before, "end": [round(x, 2) for x in os.getloadavg()]},
        "settings": {
            "duration_s": args.duration,
            "connections": args.connections,
            "wrk": {"threads": args.threads, "timeout_s": args.timeout, "script": "load.lua"},
            "gunicorn": {
                "config": "gunicorn.conf.py",
                "workers": len(workers),
                "threads": int(env.get("GUNICORN_THREADS", "2")),
                "max_requests": max_requests,
            },
            "database": {
                "engine": urlsplit(database_url).scheme or "sqlite",
                "name": urlsplit(database_url).path.lstrip("/") or None,
            },
            "api_cache_seconds": cache_seconds,
            "cache": cache,
            "rate_limits": {"THROTTLE_ANON_RATE": RAISED_RATE, "THROTTLE_USER_RATE": RAISED_RATE},
            "python": platform.python_version(),
        },
        "urls": {name: len(group) for name, group in kinds.items()},
        "url_list": paths,
        "response_bytes": sizes,
        "results": figures,
        **context,
        "wrk_output": output,
    }
    print()
    print("\n".join(report_lines(figures, context)))
    status = run.finish("load-", started, report, figures["failures"])
    if status == 0:
        print("OK: no socket error, no 5xx, every answer 2xx or 3xx.")
    return status


if __name__ == "__main__":
    run.main_of("load", main)
