"""Fixed-window rate limits counted where every server process counts together.

Per API key, per user (all of a user's keys and browser-session API calls together), and
failed authentication per client address. A window is one clock minute; its counter is named
after the window, and is created and incremented atomically wherever the shared state lives:

- Redis (REDIS_URL): one EVAL per request counts the key, then the user, in one round trip.
- no Redis, on SQLite: an upsert per counter in a file of its own beside the database
  (`db.sqlite3-ratelimit`). Not in the database itself: SQLite has one writer at a time, so a
  counter written there would wait for every write transaction in flight, and the request
  would only begin once it had committed (a demotion racing another would then read its
  caller's role after the other's change: 403 instead of the 409 PostgreSQL answers).
- no Redis, on another database: an upsert per counter in its `RateLimitCounter` table.
  (Django's DatabaseCache could do neither: its incr is a read and a write, which two processes
  can interleave.)
- any other cache (local memory: the test suite's single process): `cache.add` then `cache.incr`.

A request's counters are counted in order and counting stops at the first one over its limit,
so that a key that keeps being refused does not also use up its user's other keys' allowance.

When the store is unreachable the API keeps answering without limits (fail open): a limit
that takes the API down with it would be worse than none. The outage is logged once, and the
store is left alone for a few seconds so that a hung Redis does not add its socket timeout to
every request.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.db import DatabaseCache
from django.core.cache.backends.redis import RedisCache
from django.db import connections, router
from django.http import HttpRequest, HttpResponseBase
from redis.exceptions import NoScriptError
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from capgo_org.sockets import idle_and_clean
from organizations.models import ApiKey, RateLimitCounter

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


# Where the counters live --------------------------------------------------------------------

# KEYS: the counters in order; ARGV[1]: their time to live; ARGV[i + 1]: the limit of KEYS[i].
_REDIS_COUNT = """
local counts = {}
for i, key in ipairs(KEYS) do
    local n = redis.call('INCR', key)
    if n == 1 then redis.call('EXPIRE', key, ARGV[1]) end
    counts[i] = n
    if n > tonumber(ARGV[i + 1]) then break end
end
return counts
"""


# All or none: KEYS the counters, ARGV[1] their time to live, ARGV[i + 1] the limit of KEYS[i].
# Returns {i, count} for the first counter already at its limit (nothing counted), else {0, 0}.
_REDIS_CHARGE = """
for i, key in ipairs(KEYS) do
    local n = tonumber(redis.call('GET', key) or '0')
    if n >= tonumber(ARGV[i + 1]) then return {i, n} end
end
for i, key in ipairs(KEYS) do
    if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, ARGV[1]) end
end
return {0, 0}
"""


@cache
def _sha(source: str) -> str:
    return hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis names scripts by SHA-1


def _run_script(backend: RedisCache, source: str, keys: Sequence[str], args: Sequence[object]) -> Any:
    """EVALSHA of `source` (sent whole if Redis has forgotten it) on this cache backend's own
    connection (one per backend instance, that is per thread), taken from its pool once.

    Through redis-py's connection API rather than the client's command methods, and without
    taking the connection from the pool and giving it back on every call: the client's per-command
    machinery (retries, instrumentation, response callbacks) and the pool's (its lock, counters
    and readiness check) cost more CPU than the round trip itself (bench/README.md). Before each
    use, one poll of the socket checks what the pool's check did: a connection the server closed
    (a restart) or that holds an unread answer is replaced, not sent to. A failure here is the
    breaker's to handle (`_guarded`); the connection that failed, or whose answer was not read
    (whatever interrupted it), is disconnected and reconnects on its next use.
    """
    connection = _connection(backend)
    try:
        connection.send_command("EVALSHA", _sha(source), len(keys), *keys, *args)
        try:
            return connection.read_response()
        except NoScriptError:
            connection.send_command("EVAL", source, len(keys), *keys, *args)
            return connection.read_response()
    except BaseException:
        connection.disconnect()
        raise


def _connection(backend: RedisCache) -> Any:
    """This backend's connection, taken from its pool in this process and ready to send to."""
    held = backend.__dict__.get("_capgo_connection")
    if held is None or held[0] != os.getpid():
        # Django's get_client() builds a new redis.Redis around the pool on every call, and redis-py's
        # constructor fills a table of some 170 response callbacks: the connection is kept instead.
        # In a forked process (gunicorn's workers) the pool starts afresh, and so does this.
        pool = backend._cache.get_client(write=True).connection_pool
        held = backend.__dict__["_capgo_connection"] = (os.getpid(), pool.get_connection())
    connection = held[1]
    if connection._sock is not None and not idle_and_clean(connection._sock):
        connection.disconnect()  # the server closed it, or it holds a stray answer: start afresh
    return connection


def _count_in_redis(backend: RedisCache, counters: Sequence[tuple[str, int]], timeout: int) -> list[int]:
    keys = [backend.make_key(name) for name, _limit in counters]
    # One script, one round trip: atomic, and the later counters only count what the earlier let through.
    counts = _run_script(backend, _REDIS_COUNT, keys, [timeout, *(limit for _name, limit in counters)])
    return [int(n) for n in counts]


