"""The production configuration: deploy checks, security headers, CORS, static files, request
ids in JSON logs, the request-size limit and database outages answered as JSON 503s."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import OperationalError, connection
from django.middleware.csrf import _unmask_cipher_token
from django.test import Client, override_settings

from cryptogroups import models

GROUPS = "/api/v1/groups/"

#: The production environment documented in docs/deployment.md, reduced to what the deploy
#: checks read.
PRODUCTION = {
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "api.example.org",
    "HTTPS": "1",
}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "HTTPS"}}
    environment["DJANGO_SETTINGS_MODULE"] = "cryptogroups.settings"
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_deploy_checks_are_clean_in_the_documented_production_environment():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_checks_fail_without_https():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **{**PRODUCTION, "HTTPS": "0"})
    assert result.returncode != 0
    for check in ["security.W004", "security.W008", "security.W012", "security.W016"]:
        assert check in result.stderr


def test_debug_is_off_unless_asked_for():
    printed = "from django.conf import settings; print(settings.DEBUG)"
    result = manage("shell", "-c", printed, SECRET_KEY="x" * 50)
    assert result.stdout.splitlines()[-1] == "False", result.stderr
    result = manage("shell", "-c", printed, DEBUG="1")
    assert result.stdout.splitlines()[-1] == "True", result.stderr


@pytest.mark.django_db
@pytest.mark.parametrize(("given", "expected"), [(None, "1.1"), ("2", "2"), ("", None)])
def test_postgresql_sessions_price_random_reads_as_set(given, expected):
    """The planner is told that a random read is cheap (data in memory or on SSD) unless the
    environment says otherwise; empty leaves the server's own setting."""
    if connection.vendor != "postgresql":
        pytest.skip("a PostgreSQL planner setting")
    # The test database, which exists whatever database DATABASE_URL names.
    url = urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{connection.settings_dict['NAME']}")
    env = {"SECRET_KEY": "x" * 50, "DATABASE_URL": url.geturl()}
    if given is not None:
        env["DATABASE_RANDOM_PAGE_COST"] = given
    shown = (
        "from django.db import connection\n"
        "with connection.cursor() as cursor:\n"
        "    cursor.execute('SELECT setting, source FROM pg_settings WHERE name = %s', "
        "['random_page_cost'])\n"
        "    print(*cursor.fetchone())"
    )
    result = manage("shell", "-c", shown, **env)
    assert result.returncode == 0, result.stderr
    setting, source = result.stdout.splitlines()[-1].split(" ", 1)
    if expected is None:
        assert source != "client"
    else:
        assert (setting, source) == (expected, "client")


@pytest.mark.django_db
def test_api_responses_carry_the_security_headers(client):
    response = client.get(GROUPS)
    assert response.status_code == 200
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


@pytest.mark.django_db
def test_https_mode_redirects_and_sends_hsts():
    with override_settings(
        SECURE_SSL_REDIRECT=True, SECURE_HSTS_SECONDS=31536000, SECURE_HSTS_INCLUDE_SUBDOMAINS=True
    ):
        client = Client()
        redirect = client.get(GROUPS)
        secure = client.get(GROUPS, secure=True)
        probe = client.get("/healthz")
    assert redirect.status_code == 301
    assert redirect["Location"] == f"https://testserver{GROUPS}"
    assert secure.status_code == 200
    assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"
    # Load balancers probe over plain HTTP.
    assert probe.status_code == 200


@pytest.mark.django_db
def test_browsers_on_any_origin_may_read_the_api(client):
    response = client.get(GROUPS, HTTP_ORIGIN="https://example.com")
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    exposed = {h.strip() for h in response["Access-Control-Expose-Headers"].split(",")}
    assert {"etag", "ratelimit-remaining", "retry-after", "x-request-id"} <= exposed
    assert "Access-Control-Allow-Credentials" not in response


@pytest.mark.django_db
def test_a_preflight_allows_reads_and_conditional_headers_only(client):
    response = client.options(
        GROUPS,
        HTTP_ORIGIN="https://example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="if-none-match",
    )
    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == "*"
    methods = {m.strip() for m in response["Access-Control-Allow-Methods"].split(",")}
    assert methods == {"GET", "HEAD", "OPTIONS"}
    assert "if-none-match" in response["Access-Control-Allow-Headers"]
    assert "authorization" not in response["Access-Control-Allow-Headers"]


@pytest.mark.django_db
def test_the_admin_is_not_open_to_other_origins(client):
    response = client.get("/admin/login/", HTTP_ORIGIN="https://example.com")
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["/admin/login/", "/api/docs/", "/api/redoc/"])
def test_pages_get_their_static_files_compressed_and_cached_for_good(client, page):
    html = client.get(page).content.decode()
    assets = re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js))"', html)
    assert assets, f"no static file on {page}"
    for asset in assets:
        # Named by content (ManifestStaticFilesStorage), so cached forever.
        assert re.search(r"\.[0-9a-f]{12}\.(css|js)$", asset), asset
        response = client.get(asset, HTTP_ACCEPT_ENCODING="gzip")
        assert response.status_code == 200, asset
        assert response["Content-Encoding"] == "gzip"
        assert "immutable" in response["Cache-Control"]
        assert "max-age=315360000" in response["Cache-Control"]


