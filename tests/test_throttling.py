"""Rate limits: budgets per client and window, visible in headers, and a documented 429."""

from __future__ import annotations

import copy
import logging
import os
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from django.conf import settings
from django.core import checks, signals
from django.core.cache import cache
from django.db import close_old_connections
from django.test import override_settings
from rest_framework.test import APIClient

from api import throttling
from cryptogroups.wsgi import make_application
from tests.appserver import AppServer
from tests.conftest import token_client
from tests.test_wsgi import call

GROUPS = "/api/v1/groups/"


def rates(anon: str = "off", user: str = "off"):
    """The settings with these rates (the suite's own are out of reach)."""
    config = copy.deepcopy(settings.REST_FRAMEWORK)
    config["DEFAULT_THROTTLE_RATES"] = {"anon": anon, "user": user}
    return override_settings(REST_FRAMEWORK=config)


def assert_throttled(response, limit: int) -> None:
    assert response.status_code == 429
    assert response.json() == {
        "type": "client_error",
        "errors": [
            {
                "code": "throttled",
                "detail": response.json()["errors"][0]["detail"],
                "attr": None,
            }
        ],
    }
    assert "Request was throttled" in response.json()["errors"][0]["detail"]
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60
    assert response["RateLimit-Limit"] == str(limit)
    assert response["RateLimit-Remaining"] == "0"
    assert int(response["RateLimit-Reset"]) == retry_after


@pytest.mark.django_db
def test_every_response_tells_the_client_its_budget(api):
    with rates(anon="5/minute"):
        seen = [api.get(GROUPS) for _ in range(3)]
    assert [r.status_code for r in seen] == [200, 200, 200]
    assert [r["RateLimit-Remaining"] for r in seen] == ["4", "3", "2"]
    for response in seen:
        assert response["RateLimit-Limit"] == "5"
        assert response["RateLimit-Policy"] == '5;w=60;name="anon"'
        assert 1 <= int(response["RateLimit-Reset"]) <= 60


@pytest.mark.django_db
def test_with_redis_a_window_is_counted_and_expires(api, redis_server):
    redis_server.client().flushdb()
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": redis_server.url,
            "KEY_PREFIX": "cryptogroups",
        }
    }
    with override_settings(CACHES=caches), rates(anon="3/minute"):
        first = api.get("/api/v1/platforms/telegram/")
        statuses = [api.get(GROUPS).status_code for _ in range(2)]
        throttled = api.get(GROUPS)
        (key,) = redis_server.client().keys("*throttle:anon:*")
        expires_in = redis_server.client().ttl(key)
    assert first.status_code == 200
    assert first["RateLimit-Remaining"] == "2"
    assert statuses == [200, 200]
    assert_throttled(throttled, 3)
    assert 1 <= expires_in <= 61
    redis_server.client().flushdb()


@pytest.mark.django_db
def test_an_anonymous_client_past_its_budget_gets_a_429(api):
    with rates(anon="3/minute"):
        statuses = [api.get(GROUPS).status_code for _ in range(3)]
        throttled = api.get("/api/v1/groups/telegram-not-a-slug/")
        detail = api.get("/api/v1/platforms/telegram/")
    assert statuses == [200, 200, 200]
    # Past the limit every read is refused, before the request is looked at.
    assert_throttled(throttled, 3)
    assert_throttled(detail, 3)


@pytest.mark.django_db
def test_the_budget_renews_with_the_window(api, monkeypatch):
    now = 1_800_000_000.0  # the start of a minute
    monkeypatch.setattr(throttling.time, "time", lambda: now)
    with rates(anon="2/minute"):
        assert [api.get(GROUPS).status_code for _ in range(3)] == [200, 200, 429]
        now += 60
        response = api.get(GROUPS)
    assert response.status_code == 200
    assert response["RateLimit-Remaining"] == "1"


