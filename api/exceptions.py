"""Errors raised outside validation, and how they are answered.

A database that cannot be reached, that refuses connections or that cancels a statement past
its time limit is an outage, not a bug: the client gets a JSON 503 with ``Retry-After``,
whether the error is met in an API view (here) or elsewhere (api.health.server_error). So
does a write whose published versions Redis does not take (``PUBLISH_VERSIONS``). The
transaction of a write that fails so is rolled back whole.
"""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from drf_standardized_errors.handler import ExceptionHandler as BaseExceptionHandler
from rest_framework import status
from rest_framework.exceptions import APIException

from cryptogroups.published import PublicationUnavailable

logger = logging.getLogger(__name__)

#: Seconds a client is asked to wait before it retries after a 503.
RETRY_AFTER = 5

OUTAGE_ERRORS = (OperationalError, InterfaceError)


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is unavailable. Retry after the time in Retry-After."
    default_code = "service_unavailable"

    def __init__(self, detail=None, code=None):
        super().__init__(detail, code)
        self.wait = RETRY_AFTER


class ExceptionHandler(BaseExceptionHandler):
    def convert_known_exceptions(self, exc: Exception) -> Exception:
        if isinstance(exc, OUTAGE_ERRORS):
            logger.warning("Database unavailable: %s", exc)
            return ServiceUnavailable()
        if isinstance(exc, PublicationUnavailable):
            # Readers trust the versions published in Redis: a change Redis cannot be told
            # of is not committed (cryptogroups.published).
            logger.warning("Published versions unavailable: %s", exc)
            return ServiceUnavailable(
                "The cache server is unavailable, and the change was not saved. Retry after "
                "the time in Retry-After."
            )
        return super().convert_known_exceptions(exc)

    def report_exception(self, exc: APIException, response) -> None:
        # An outage is logged once above, as a warning, not as a server error per request.
        if not isinstance(exc, ServiceUnavailable):
            super().report_exception(exc, response)
