"""Logging filters used by the LOGGING setting (imported while the settings are configured:
nothing here may import DRF or the models)."""

from __future__ import annotations

import logging


class NotOutages(logging.Filter):
    """Leaves out Django's log line of each 503 response (``django.request``): an outage is
    logged where it is met, once, as a warning, not as a server error per request."""

    def filter(self, record: logging.LogRecord) -> bool:
        return getattr(record, "status_code", None) != 503
