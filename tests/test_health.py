"""/healthz (liveness, no dependencies) and /readyz (database, and Redis when configured)."""

from __future__ import annotations

import os
from unittest import mock

from django.db import OperationalError, connection
from django.test import TestCase, override_settings

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def redis_cache(url: str) -> dict[str, dict[str, object]]:
    return {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


class HealthzTestCase(TestCase):
    def test_it_answers_ok_without_touching_the_database(self) -> None:
        with self.assertNumQueries(0):
            r = self.client.get("/healthz")
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r["Content-Type"], "application/json")
        self.assertEqual(r.json(), {"status": "ok"})

    def test_it_needs_no_key_and_ignores_a_bad_one(self) -> None:
        r = self.client.get("/healthz", HTTP_AUTHORIZATION="not-a-key")
        self.assertEqual(r.status_code, 200)

    def test_it_sets_no_cookie_and_is_not_cached(self) -> None:
        r = self.client.get("/healthz/")
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.cookies, {})
        self.assertIn("no-store", r["Cache-Control"])

    def test_it_answers_even_when_the_database_is_down(self) -> None:
        with mock.patch.object(connection, "cursor", side_effect=OperationalError("down")):
            r = self.client.get("/healthz")
        self.assertEqual(r.status_code, 200)

    def test_it_only_allows_safe_methods(self) -> None:
        self.assertEqual(self.client.post("/healthz").status_code, 405)
        self.assertEqual(self.client.head("/healthz").status_code, 200)


class ReadyzTestCase(TestCase):
    def test_it_is_ready_when_the_database_answers(self) -> None:
        with self.assertNumQueries(1):
            r = self.client.get("/readyz")
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.json(), {"status": "ok", "checks": {"database": "ok"}})

    def test_a_database_outage_is_503_with_the_error_envelope(self) -> None:
        with mock.patch.object(connection, "cursor", side_effect=OperationalError("connection refused")):
            r = self.client.get("/readyz")
        self.assertEqual(r.status_code, 503)
        body = r.json()
        self.assertEqual((body["status"], body["code"]), ("KO", "service_unavailable"))
        self.assertEqual(body["error"], "Not ready: database unavailable")
        self.assertEqual(body["details"], {"database": "down"})
        self.assertNotIn("connection refused", r.content.decode())
        self.assertEqual(r["Retry-After"], "5")

    @override_settings(REDIS_URL=UNREACHABLE_REDIS, CACHES=redis_cache(UNREACHABLE_REDIS))
    def test_an_unreachable_redis_is_503_when_redis_is_configured(self) -> None:
        r = self.client.get("/readyz")
        self.assertEqual(r.status_code, 503)
        body = r.json()
        self.assertEqual(body["code"], "service_unavailable")
        self.assertEqual(body["details"], {"database": "ok", "redis": "down"})

    def test_a_reachable_redis_is_reported_ready(self) -> None:
        url = os.environ.get("TEST_REDIS_URL")
        if not url:
            self.skipTest("TEST_REDIS_URL is not set")
        with override_settings(REDIS_URL=url, CACHES=redis_cache(url)):
            r = self.client.get("/readyz")
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json()["checks"], {"database": "ok", "redis": "ok"})
