"""When each session was last seen, for the sessions page, written at most every few minutes."""

from __future__ import annotations

import time
from collections.abc import Callable

from allauth.usersessions.models import UserSession
from django.http import HttpRequest, HttpResponse

SEEN = "accounts_seen_at"
# allauth's own tracking writes on every request; a few minutes' precision is what the page needs.
SEEN_RESOLUTION_SECONDS = 300


class SessionActivityMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        # Only where the session was loaded anyway (pages, not API calls with a key).
        if session is not None and session.accessed and session.session_key and user and user.is_authenticated:
            now = time.time()
            if now - session.get(SEEN, 0) >= SEEN_RESOLUTION_SECONDS:
                session[SEEN] = now
                UserSession.objects.create_from_request(request, user=user, session=session)
        return response
