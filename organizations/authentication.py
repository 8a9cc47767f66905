"""DRF authentication: API keys in headers, and the browser session (with CSRF)."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from functools import cache

from allauth.account.models import EmailAddress
from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.exceptions import Throttled
from rest_framework.request import Request

from organizations import access, api_keys, ratelimit
from organizations.exceptions import ApiKeyExpired, EmailNotVerified, InvalidApiKey
from organizations.models import ApiKey, User
from organizations.rows import Columns

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


KEY = Columns(ApiKey, "k")
OWNER = Columns(User, "u")


@cache
def _key_sql(with_org: bool) -> str:
    """The key, its owner, whether the owner's address is verified and, when the request names an
    organization, everything `access.org_for` needs about it: one statement on the unique index of
    `lookup` and the membership's covering index (the organization's parameter comes first)."""
    qn = connection.ops.quote_name
    key, user, email = ApiKey._meta, User._meta, EmailAddress._meta
    verified = (
        f"EXISTS (SELECT 1 FROM {qn(email.db_table)} e WHERE e.{qn('user_id')} = k.{qn('user_id')} "  # noqa: S608
        f"AND e.{qn('primary')} AND e.{qn('verified')})"
    )
    org_items, org_joins = ("", "")
    if with_org:
        org_items, org_joins = f", {access.org_select()}", access.org_joins(f"k.{qn('user_id')}")
    return (
        f"SELECT {KEY.select()}, {OWNER.select()}, {verified}{org_items} "  # noqa: S608 - identifiers only
        f"FROM {qn(key.db_table)} k INNER JOIN {qn(user.db_table)} u ON u.{qn(user.pk.column)} = k.{qn('user_id')} "
        f"{org_joins} WHERE k.{qn('lookup')} = %s"
    )


def key_for(presented: str, org_id: str | None = None) -> ApiKey:
    """The live key for a presented secret: one indexed statement, a constant-time compare.

    With `org_id`, the same statement also reads the organization and the caller's place in it,
    left on the key for `access.org_for` (`prefetched_org`): a request that names an organization
    costs one statement before its own work.
    """
    lookup = api_keys.parse_lookup(presented)
    if lookup is None:
        raise InvalidApiKey()
    with connection.cursor() as cursor:
        cursor.execute(_key_sql(org_id is not None), [org_id, lookup] if org_id is not None else [lookup])
        row = cursor.fetchone()
    if row is None:
        raise InvalidApiKey()
    key = KEY.load(row[: len(KEY)])
    if not api_keys.verify(presented, key.digest):
        raise InvalidApiKey()
    user = OWNER.load(row[len(KEY) : len(KEY) + len(OWNER)])
    key.user = user
    if key.revoked_at is not None or not user.is_active:
        raise InvalidApiKey()
    now = timezone.now()
    if key.is_expired(now):
        raise ApiKeyExpired()
    if not row[len(KEY) + len(OWNER)]:
        raise EmailNotVerified()
    user.email_verified = True  # read in this statement: the rules asked later need no query of their own
    if org_id is not None:
        key.prefetched_org = (org_id, access.org_from_row(row[len(KEY) + len(OWNER) + 1 :]))
    _touch(key, now)
    return key


_ORG_ID_SHAPE = re.compile(r"[\x21-\x7e]{1,64}")
# Bodies larger than this are not read twice to find the organization they name.
_PREFETCH_BODY_LIMIT = 4096


def named_org(request: HttpRequest) -> str | None:
    """The organization a request names (`orgId`), from the query string or a small JSON object body,
    so that the key's lookup can read it in the same statement. The view parses the request as
    always; this is only a guess, checked by `access.org_for` against the id it was given."""
    org_id = request.GET.get("orgId")
    if org_id is None and request.method in ("POST", "PUT", "DELETE"):
        length = request.META.get("CONTENT_LENGTH") or "0"
        if not length.isdigit() or not 0 < int(length) <= _PREFETCH_BODY_LIMIT:
            return None
        try:
            body = json.loads(request.body)
        except (ValueError, RecursionError):
            return None
        org_id = body.get("orgId") if isinstance(body, dict) else None
    # Only what could be an id goes into the statement (PostgreSQL refuses NUL in text, for one);
    # anything else is the view's to refuse, with the envelope's error.
    return org_id if isinstance(org_id, str) and _ORG_ID_SHAPE.fullmatch(org_id) else None


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
            key = key_for(presented, named_org(request._request))
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