@cache
def _upsert_sql(vendor: str) -> str:
    """Add one to a counter, creating it, and read it back: one statement, atomic in SQLite and PostgreSQL.

    Cached per database vendor, whose quoting it uses.
    """
    qn = connections[router.db_for_write(RateLimitCounter)].ops.quote_name
    table, name, hits, expires_at = (qn(n) for n in (RateLimitCounter._meta.db_table, "name", "hits", "expires_at"))
    return (
        f"INSERT INTO {table} ({name}, {hits}, {expires_at}) VALUES (%s, 1, %s) "  # noqa: S608 - identifiers only
        f"ON CONFLICT ({name}) DO UPDATE SET {hits} = {table}.{hits} + 1 RETURNING {hits}"
    )


class _Sweep:
    """The window whose expired counters this process last deleted: one DELETE per process per minute."""

    window = -1


def counter_file() -> str | None:
    """The counters' own SQLite file when the database is an SQLite file; None otherwise."""
    database = connections[router.db_for_write(RateLimitCounter)].settings_dict
    name = str(database["NAME"])
    if not database["ENGINE"].endswith("sqlite3") or name == ":memory:" or "mode=memory" in name:
        return None
    return f"{name}-ratelimit"


_file_connections = threading.local()
_FILE_UPSERT = (
    "INSERT INTO counter (name, hits, expires_at) VALUES (?, 1, ?) "
    "ON CONFLICT (name) DO UPDATE SET hits = hits + 1 RETURNING hits"
)


def _file_connection(path: str) -> sqlite3.Connection:
    """This thread's connection to the counter file, which it creates on first use."""
    connections_by_path: dict[str, sqlite3.Connection] = _file_connections.__dict__.setdefault("by_path", {})
    connection = connections_by_path.get(path)
    if connection is None:
        # Autocommit: each upsert is its own transaction, a few microseconds long.
        connection = sqlite3.connect(path, timeout=5, isolation_level=None)
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=OFF")  # a count lost in a power cut costs nothing
        connection.execute(
            "CREATE TABLE IF NOT EXISTS counter "
            "(name TEXT PRIMARY KEY, hits INTEGER NOT NULL, expires_at INTEGER NOT NULL)"
        )
        connection.execute("CREATE INDEX IF NOT EXISTS counter_expires_at ON counter (expires_at)")
        connections_by_path[path] = connection
    return connection


def count_in_file(path: str, counters: Sequence[tuple[str, int]], expires_at: int, window: int) -> list[int]:
    connection = _file_connection(path)
    counts: list[int] = []
    for name, limit in counters:
        # fetchall: the statement, and its write transaction, end only once its rows are read.
        counts.append(int(connection.execute(_FILE_UPSERT, (name, expires_at)).fetchall()[0][0]))
        if counts[-1] > limit:
            break
    if _Sweep.window != window:
        _Sweep.window = window
        connection.execute("DELETE FROM counter WHERE expires_at < ?", (int(now()),))
    return counts


def read_from_file(path: str, name: str) -> int:
    row = _file_connection(path).execute("SELECT hits FROM counter WHERE name = ?", (name,)).fetchone()
    return int(row[0]) if row else 0


def _count_in_table(counters: Sequence[tuple[str, int]], expires_at: int, window: int) -> list[int]:
    connection = connections[router.db_for_write(RateLimitCounter)]
    sql = _upsert_sql(connection.vendor)
    counts: list[int] = []
    with connection.cursor() as cursor:
        for name, limit in counters:
            cursor.execute(sql, [name, expires_at])
            counts.append(int(cursor.fetchone()[0]))
            if counts[-1] > limit:
                break
    if _Sweep.window != window:
        _Sweep.window = window
        RateLimitCounter.objects.filter(expires_at__lt=int(now())).delete()
    return counts


def _count_in_cache(counters: Sequence[tuple[str, int]], timeout: int) -> list[int]:
    backend = caches["default"]
    counts: list[int] = []
    for name, limit in counters:
        backend.add(name, 0, timeout)
        try:
            counts.append(backend.incr(name))
        except ValueError:  # expired between add and incr
            backend.add(name, 1, timeout)
            counts.append(1)
        if counts[-1] > limit:
            break
    return counts


