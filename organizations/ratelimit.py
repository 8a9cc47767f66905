"""Fixed-window rate limits counted in the shared cache: per API key, and failed authentication per address.

A window is one clock minute. Its counter lives in the default cache (Redis in production,
so every server process counts together) under a key that names the window, and is created
and incremented atomically: on Redis, `SET NX EX` and `INCR` go out in one pipeline (one
round trip); on other backends, `cache.add` then `cache.incr`.

When the cache is unreachable the API keeps answering without limits (fail open): a limit
that takes the API down with it would be worse than none. The outage is logged once, and the
cache is left alone for a few seconds so that a hung Redis does not add its socket timeout to
every request.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from django.http import HttpRequest, HttpResponseBase
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from organizations.models import ApiKey

logger = logging.getLogger("organizations.ratelimit")

WINDOW_SECONDS = 60
# After a cache failure, requests skip the cache for this long before trying it again.
BACKOFF_SECONDS = 5.0


@dataclass(frozen=True)
class Decision:
    """One request's place in its window."""

    limit: int
    count: int
    reset: int  # seconds until the window ends

    @property
    def allowed(self) -> bool:
        return self.count <= self.limit

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.count)

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


def now() -> float:
    return time.time()


class _Breaker:
    """Process-wide memory of a cache outage: when to try again, and whether it was logged."""

    skip_until = 0.0
    down = False
    lock = threading.Lock()

    @classmethod
    def open(cls, exc: Exception) -> None:
        with cls.lock:
            cls.skip_until = time.monotonic() + BACKOFF_SECONDS
            first, cls.down = not cls.down, True
        if first:
            logger.warning(
                "Rate limiting is degraded: the cache is unreachable (%s); requests are served without limits "
                "until it returns.",
                exc.__class__.__name__,
            )

    @classmethod
    def closed(cls) -> bool:
        return time.monotonic() >= cls.skip_until

    @classmethod
    def succeeded(cls) -> None:
        if cls.down:
            with cls.lock:
                first, cls.down = cls.down, False
            if first:
                logger.info("Rate limiting restored: the cache is reachable again.")


def reset_breaker() -> None:
    """Forget any outage (tests use this between scenarios)."""
    _Breaker.skip_until = 0.0
    _Breaker.down = False


def _window(now: float, seconds: int = WINDOW_SECONDS) -> tuple[int, int]:
    """The current window's number and the seconds left in it (1 to `seconds`)."""
    number = int(now // seconds)
    return number, seconds - int(now % seconds)


def _increment(name: str, timeout: int) -> int:
    """Atomically add one to the counter `name` (creating it at zero) and return the new value."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        key = backend.make_and_validate_key(name)
        client = backend._cache.get_client(key, write=True)
        pipe = client.pipeline(transaction=False)
        pipe.set(key, 0, ex=timeout, nx=True)
        pipe.incr(key)
        return int(pipe.execute()[1])
    backend.add(name, 0, timeout)
    try:
        return backend.incr(name)
    except ValueError:  # expired between add and incr
        backend.add(name, 1, timeout)
        return 1


def _guarded(operation: Any, *args: Any) -> Any:
    """Run a cache operation, or return None when the cache is (recently) unreachable."""
    if not _Breaker.closed():
        return None
    try:
        result = operation(*args)
    except Exception as exc:  # any cache failure must degrade, never fail the request
        _Breaker.open(exc)
        return None
    _Breaker.succeeded()
    return result


def hit(scope: str, ident: object, limit: int, window: int = WINDOW_SECONDS) -> Decision | None:
    """Count one request of `ident` in `scope`; None when the cache is unavailable."""
    number, reset = _window(now(), window)
    count = _guarded(_increment, _counter_name(scope, ident, number, window), reset + 2)
    return None if count is None else Decision(limit=limit, count=count, reset=reset)


def peek(scope: str, ident: object, limit: int, window: int = WINDOW_SECONDS) -> Decision | None:
    """The current count of `ident` in `scope` without adding to it."""
    number, reset = _window(now(), window)
    count = _guarded(caches["default"].get, _counter_name(scope, ident, number, window), 0)
    return None if count is None else Decision(limit=limit, count=int(count), reset=reset)


def _counter_name(scope: str, ident: object, number: int, window: int) -> str:
    suffix = number if window == WINDOW_SECONDS else f"{window}s{number}"
    return f"rl:{scope}:{ident}:{suffix}"


# Failed authentication, per client address -----------------------------------------------


def client_address(request: HttpRequest) -> str:
    """The client's address: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the address the
    outermost one saw, from the right of X-Forwarded-For (entries further left are the client's
    own words and prove nothing). Every limit keyed on the client, allauth's too, asks this.
    """
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [part for part in forwarded if part]
        if forwarded:
            # Fewer entries than proxies: the request skipped some; the leftmost is still a proxy's word.
            address = forwarded[-proxies] if len(forwarded) >= proxies else forwarded[0]
            if _is_ip(address):
                return address
    return request.META.get("REMOTE_ADDR") or "unknown"


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def auth_failures_exceeded(request: HttpRequest) -> Decision | None:
    """The address's failure count when it has used up its failures this minute, else None."""
    decision = peek("authfail", client_address(request), settings.AUTH_FAILURE_LIMIT_PER_MINUTE)
    if decision is not None and decision.count >= decision.limit:
        return decision
    return None


def record_auth_failure(request: HttpRequest) -> None:
    hit("authfail", client_address(request), settings.AUTH_FAILURE_LIMIT_PER_MINUTE)


# Requests per API key --------------------------------------------------------------------


def limit_for(key: ApiKey) -> int:
    """The key's requests per minute: its own limit if settings name it (by key id), else the default."""
    return settings.API_RATE_LIMIT_OVERRIDES.get(str(key.pk), settings.API_RATE_LIMIT_PER_MINUTE)


class ApiKeyRateThrottle(BaseThrottle):
    """DRF throttle: API_RATE_LIMIT_PER_MINUTE requests per key per minute (or the key's override).

    Leaves its decision on the request as `ratelimit` so that every response, error or not,
    carries the RateLimit-* headers (see `add_headers`). Browser sessions are not limited here.
    """

    def allow_request(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return True
        self.decision = hit("key", key.pk, limit_for(key))
        request.ratelimit = self.decision
        return self.decision is None or self.decision.allowed

    def wait(self) -> float | None:
        return float(self.decision.reset) if self.decision is not None else None


def add_headers(response: HttpResponseBase, decision: Decision | None) -> None:
    if decision is not None:
        for name, value in decision.headers().items():
            response[name] = value
