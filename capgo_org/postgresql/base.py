"""Django's PostgreSQL backend with a health check that costs no round trip.

With CONN_HEALTH_CHECKS, Django asks `is_usable()` before a request's first query on a
persistent connection, and PostgreSQL's answers it with `SELECT 1`: one more round trip and
statement on every request. An idle connection that is still open has nothing to read; one
the server closed (restart, idle timeout, pg_terminate_backend) has its end of file, or an
error message, waiting on the socket. So the check looks at the socket instead. Anything to
read while idle counts as unusable: the connection is closed and a new one made, which is
always safe.
"""

from __future__ import annotations

import select

from django.db.backends.postgresql import base
from psycopg.pq import TransactionStatus


class DatabaseWrapper(base.DatabaseWrapper):
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
