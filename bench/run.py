"""Load-test the groups endpoints against the floor: ``python -m bench.run`` (``make bench``).

The run starts gunicorn as production does (``-c gunicorn.conf.py``) with ``bench.settings`` on
a free loopback port, checks that the API and the floor give the same bytes for every
endpoint, counts each endpoint's queries in-process, then drives load with wrk, the API and its
baseline (the floor; for the 304, the full 200 of the same URL) one after the other, each
round in the other order. It prints a table and writes it, with the run's settings, to
``bench/results/<UTC timestamp>.json``. See docs/performance.md.

The database is the one ``DATABASE_URL`` names (PostgreSQL for real figures).
"""

from __future__ import annotations

import argparse
import datetime
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def save_report(prefix: str, started, report: dict) -> Path:
    """Write a run's report to ``bench/results/<prefix><UTC start>.json``; return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{prefix}{started:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    return path


def finish(prefix: str, started, report: dict, failures: list[str]) -> int:
    """Write the report (``save_report``), say where, and the failures if any: the run's exit
    status (1 when something failed)."""
    path = save_report(prefix, started, report)
    print(f"\nWritten to {path.relative_to(ROOT)}")
    if failures:
        print("FAILED: " + "; ".join(failures[:10]), file=sys.stderr)
        return 1
    return 0


def main_of(name: str, main) -> None:
    """Run a harness's ``main`` as a command: a ``BenchError`` is one line and exit status 1."""
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"{name}: {error}", file=sys.stderr)
        sys.exit(1)


HOST = "127.0.0.1"
WRK_THREADS = 2
WRK_TIMEOUT = "10s"
PAGE_SIZE = 100


class BenchError(Exception):
    """The run cannot go on: the message says why."""


@dataclass
class Endpoint:
    """One line of the table: an API request and what it is compared with."""

    name: str
    api: str
    baseline: str
    #: "floor"; "floor page" when the floor gives the same page under other links (a page by
    #: cursor against the floor's page by number); "200" when the baseline is the full answer
    #: to the same URL; "ceiling" when it is the constant-body view, with a body as long.
    baseline_kind: str = "floor"
    api_headers: dict[str, str] = field(default_factory=dict)
    #: The status the API must answer.
    api_status: int = 200


@dataclass
class Run:
    """One wrk run of one side of an endpoint."""

    round: int
    side: str
    url: str
    rps: float
    p50_ms: float | None
    p99_ms: float | None
    requests: int
    socket_errors: dict[str, int]
    non_2xx_3xx: int
    rss_max_kib: int
    #: Bytes read per response, headers included (a 304 is a few hundred).
    bytes_per_response: float | None = None
    #: Seconds the server took to finish the requests wrk left unanswered, after the run.
    drain_s: float = 0.0


# wrk's output ---------------------------------------------------------------------------------

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def duration_ms(text: str) -> float:
    """A wrk duration (``812.00us``, ``4.02ms``, ``1.20s``, ``2.00m``) in milliseconds."""
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _UNITS_MS[match[2]]


def parse_wrk(output: str) -> dict:
    """Requests/sec, the 50% and 99% latencies (ms), the request count and the errors from
    the output of ``wrk --latency``."""
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.MULTILINE)
    if rps is None:
        raise ValueError("no Requests/sec line in wrk's output")
    percentiles = {
        int(m[1]): duration_ms(m[2])
        for m in re.finditer(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.MULTILINE)
    }
    requests = re.search(r"^\s+(\d+) requests in", output, re.MULTILINE)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    read = re.search(r"requests in \S+, ([0-9.]+)([KMGT]?B) read", output)
    count = int(requests[1]) if requests else 0
    size = float(read[1]) * 1024 ** "BKMGT".index(read[2][0]) if read else None
    return {
        "rps": float(rps[1]),
        # With no request completed, wrk prints zero latencies: they mean nothing.
        "p50_ms": percentiles.get(50) if count else None,
        "p99_ms": percentiles.get(99) if count else None,
        "requests": count,
        "socket_errors": dict(
            zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True)
        )
        if errors
        else {"connect": 0, "read": 0, "write": 0, "timeout": 0},
        "non_2xx_3xx": int(non_2xx[1]) if non_2xx else 0,
        "bytes_per_response": round(size / count, 1) if count and size is not None else None,
    }


