"""Shared fixtures: an API client and the curated dataset, loaded once per test session."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core import signals
from django.core.cache import cache
from django.core.management import call_command
from django.db import close_old_connections
from django.test import override_settings
from knox.models import AuthToken
from rest_framework.test import APIClient

from api import hits
from cryptogroups import models
from cryptogroups.roles import CURATORS_GROUP, ensure_curators_group
from cryptogroups.wsgi import make_application


@pytest.fixture(scope="session", autouse=True)
def _static_files():
    """Static files collected as a deployment collects them (tests/environment.py picks the
    folder): pages with DEBUG off name them by their hashed, compressed copies."""
    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the curated dataset once; each test runs in a transaction rolled back after it."""
    with django_db_blocker.unblock():
        call_command("load_dataset", verbosity=0)


@pytest.fixture(autouse=True)
def _empty_cache():
    """Each test starts with an empty cache: versions of the dataset repeat across tests, whose
    transactions are rolled back, which never happens to a real database."""
    cache.clear()
    hits.forget()


@pytest.fixture(scope="session")
def redis_server():
    """A private redis-server, for the tests that need the real one (started when first
    asked for)."""
    from tests.redisserver import RedisServer, require_redis

    with RedisServer(require_redis()) as server:
        yield server


def publishing_settings(url: str) -> dict:
    return {
        "REDIS_URL": url,
        "PUBLISH_VERSIONS": True,
        "API_CACHE_SECONDS": 3600,
        "CACHES": {
            "default": {
                "BACKEND": "cryptogroups.redis_cache.RedisCache",
                "LOCATION": url,
                "KEY_PREFIX": "cryptogroups",
                "OPTIONS": {"socket_connect_timeout": 0.25, "socket_timeout": 0.25},
            }
        },
    }


@pytest.fixture
def publishing(redis_server):
    """Redis as production has it with PUBLISH_VERSIONS, emptied: the test database's
    counters repeat across tests, whose transactions are rolled back."""
    redis_server.client().flushdb()
    with override_settings(**publishing_settings(redis_server.url)):
        yield redis_server
    redis_server.client().flushdb()


@pytest.fixture
def api(db) -> APIClient:
    return APIClient()


@pytest.fixture
def wsgi_app(db):
    """The production WSGI application, for clients that speak WSGI (generated SDKs, the
    schema fuzzer). Django closes the database connection around each request; inside a test
    that would end the test's transaction, so, like Django's test client, this turns that off
    for the duration of the test."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield make_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def token_client(user: User) -> APIClient:
    """An API client that sends a fresh token of the user's."""
    _, token = AuthToken.objects.create(user=user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


@pytest.fixture
def curator(db) -> User:
    user = User.objects.create_user("curator", email="curator@example.org")
    user.groups.add(Group.objects.get(name=CURATORS_GROUP))
    return user


@pytest.fixture
def curator_api(curator) -> APIClient:
    """A client with a curator's token."""
    return token_client(curator)


@pytest.fixture
def user_api(db) -> APIClient:
    """A client with the token of a user who is not a curator."""
    return token_client(User.objects.create_user("reader"))


def restore_dataset() -> None:
    """Put back what the migrations and the loader make, if Django emptied the tables."""
    ensure_curators_group(Group, Permission)
    models.DatasetVersion.objects.get_or_create(pk=1)
    if not models.Organization.objects.exists():
        call_command("load_dataset", verbosity=0)


@pytest.fixture
def committed_dataset(transactional_db, django_db_blocker):
    """For tests whose writes must really commit (a live server, several threads). Django
    empties every table after such a test, data migrations' rows included, so this puts back
    what the migrations and the loader make before the test."""
    restore_dataset()


@pytest.fixture(scope="module")
def dataset_left_in_place(django_db_blocker):
    """For modules with transactional tests: puts the curated dataset back once Django has
    emptied the database after them, so that tests run after the module in the same session,
    or on a reused test database, find it. Module-scoped, so that it is torn down after the
    tests' own database fixtures."""
    yield
    with django_db_blocker.unblock():
        restore_dataset()


# --- the browser tests (tests/browser.py) -------------------------------------------------------


@pytest.fixture
def static_files_under_their_own_names(settings) -> None:
    """The live server serves static files from the apps' folders (Django's
    StaticFilesHandler), under their own names: pages must name them so, not by the hashed
    copies a deployment collects and WhiteNoise serves (tests/test_production.py checks
    those)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def browser(static_files_under_their_own_names):
    """Headless Chromium at 1400x1000, for pages of pytest-django's live server."""
    from tests.browser import start_chromium

    driver = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def staff_curator(committed_dataset) -> User:
    """A curator (staff, in the curators group) the browser logs in as."""
    from tests.browser import PASSWORD

    user = User.objects.create_user(
        "browser-curator", email="browser-curator@example.org", password=PASSWORD, is_staff=True
    )
    user.groups.add(Group.objects.get(name=CURATORS_GROUP))
    return user
