"""The PostgreSQL backend's health check: no round trip for a live connection, and a connection the
server closed is replaced before the request's first query instead of failing it; its loader of
timestamps; and its reuse of closed cursors."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import psycopg
import pytest
from django.db import DatabaseError, ProgrammingError, connection, transaction
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

    def test_a_session_in_another_time_zone_still_reads_the_same_instants_in_utc(self) -> None:
        moment = datetime(2026, 6, 1, 10, 0, 0, 500000, tzinfo=UTC)
        org = Organization.objects.create(name="Zoned", created_at=moment)
        with connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'Asia/Kathmandu'")  # +05:45: the text PostgreSQL writes changes
        try:
            read = Organization.objects.get(pk=org.pk).created_at
            self.assertEqual((read, read.tzinfo), (moment, UTC))
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET TIME ZONE 'UTC'")


class CursorReuseTests(TransactionTestCase):
    """A closed cursor is handed out again by the next `connection.cursor()`, empty; never twice."""

    def test_the_next_cursor_is_the_last_one_closed_with_nothing_of_its_result(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1, 'one'")
            self.assertEqual(cursor.fetchone(), (1, "one"))
            first = cursor.cursor
        with connection.cursor() as cursor:
            self.assertIs(cursor.cursor, first)
            self.assertFalse(cursor.cursor.closed)
            with self.assertRaises(ProgrammingError):  # no result: the last one was dropped
                cursor.fetchone()
            cursor.execute("SELECT %s::int", [2])
            self.assertEqual(cursor.fetchall(), [(2,)])

    def test_cursors_open_at_once_are_distinct_and_a_double_close_hands_out_none_twice(self) -> None:
        with connection.cursor() as outer, connection.cursor() as inner:
            self.assertIsNot(outer.cursor, inner.cursor)
            outer.execute("SELECT generate_series(1, 3)")
            inner.execute("SELECT 'inner'")
            self.assertEqual((outer.fetchone(), inner.fetchone(), outer.fetchall()), ((1,), ("inner",), [(2,), (3,)]))
        cursor = connection.cursor()
        cursor.close()
        cursor.close()
        with connection.cursor() as one, connection.cursor() as two:
            self.assertIsNot(one.cursor, two.cursor)

    def test_a_cursor_whose_statement_failed_serves_the_next_one(self) -> None:
        with self.assertRaises(DatabaseError), connection.cursor() as cursor:
            cursor.execute("SELECT 1/0")
        with connection.cursor() as cursor:
            cursor.execute("SELECT 'after'")
            self.assertEqual(cursor.fetchone(), ("after",))

    def test_server_side_cursors_and_the_orm_work_as_before(self) -> None:
        for n in range(5):
            Organization.objects.create(name=f"Org {n}")
        with transaction.atomic():  # iterator() reads through a named (server-side) cursor here
            names = [o.name for o in Organization.objects.order_by("name").iterator(chunk_size=2)]
        self.assertEqual(names, [f"Org {n}" for n in range(5)])
        self.assertEqual(Organization.objects.count(), 5)

    def test_a_new_connection_starts_with_no_idle_cursors(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            old = cursor.cursor
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 2")
            self.assertIsNot(cursor.cursor, old)
            self.assertEqual(cursor.fetchone(), (2,))
