"""The pieces of the load script (bench/load.py), cheaply: its list of URLs answers 200 on the
curated dataset, and its wrk script counts every status, so that a run with a 5xx or a 404
fails. The load itself runs outside the suite (docs/reliability.md)."""

from __future__ import annotations

import json
import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import load, run, writes


@pytest.mark.django_db
def test_the_url_list_answers_200_on_the_curated_dataset(api):
    paths = load.read_url_file(load.URLS)
    assert len(paths) == len(set(paths)) >= 10
    for path in paths:
        assert path.startswith("/api/v1/"), path
        response = api.get(path)
        assert response.status_code == 200, (path, response.content[:300])


def test_a_url_file_refuses_what_is_not_a_path(tmp_path):
    bad = tmp_path / "urls.txt"
    bad.write_text("# comment\n\n/api/v1/groups/\nhttp://example.org/\n")
    with pytest.raises(load.LoadError, match=r"urls\.txt:4"):
        load.read_url_file(bad)


class Stub(BaseHTTPRequestHandler):
    """200 for /ok, 404 for /gone, 500 for /boom: small bodies, kept-alive connections."""

    protocol_version = "HTTP/1.1"
    STATUSES = {"/ok": 200, "/gone": 404, "/boom": 500}

    def do_GET(self):
        body = b"{}"
        self.send_response(self.STATUSES.get(self.path, 400))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def run_wrk(tmp_path, paths: list[str]) -> dict:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        urls = tmp_path / "paths.txt"
        urls.write_text("# stub\n" + "\n".join(paths) + "\n")
        args = load.arguments(["--duration", "1", "--connections", "4", "--threads", "2"])
        summary, output = load.wrk(server.server_address[1], urls, args)
    finally:
        server.shutdown()
        server.server_close()
    assert summary["paths"] == len(paths), output
    return load.evaluate(summary)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_the_wrk_script_spreads_requests_and_counts_every_status(tmp_path):
    clean = run_wrk(tmp_path, ["/ok"])
    assert clean["requests"] > 0
    assert set(clean["statuses"]) == {200}
    assert clean["failures"] == []

    mixed = run_wrk(tmp_path, ["/ok", "/gone", "/boom"])
    statuses = mixed["statuses"]
    assert set(statuses) == {200, 404, 500}
    # Every path gets its share.
    assert min(statuses.values()) >= max(statuses.values()) // 2 - 5, statuses
    assert mixed["status_5xx"] == statuses[500]
    assert mixed["non_2xx_3xx"] == statuses[404] + statuses[500]
    assert len(mixed["failures"]) == 2, mixed["failures"]


class WriteStub(BaseHTTPRequestHandler):
    """Records each PATCH; 200 for /api/v1/groups/..., 500 for the rest."""

    protocol_version = "HTTP/1.1"
    received: list = []

    def do_PATCH(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((self.path, self.headers["Authorization"], json.loads(body)))
        status = 200 if self.path.startswith("/api/v1/groups/") else 500
        self.send_response(status)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


def test_the_writer_patches_each_target_in_turn_and_times_each_answer():
    server = ThreadingHTTPServer(("127.0.0.1", 0), WriteStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    targets = writes.write_targets(
        ["/api/v1/platforms/a/", "/api/v1/organizations/o/", "/api/v1/groups/g/"]
    )
    assert targets == ["/api/v1/organizations/o/", "/api/v1/groups/g/"]
    writer = writes.Writer(server.server_address[1], "secret", targets, every=0.2)
    try:
        writer.start()
        time.sleep(0.75)
        writer.stopped.set()
        writer.join()
    finally:
        server.shutdown()
        server.server_close()
    assert [sample["status"] for sample in writer.samples] == [500, 200, 500, 200][
        : len(writer.samples)
    ]
    assert len(writer.samples) >= 3
    assert all(sample["ms"] >= 0 for sample in writer.samples)
    path, authorization, body = WriteStub.received[0]
    assert path == "/api/v1/organizations/o/?reason=Load+test"
    assert authorization == "Token secret"
    assert body["description"].startswith("Edited under load, write 0")


def test_write_targets_need_an_organisation_and_a_group():
    with pytest.raises(run.BenchError, match="No organisation or no group"):
        writes.write_targets(["/api/v1/groups/g/"])
