"""Rate limits (per key, and failed authentication per address) and resource limits.

In-process tests count in a local-memory cache with a frozen clock. The Redis tests need
TEST_REDIS_URL (make test passes it; they fail under CI=true when Redis is unreachable, and
are skipped otherwise). Two tests start their own redis-server, one starts two gunicorn workers.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import redis
from django.core.cache import cache, caches
from django.test import SimpleTestCase, override_settings

from bench.load import Gunicorn, call, create_keys, free_port, manage, prepare_database, server_env
from organizations import ratelimit
from organizations.models import ApiKey, CacheEntry, Organization, RateLimitCounter
from tests.base import ApiTestCase, make_key

URL = "/organization/"
NOW = 1_800_000_010.0  # ten seconds into a minute: the window resets in 50 s
LOCMEM = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "ratelimit-tests"}}


def redis_url_or_skip() -> str:
    """TEST_REDIS_URL if Redis answers there; otherwise fail under CI=true, skip elsewhere."""
    url = os.environ.get("TEST_REDIS_URL", "")
    reason = "TEST_REDIS_URL is not set" if not url else f"Redis at {url} is not reachable"
    if url:
        try:
            redis.Redis.from_url(url, socket_connect_timeout=2).ping()
            return url
        except redis.RedisError:
            pass
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}, and CI=true: the Redis tests must run")
    pytest.skip(f"{reason}; make test passes it (redis://127.0.0.1:6379/15)")


def redis_cache(location: str) -> dict[str, Any]:
    """Settings for the project's Redis cache at `location`, with counters of their own."""
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": location,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
            "KEY_PREFIX": f"test-{secrets.token_hex(4)}",
        }
    }


