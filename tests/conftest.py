"""Shared fixtures: an API client and the curated dataset, loaded once per test session."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """Load the curated dataset once; each test runs in a transaction rolled back after it."""
    with django_db_blocker.unblock():
        call_command("load_dataset", verbosity=0)


@pytest.fixture
def api(db) -> APIClient:
    return APIClient()
