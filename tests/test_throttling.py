"""Rate limits: budgets per client and window, visible in headers, and a documented 429."""

from __future__ import annotations

import copy

import pytest
from django.conf import settings
from django.core import checks
from django.core.cache import cache
from django.test import override_settings
from rest_framework.test import APIClient

from api import throttling
from tests.conftest import token_client

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