class OwnRedis:
    """A throwaway redis-server on a free port, to be killed by the test."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server is not installed, and CI=true")
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError("redis-server did not start")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class RateLimitTestCase(ApiTestCase):
    """Counts in a local-memory cache; the clock is frozen at NOW unless a test moves it."""

    def setUp(self) -> None:
        super().setUp()
        ratelimit.reset_breaker()
        settings_override = override_settings(
            CACHES=LOCMEM, API_RATE_LIMIT_PER_MINUTE=100, API_USER_RATE_LIMIT_PER_MINUTE=200
        )
        settings_override.enable()
        self.addCleanup(settings_override.disable)
        cache.clear()
        self.now = NOW
        clock = mock.patch.object(ratelimit, "now", side_effect=lambda: self.now)
        clock.start()
        self.addCleanup(clock.stop)

    def assertLimitHeaders(self, response: Any, limit: int, remaining: int, reset: int = 50) -> None:  # noqa: N802
        self.assertEqual(response["RateLimit-Limit"], str(limit))
        self.assertEqual(response["RateLimit-Remaining"], str(remaining))
        self.assertEqual(response["RateLimit-Reset"], str(reset))


class ApiKeyRateLimitTestCase(RateLimitTestCase):
    def test_a_success_carries_the_rate_limit_headers(self) -> None:
        r = self.get(URL, key=self.key["read"])
        self.assertEqual(r.status_code, 200)
        self.assertLimitHeaders(r, 100, 99)

    def test_errors_of_a_keyed_request_carry_them_too(self) -> None:
        self.assertError(self.get(URL, {"orgId": "org_missing"}, key=self.key["all"]), 404, "org_not_found")
        self.assertError(self.put(URL, {"orgId": self.org.id, "id": "x"}, key=self.key["all"]), 400, "invalid_body")
        self.assertError(self.put(URL, {"orgId": self.org.id}, key=self.key["read"]), 403, "key_mode_forbidden")
        r = self.client.patch(URL, "{}", content_type="application/json", HTTP_AUTHORIZATION=self.key["all"])
        self.assertError(r, 405, "method_not_allowed")
        self.assertLimitHeaders(r, 100, 97)

    def test_the_101st_request_in_a_minute_is_429_with_retry_after(self) -> None:
        for _ in range(100):
            r = self.get(URL, key=self.key["read"])
            self.assertEqual(r.status_code, 200)
        self.assertLimitHeaders(r, 100, 0)
        r = self.get(URL, key=self.key["read"])
        body = self.assertError(r, 429, "rate_limited")
        self.assertEqual(set(body), {"status", "error", "code"})
        self.assertEqual(r["Retry-After"], "50")
        self.assertLimitHeaders(r, 100, 0)

    def test_a_refused_request_does_nothing(self) -> None:
        for _ in range(100):
            self.get(URL, key=self.key["all"])
        before = Organization.objects.count()
        self.assertError(self.post(URL, {"name": "Too late"}, key=self.key["all"]), 429, "rate_limited")
        self.assertEqual(Organization.objects.count(), before)

    def test_a_different_key_is_not_affected(self) -> None:
        for _ in range(101):
            last = self.get(URL, key=self.key["read"])
        self.assertEqual(last.status_code, 429)
        r = self.get(URL, key=self.key["write"])
        self.assertEqual(r.status_code, 200)
        self.assertLimitHeaders(r, 100, 99)

    def test_the_next_minute_starts_afresh(self) -> None:
        for _ in range(101):
            self.get(URL, key=self.key["read"])
        self.now += 50
        r = self.get(URL, key=self.key["read"])
        self.assertEqual(r.status_code, 200)
        self.assertLimitHeaders(r, 100, 99, reset=60)

    def test_a_key_can_have_its_own_limit(self) -> None:
        key, plaintext = make_key(self.alice, name="noisy script")
        with override_settings(API_RATE_LIMIT_OVERRIDES={str(key.pk): 3}):
            statuses = [self.get(URL, key=plaintext).status_code for _ in range(4)]
            self.assertEqual(statuses, [200, 200, 200, 429])
            self.assertEqual(self.get(URL, key=self.key["read"]).status_code, 200)

    def test_a_browser_session_has_no_key_limit_only_its_users_ceiling(self) -> None:
        self.client.force_login(self.alice)
        r = self.client.get(URL)
        self.assertEqual(r.status_code, 200)
        self.assertLimitHeaders(r, 200, 199)  # the user's ceiling (API_USER_RATE_LIMIT_PER_MINUTE)


class UserCeilingTestCase(RateLimitTestCase):
    """One ceiling per user across all their keys and their browser session (here 5 a minute)."""

    def setUp(self) -> None:
        super().setUp()
        ceiling = override_settings(API_USER_RATE_LIMIT_PER_MINUTE=5)
        ceiling.enable()
        self.addCleanup(ceiling.disable)

    def test_more_keys_do_not_buy_more_requests(self) -> None:
        keys = [self.key["read"], self.key["write"], self.key["all"]]
        statuses = [self.get(URL, key=keys[n % 3]).status_code for n in range(9)]
        self.assertEqual(statuses, [200] * 5 + [429] * 4)
        r = self.get(URL, key=self.key["upload"])
        body = self.assertError(r, 429, "rate_limited")
        self.assertEqual(set(body), {"status", "error", "code"})
        self.assertEqual(r["Retry-After"], "50")
        self.assertLimitHeaders(r, 5, 0)  # the limit that refused it

    def test_the_headers_show_the_nearer_limit(self) -> None:
        self.assertLimitHeaders(self.get(URL, key=self.key["read"]), 5, 4)  # the user's 5, not the key's 100
        with override_settings(API_USER_RATE_LIMIT_PER_MINUTE=1000):
            self.assertLimitHeaders(self.get(URL, key=self.key["read"]), 100, 98)

    def test_browser_session_calls_count_against_the_same_ceiling(self) -> None:
        for _ in range(3):
            self.assertEqual(self.get(URL, key=self.key["read"]).status_code, 200)
        self.client.force_login(self.alice)
        self.assertEqual([self.client.get(URL).status_code for _ in range(3)], [200, 200, 429])
        r = self.client.get(URL)
        self.assertError(r, 429, "rate_limited")
        self.assertLimitHeaders(r, 5, 0)

    def test_a_key_refused_by_its_own_limit_does_not_use_up_its_users_ceiling(self) -> None:
        noisy, plaintext = make_key(self.alice, name="noisy script")
        with override_settings(API_RATE_LIMIT_OVERRIDES={str(noisy.pk): 2}):
            self.assertEqual([self.get(URL, key=plaintext).status_code for _ in range(10)], [200] * 2 + [429] * 8)
            # 2 of the user's 5 are used: the other keys get the 3 left, not 0.
            self.assertEqual([self.get(URL, key=self.key["read"]).status_code for _ in range(4)], [200] * 3 + [429])

    def test_other_users_are_not_affected(self) -> None:
        for _ in range(6):
            self.get(URL, key=self.key["read"])
        self.assertEqual(self.get(URL, key=self.oscar_key).status_code, 200)

    def test_the_next_minute_starts_afresh(self) -> None:
        for _ in range(6):
            self.get(URL, key=self.key["read"])
        self.now += 50
        self.assertLimitHeaders(self.get(URL, key=self.key["write"]), 5, 4, reset=60)


@override_settings(AUTH_FAILURE_LIMIT_PER_MINUTE=5)
class AuthFailureThrottleTestCase(RateLimitTestCase):
    ADDRESS = "203.0.113.7"

    def bad(self, address: str = ADDRESS) -> Any:
        return self.get(URL, key="capgo_aaaaaaaa_" + secrets.token_urlsafe(32), REMOTE_ADDR=address)

    def test_repeated_failures_from_one_address_are_429(self) -> None:
        for _ in range(5):
            self.assertError(self.bad(), 401, "invalid_apikey")
        with self.assertNumQueries(1):  # the one indexed lookup that found nothing
            r = self.bad()
        self.assertError(r, 429, "rate_limited")
        self.assertEqual(r["Retry-After"], "50")
        with self.assertNumQueries(0):  # a malformed key is refused without a lookup
            self.assertError(self.get(URL, key="not-a-key", REMOTE_ADDR=self.ADDRESS), 429, "rate_limited")

    def test_a_valid_key_is_never_refused_for_what_others_did_from_its_address(self) -> None:
        for _ in range(8):
            self.bad()
        self.assertError(self.bad(), 429, "rate_limited")
        self.assertEqual(self.get(URL, key=self.key["read"], REMOTE_ADDR=self.ADDRESS).status_code, 200)

    def test_expired_and_malformed_keys_count_as_failures(self) -> None:
        for _ in range(3):
            self.assertError(self.get(URL, key=self.expired_key, REMOTE_ADDR=self.ADDRESS), 401, "apikey_expired")
        for _ in range(2):
            self.assertError(self.get(URL, key="not-a-key", REMOTE_ADDR=self.ADDRESS), 401, "invalid_apikey")
        self.assertError(self.bad(), 429, "rate_limited")

    def test_other_addresses_are_not_affected(self) -> None:
        for _ in range(6):
            self.bad()
        self.assertEqual(self.get(URL, key=self.key["read"], REMOTE_ADDR="198.51.100.1").status_code, 200)

    def test_requests_without_a_key_do_not_count(self) -> None:
        for _ in range(10):
            self.assertError(self.get(URL, REMOTE_ADDR=self.ADDRESS), 401, "no_key_provided")
        self.assertEqual(self.get(URL, key=self.key["read"], REMOTE_ADDR=self.ADDRESS).status_code, 200)

    def test_the_block_lifts_with_the_next_minute(self) -> None:
        for _ in range(6):
            self.bad()
        self.now += 60
        self.assertError(self.bad(), 401, "invalid_apikey")


DATABASE_CACHE = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "django_cache"}}


class DatabaseCountersTestCase(RateLimitTestCase):
    """Production without Redis: the cache is the database's; the counters an upsert each, in a table of the
    database (here the test database, in memory) or, beside an SQLite file, in a file of their own.

    In-process here, with the clock frozen; TwoWorkersOnTheDefaultTestCase shows them shared by two processes.
    """

    def setUp(self) -> None:
        super().setUp()
        database = override_settings(CACHES=DATABASE_CACHE, API_RATE_LIMIT_PER_MINUTE=2)
        database.enable()
        self.addCleanup(database.disable)
        ratelimit._Sweep.window = -1

    def counters(self) -> dict[str, int]:
        return dict(RateLimitCounter.objects.values_list("name", "hits"))

    def test_the_key_and_its_user_are_counted_in_the_counter_table(self) -> None:
        key = ApiKey.objects.get(user=self.alice, name="read key")
        statuses = [self.get(URL, key=self.key["read"]).status_code for _ in range(3)]
        self.assertEqual(statuses, [200, 200, 429])
        window = int(NOW // 60)
        # The refused request counted against the key only, not against its user.
        self.assertEqual(self.counters(), {f"rl:key:{key.pk}:{window}": 3, f"rl:user:{self.alice.pk}:{window}": 2})

    def test_failed_authentication_is_counted_there_too(self) -> None:
        with override_settings(AUTH_FAILURE_LIMIT_PER_MINUTE=2):
            bad = "capgo_aaaaaaaa_" + "x" * 43
            statuses = [self.get(URL, key=bad, REMOTE_ADDR="192.0.2.9").status_code for _ in range(3)]
        self.assertEqual(statuses, [401, 401, 429])
        self.assertEqual(self.counters(), {f"rl:authfail:192.0.2.9:{int(NOW // 60)}": 2})

    def test_expired_counters_are_deleted_once_a_minute(self) -> None:
        RateLimitCounter.objects.create(name="rl:key:1:1", hits=5, expires_at=int(NOW) - 1)
        RateLimitCounter.objects.create(name="rl:key:1:2", hits=5, expires_at=int(NOW) + 30)
        self.get(URL, key=self.key["read"])
        self.assertNotIn("rl:key:1:1", self.counters())
        self.assertIn("rl:key:1:2", self.counters())

    def test_beside_an_sqlite_file_the_counters_have_a_file_of_their_own(self) -> None:
        # The gunicorn tests below count there through two workers; here, what it does.
        path = str(Path(tempfile.mkdtemp(prefix="capgo-counters-")) / "db.sqlite3-ratelimit")
        self.addCleanup(shutil.rmtree, Path(path).parent, True)
        later = int(NOW) + 60
        self.assertEqual(ratelimit.count_in_file(path, [("key", 2), ("user", 5)], later, 1), [1, 1])
        self.assertEqual(ratelimit.count_in_file(path, [("key", 2), ("user", 5)], later, 1), [2, 2])
        self.assertEqual(ratelimit.count_in_file(path, [("key", 2), ("user", 5)], later, 1), [3])  # refused: stop
        self.assertEqual((ratelimit.read_from_file(path, "key"), ratelimit.read_from_file(path, "user")), (3, 2))
        ratelimit.count_in_file(path, [("old", 9)], int(NOW) - 1, 1)
        ratelimit.count_in_file(path, [("new", 9)], later, 2)  # a new window: expired counters go
        self.assertEqual(ratelimit.read_from_file(path, "old"), 0)
        self.assertEqual(ratelimit.read_from_file(path, "key"), 3)

    def test_the_cache_is_the_django_cache_table(self) -> None:
        cache.set("shared", "by every process", 30)
        self.assertEqual(CacheEntry.objects.count(), 1)
        self.assertEqual(cache.get("shared"), "by every process")


@override_settings(API_RATE_LIMIT_PER_MINUTE=100)
class RedisRateLimitTestCase(ApiTestCase):
    """The production cache backend: Redis, real or killed."""

    def setUp(self) -> None:
        super().setUp()
        ratelimit.reset_breaker()
        self.addCleanup(ratelimit.reset_breaker)

    def test_the_limit_is_counted_in_redis_in_one_round_trip(self) -> None:
        with override_settings(CACHES=redis_cache(redis_url_or_skip()), API_RATE_LIMIT_PER_MINUTE=3):
            self.assertEqual(self.get(URL, key=self.key["read"]).status_code, 200)  # connects (HELLO, SELECT)
            # Every round trip reads one response, whichever redis-py API sent the command.
            responses = []
            real_read = redis.connection.AbstractConnection.read_response

            def counted(connection: Any, *args: Any, **kwargs: Any) -> Any:
                response = real_read(connection, *args, **kwargs)
                responses.append(response)
                return response

            with mock.patch.object(redis.connection.AbstractConnection, "read_response", counted):
                r = self.get(URL, key=self.key["read"])
            self.assertEqual(r.status_code, 200)
            self.assertEqual(len(responses), 1, responses)  # the key's and the user's counters, one script
            self.assertEqual(r["RateLimit-Remaining"], "1")
            statuses = [self.get(URL, key=self.key["read"]).status_code for _ in range(2)]
            self.assertEqual(statuses, [200, 429])

    def test_the_limit_still_counts_after_redis_forgets_its_scripts(self) -> None:
        url = redis_url_or_skip()
        with override_settings(CACHES=redis_cache(url), API_RATE_LIMIT_PER_MINUTE=2):
            self.assertEqual(self.get(URL, key=self.key["read"])["RateLimit-Remaining"], "1")
            redis.Redis.from_url(url).script_flush()  # as after a restart or a failover
            second = self.get(URL, key=self.key["read"])
            self.assertEqual((second.status_code, second["RateLimit-Remaining"]), (200, "0"))
            self.assertEqual(self.get(URL, key=self.key["read"]).status_code, 429)

    def test_requests_keep_one_connection_and_never_take_it_from_the_pool_again(self) -> None:
        with override_settings(CACHES=redis_cache(redis_url_or_skip())):
            self.assertEqual(self.get(URL, key=self.key["read"]).status_code, 200)
            held = caches["default"].__dict__["_capgo_connection"][1]
            with mock.patch.object(redis.ConnectionPool, "get_connection") as taken:
                remaining = [self.get(URL, key=self.key["read"])["RateLimit-Remaining"] for _ in range(3)]
            taken.assert_not_called()
            self.assertEqual(remaining, ["98", "97", "96"])
            self.assertIs(caches["default"].__dict__["_capgo_connection"][1], held)

    def test_a_connection_the_server_dropped_is_replaced_without_losing_a_count(self) -> None:
        server = OwnRedis()
        self.addCleanup(server.kill)
        with override_settings(CACHES=redis_cache(server.url)), self.assertNoLogs("organizations.ratelimit"):
            self.assertEqual(self.get(URL, key=self.key["read"])["RateLimit-Remaining"], "99")
            # As after a restart or an idle timeout: the server closes the connection between requests.
            killed = redis.Redis(port=server.port).client_kill_filter(_type="normal", skipme=True)
            self.assertGreaterEqual(killed, 1)
            time.sleep(0.1)  # the end of file reaches this side
            self.assertEqual(self.get(URL, key=self.key["read"])["RateLimit-Remaining"], "98")

    def test_an_answer_left_unread_is_never_read_as_the_next_requests(self) -> None:
        class Interrupted(BaseException):  # such as gunicorn's timeout landing between send and read
            pass

        real_read = redis.connection.Connection.read_response
        calls = []

        def interrupted_once(connection: Any, *args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            if len(calls) == 1:
                raise Interrupted
            return real_read(connection, *args, **kwargs)

        with override_settings(CACHES=redis_cache(redis_url_or_skip())):
            self.assertEqual(self.get(URL, key=self.key["read"])["RateLimit-Remaining"], "99")
            with mock.patch.object(redis.connection.Connection, "read_response", interrupted_once):
                with self.assertRaises(Interrupted):
                    self.get(URL, key=self.key["read"])  # counted (98), its answer never read
                # Dropped at once: the answer may not have arrived yet when the next request looks.
                self.assertIsNone(caches["default"].__dict__["_capgo_connection"][1]._sock)
                # The next request reads its own answer (97), not the one left on the socket.
                self.assertEqual(self.get(URL, key=self.key["read"])["RateLimit-Remaining"], "97")

    def test_a_forked_process_makes_its_own_connection(self) -> None:
        with override_settings(CACHES=redis_cache(redis_url_or_skip())):
            self.get(URL, key=self.key["read"])
            parents = caches["default"].__dict__["_capgo_connection"][1]
            caches["default"].__dict__["_capgo_connection"] = (os.getpid() + 1, parents)  # as a child sees its parent's
            self.assertEqual(self.get(URL, key=self.key["read"]).status_code, 200)
            self.assertEqual(caches["default"].__dict__["_capgo_connection"][0], os.getpid())
            self.assertIsNot(caches["default"].__dict__["_capgo_connection"][1], parents)

    def test_the_users_ceiling_is_counted_in_redis_in_the_same_round_trip(self) -> None:
        with override_settings(CACHES=redis_cache(redis_url_or_skip()), API_USER_RATE_LIMIT_PER_MINUTE=3):
            noisy, plaintext = make_key(self.alice, name="noisy script")
            with override_settings(API_RATE_LIMIT_OVERRIDES={str(noisy.pk): 1}):
                self.assertEqual([self.get(URL, key=plaintext).status_code for _ in range(3)], [200, 429, 429])
            keys = [self.key["read"], self.key["write"]]
            statuses = [self.get(URL, key=keys[n % 2]).status_code for n in range(4)]
            self.assertEqual(statuses, [200, 200, 429, 429])  # 1 + 2 of the user's 3; the refusals took none
            self.assertEqual(self.get(URL, key=self.oscar_key).status_code, 200)

    def test_failed_authentication_is_counted_in_redis_too(self) -> None:
        with override_settings(CACHES=redis_cache(redis_url_or_skip()), AUTH_FAILURE_LIMIT_PER_MINUTE=2):
            bad = "capgo_aaaaaaaa_" + "x" * 43
            statuses = [self.get(URL, key=bad, REMOTE_ADDR="192.0.2.9").status_code for _ in range(3)]
            self.assertEqual(statuses, [401, 401, 429])
            self.assertEqual(self.get(URL, key=self.key["read"], REMOTE_ADDR="192.0.2.9").status_code, 200)
            self.assertEqual(self.get(URL, key=self.key["read"], REMOTE_ADDR="192.0.2.10").status_code, 200)

    def test_requests_still_succeed_when_redis_dies_and_it_is_logged_once(self) -> None:
        server = OwnRedis()
        self.addCleanup(server.kill)
        with override_settings(CACHES=redis_cache(server.url)):
            r = self.get(URL, key=self.key["read"])
            self.assertEqual((r.status_code, r["RateLimit-Remaining"]), (200, "99"))
            server.kill()
            with self.assertLogs("organizations.ratelimit", "WARNING") as logs:
                started = time.monotonic()
                responses = [self.get(URL, key=self.key["read"]) for _ in range(20)]
                bad_key = self.get(URL, key="capgo_aaaaaaaa_" + "x" * 43)
                elapsed = time.monotonic() - started
            self.assertEqual([r.status_code for r in responses], [200] * 20)
            self.assertNotIn("RateLimit-Limit", responses[-1])  # no count, so no claim about it
            self.assertEqual(bad_key.status_code, 401)
            self.assertEqual(len(logs.records), 1, [r.getMessage() for r in logs.records])
            self.assertIn("degraded", logs.records[0].getMessage())
            self.assertLess(elapsed, 5)

    def test_a_hung_redis_costs_its_timeout_once_not_on_every_request(self) -> None:
        # A socket that accepts connections and never answers: each command would wait 0.5 s.
        with socket.socket() as hung:
            hung.bind(("127.0.0.1", 0))
            hung.listen(64)
            location = f"redis://127.0.0.1:{hung.getsockname()[1]}/0"
            with override_settings(CACHES=redis_cache(location)), self.assertLogs("organizations.ratelimit"):
                started = time.monotonic()
                statuses = [self.get(URL, key=self.key["read"]).status_code for _ in range(10)]
                elapsed = time.monotonic() - started
        self.assertEqual(statuses, [200] * 10)
        self.assertLess(elapsed, 2.0)  # one 0.5 s timeout, then the cache is skipped

    def test_limits_come_back_when_redis_does(self) -> None:
        server = OwnRedis()
        self.addCleanup(server.kill)
        port = server.port
        with override_settings(CACHES=redis_cache(server.url)), mock.patch.object(ratelimit, "BACKOFF_SECONDS", 0.2):
            server.kill()
            with self.assertLogs("organizations.ratelimit", "INFO") as logs:
                self.assertEqual(self.get(URL, key=self.key["read"]).status_code, 200)
                revived = subprocess.Popen(
                    ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                    stdout=subprocess.DEVNULL,
                )
                self.addCleanup(lambda: (revived.kill(), revived.wait()))
                deadline = time.monotonic() + 5
                r = self.get(URL, key=self.key["read"])
                while "RateLimit-Limit" not in r and time.monotonic() < deadline:
                    time.sleep(0.1)
                    r = self.get(URL, key=self.key["read"])
            self.assertIn("RateLimit-Limit", r)
            self.assertIn("restored", logs.records[-1].getMessage())


class ResourceLimitTestCase(ApiTestCase):
    def test_a_body_over_1_mib_is_413_with_the_envelope(self) -> None:
        body = json.dumps({"name": "x" * (1024 * 1024)})
        self.assertError(self.post(URL, body, key=self.key["all"]), 413, "payload_too_large")
        self.assertError(self.post("/apikey/", body, key=self.key["all"]), 413, "payload_too_large")

    def test_list_limits_are_capped_at_100(self) -> None:
        self.assertEqual(self.get(URL, {"limit": 10**9}, key=self.key["all"]).json()["limit"], 100)
        r = self.get("/organization/audit/", {"orgId": self.org.id, "limit": 10**9}, key=self.key["all"])
        self.assertEqual(r.json()["limit"], 100)
        self.assertError(self.get(URL, {"page": 10**7}, key=self.key["all"]), 400, "invalid_body")

    def test_every_string_is_length_checked(self) -> None:
        long_id = "org_" + "a" * 40
        cases = [
            ("post", URL, {"name": "n" * 101}, "name"),
            ("post", URL, {"name": "Fine", "management_email": "a" * 250 + "@x.io"}, "management_email"),
            ("post", URL, {"name": "Fine", "website": "https://x.io/" + "a" * 2000}, "website"),
            ("post", URL, {"name": "Fine", "logo": "https://x.io/" + "a" * 2000}, "logo"),
            ("get", URL, {"orgId": long_id}, "orgId"),
            ("put", URL, {"orgId": long_id, "name": "Fine"}, "orgId"),
            ("delete", URL, {"orgId": long_id}, "orgId"),
            ("get", "/organization/members/", {"orgId": long_id}, "orgId"),
            ("post", "/organization/members/", {"orgId": self.org.id, "email": "a" * 250 + "@x.io", "role": "read"},
             "email"),
            ("post", "/organization/members/", {"orgId": self.org.id, "email": "a@x.io", "role": "r" * 40}, "role"),
            ("delete", "/organization/members/", {"orgId": self.org.id, "email": "a" * 250 + "@x.io"}, "email"),
            ("post", "/organization/members/accept/", {"orgId": long_id}, "orgId"),
            ("get", "/organization/audit/", {"orgId": long_id}, "orgId"),
            ("post", "/apikey/", {"name": "k" * 101}, "name"),
            ("post", "/apikey/", {"name": "k", "limited_to_orgs": [long_id]}, "limited_to_orgs"),
            ("post", "/apikey/", {"name": "k", "limited_to_orgs": [self.org.id] * 101}, "limited_to_orgs"),
        ]  # fmt: skip
        for method, path, data, field in cases:
            with self.subTest(method=method, path=path, field=field):
                body = self.assertError(getattr(self, method)(path, data, key=self.key["all"]), 400, "invalid_body")
                self.assertIn(field, body["details"])

    def test_an_over_long_key_id_in_the_path_is_a_plain_404(self) -> None:
        self.assertError(self.get("/apikey/" + "9" * 500 + "/", key=self.key["all"]), 404, "apikey_not_found")


class TwoGunicornWorkersTestCase(SimpleTestCase):
    """gunicorn --workers 2 on a migrated SQLite file, counting in the shared Redis (as production does)."""

    LIMIT = 20
    server: Gunicorn

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        redis_url = redis_url_or_skip()
        cls.tmp = Path(tempfile.mkdtemp(prefix="capgo-ratelimit-"))
        database_url = f"sqlite:///{cls.tmp / 'db.sqlite3'}"
        prepare_database(database_url)
        (cls.key_id, cls.key), (_id, cls.other_key) = create_keys(database_url, ["w1@example.org", "w2@example.org"])
        env = server_env(
            database_url,
            REDIS_URL=redis_url,
            CACHE_KEY_PREFIX=f"test-{secrets.token_hex(4)}",
            API_RATE_LIMIT_PER_MINUTE=str(cls.LIMIT),
        )
        cls.server = Gunicorn(env, workers=2)
        cls.server.start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def test_the_limit_holds_across_both_workers(self) -> None:
        # Stay inside one clock minute, so that all 40 requests share a window.
        if time.time() % 60 > 55:
            time.sleep(60.5 - time.time() % 60)
        with ThreadPoolExecutor(4) as pool:
            replies = list(pool.map(lambda _: call(self.server.port, "GET", URL, key=self.key), range(40)))
        statuses = sorted(r.status for r in replies)
        self.assertEqual(statuses, [200] * self.LIMIT + [429] * (40 - self.LIMIT))
        refused = next(r for r in replies if r.status == 429)
        self.assertEqual(refused.json()["code"], "rate_limited")
        self.assertGreaterEqual(int(refused.headers["retry-after"]), 1)
        self.assertEqual(refused.headers["ratelimit-remaining"], "0")
        remaining = sorted(int(r.headers["ratelimit-remaining"]) for r in replies if r.status == 200)
        self.assertEqual(remaining, list(range(self.LIMIT)))  # every count was seen exactly once
        self.assertGreaterEqual(len(self.server.access_pids()), 2, "both workers should have answered")
        self.assertEqual(call(self.server.port, "GET", URL, key=self.other_key).status, 200)

    def test_a_chunked_body_is_read_and_bounded(self) -> None:
        def chunked(body: bytes) -> tuple[int, dict[str, Any]]:
            conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=30)
            try:
                conn.putrequest("POST", URL)
                conn.putheader("authorization", self.other_key)
                conn.putheader("content-type", "application/json")
                conn.putheader("transfer-encoding", "chunked")
                conn.endheaders()
                for start in range(0, len(body), 65536):
                    piece = body[start : start + 65536]
                    conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
                conn.send(b"0\r\n\r\n")
                response = conn.getresponse()
                return response.status, json.loads(response.read())
            except (BrokenPipeError, ConnectionResetError):
                return 413, {"code": "payload_too_large"}  # refused before the upload ended
            finally:
                conn.close()

        status, body = chunked(json.dumps({"name": "Chunked org"}).encode())
        self.assertEqual(status, 201, body)
        status, body = chunked(json.dumps({"name": "x" * (2 * 1024 * 1024)}).encode())
        self.assertEqual((status, body["code"]), (413, "payload_too_large"))
        deadline = time.monotonic() + 5
        while ' 413 "POST /organization/ ' not in self.server.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertIn(' 413 "POST /organization/ ', self.server.output())

    def test_no_key_reaches_the_server_output(self) -> None:
        call(self.server.port, "GET", URL, key=self.other_key)
        output = self.server.output()
        for secret in (self.key, self.other_key):
            self.assertNotIn(secret, output)
            self.assertNotIn(secret[len("capgo_12345678_") :], output)


def in_one_minute(seconds: float = 15) -> None:
    """Wait for the next clock minute unless `seconds` are left in this one: a test's requests share a window."""
    if time.time() % 60 > 60 - seconds:
        time.sleep(60.5 - time.time() % 60)


