"""Shared fixtures: an API client and the curated dataset, loaded once per test session."""

from __future__ import annotations

import pytest
from django.core import signals
from django.core.management import call_command
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from rest_framework.test import APIClient


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the curated dataset once; each test runs in a transaction rolled back after it."""
    with django_db_blocker.unblock():
        call_command("load_dataset", verbosity=0)


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
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
