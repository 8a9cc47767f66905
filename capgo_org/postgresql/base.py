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

And it reuses cursors: a closed one goes back to its connection, empty, and the next
`connection.cursor()` gets it instead of a new one (`create_cursor`).
"""

from __future__ import annotations

import datetime
from typing import Any

import psycopg
from django.db.backends.postgresql import base
from psycopg.adapt import Loader
from psycopg.pq import Format, TransactionStatus

from capgo_org.sockets import idle_and_clean

TIMESTAMPTZ_OID = psycopg.adapters.types["timestamptz"].oid
# psycopg's own loader: the compiled one when psycopg[binary] or [c] is installed.
_COMPILED_TIMESTAMPTZ = psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT)


# With no connection for context, psycopg's loader attaches UTC (`psycopg._tz.get_tzinfo`) to the
# instant it parses, whatever the session's TimeZone wrote; it keeps no other state, so one
# instance serves every cursor. (psycopg, and so Django, reads only ISO-style dates.)
_UTC_TIMESTAMPTZ = _COMPILED_TIMESTAMPTZ(TIMESTAMPTZ_OID)


class UtcTimestamptzLoader(Loader):
    """psycopg's loader of `timestamptz`, for a connection whose datetimes Django wants in UTC.
    `timezone` is what Django's `create_cursor` compares with the connection's before it registers
    a loader of its own.

    psycopg makes a loader for each statement, and the compiled one reads the connection's time
    zone and date style as it is made (more CPU than a query's own rows on the API's statements):
    this class hands out the one instance instead, so each cursor uses it as it is, compiled."""

    timezone = datetime.UTC

    def __new__(cls, oid: int, context: Any = None) -> Any:  # noqa: ARG004 - psycopg's signature
        return _UTC_TIMESTAMPTZ


# Idle cursors kept per connection, at most: more are only open at once in nested reads.
IDLE_CURSORS = 4
_reusable_classes: dict[type, type] = {}


def _reusable(cursor_class: type) -> type:
    """`cursor_class` whose close() hands the cursor back to its connection's idle cursors.

    A cursor that is closed is only ever given out again by `DatabaseWrapper.create_cursor`;
    its results are dropped on close, as psycopg's own close() drops them."""
    reusable = _reusable_classes.get(cursor_class)
    if reusable is None:

        class Reusable(cursor_class):  # type: ignore[valid-type, misc]
            _idle: list[Any] | None = None

            def close(self) -> None:
                idle = self._idle
                if idle is None or self.closed or self in idle or len(idle) >= IDLE_CURSORS or self._conn.closed:
                    super().close()
                    return
                self._reset()
                self._last_query = None
                self.format, self.row_factory = Format.TEXT, self._conn.row_factory  # as a new cursor's
                transformer = getattr(self, "_tx", None)  # psycopg makes one per statement
                if transformer is not None:
                    transformer.set_pgresult(None, set_loaders=False)  # nothing of the last result is kept
                idle.append(self)

        Reusable.__name__ = Reusable.__qualname__ = f"Reusable{cursor_class.__name__}"
        reusable = _reusable_classes[cursor_class] = Reusable
    return reusable


class DatabaseWrapper(base.DatabaseWrapper):
    """See the module's docstring; and cursors are reused (`create_cursor`)."""

    _idle_cursors: tuple[Any, list[Any]] | None = None

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        connection = super().get_new_connection(conn_params)
        connection.cursor_factory = _reusable(connection.cursor_factory)
        self._idle_cursors = (connection, [])
        # Django sets the session's TimeZone to the connection's time zone (ensure_timezone).
        if self.timezone == datetime.UTC:
            connection.adapters.register_loader("timestamptz", UtcTimestamptzLoader)
        return connection

    def create_cursor(self, name: str | None = None) -> Any:
        """A cursor of this connection: an idle one when there is one. Each new psycopg cursor
        copies the connection's adapters, and Django looks up its time zone loader: some 10 µs of
        CPU per statement, on statements whose whole client side is 60 µs (bench/README.md).
        Named (server-side) cursors are always new."""
        idle = self._idle_cursors
        if name is None and idle is not None and idle[0] is self.connection:
            if idle[1]:
                return idle[1].pop()
            cursor = super().create_cursor()
            cursor._idle = idle[1]
            return cursor
        return super().create_cursor(name)

    def is_usable(self) -> bool:
        connection = self.connection
        if connection is None or connection.closed or connection.broken:
            return False
        if connection.info.transaction_status != TransactionStatus.IDLE:
            return False
        return idle_and_clean(connection.fileno())