def _count(counters: Sequence[tuple[str, int]], timeout: int, window: int) -> list[int]:
    """Add one to each (name, limit) counter in order, up to the first over its limit; their new values."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return _count_in_redis(backend, counters, timeout)
    if isinstance(backend, DatabaseCache):
        path = counter_file()
        if path is not None:
            return count_in_file(path, counters, int(now()) + timeout, window)
        return _count_in_table(counters, int(now()) + timeout, window)
    return _count_in_cache(counters, timeout)


def _read(name: str) -> int:
    if isinstance(caches["default"], DatabaseCache):
        path = counter_file()
        if path is not None:
            return read_from_file(path, name)
        return RateLimitCounter.objects.filter(name=name).values_list("hits", flat=True).first() or 0
    return int(caches["default"].get(name, 0))


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


def hit_all(counters: Sequence[tuple[str, object, int]], window: int = WINDOW_SECONDS) -> list[Decision] | None:
    """Count one request against each (scope, ident, limit), in order, up to the first that refuses it.

    The decisions of the counters counted; None when the store is unavailable. `window` is in
    seconds: a minute for request limits, longer for caps such as invitation emails.
    """
    number, reset = _window(now(), window)
    named = [(_counter_name(scope, ident, number, window), limit) for scope, ident, limit in counters]
    # The sweep of expired counters follows the minute, whatever this counter's window.
    counts = _guarded(_count, named, reset + 2, _window(now())[0])
    if counts is None:
        return None
    # Counting stops at the first refusal: the counters after it have no count, and no decision.
    pairs = zip(named, counts, strict=False)
    return [Decision(limit=limit, count=count, reset=reset) for (_name, limit), count in pairs]


def hit(scope: str, ident: object, limit: int, window: int = WINDOW_SECONDS) -> Decision | None:
    """Count one request of `ident` in `scope`; None when the store is unavailable."""
    decisions = hit_all([(scope, ident, limit)], window)
    return None if decisions is None else decisions[0]


def peek(scope: str, ident: object, limit: int, window: int = WINDOW_SECONDS) -> Decision | None:
    """The current count of `ident` in `scope` without adding to it."""
    number, reset = _window(now(), window)
    count = _guarded(_read, _counter_name(scope, ident, number, window))
    return None if count is None else Decision(limit=limit, count=int(count), reset=reset)


def _charge(counters: Sequence[tuple[str, int]], timeout: int) -> tuple[int, int]:
    """Count one in every (name, limit) counter unless one is already at its limit: (position from 1
    of the first at its limit and its count) or (0, 0) when all were counted."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        keys = [backend.make_key(name) for name, _limit in counters]
        position, count = _run_script(backend, _REDIS_CHARGE, keys, [timeout, *(n for _k, n in counters)])
        return int(position), int(count)
    # Elsewhere (no Redis: one machine) a read, then the counts: two requests at the same moment
    # may both pass a counter that had one left, as with every counter of that store.
    for position, (name, limit) in enumerate(counters, start=1):
        count = _read(name)
        if count >= limit:
            return position, count
    _count(counters, timeout, _window(now())[0])  # each is below its limit: all of them are counted
    return 0, 0


def charge_all(counters: Sequence[tuple[str, object, int]], window: int) -> tuple[int, Decision] | None:
    """Count one against every (scope, ident, limit), or against none when one is at its limit.

    For caps on what a request sends (invitation emails): one round trip to Redis. Returns the
    position (from 0) and decision of the counter that refused, or None when all were counted or
    the store is unavailable.
    """
    number, reset = _window(now(), window)
    named = [(_counter_name(scope, ident, number, window), limit) for scope, ident, limit in counters]
    result = _guarded(_charge, named, reset + 2)
    if result is None or result[0] == 0:
        return None
    position, count = result
    return position - 1, Decision(limit=named[position - 1][1], count=count, reset=reset)


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


# Requests per API key and per user ---------------------------------------------------------


def limit_for(key: ApiKey) -> int:
    """The key's requests per minute: its own limit if settings name it (by key id), else the default."""
    return settings.API_RATE_LIMIT_OVERRIDES.get(str(key.pk), settings.API_RATE_LIMIT_PER_MINUTE)


class ApiRateThrottle(BaseThrottle):
    """DRF throttle: each key's limit (API_RATE_LIMIT_PER_MINUTE or its override), then its user's
    ceiling (API_USER_RATE_LIMIT_PER_MINUTE) across every key and the browser session.

    Leaves the decision nearest its limit on the request as `ratelimit`, so that every response,
    error or not, carries the RateLimit-* headers (see `add_headers`).
    """

    def allow_request(self, request: Request, view: Any) -> bool:
        user = request.user
        if user is None or not user.is_authenticated:
            return True
        key = request.auth if isinstance(request.auth, ApiKey) else None
        counters: list[tuple[str, object, int]] = [("key", key.pk, limit_for(key))] if key is not None else []
        counters.append(("user", user.pk, settings.API_USER_RATE_LIMIT_PER_MINUTE))
        decisions = hit_all(counters)
        if decisions is None:
            self.decision = request.ratelimit = None
            return True
        refused = next((d for d in decisions if not d.allowed), None)
        self.decision = request.ratelimit = refused or min(decisions, key=lambda d: d.remaining)
        return refused is None

    def wait(self) -> float | None:
        return float(self.decision.reset) if self.decision is not None else None


def add_headers(response: HttpResponseBase, decision: Decision | None) -> None:
    if decision is not None:
        for name, value in decision.headers().items():
            response[name] = value
