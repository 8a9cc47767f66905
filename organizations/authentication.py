"""DRF authentication: API keys in headers, and the browser session (with CSRF)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import Throttled
from rest_framework.request import Request

from organizations import api_keys, ratelimit
from organizations.exceptions import ApiKeyExpired, InvalidApiKey, ServiceError
from organizations.models import ApiKey, User

KEY_HEADERS = ("HTTP_AUTHORIZATION", "HTTP_CAPGKEY", "HTTP_X_API_KEY")


def presented_key(request: HttpRequest) -> str | None:
    """The key from `authorization` (raw or Bearer), `capgkey` or `x-api-key`; never the query string."""
    for header in KEY_HEADERS:
        value = request.META.get(header, "").strip()
        if value:
            if header == "HTTP_AUTHORIZATION" and value[:7].lower() == "bearer ":
                value = value[7:].strip()
            return value
    return None


def key_for(presented: str) -> ApiKey:
    """The live key for a presented secret: one indexed query, a constant-time compare."""
    lookup = api_keys.parse_lookup(presented)
    if lookup is None:
        raise InvalidApiKey()
    try:
        key = ApiKey.objects.select_related("user").get(lookup=lookup)
    except ApiKey.DoesNotExist:
        raise InvalidApiKey() from None
    if not api_keys.verify(presented, key.digest):
        raise InvalidApiKey()
    if key.revoked_at is not None or not key.user.is_active:
        raise InvalidApiKey()
    now = timezone.now()
    if key.is_expired(now):
        raise ApiKeyExpired()
    _touch(key, now)
    return key


def _touch(key: ApiKey, now: timezone.datetime) -> None:
    """Record use at most once per resolution window, whatever the number of processes."""
    window = timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION)
    if key.last_used_at is not None and now - key.last_used_at < window:
        return
    ApiKey.objects.filter(Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - window), pk=key.pk).update(
        last_used_at=now
    )
    key.last_used_at = now


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        presented = presented_key(request._request)
        if presented is None:
            return None
        # An address that keeps failing is refused before its next guess is even looked up.
        blocked = ratelimit.auth_failures_exceeded(request._request)
        if blocked is not None:
            raise Throttled(wait=blocked.reset, detail="Too many failed authentication attempts")
        try:
            key = key_for(presented)
        except ServiceError:
            ratelimit.record_auth_failure(request._request)
            raise
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class CsrfSessionAuthentication(SessionAuthentication):
    """The browser session, with DRF's CSRF check on unsafe methods."""
