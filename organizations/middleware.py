"""Limits that must hold before anything reads a request: the body's size, on every route."""

from __future__ import annotations

import io
from collections.abc import Callable

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from organizations.api.errors import error_response

API_PREFIXES = ("/organization", "/apikey", "/webhooks")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


class BodyLimitMiddleware:
    """Refuses a body over its route's limit before it is read, parsed or spooled: 413.

    API paths take API_MAX_BODY_BYTES (the contract's 1 MiB) and answer with the envelope; every
    other route (pages, the admin, logins) takes MAX_BODY_BYTES, room for one 2 MB logo or
    avatar, and answers with the site's page. A declared Content-Length over the limit is refused
    unread; a chunked body is read up to the limit, never further. Placed after the middleware
    that adds security headers to responses (none of them reads a body), so the 413 carries them.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        api = is_api_path(request.path_info)
        limit = settings.API_MAX_BODY_BYTES if api else settings.MAX_BODY_BYTES
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        chunked = not length and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
        if length > limit or (chunked and not _buffer_chunked_body(request, limit)):
            if api:
                return error_response(413, "payload_too_large", "Request body is too large")
            return render(request, "413.html", {"limit": limit}, status=413)
        return self.get_response(request)


def _buffer_chunked_body(request: HttpRequest, limit: int) -> bool:
    """Read a chunked body (no Content-Length) up to `limit` bytes; False when it is longer.

    Django reads only Content-Length bytes, so without this a chunked body would be seen as
    empty. Reading stops one byte past the limit: a huge body costs at most the limit.
    """
    stream = request.META.get("wsgi.input")
    if stream is None:
        return True
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(min(64 * 1024, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        return False
    body = b"".join(chunks)
    request.META["CONTENT_LENGTH"] = str(len(body))
    request._stream = LimitedStream(io.BytesIO(body), len(body))
    return True
