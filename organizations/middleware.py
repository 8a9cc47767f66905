"""Guards for the API paths that must hold before any view runs."""

from __future__ import annotations

import io
from collections.abc import Callable

from django.conf import settings
from django.core.handlers.wsgi import LimitedStream
from django.http import HttpRequest, HttpResponse

from organizations.api.errors import error_response

API_PREFIXES = ("/organization", "/apikey", "/webhooks")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


class ApiGuardMiddleware:
    """Refuses API bodies over the limit before they are read (413 with the envelope), chunked ones too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if is_api_path(request.path_info):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.API_MAX_BODY_BYTES:
                return error_response(413, "payload_too_large", "Request body is too large")
            chunked = not length and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
            if chunked and not _buffer_chunked_body(request, settings.API_MAX_BODY_BYTES):
                return error_response(413, "payload_too_large", "Request body is too large")
        return self.get_response(request)


def _buffer_chunked_body(request: HttpRequest, limit: int) -> bool:
    """Read a chunked body (no Content-Length) up to `limit` bytes; False when it is longer.

    Django reads only Content-Length bytes, so without this a chunked JSON body would be seen
    as empty. Reading stops one byte past the limit: a huge body costs at most 1 MiB.
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
