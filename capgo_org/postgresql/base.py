"""Django's PostgreSQL backend with a health check that costs no round trip.

With CONN_HEALTH_CHECKS, Django asks `is_usable()` before a request's first query on a
persistent connection, and PostgreSQL's answers it with `SELECT 1`: one more round trip and
statement on every request. An idle connection that is still open has nothing to read; one
the server closed (restart, idle timeout, pg_terminate_backend) has its end of file, or an
error message, waiting on the socket. So the check looks at the socket instead. Anything to
read while idle counts as unusable: the connection is closed and a new one made, which is
always safe.

It also reads `timestamptz` columns with psycopg's compiled loader when the connection's time
zone is UTC (the default). Django registers a loader written in Python so that it can attach the
connection's time zone, and on a list of organizations that loader cost more CPU than the rest
of the row; in UTC the compiled one returns the same aware datetimes (`datetime.UTC`).
"""

from __future__ import annotations

import datetime
import select
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg.adapt import Loader
from psycopg.pq import Format, TransactionStatus

TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid
# psycopg's own loader: the compiled one when psycopg[binary] or [c] is installed.
_COMPILED_TIMESTAMPTZ = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)


class UtcTimestamptzLoader(Loader):
    """psycopg's loader of `timestamptz`, for a session in UTC. `timezone` is what Django's
    `create_cursor` compares with the connection's before it registers a loader of its own."""

    timezone = datetime.UTC

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        # The compiled loader's own method, so that loading a value runs no Python at all.
        self.load = _COMPILED_TIMESTAMPTZ(oid, context).load  # type: ignore[method-assign]

    def load(self, data: Any) -> datetime.datetime:  # replaced on each instance by __init__
        raise NotImplementedError


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        # Django sets the session's TimeZone to the connection's time zone (ensure_timezone).
        if self.timezone == datetime.UTC:
            connection.adapters.register_loader("timestamptz", UtcTimestamptzLoader)
        return connection

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != TransactionStatus.IDLE:
            return False
        try:
            readable, _writable, _failed = select.select([connection.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable
