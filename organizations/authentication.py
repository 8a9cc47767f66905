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

from accounts.verification import verified_email_exists
from organizations import api_keys, ratelimit
from organizations.exceptions import ApiKeyExpired, EmailNotVerified, InvalidApiKey
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
    # The owner's verified address comes in the same statement: no query more per request.
    keys = ApiKey.objects.select_related("user").annotate(email_verified=verified_email_exists("user_id"))
    try:
        key = keys.get(lookup=lookup)
    except ApiKey.DoesNotExist:
        raise InvalidApiKey() from None
    if not api_keys.verify(presented, key.digest):
        raise InvalidApiKey()
    if key.revoked_at is not None or not key.user.is_active:
        raise InvalidApiKey()
    now = timezone.now()
    if key.is_expired(now):
        raise ApiKeyExpired()
    if not key.email_verified:
        raise EmailNotVerified()
    key.user.email_verified = True  # read in this statement: the rules asked later need no query of their own
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
        try:
            key = key_for(presented)
        except (InvalidApiKey, ApiKeyExpired):
            # Guesses from an address that keeps failing are refused; a valid key never is, whatever
            # others did from the same address (behind a proxy or a NAT, that is everyone).
            blocked = ratelimit.auth_failures_exceeded(request._request)
            if blocked is not None:
                raise Throttled(wait=blocked.reset, detail="Too many failed authentication attempts") from None
            ratelimit.record_auth_failure(request._request)
            raise
        return key.user, key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


class CsrfSessionAuthentication(SessionAuthentication):
    """The browser session, with DRF's CSRF check on unsafe methods."""