# The server ----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def application_name(port: int) -> str:
    return f"cryptogroups-bench-{port}"


def server_environment(port: int) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "bench.settings",
            "GUNICORN_BIND": f"{HOST}:{port}",
            # Workers are not recycled during a run: a restart in the middle of one run and
            # not the other would weigh on one side only, and reset the memory measured.
            "GUNICORN_MAX_REQUESTS": env.get("GUNICORN_MAX_REQUESTS", "0"),
            # The workers' PostgreSQL sessions carry this name (libpq reads it), so that the
            # run can tell when they are idle.
            "PGAPPNAME": application_name(port),
            # The load comes from one address: the rate limits are counted, as in production,
            # but set out of reach.
            "THROTTLE_ANON_RATE": env.get("THROTTLE_ANON_RATE", "1000000000/second"),
            "THROTTLE_USER_RATE": env.get("THROTTLE_USER_RATE", "1000000000/second"),
        }
    )
    env.pop("GUNICORN_ACCESS_LOG", None)
    return env


class Server:
    """gunicorn with the production configuration and bench.settings (or the environment
    given), stopped on exit."""

    def __init__(self, port: int, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.env = env if env is not None else server_environment(port)
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed in stop()
            prefix="bench-gunicorn-", suffix=".log", delete=False
        )
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 60) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"gunicorn exited ({self.process.returncode}):\n{self.tail()}")
            try:
                status, _, _ = get(self.port, "/healthz", timeout=2)
                if status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise BenchError(f"gunicorn did not answer within {timeout:.0f} s:\n{self.tail()}")

    def workers(self) -> list[int]:
        """The worker processes: the master's children."""
        if self.process is None:
            return []
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after its ")".
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == self.process.pid:
                children.append(int(entry.name))
        return children

    def rss_kib(self) -> int:
        """The largest resident set (VmRSS, KiB) of the workers now."""
        largest = 0
        for pid in self.workers():
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
            if match:
                largest = max(largest, int(match[1]))
        return largest

    def cpu_ticks(self) -> int:
        """CPU time the workers have used so far, in clock ticks."""
        total = 0
        for pid in self.workers():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total

    def busy_queries(self) -> int:
        """The workers' PostgreSQL sessions running a statement (0 on other databases)."""
        from django.db import connection

        if connection.vendor != "postgresql":
            return 0
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                "AND state <> 'idle'",
                [application_name(self.port)],
            )
            return cursor.fetchone()[0]

    def drain(self, timeout: float = 300) -> float:
        """Wait until the workers are idle (no CPU spent, no statement running): when wrk
        stops, requests it sent may still be running, and must not weigh on the next run.
        Returns the seconds waited."""
        started = time.monotonic()
        quiet = 0
        ticks = self.cpu_ticks()
        while quiet < 2 and time.monotonic() - started < timeout:
            time.sleep(0.25)
            now = self.cpu_ticks()
            quiet = quiet + 1 if now - ticks <= 2 and not self.busy_queries() else 0
            ticks = now
        return round(time.monotonic() - started, 2)

    def tail(self, lines: int = 40) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)  # gunicorn's quick shutdown
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)  # the session started for it
                process.wait()
        self.log.close()
        Path(self.log.name).unlink(missing_ok=True)


