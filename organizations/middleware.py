"""Guards for the API paths that must hold before any view runs."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from organizations.api.errors import error_response

API_PREFIXES = ("/organization", "/apikey")


def is_api_path(path: str) -> bool:
    return path.startswith(API_PREFIXES)


class ApiGuardMiddleware:
    """Refuses API bodies over the limit before they are read (413 with the envelope)."""

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
        return self.get_response(request)
