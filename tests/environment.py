"""Loaded by pytest before Django's settings (``-p tests.environment`` in pyproject.toml).

The settings refuse to start without a ``SECRET_KEY`` when ``DEBUG`` is off, as in production;
the tests run with ``DEBUG`` off and a random key made for the run.
"""

import os
import secrets

os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
