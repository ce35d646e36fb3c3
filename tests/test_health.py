"""Probes: liveness reads nothing; readiness checks the database and the cache."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import DatabaseError, connection


@pytest.fixture
def broken_database(monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise DatabaseError("down")

    monkeypatch.setattr(connection, "cursor", broken_cursor)


@pytest.fixture
def broken_cache(monkeypatch):
    from django.core.cache import cache

    def unavailable(*args, **kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(cache, "set", unavailable)
    monkeypatch.setattr(cache, "get", unavailable)


@pytest.mark.django_db
def test_liveness_answers(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_liveness_does_not_depend_on_the_database(client, broken_database):
    # An app server that cannot reach its database is not restarted: it recovers by itself.
    assert client.get("/healthz").status_code == 200


@pytest.mark.django_db
def test_readiness_reports_the_database_and_the_cache(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}


@pytest.mark.django_db
def test_readiness_is_503_when_the_database_fails(client, broken_database):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "unavailable", "cache": "ok"}
    assert response["Retry-After"] == "5"


@pytest.mark.django_db
def test_readiness_reports_a_cache_outage_as_degraded(client, broken_cache):
    # The app answers from the database without its cache: the server keeps its traffic.
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "degraded", "database": "ok", "cache": "unavailable"}


@pytest.mark.django_db
def test_readiness_is_503_when_both_fail(client, broken_database, broken_cache):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "database": "unavailable",
        "cache": "unavailable",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_take_only_get(client, path):
    assert client.post(path).status_code == 405


def test_settings_refuse_to_start_without_a_secret_key_when_debug_is_off():
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG"}}
    env["DJANGO_SETTINGS_MODULE"] = "cryptogroups.settings"
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
