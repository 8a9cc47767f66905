"""The PostgreSQL backend's health check: no round trip for a live connection, and a connection the
server closed is replaced before the request's first query instead of failing it; and its loader
of timestamps."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import psycopg
import pytest
from django.db import connection
from django.test import TransactionTestCase
from psycopg.pq import Format

from capgo_org.postgresql.base import TIMESTAMPTZ_OID, UtcTimestamptzLoader
from organizations.models import Organization

pytestmark = pytest.mark.postgres


def last_statement(pid: int) -> str:
    """The last statement the server process `pid` ran, from another connection."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        return other.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()[0]


class HealthCheckTests(TransactionTestCase):
    def test_a_live_connection_is_usable_without_a_statement(self) -> None:
        Organization.objects.exists()
        raw = connection.connection
        self.assertTrue(connection.is_usable())
        self.assertIs(connection.connection, raw)
        # Django's own check would have run SELECT 1 on it.
        self.assertIn("organizations_organization", last_statement(raw.info.backend_pid))

    def test_a_connection_the_server_closed_is_replaced_before_the_next_query(self) -> None:
        Organization.objects.exists()
        pid = connection.connection.info.backend_pid
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])
        deadline = time.monotonic() + 5
        while connection.is_usable() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertFalse(connection.is_usable())
        # What a new request does: the health check runs again before its first query.
        connection.health_check_done = False
        self.assertFalse(Organization.objects.exists())
        self.assertNotEqual(connection.connection.info.backend_pid, pid)


class TimestampLoaderTests(TransactionTestCase):
    def test_datetimes_are_read_by_the_compiled_loader_as_aware_utc(self) -> None:
        Organization.objects.exists()
        self.assertIs(connection.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT), UtcTimestamptzLoader)
        written = [datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)]
        for moment in written:
            org = Organization.objects.create(name="Timed", created_at=moment)
            read = Organization.objects.get(pk=org.pk).created_at
            self.assertEqual((read, read.tzinfo, read.isoformat()), (moment, UTC, moment.isoformat()))
        with connection.cursor() as cursor:
            cursor.execute("SELECT TIMESTAMPTZ '2026-06-01 12:00:00.5+02'")
            self.assertEqual(cursor.fetchone()[0], datetime(2026, 6, 1, 10, 0, 0, 500000, tzinfo=UTC))