@pytest.mark.django_db
def test_authenticated_clients_are_counted_by_account_not_by_address(curator):
    first, second = token_client(curator), token_client(curator)  # two tokens, one account
    anonymous = APIClient()
    with rates(anon="1/minute", user="3/minute"):
        assert anonymous.get(GROUPS).status_code == 200
        assert anonymous.get(GROUPS).status_code == 429
        # The address's budget is spent; the account's is its own.
        assert [first.get(GROUPS).status_code for _ in range(2)] == [200, 200]
        response = second.get(GROUPS)
        assert response.status_code == 200
        assert response["RateLimit-Policy"] == '3;w=60;name="user"'
        assert_throttled(second.get(GROUPS), 3)


@pytest.mark.django_db
def test_writes_count_against_the_same_budget(curator_api):
    with rates(user="1/minute"):
        assert curator_api.get(GROUPS).status_code == 200
        response = curator_api.patch(
            "/api/v1/platforms/telegram/?reason=test", {"name": "Changed"}, format="json"
        )
    assert_throttled(response, 1)
    assert curator_api.get("/api/v1/platforms/telegram/").json()["name"] == "Telegram"


@pytest.mark.django_db
def test_a_rate_of_off_removes_the_limit_and_its_headers(api):
    with rates(anon="off"):
        responses = [api.get(GROUPS) for _ in range(5)]
    assert {r.status_code for r in responses} == {200}
    assert "RateLimit-Limit" not in responses[0]


@pytest.mark.django_db
def test_probes_and_the_admin_are_not_limited(api):
    with rates(anon="1/minute"):
        assert api.get(GROUPS).status_code == 200
        assert api.get(GROUPS).status_code == 429
        assert api.get("/healthz").status_code == 200
        assert api.get("/readyz").status_code == 200
        assert api.get("/admin/login/").status_code == 200


@pytest.mark.django_db
def test_an_unreachable_cache_lets_requests_through(api, monkeypatch):
    def unavailable(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "add", unavailable)
    monkeypatch.setattr(cache, "incr", unavailable)
    with rates(anon="1/minute"):
        responses = [api.get(GROUPS) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert "RateLimit-Limit" not in responses[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("120/minute", throttling.Rate(120, 60)),
        ("5/s", throttling.Rate(5, 1)),
        ("1000/hour", throttling.Rate(1000, 3600)),
        ("10000/day", throttling.Rate(10000, 86400)),
        ("off", None),
        ("", None),
    ],
)
def test_rates_parse(text, expected):
    assert throttling.Rate.parse(text) == expected


@pytest.mark.parametrize("text", ["12/fortnight", "12/mouse", "lots/minute", "0/minute", "12"])
def test_a_bad_rate_fails_the_system_checks(text):
    with rates(anon=text):
        errors = throttling.check_rates()
    assert [error.id for error in errors] == ["api.E001"]
    assert "anon" in errors[0].msg
    assert errors[0].level == checks.ERROR


@pytest.mark.django_db
def test_the_schema_documents_the_429_and_the_headers(api):
    schema = api.get("/api/schema/?format=json").json()
    operation = schema["paths"]["/api/v1/groups/"]["get"]
    throttled = operation["responses"]["429"]
    assert throttled["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ClientErrorResponse"
    }
    assert set(throttled["headers"]) >= {"Retry-After", "RateLimit-Limit", "RateLimit-Reset"}
    assert "RateLimit-Remaining" in operation["responses"]["200"]["headers"]
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                assert "429" in op["responses"], f"{method} {path}"
                assert "503" in op["responses"], f"{method} {path}"


# --- Client addresses: X-Forwarded-For is the proxy's to set ----------------------------------


def forwarded_for_each_request(app, peer: str, count: int) -> list[int]:
    """``count`` reads from ``peer``, each claiming a fresh address in X-Forwarded-For."""
    return [
        call(
            app,
            path=GROUPS,
            REMOTE_ADDR=peer,
            HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
        ).status
        for n in range(1, count + 1)
    ]


