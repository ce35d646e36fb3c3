"""Rate limits that clients can see.

Each client has a budget of requests per window: anonymous clients by address, authenticated
ones by account (rates in ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]``, from the environment).
The windows are fixed and counted with the cache's atomic increment, so every app server
sharing the cache (Redis) counts the same budget.

Every throttled response says where the client stands, in the headers of the IETF draft
"RateLimit header fields for HTTP" (api.middleware.api_headers): ``RateLimit-Limit``,
``RateLimit-Remaining``, ``RateLimit-Reset`` (seconds until the window ends) and
``RateLimit-Policy``. Past the limit the answer is a 429 with ``Retry-After``.

A cache that cannot be reached does not block the API: the request is let through, and the
failure is logged.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

from django.core import checks
from django.core.cache import cache
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

PERIODS = {
    **dict.fromkeys(["s", "sec", "second"], 1),
    **dict.fromkeys(["m", "min", "minute"], 60),
    **dict.fromkeys(["h", "hour"], 3600),
    **dict.fromkeys(["d", "day"], 86400),
}


@dataclass(frozen=True)
class Rate:
    limit: int
    window: int  # seconds

    @classmethod
    def parse(cls, text: str | None) -> Rate | None:
        """``"120/minute"`` → 120 requests per 60 s; ``off`` (or nothing) → no limit."""
        if not text or text.strip().lower() == "off":
            return None
        number, _, period = text.partition("/")
        try:
            limit = int(number)
            window = PERIODS[period.strip().lower()]
        except (ValueError, KeyError):
            raise ValueError(
                f"A rate is N/second, N/minute, N/hour, N/day or off, not {text!r}."
            ) from None
        if limit < 1:
            raise ValueError(f"A rate allows at least one request, not {text!r}.")
        return cls(limit, window)


@dataclass(frozen=True)
class Standing:
    """Where a client stands in its current window."""

    scope: str
    rate: Rate
    count: int
    reset: int  # seconds until the window ends

    @property
    def remaining(self) -> int:
        return max(self.rate.limit - self.count, 0)


class FixedWindowThrottle(BaseThrottle):
    scope = ""

    def applies(self, request) -> bool:
        raise NotImplementedError

    def ident(self, request) -> str:
        raise NotImplementedError

    def rate(self) -> Rate | None:
        # Read on each request, so that a change of settings (or of a test's) takes effect.
        return Rate.parse(api_settings.DEFAULT_THROTTLE_RATES.get(self.scope))

    def allow_request(self, request, view) -> bool:
        rate = self.rate()
        if rate is None or not self.applies(request):
            return True
        now = time.time()
        window = int(now // rate.window)
        key = f"throttle:{self.scope}:{self.ident(request)}:{window}"
        try:
            # add() is a no-op when the key exists; incr() is atomic on Redis.
            cache.add(key, 0, timeout=rate.window + 1)
            count = cache.incr(key)
        except ValueError:
            # The key expired between add() and incr(): this request opens the window.
            count = 1
            try:
                cache.set(key, 1, timeout=rate.window + 1)
            except Exception:
                logger.warning("Rate limit not counted: the cache is unavailable.", exc_info=True)
        except Exception:
            logger.warning("Rate limit not counted: the cache is unavailable.", exc_info=True)
            return True
        self.standing = Standing(
            self.scope, rate, count, math.ceil((window + 1) * rate.window - now)
        )
        request._request.ratelimit = self.standing
        return count <= rate.limit

    def wait(self) -> float | None:
        return self.standing.reset


class AnonThrottle(FixedWindowThrottle):
    """Anonymous clients, by address (see ``NUM_PROXIES``)."""

    scope = "anon"

    def applies(self, request) -> bool:
        return not (request.user and request.user.is_authenticated)

    def ident(self, request) -> str:
        return self.get_ident(request)


class UserThrottle(FixedWindowThrottle):
    """Authenticated clients, by account."""

    scope = "user"

    def applies(self, request) -> bool:
        return bool(request.user and request.user.is_authenticated)

    def ident(self, request) -> str:
        return str(request.user.pk)


def check_rates(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """A system check: every configured rate must parse (THROTTLE_*_RATE in the environment),
    so that a typo stops the deployment instead of failing requests."""
    errors = []
    for scope, text in api_settings.DEFAULT_THROTTLE_RATES.items():
        try:
            Rate.parse(text)
        except ValueError as error:
            errors.append(checks.Error(f"Rate limit {scope!r}: {error}", id="api.E001"))
    return errors
