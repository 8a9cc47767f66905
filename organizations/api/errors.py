"""The one error envelope: {"status": "KO", "error": <sentence>, "code": <code>, "details"?}.

Every error the API can produce comes through here: service and role errors, DRF's own
(validation, authentication, method, parse, throttling), Django's (404, body too large) and
anything unexpected (500, with no trace of the cause in the body).
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

from organizations.exceptions import RateLimited, ServiceError

logger = logging.getLogger("organizations.api")


def envelope(status: int, code: str, error: Any, details: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status": "KO", "error": str(error), "code": code}
    if details:
        body["details"] = details
    return body


def error_response(status: int, code: str, error: Any, details: Any = None) -> JsonResponse:
    """The envelope as a plain Django response, for errors raised outside DRF."""
    return JsonResponse(envelope(status, code, error, details), status=status)


def _validation_sentence(details: Any) -> str:
    """A human sentence for the first field error: `Name is required`, `Unknown field: id`."""
    if isinstance(details, dict) and details:
        key, errors = next(iter(details.items()))
        field = str(key)  # list items report their index as the key
        first = errors[0] if isinstance(errors, list) and errors else errors
        if isinstance(first, dict):
            return _validation_sentence(first)
        code = getattr(first, "code", None)
        label = field.replace("_", " ").capitalize()
        if field == "non_field_errors":
            return str(first)
        if code in ("required", "null", "blank"):
            return f"{label} is required"
        if code == "unknown_field":
            return f"Unknown field: {field}"
        return f"Invalid {field}: {first}"
    if isinstance(details, list) and details:
        return str(details[0])
    return "Invalid body"


def _drf_to_envelope(exc: drf.APIException) -> tuple[int, str, str, Any]:
    if isinstance(exc, drf.ValidationError):
        return 400, "invalid_body", _validation_sentence(exc.detail), exc.detail
    if isinstance(exc, drf.ParseError):
        return 400, "invalid_json_parse_body", "Invalid JSON body", None
    if isinstance(exc, drf.NotAuthenticated):
        return 401, "no_key_provided", "No API key provided", None
    if isinstance(exc, drf.AuthenticationFailed):
        return 401, "invalid_apikey", "Invalid API key", None
    if isinstance(exc, drf.PermissionDenied):
        # DRF's CSRF failure for session callers lands here.
        return 403, "forbidden", str(exc.detail), None
    if isinstance(exc, drf.NotFound):
        return 404, "not_found", "Not found", None
    if isinstance(exc, drf.MethodNotAllowed):
        return 405, "method_not_allowed", str(exc.detail), None
    if isinstance(exc, drf.UnsupportedMediaType):
        return 415, "unsupported_media_type", str(exc.detail), None
    if isinstance(exc, drf.Throttled):
        return 429, "rate_limited", "Too many requests", None
    return exc.status_code, "error", str(exc.detail), None


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    headers: dict[str, str] = {}
    if isinstance(exc, ServiceError):
        status, code, error, details = exc.status, exc.code, exc.message, exc.details
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(max(1, exc.retry_after))
    elif isinstance(exc, RequestDataTooBig):
        status, code, error, details = 413, "payload_too_large", "Request body is too large", None
    elif isinstance(exc, Http404):
        status, code, error, details = 404, "not_found", "Not found", None
    elif isinstance(exc, PermissionDenied):
        status, code, error, details = 403, "insufficient_role", "Permission denied", None
    elif isinstance(exc, drf.APIException):
        status, code, error, details = _drf_to_envelope(exc)
        if isinstance(exc, drf.Throttled) and exc.wait is not None:
            headers["Retry-After"] = str(max(1, int(exc.wait)))
        if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
            headers["WWW-Authenticate"] = 'Bearer realm="api"'
    elif isinstance(exc, DatabaseOperationalError | InterfaceError):
        # The database went away: say so, and let the next request reconnect.
        logger.error("Database unavailable: %s", exc.__class__.__name__)
        status, code, error, details = 503, "service_unavailable", "Service temporarily unavailable", None
        headers["Retry-After"] = "1"
    else:
        logger.exception("Unhandled error in API view %s", context.get("view").__class__.__name__)
        status, code, error, details = 500, "internal_error", "Internal server error", None
    return Response(envelope(status, code, error, details), status=status, headers=headers)


def not_found_view(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    return error_response(404, "not_found", "Not found")


def server_error_view(request: HttpRequest) -> JsonResponse:
    return error_response(500, "internal_error", "Internal server error")