def session_cookie(database_url: str, email: str) -> str:
    """A logged-in browser session for `email`, made in the database as a login would make it."""
    script = (
        "from django.conf import settings\n"
        "from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend\n"
        "from django.contrib.auth.backends import ModelBackend\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        "from organizations.models import User\n"
        f"user = User.objects.get(email={email!r})\n"
        "session = SessionStore()\n"
        "session[SESSION_KEY] = str(user.pk)\n"
        # The configured backend that loads users from the database, whichever it is.
        "session[BACKEND_SESSION_KEY] = next(\n"
        "    path for path in settings.AUTHENTICATION_BACKENDS if isinstance(load_backend(path), ModelBackend)\n"
        ")\n"
        "session[HASH_SESSION_KEY] = user.get_session_auth_hash()\n"
        "session.create()\n"
        "print('SESSION', session.session_key)\n"
    )
    out = manage("shell", "-v", "0", "-c", script, env=server_env(database_url))
    return "sessionid=" + next(line.split()[1] for line in out.splitlines() if line.startswith("SESSION "))


class TwoWorkersOnTheDefaultTestCase(SimpleTestCase):
    """gunicorn --workers 2 on the embedded default: SQLite, no Redis; the limits still hold."""

    KEY_LIMIT, USER_LIMIT, KEYS_PER_USER = 20, 30, 5
    server: Gunicorn

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.tmp = Path(tempfile.mkdtemp(prefix="capgo-default-limits-"))
        cls.database_url = f"sqlite:///{cls.tmp / 'db.sqlite3'}"
        prepare_database(cls.database_url)
        emails = ["one@example.org", *["three@example.org"] * 3, "session@example.org", "cap@example.org"]
        keys = [key for _id, key in create_keys(cls.database_url, emails)]
        cls.one_key, cls.three_keys, cls.session_key, cls.cap_key = keys[0], keys[1:4], keys[4], keys[5]
        cls.session = session_cookie(cls.database_url, "session@example.org")
        env = server_env(
            cls.database_url,
            API_RATE_LIMIT_PER_MINUTE=str(cls.KEY_LIMIT),
            API_USER_RATE_LIMIT_PER_MINUTE=str(cls.USER_LIMIT),
            API_KEYS_PER_USER=str(cls.KEYS_PER_USER),
        )
        cls.server = Gunicorn(env, workers=2)
        cls.server.start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def send_all(self, requests: list[dict[str, Any]]) -> list[Any]:
        """Send the requests (keyword arguments of `call`) from four threads at once."""
        in_one_minute()
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(lambda kwargs: call(self.server.port, **kwargs), requests))

    def assertBothWorkersAnswered(self) -> None:  # noqa: N802
        self.assertGreaterEqual(len(self.server.access_pids()), 2, "both workers should have answered")

    def test_a_keys_limit_holds_across_both_workers(self) -> None:
        replies = self.send_all([{"method": "GET", "path": URL, "key": self.one_key}] * 40)
        statuses = sorted(r.status for r in replies)
        self.assertEqual(statuses, [200] * self.KEY_LIMIT + [429] * (40 - self.KEY_LIMIT))
        remaining = sorted(int(r.headers["ratelimit-remaining"]) for r in replies if r.status == 200)
        self.assertEqual(remaining, list(range(self.KEY_LIMIT)))  # every count was seen exactly once
        self.assertBothWorkersAnswered()

    def test_a_users_ceiling_holds_across_both_workers_and_all_their_keys(self) -> None:
        requests = [{"method": "GET", "path": URL, "key": self.three_keys[n % 3]} for n in range(60)]
        statuses = sorted(r.status for r in self.send_all(requests))
        # Each key alone may make 20; together they get the user's 30.
        self.assertEqual(statuses, [200] * self.USER_LIMIT + [429] * (60 - self.USER_LIMIT))
        self.assertBothWorkersAnswered()

    def test_browser_session_calls_share_their_users_ceiling(self) -> None:
        keyed = [{"method": "GET", "path": URL, "key": self.session_key}] * 15
        browser = [{"method": "GET", "path": URL, "headers": {"cookie": self.session}}] * 25
        replies = self.send_all([request for pair in zip(keyed, browser, strict=False) for request in pair]
                                + browser[len(keyed):])  # fmt: skip
        self.assertEqual(sum(r.status == 200 for r in replies), self.USER_LIMIT, [r.status for r in replies])
        refused = next(r for r in replies if r.status == 429)
        self.assertEqual(refused.json()["code"], "rate_limited")
        self.assertEqual(refused.headers["ratelimit-limit"], str(self.USER_LIMIT))

    def test_the_key_cap_holds_across_both_workers(self) -> None:
        # The user holds one key; ten creations race for the four places left.
        creations = [{"method": "POST", "path": "/apikey/", "key": self.cap_key, "body": {"name": f"k{n}"}}
                     for n in range(10)]  # fmt: skip
        replies = self.send_all(creations)
        self.assertEqual(sorted(r.status for r in replies), [201] * 4 + [409] * 6)
        refused = next(r for r in replies if r.status == 409)
        self.assertEqual(refused.json()["code"], "apikey_limit_reached")
        self.assertEqual(refused.json()["details"], {"limit": self.KEYS_PER_USER})
        listed = call(self.server.port, "GET", "/apikey/", key=self.cap_key)
        self.assertEqual(len(listed.json()["data"]), self.KEYS_PER_USER)


def test_without_redis_the_default_cache_is_shared_by_every_process(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    prepare_database(database_url)
    env = server_env(database_url)
    manage("shell", "-v", "0", "-c", "from django.core.cache import cache; cache.set('seen', 'by all', 60)", env=env)
    out = manage(
        "shell", "-v", "0", "-c", "from django.core.cache import cache; print('GOT', cache.get('seen'))", env=env
    )
    assert "GOT by all" in out


def test_fail_open_state_is_per_process_and_thread_safe() -> None:
    """Many threads failing at once still log a single warning."""
    ratelimit.reset_breaker()
    broken = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
    }
    with override_settings(CACHES=broken), mock.patch.object(ratelimit.logger, "warning") as warning:
        threads = [threading.Thread(target=ratelimit.hit, args=("key", 1, 10)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    ratelimit.reset_breaker()
    assert warning.call_count == 1