@pytest.fixture
def wsgi_app_with_proxy(db, settings):
    """The production application with one proxy declared (NUM_PROXIES=1), as the deployment
    guide sets it, and the default trusted proxies (this host)."""
    config = copy.deepcopy(settings.REST_FRAMEWORK)
    config["NUM_PROXIES"] = 1
    config["DEFAULT_THROTTLE_RATES"] = {"anon": "3/minute", "user": "off"}
    settings.REST_FRAMEWORK = config
    settings.NUM_PROXIES = 1
    settings.TRUSTED_PROXIES = ["127.0.0.1", "::1", "unix"]
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield make_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def test_a_client_that_reaches_the_app_directly_cannot_choose_its_address(
    wsgi_app_with_proxy, caplog
):
    with caplog.at_level(logging.INFO, logger="cryptogroups.access"):
        statuses = forwarded_for_each_request(wsgi_app_with_proxy, "203.0.113.9", 6)
    assert statuses == [200, 200, 200, 429, 429, 429]
    # The access log names the peer, not the address it claimed.
    clients = {r.client for r in caplog.records if r.name == "cryptogroups.access"}
    assert clients == {"203.0.113.9"}


def test_the_trusted_proxy_names_the_client(wsgi_app_with_proxy):
    """Through the proxy on this host, each client address has its own budget."""
    statuses = forwarded_for_each_request(wsgi_app_with_proxy, "127.0.0.1", 6)
    assert statuses == [200] * 6
    unix_socket_peer = forwarded_for_each_request(wsgi_app_with_proxy, "", 6)
    assert unix_socket_peer == [200] * 6


def test_a_trusted_peer_is_only_the_one_configured(wsgi_app_with_proxy, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    app = make_application()
    assert forwarded_for_each_request(app, "10.1.2.3", 4) == [200] * 4
    assert forwarded_for_each_request(app, "127.0.0.1", 4) == [200, 200, 200, 429]


def test_trusted_proxies_must_be_addresses():
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=settings.BASE_DIR,
        env={**os.environ, "NUM_PROXIES": "1", "TRUSTED_PROXIES": "127.0.0.1,the-proxy"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "TRUSTED_PROXIES: 'the-proxy'" in result.stderr


# --- The documentation is not counted against the API's budget --------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "page", ["/api/schema/", "/api/schema/?format=json", "/api/docs/", "/api/redoc/"]
)
def test_the_documentation_is_read_past_the_api_budget(api, page):
    with rates(anon="2/minute"):
        assert [api.get(GROUPS).status_code for _ in range(3)] == [200, 200, 429]
        responses = [api.get(page) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert "RateLimit-Limit" not in responses[0]


# --- The limit holds across the worker processes of an app server ------------------------------


@pytest.mark.servers
def test_the_limit_holds_across_worker_processes_without_redis(tmp_path):
    """Five gunicorn workers, no REDIS_URL: 40 reads from one address over fresh connections,
    8 at a time, spread over the workers, and the limit of 5 holds for all of them."""
    limit, sent = 5, 40
    with AppServer(
        workers=5,
        threads=2,
        DATABASE_URL=f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        THROTTLE_ANON_RATE=f"{limit}/minute",
    ) as server:

        def read(_) -> httpx.Response:
            with httpx.Client(base_url=server.base_url, timeout=10) as client:
                return client.get("/api/v1/")  # a fresh connection each time

        # All within one window: wait for a fresh one when this one ends soon.
        with httpx.Client(base_url=server.base_url, timeout=10) as client:
            assert client.get("/healthz").status_code == 200
        wait = 60 - time.time() % 60
        if wait < 20:
            time.sleep(wait + 0.5)
        with ThreadPoolExecutor(8) as pool:
            responses = list(pool.map(read, range(sent)))
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {200: limit, 429: sent - limit}, statuses
    # The budget's headers agree: one count for the whole server.
    remaining = sorted(int(r.headers["RateLimit-Remaining"]) for r in responses)
    assert remaining[: sent - limit + 1] == [0] * (sent - limit + 1)
    assert remaining[-limit:] == list(range(limit))
