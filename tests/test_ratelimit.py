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
from django.core.cache import cache
from django.test import SimpleTestCase, override_settings

from bench.load import Gunicorn, call, create_keys, free_port, prepare_database, server_env
from organizations import ratelimit
from organizations.models import Organization
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
        settings_override = override_settings(CACHES=LOCMEM, API_RATE_LIMIT_PER_MINUTE=100)
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

    def test_a_browser_session_is_not_counted_per_key(self) -> None:
        self.client.force_login(self.alice)
        r = self.client.get(URL)
        self.assertEqual(r.status_code, 200)
        self.assertNotIn("RateLimit-Limit", r)


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


@override_settings(API_RATE_LIMIT_PER_MINUTE=100)
class RedisRateLimitTestCase(ApiTestCase):
    """The production cache backend: Redis, real or killed."""

    def setUp(self) -> None:
        super().setUp()
        ratelimit.reset_breaker()
        self.addCleanup(ratelimit.reset_breaker)

    def test_the_limit_is_counted_in_redis_in_at_most_two_round_trips(self) -> None:
        with override_settings(CACHES=redis_cache(redis_url_or_skip()), API_RATE_LIMIT_PER_MINUTE=3):
            round_trips = []
            real_execute, real_pipeline = redis.Redis.execute_command, redis.client.Pipeline.execute

            def counted(original: Any) -> Any:
                def wrapper(*args: Any, **kwargs: Any) -> Any:
                    round_trips.append(original.__name__)
                    return original(*args, **kwargs)

                return wrapper

            with (
                mock.patch.object(redis.Redis, "execute_command", counted(real_execute)),
                mock.patch.object(redis.client.Pipeline, "execute", counted(real_pipeline)),
            ):
                r = self.get(URL, key=self.key["read"])
            self.assertEqual(r.status_code, 200)
            self.assertLessEqual(len(round_trips), 2, round_trips)
            statuses = [self.get(URL, key=self.key["read"]).status_code for _ in range(3)]
            self.assertEqual(statuses, [200, 200, 429])

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
    """gunicorn --workers 2 on a migrated SQLite file, counting in the shared Redis."""

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
