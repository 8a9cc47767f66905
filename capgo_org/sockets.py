"""The one check both kept connections make before they are used again (PostgreSQL's in
capgo_org/postgresql, Redis's in organizations/ratelimit): a connection sitting idle has nothing
to read. One the server closed (a restart, an idle timeout) has its end of file waiting, and one
left with an unread answer has that answer: either way it must not be sent to. One poll of the
socket, no round trip."""

from __future__ import annotations

import select
from typing import Any


def idle_and_clean(sock: Any) -> bool:
    """True when the socket (or file descriptor) of an idle connection has nothing waiting to be read."""
    try:
        readable, _writable, _failed = select.select([sock], [], [], 0)
    except (OSError, ValueError):  # closed, or no longer a descriptor
        return False
    return not readable
