"""Loaded by pytest before Django's settings (``-p tests.environment`` in pyproject.toml).

The settings refuse to start without a ``SECRET_KEY`` when ``DEBUG`` is off, as in production;
the tests run with ``DEBUG`` off and a random key made for the run. Static files are collected
for the run into a folder of its own (tests/conftest.py), and served as in production. The
rate limits are raised far above what a test sends, so that they are counted (and their
headers sent) but never reached, except by the tests of rate limiting, which set their own.
"""

import os
import secrets
import tempfile

os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("STATIC_ROOT", tempfile.mkdtemp(prefix="cryptogroups-static-"))
os.environ.setdefault("THROTTLE_ANON_RATE", "1000000/minute")
os.environ.setdefault("THROTTLE_USER_RATE", "1000000/minute")