def get(port: int, path: str, headers: dict | None = None, timeout: float = 120):
    connection = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        connection.request("GET", path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


# What to request -------------------------------------------------------------------------------


def choose_targets(client) -> dict:
    """The platform with most public groups, a public group in the middle of the table, the
    last-but-one page of the list and a word found in some names, from the data present."""
    from django.db.models import Count, Max, Min

    from api import pagination
    from cryptogroups.models import Group

    public = Group.objects.public()
    top = (
        public.values("platform__slug")
        .annotate(groups=Count("id"))
        .order_by("-groups", "platform__slug")
        .first()
    )
    if top is None:
        raise BenchError("The database has no public group: load a dataset first.")
    bounds = public.aggregate(low=Min("id"), high=Max("id"))
    middle = (bounds["low"] + bounds["high"]) // 2
    slug = public.filter(id__gte=middle).order_by("id").values_list("slug", flat=True).first()
    response = client.get(f"/api/v1/groups/?page_size={PAGE_SIZE}")
    if response.status_code != 200:
        raise BenchError(f"/api/v1/groups/ answered {response.status_code}")
    count = json.loads(response.content)["count"]
    pages = max(1, -(-count // PAGE_SIZE))
    names = list(public.order_by("id").values_list("name", flat=True)[:2000])
    # The cursor a crawl holds when it reaches the deep page: the keys of the record before it.
    ordered = public.order_by("name", "slug")
    skipped = (max(1, pages - 1) - 1) * PAGE_SIZE
    cursor = pagination.START
    if skipped:
        keys = ordered.values_list("name", "slug")[skipped - 1]
        terms = pagination.ordering_terms(ordered)
        cursor = pagination.encode_cursor(terms, keys, backwards=False)
    return {
        "platform": top["platform__slug"],
        "platform_groups": top["groups"],
        "group": slug,
        "public_groups": count,
        "pages": pages,
        "deep_page": max(1, pages - 1),
        "word": search_word(names),
        "deep_cursor": cursor,
    }


def search_word(names: list[str]) -> str:
    """A word of four letters or more found in some names but not most: the commonest of
    those in at most a quarter of them (the commonest of all if none is that rare)."""
    seen = Counter(
        word for name in names for word in set(re.findall(r"[^\W\d_]{4,}", name.lower()))
    )
    if not seen:
        raise BenchError("No group name has a word to search for.")
    rare = {word: n for word, n in seen.items() if n <= len(names) / 4} or seen
    return min(rare, key=lambda word: (-rare[word], word))


def endpoints(targets: dict, etag: str | None = None) -> list[Endpoint]:
    size = f"page_size={PAGE_SIZE}"
    queries = {
        "list": f"?{size}",
        "filtered": f"?platform={targets['platform']}&{size}",
        "deep page": f"?page={targets['deep_page']}&{size}",
        "search": f"?search={quote(targets['word'])}&{size}",
    }
    found = [
        Endpoint(name, f"/api/v1/groups/{query}", f"/floor/groups/{query}")
        for name, query in queries.items()
    ]
    # The same deep page read by cursor, against the floor's page by number.
    found.insert(
        3,
        Endpoint(
            "deep cursor",
            f"/api/v1/groups/?cursor={targets['deep_cursor']}&{size}",
            found[2].baseline,
            baseline_kind="floor page",
        ),
    )
    found.insert(
        2,
        Endpoint(
            "detail", f"/api/v1/groups/{targets['group']}/", f"/floor/groups/{targets['group']}/"
        ),
    )
    if etag is not None:
        found.append(
            Endpoint(
                "304",
                found[0].api,
                found[0].api,
                baseline_kind="200",
                api_headers={"If-None-Match": etag},
                api_status=304,
            )
        )
    return found


def ceiling_endpoints(port: int, found: list[Endpoint], etag: str) -> list[Endpoint]:
    """With the response cache on: the cached list and detail, and the 304, each against the
    constant-body view answering as many bytes (none for the 304) on the same server."""
    by_name = {endpoint.name: endpoint for endpoint in found}
    ceiling = []
    for name in ("list", "detail"):
        size = len(get(port, by_name[name].api)[2])
        ceiling.append(
            Endpoint(
                f"{name} hit",
                by_name[name].api,
                f"/floor/constant/?bytes={size}",
                baseline_kind="ceiling",
            )
        )
    ceiling.append(
        Endpoint(
            "304 hit",
            by_name["list"].api,
            "/floor/constant/?bytes=2",
            baseline_kind="ceiling",
            api_headers={"If-None-Match": etag},
            api_status=304,
        )
    )
    return ceiling


# Checks and counts ---------------------------------------------------------------------------


def first_difference(a: bytes, b: bytes) -> int:
    for index, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return index
    return min(len(a), len(b))


def both_answers(port: int, endpoint: Endpoint) -> tuple[tuple[dict, bytes], tuple[dict, bytes]]:
    """The API's and the baseline's headers and bodies; an error unless both answered 200."""
    api_status, api_headers, api_body = get(port, endpoint.api)
    floor_status, floor_headers, floor_body = get(port, endpoint.baseline)
    if api_status != 200 or floor_status != 200:
        raise BenchError(
            f"{endpoint.name}: {endpoint.api} answered {api_status}, "
            f"{endpoint.baseline} answered {floor_status}"
        )
    return (api_headers, api_body), (floor_headers, floor_body)


def check_same_page(port: int, endpoint: Endpoint) -> int:
    """The API's page holds the floor's count and records, in the same order (their links to
    the pages around differ); returns the API body's length."""
    (_, api_body), (_, floor_body) = both_answers(port, endpoint)
    api_page, floor_page = json.loads(api_body), json.loads(floor_body)
    for part in ("count", "results"):
        if api_page[part] != floor_page[part]:
            raise BenchError(
                f"{endpoint.name}: the API's page and the floor's differ in {part!r}.\n"
                f"  API   {endpoint.api}\n  floor {endpoint.baseline}"
            )
    return len(api_body)


def check_bytes(port: int, endpoint: Endpoint) -> int:
    """The API's and the floor's bodies are the same bytes; returns their length."""
    (api_headers, api_body), (floor_headers, floor_body) = both_answers(port, endpoint)
    for url, headers in ((endpoint.api, api_headers), (endpoint.baseline, floor_headers)):
        if headers.get("Content-Type") != "application/json":
            raise BenchError(f"{url}: Content-Type {headers.get('Content-Type')!r}")
    if api_body != floor_body:
        at = first_difference(api_body, floor_body)
        excerpt = slice(max(0, at - 160), at + 160)
        raise BenchError(
            f"{endpoint.name}: the API and the floor differ at byte {at} "
            f"(lengths {len(api_body)} and {len(floor_body)}).\n"
            f"  API   {endpoint.api}\n    ...{api_body[excerpt]!r}...\n"
            f"  floor {endpoint.baseline}\n    ...{floor_body[excerpt]!r}..."
        )
    return len(api_body)


def check_ceiling(port: int, endpoint: Endpoint) -> int:
    """The API answers as the row says, and the ceiling as many bytes (none for a 304);
    returns that length."""
    api_status, _, api_body = get(port, endpoint.api, endpoint.api_headers)
    status, _, body = get(port, endpoint.baseline)
    if api_status != endpoint.api_status or status != 200:
        raise BenchError(
            f"{endpoint.name}: {endpoint.api} answered {api_status}, "
            f"{endpoint.baseline} answered {status}"
        )
    if api_status == 200 and len(api_body) != len(body):
        raise BenchError(f"{endpoint.name}: {len(api_body)} bytes, the ceiling {len(body)}")
    return len(api_body)


def count_queries(client, path: str, headers: dict[str, str], status: int) -> int:
    """Queries of one request once the process is warm (caches filled, plans compiled)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items()}
    client.get(path, **extra)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path, **extra)
    if response.status_code != status:
        raise BenchError(f"{path} answered {response.status_code} in-process, not {status}")
    return len(captured)


def queries(client, endpoint: Endpoint) -> dict[str, int]:
    from django.test.utils import override_settings

    baseline_status = 200
    counted = {
        "api": count_queries(client, endpoint.api, endpoint.api_headers, endpoint.api_status),
        "baseline": count_queries(client, endpoint.baseline, {}, baseline_status),
    }
    with override_settings(API_CACHE_SECONDS=0):
        counted["api_uncached"] = count_queries(
            client, endpoint.api, endpoint.api_headers, endpoint.api_status
        )
    return counted


# Load -------------------------------------------------------------------------------------------


def wrk_installed() -> bool:
    """Whether wrk is on the PATH; says how to install it when it is not."""
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk).", file=sys.stderr)
        return False
    return True


def wrk(
    server: Server, path: str, headers: dict, duration: int, connections: int
) -> tuple[dict, int]:
    command = [
        shutil.which("wrk") or "wrk",
        f"-t{WRK_THREADS}",
        f"-c{connections}",
        f"-d{duration}s",
        "--timeout",
        WRK_TIMEOUT,
        "--latency",
    ]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    command.append(f"http://{HOST}:{server.port}{path}")
    rss = 0
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + duration + 60
        while process.poll() is None:
            rss = max(rss, server.rss_kib())
            if time.monotonic() > deadline:
                raise BenchError(f"wrk did not finish: {path}")
            time.sleep(0.25)
        output, errors = process.communicate()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    rss = max(rss, server.rss_kib())
    if process.returncode != 0:
        raise BenchError(f"wrk failed on {path} ({process.returncode}): {errors.strip()}")
    measured = parse_wrk(output)
    measured["drain_s"] = server.drain()
    return measured, rss


def only(found: list[Endpoint], names: list[str]) -> list[Endpoint]:
    """The endpoints named (all when none is), in the run's order; a BenchError naming any name
    that is not an endpoint of the run, and the names that are."""
    unknown = [name for name in names if name not in {endpoint.name for endpoint in found}]
    if unknown:
        known = ", ".join(repr(endpoint.name) for endpoint in found)
        raise BenchError(f"--only: no endpoint named {', '.join(map(repr, unknown))}: {known}")
    return [endpoint for endpoint in found if not names or endpoint.name in names]


def load(server: Server, found: list[Endpoint], args) -> dict[str, list[Run]]:
    runs: dict[str, list[Run]] = {endpoint.name: [] for endpoint in found}
    for number in range(args.rounds):
        for endpoint in found:
            sides = [
                ("api", endpoint.api, endpoint.api_headers),
                ("baseline", endpoint.baseline, {}),
            ]
            if number % 2:
                sides.reverse()
            for side, path, headers in sides:
                measured, rss = wrk(server, path, headers, args.duration, args.connections)
                runs[endpoint.name].append(
                    Run(round=number + 1, side=side, url=path, rss_max_kib=rss, **measured)
                )
                drained = measured["drain_s"]
                print(
                    f"  round {number + 1} {endpoint.name:<11} {side:<8} "
                    f"{measured['rps']:9.1f} req/s"
                    + (f"  (then {drained:.1f} s to finish its requests)" if drained > 1 else ""),
                    flush=True,
                )
    return runs


def median(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def summarise(runs: list[Run]) -> dict:
    """Medians over rounds per side, and the ratios of the API to its baseline: the median of
    each round's ratio, the two runs of a round having been measured side by side."""
    sides = {}
    for side in ("api", "baseline"):
        mine = [run for run in runs if run.side == side]
        sides[side] = {
            "rps": median([run.rps for run in mine]),
            "p50_ms": median([run.p50_ms for run in mine]),
            "p99_ms": median([run.p99_ms for run in mine]),
            "rss_max_kib": max((run.rss_max_kib for run in mine), default=0),
            "socket_errors": sum(sum(run.socket_errors.values()) for run in mine),
            "non_2xx_3xx": sum(run.non_2xx_3xx for run in mine),
        }
    rounds = sorted({run.round for run in runs})
    paired = [
        (
            next(run for run in runs if run.round == n and run.side == "api"),
            next(run for run in runs if run.round == n and run.side == "baseline"),
        )
        for n in rounds
    ]
    return {
        **sides,
        "rps_ratio": median([ratio(api.rps, base.rps) for api, base in paired]),
        "p99_ratio": median([ratio(api.p99_ms, base.p99_ms) for api, base in paired]),
        "rps_ratios_by_round": [ratio(api.rps, base.rps) for api, base in paired],
    }


# Report -----------------------------------------------------------------------------------------


def fmt(value, spec: str) -> str:
    """``value`` in ``spec`` (width first), or a dash as wide when there is no value."""
    if value is None:
        return "-".rjust(int(re.match(r"\d*", spec)[0] or 0))
    return format(value, spec)


def table(found: list[Endpoint], results: dict) -> str:
    header = (
        f"{'endpoint':<11} {'side':<10} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'queries':>7} {'RSS MiB':>8} {'req/s ratio':>11} {'p99 ratio':>9}"
    )
    lines = [header, "-" * len(header)]
    for endpoint in found:
        result = results[endpoint.name]
        summary, counted = result["summary"], result["queries"]
        for side, label in (("api", "API"), ("baseline", endpoint.baseline_kind)):
            s = summary[side]
            api_line = side == "api"
            queries_text = str(counted[side])
            if api_line and counted["api_uncached"] != counted["api"]:
                queries_text = f"{counted['api']}/{counted['api_uncached']}"
            errors = s["socket_errors"] + s["non_2xx_3xx"]
            lines.append(
                f"{endpoint.name if api_line else '':<11} {label:<10} {fmt(s['rps'], '9.1f')} "
                f"{fmt(s['p50_ms'], '8.2f')} {fmt(s['p99_ms'], '8.2f')} {queries_text:>7} "
                f"{s['rss_max_kib'] / 1024:8.1f} "
                f"{fmt(summary['rps_ratio'] if api_line else None, '11.2f')} "
                f"{fmt(summary['p99_ratio'] if api_line else None, '9.2f')}"
                + (f"  ({errors} errors)" if errors else "")
            )
    lines.append(
        "queries: per request, in-process, warm; API a/b: with the response cache / without it."
    )
    lines.append(
        "ratios: API / baseline, median of the rounds' ratios (req/s above 1: the API is faster; "
        "p99 above 1: the API is slower)."
    )
    return "\n".join(lines)


def git_state() -> dict:
    def git(*arguments: str) -> str:
        try:
            return subprocess.run(
                ["git", *arguments], cwd=ROOT, capture_output=True, text=True, check=True
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    return {"commit": git("rev-parse", "HEAD") or None, "dirty": bool(git("status", "--porcelain"))}


def dataset_version() -> tuple:
    from cryptogroups.models import DatasetVersion

    current = DatasetVersion.current()
    return current.counter, current.changed_at


def row_counts() -> dict[str, int]:
    from cryptogroups import models

    tables = {
        "groups": models.Group,
        "group_exchanges": models.GroupExchange,
        "citations": models.Citation,
        "sources": models.Source,
        "platforms": models.Platform,
        "exchanges": models.Exchange,
        "organizations": models.Organization,
        "migrations": models.Migration,
    }
    return {name: model.objects.count() for name, model in tables.items()}


def settings_used(args, port: int) -> dict:
    import django
    from django.conf import settings
    from django.db import connection

    env = server_environment(port)
    cpus = os.cpu_count() or 1
    return {
        "duration_s": args.duration,
        "rounds": args.rounds,
        "connections": args.connections,
        "smoke": args.smoke,
        "wrk": {"threads": WRK_THREADS, "timeout": WRK_TIMEOUT},
        "gunicorn": {
            "config": "gunicorn.conf.py",
            "workers": int(env.get("WEB_CONCURRENCY") or cpus * 2 + 1),
            "threads": int(env.get("GUNICORN_THREADS") or 2),
            "max_requests": int(env["GUNICORN_MAX_REQUESTS"]),
        },
        "database": {
            "vendor": connection.vendor,
            "name": str(connection.settings_dict["NAME"]),
            "host": connection.settings_dict.get("HOST") or None,
            "conn_max_age": connection.settings_dict.get("CONN_MAX_AGE"),
        },
        "api_cache_seconds": getattr(settings, "API_CACHE_SECONDS", None),
        "cache_backend": settings.CACHES["default"]["BACKEND"],
        "debug": settings.DEBUG,
        "python": platform.python_version(),
        "django": django.get_version(),
    }


# Main -------------------------------------------------------------------------------------------


def configure() -> None:
    """The environment of the run, for this process and gunicorn: bench.settings, DEBUG off, a
    random secret key, the loopback host."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    os.environ["DEBUG"] = "0"
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(50)
    os.environ["ALLOWED_HOSTS"] = HOST
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run (10)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of runs (3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument(
        "--only",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        default=[],
        metavar="NAMES",
        help="load only these endpoints, by the names of the table, comma-separated "
        "(for example 'list hit,304 hit'); every endpoint's bytes are still checked",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="one round of 2 s: checks the bytes and that everything runs, asserts no speed",
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.rounds, args.duration = 1, 2
    if args.duration < 1 or args.rounds < 1 or args.connections < WRK_THREADS:
        parser.error(f"--duration and --rounds from 1, --connections from {WRK_THREADS}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    if not wrk_installed():
        return 2
    configure()
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    if connection.vendor != "postgresql":
        print(
            f"Note: the database is {connection.vendor}; real figures need PostgreSQL "
            "(DATABASE_URL).",
            flush=True,
        )
    client = Client(HTTP_HOST=HOST)
    port = free_port()
    started = datetime.datetime.now(datetime.UTC)
    targets = choose_targets(client)
    etag = client.get(f"/api/v1/groups/?page_size={PAGE_SIZE}").get("ETag")
    if not etag:
        raise BenchError("The groups list carries no ETag.")
    found = endpoints(targets, etag)
    print(
        f"{targets['public_groups']} public groups; platform {targets['platform']!r}, "
        f"group {targets['group']!r}, page {targets['deep_page']} of {targets['pages']}, "
        f"search {targets['word']!r}",
        flush=True,
    )
    counted = {endpoint.name: queries(client, endpoint) for endpoint in found}
    version = dataset_version()
    report = {
        "started": started.isoformat(),
        "git": git_state(),
        "cpu_count": os.cpu_count(),
        "settings": settings_used(args, port),
        "row_counts": row_counts(),
        "targets": targets,
    }
    connection.close()

    server = Server(port)

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        server.start()
        if settings.API_CACHE_SECONDS > 0:
            ceiling = ceiling_endpoints(server.port, found, etag)
            counted.update({endpoint.name: queries(client, endpoint) for endpoint in ceiling})
            found += ceiling
        sizes = {}
        for endpoint in found:
            if endpoint.baseline_kind == "floor":
                sizes[endpoint.name] = check_bytes(server.port, endpoint)
            elif endpoint.baseline_kind == "floor page":
                sizes[endpoint.name] = check_same_page(server.port, endpoint)
            elif endpoint.baseline_kind == "ceiling":
                sizes[endpoint.name] = check_ceiling(server.port, endpoint)
        not_modified = next(endpoint for endpoint in found if endpoint.name == "304")
        status, _, _ = get(server.port, not_modified.api, not_modified.api_headers)
        if status != 304:
            raise BenchError(f"If-None-Match with the list's ETag answered {status}, not 304")
        sizes["304"] = 0
        print("Bytes: the API and the floor agree on every endpoint.", flush=True)
        found = only(found, args.only)
        warm = 1 if args.smoke else 2
        for endpoint in found:
            wrk(server, endpoint.api, endpoint.api_headers, warm, args.connections)
            wrk(server, endpoint.baseline, {}, warm, args.connections)
        runs = load(server, found, args)
        # A change of the data during the run would have emptied the API's cache and
        # turned the 304s into 200s: the figures would not be those of one dataset.
        status, _, _ = get(server.port, not_modified.api, not_modified.api_headers)
        if dataset_version() != version or status != 304:
            raise BenchError("The dataset changed during the run: its figures are not valid.")
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)

    results = {}
    for endpoint in found:
        results[endpoint.name] = {
            **asdict(endpoint),
            "body_bytes": sizes.get(endpoint.name),
            "queries": counted[endpoint.name],
            "summary": summarise(runs[endpoint.name]),
            "runs": [asdict(run) for run in runs[endpoint.name]],
        }
    report["endpoints"] = results
    report["finished"] = datetime.datetime.now(datetime.UTC).isoformat()
    print()
    print(table(found, results))
    path = save_report("", started, report)
    print(f"\nWritten to {path.relative_to(ROOT)} (cache: {settings.CACHES['default']['BACKEND']})")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"bench: {error}", file=sys.stderr)
        sys.exit(1)