@pytest.mark.django_db
def test_every_response_has_a_request_id(client):
    first, second = client.get(GROUPS), client.get("/no/such/path")
    assert re.fullmatch(r"[0-9a-f]{32}", first["X-Request-ID"])
    assert re.fullmatch(r"[0-9a-f]{32}", second["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.django_db
def test_a_request_id_from_the_proxy_is_kept_when_it_is_a_uuid(client):
    given = uuid.uuid4().hex
    assert client.get(GROUPS, HTTP_X_REQUEST_ID=given)["X-Request-ID"] == given
    forged = client.get(GROUPS, HTTP_X_REQUEST_ID='x"\n{"level": "ERROR"}')["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", forged)


@pytest.mark.django_db
def test_each_request_is_logged_once_as_json_with_its_request_id(client):
    # The configured console handler, as LOGGING sets it up, writing to a buffer.
    (handler,) = [h for h in logging.getLogger().handlers if h.name == "console"]
    buffer = io.StringIO()
    stream = handler.setStream(buffer)
    try:
        response = client.get(GROUPS, {"page_size": 2})
    finally:
        handler.setStream(stream)
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    (line,) = [line for line in lines if line["logger"] == "cryptogroups.access"]
    assert line["request_id"] == response["X-Request-ID"]
    assert line["logger"] == "cryptogroups.access"
    assert line["level"] == "INFO"
    assert (line["method"], line["path"], line["status"]) == ("GET", GROUPS, 200)
    assert line["duration_ms"] > 0
    assert line["user"] is None
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", line["time"])


@pytest.mark.django_db
def test_the_access_log_names_an_authenticated_user(curator_api, caplog):
    with caplog.at_level(logging.INFO, logger="cryptogroups.access"):
        curator_api.get(GROUPS)
    (record,) = [r for r in caplog.records if r.name == "cryptogroups.access"]
    assert record.user == "curator"


@pytest.mark.django_db
def test_a_body_over_the_limit_is_refused_before_it_is_read(curator_api):
    before = models.Platform.objects.count()
    body = json.dumps({"slug": "big", "name": "x" * (settings.MAX_REQUEST_BYTES + 1)})
    response = curator_api.post(
        "/api/v1/platforms/?reason=test", body, content_type="application/json"
    )
    assert response.status_code == 413
    assert response.json()["type"] == "client_error"
    (error,) = response.json()["errors"]
    assert error["code"] == "request_too_large"
    assert str(settings.MAX_REQUEST_BYTES) in error["detail"]
    assert models.Platform.objects.count() == before


@pytest.fixture
def database_down(monkeypatch):
    def refused(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refused)
    monkeypatch.setattr(connection, "chunked_cursor", refused)


def assert_unavailable(response) -> None:
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json() == {
        "type": "server_error",
        "errors": [
            {
                "code": "service_unavailable",
                "detail": "The database is unavailable. Retry after the time in Retry-After.",
                "attr": None,
            }
        ],
    }


@pytest.mark.django_db
@pytest.mark.parametrize("path", [GROUPS, "/api/v1/groups/btcchina-telegram-group/"])
def test_a_database_outage_is_a_json_503(client, database_down, path):
    assert_unavailable(client.get(path))


@pytest.mark.django_db
def test_a_database_outage_outside_the_api_is_a_json_503_too(admin_user, request):
    client = Client(raise_request_exception=False)
    client.force_login(admin_user)  # before the outage: the session is then read from the db
    request.getfixturevalue("database_down")
    assert_unavailable(client.get("/admin/"))


@pytest.mark.django_db
def test_an_outage_is_logged_once_as_a_warning(client, database_down, caplog):
    with caplog.at_level(logging.INFO):
        assert_unavailable(client.get(GROUPS))
    logged = [(r.name, r.levelname) for r in caplog.records if r.name != "cryptogroups.access"]
    assert logged == [("api.exceptions", "WARNING")]


def test_an_app_server_refuses_to_start_with_a_rate_it_cannot_read():
    result = subprocess.run(
        [sys.executable, "-c", "import cryptogroups.wsgi"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "THROTTLE_ANON_RATE": "12/fortnight"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: Rate limit 'anon'" in result.stderr


# --- The schema and the documentation pages, built once per process ---------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["/api/schema/", "/api/schema/?format=json"])
def test_the_schema_is_built_once_and_revalidated_by_its_etag(client, monkeypatch, page):
    from drf_spectacular.generators import SchemaGenerator

    built = []
    get_schema = SchemaGenerator.get_schema

    def counted(self, *args, **kwargs):
        built.append(1)
        return get_schema(self, *args, **kwargs)

    monkeypatch.setattr(SchemaGenerator, "get_schema", counted)
    first, second = client.get(page), client.get(page)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content
    assert len(built) == 1
    etag = first["ETag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
    assert second["ETag"] == etag
    assert first["Cache-Control"] == "no-cache"
    unchanged = client.get(page, HTTP_IF_NONE_MATCH=etag)
    assert unchanged.status_code == 304
    assert unchanged["ETag"] == etag
    assert unchanged.content == b""
    assert len(built) == 1


@pytest.mark.django_db
def test_the_schema_in_each_format_has_its_own_tag(client):
    yaml_, json_ = client.get("/api/schema/"), client.get("/api/schema/?format=json")
    assert yaml_["Content-Type"].startswith("application/vnd.oai.openapi")
    assert json_["Content-Type"].startswith("application/vnd.oai.openapi+json")
    assert yaml_["ETag"] != json_["ETag"]
    assert (
        client.get("/api/schema/?format=json", HTTP_IF_NONE_MATCH=yaml_["ETag"]).status_code == 200
    )
    # Parameters of the Accept header do not make new variants.
    indented = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json; indent=8")
    assert indented.content == json_.content


@pytest.mark.django_db
def test_each_client_gets_its_own_csrf_token_in_swagger_ui():
    tokens, tags = [], []
    for _ in range(2):
        client = Client(enforce_csrf_checks=True)
        page = client.get("/api/docs/")
        assert page.status_code == 200
        (token,) = re.findall(
            r'request\.headers\["X-CSRFTOKEN"\] = "([^"]+)"', page.content.decode()
        )
        cookie = client.cookies[settings.CSRF_COOKIE_NAME].value
        # The token is the client's own: it unmasks to the secret of the cookie it was sent.
        assert _unmask_cipher_token(token) == cookie
        assert "private" in page["Cache-Control"]
        again = client.get("/api/docs/", HTTP_IF_NONE_MATCH=page["ETag"])
        assert again.status_code == 304
        tokens.append(token)
        tags.append(page["ETag"])
    assert tokens[0] != tokens[1]
    assert tags[0] != tags[1]


# --- gunicorn.conf.py ----------------------------------------------------------------------------


def gunicorn_check_config(**env: str) -> subprocess.CompletedProcess:
    """gunicorn reading gunicorn.conf.py and loading the app, without serving anything."""
    return subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--check-config"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DATABASE_URL": "sqlite:///:memory:", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    "bind", ["0.0.0.0:8000", "[::]:8000", "192.0.2.10:8000", "127.0.0.1:8000,0.0.0.0:8001"]
)
def test_gunicorn_refuses_to_face_clients(bind):
    """gunicorn reads headers with no time limit: only the proxy may reach it."""
    result = gunicorn_check_config(GUNICORN_BIND=bind)
    assert result.returncode != 0
    assert "refusing to listen on" in result.stderr
    assert "deploy/nginx" in result.stderr


@pytest.mark.parametrize("bind", ["127.0.0.1:8000", "[::1]:8000", "unix:/run/cg/gunicorn.sock"])
def test_gunicorn_listens_on_loopback_or_a_unix_socket(bind):
    result = gunicorn_check_config(GUNICORN_BIND=bind)
    assert result.returncode == 0, result.stderr


def test_a_proxy_on_another_host_is_said_explicitly():
    result = gunicorn_check_config(GUNICORN_BIND="0.0.0.0:8000", GUNICORN_BIND_PUBLIC="1")
    assert result.returncode == 0, result.stderr


def test_the_loaded_app_is_out_of_the_collectors_watch_before_a_worker_forks(monkeypatch):
    """The objects loaded before the fork live as long as the process: frozen, no collection
    in a worker walks them or writes to the pages that hold them."""
    import gc
    import runpy

    # Read as gunicorn reads it, without making a rate-limit file for this process.
    monkeypatch.setenv("RATE_LIMIT_FILE", os.devnull)
    config = runpy.run_path(str(settings.BASE_DIR / "gunicorn.conf.py"))
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        config["pre_fork"](server=None, worker=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


@pytest.mark.servers
def test_instances_on_one_host_share_no_control_socket(tmp_path):
    """gunicorn's default control socket is one path per user ($HOME/.gunicorn/gunicorn.ctl):
    a second instance took it over, and stopping either removed it for both. There is none
    unless GUNICORN_CONTROL_SOCKET names one, and then each instance has its own."""
    from tests.appserver import AppServer

    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "XDG_RUNTIME_DIR": "", "DATABASE_URL": f"sqlite:///{tmp_path}/x"}
    with AppServer(workers=1, **env), AppServer(workers=1, **env):
        assert list(home.rglob("*.ctl")) == []
    sockets = [tmp_path / "first.ctl", tmp_path / "second.ctl"]
    first = AppServer(workers=1, GUNICORN_CONTROL_SOCKET=str(sockets[0]), **env).start()
    try:
        with AppServer(workers=1, GUNICORN_CONTROL_SOCKET=str(sockets[1]), **env):
            for path in sockets:  # made by a thread of the master, once it runs
                deadline = time.monotonic() + 15
                while not path.is_socket() and time.monotonic() < deadline:
                    time.sleep(0.1)
                assert path.is_socket()
        # The second instance is gone, with its socket; the first one's still answers.
        assert not sockets[1].exists()
        with socket.socket(socket.AF_UNIX) as control:
            control.connect(str(sockets[0]))
    finally:
        first.stop()
