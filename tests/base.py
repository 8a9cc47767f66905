"""The cast every test uses, built once per test class.

Organization `org` (alice's): alice super_admin, adam admin, wendy write, rita read.
Organization `other_org` (oscar's): oscar super_admin; nobody else from `org`.
Alice has a key in each mode, a key limited to `org`, and an expired key.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import struct
import time
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.test import TestCase
from django.utils import timezone
from django.utils.html import strip_tags

from accounts.verification import mark_verified
from organizations import services
from organizations.models import ApiKey, Membership, Organization, User
from organizations.roles import KeyMode, Principal, Role


def page_text(response: Any) -> str:
    """What a person reads on the page: tags stripped, entities decoded, whitespace collapsed."""
    return " ".join(html.unescape(strip_tags(response.content.decode())).split())


def make_user(email: str, name: str = "", password: str = "password-123", *, verified: bool = True) -> User:
    """A person; their address is verified unless the test says otherwise."""
    user = User.objects.create_user(email, password, name=name)
    if verified:
        mark_verified(user)
    return user


def make_key(user: User, mode: str = KeyMode.ALL, **kwargs: Any) -> tuple[ApiKey, str]:
    return services.api_key_create(actor=None, user=user, name=kwargs.pop("name", f"{mode} key"), mode=mode, **kwargs)


def add_member(org: Organization, user: User, role: str) -> Membership:
    return Membership.objects.create(organization=org, user=user, role=role)


class ApiTestCase(TestCase):
    alice: User
    org: Organization

    @classmethod
    def setUpTestData(cls) -> None:
        cls.alice = make_user("alice@example.org", "Alice")
        cls.adam = make_user("adam@example.org", "Adam")
        cls.wendy = make_user("wendy@example.org", "Wendy")
        cls.rita = make_user("rita@example.org", "Rita")
        cls.oscar = make_user("oscar@example.org", "Oscar")
        cls.org = services.organization_create(actor=Principal(cls.alice), name="Alice Org")
        add_member(cls.org, cls.adam, Role.ADMIN)
        add_member(cls.org, cls.wendy, Role.WRITE)
        add_member(cls.org, cls.rita, Role.READ)
        cls.other_org = services.organization_create(actor=Principal(cls.oscar), name="Oscar Org")

        cls.key = {mode: make_key(cls.alice, mode)[1] for mode in KeyMode.values}
        cls.limited_key = make_key(cls.alice, KeyMode.ALL, limited_to_orgs=[cls.org.id], name="limited")[1]
        expired, cls.expired_key = make_key(cls.alice, KeyMode.ALL, name="expired")
        ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        cls.adam_key = make_key(cls.adam)[1]
        cls.wendy_key = make_key(cls.wendy)[1]
        cls.rita_key = make_key(cls.rita)[1]
        cls.oscar_key = make_key(cls.oscar)[1]

    # HTTP helpers: every API call carries the key in the `authorization` header.

    def _call(self, method: str, path: str, data: Any = None, key: str | None = None, **extra: Any):
        headers = {"HTTP_AUTHORIZATION": key} if key else {}
        headers.update(extra)
        fn = getattr(self.client, method)
        if method == "get":
            return fn(path, data or {}, **headers)
        body = data if isinstance(data, str | bytes) else json.dumps(data if data is not None else {})
        return fn(path, body, content_type="application/json", **headers)

    def get(self, path: str, data: Any = None, key: str | None = None, **extra: Any):
        return self._call("get", path, data, key, **extra)

    def post(self, path: str, data: Any = None, key: str | None = None, **extra: Any):
        return self._call("post", path, data, key, **extra)

    def put(self, path: str, data: Any = None, key: str | None = None, **extra: Any):
        return self._call("put", path, data, key, **extra)

    def delete(self, path: str, data: dict[str, str] | None = None, key: str | None = None, **extra: Any):
        """DELETE with the parameters in the query string (as Capgo's clients send them)."""
        query = "?" + urlencode(data) if data else ""
        return self.client.delete(path + query, **({"HTTP_AUTHORIZATION": key} if key else {}), **extra)

    def assertSays(self, response: Any, text: str, status_code: int = 200) -> None:  # noqa: N802
        """The page shows `text` to a reader (names in banners sit in <bdi> elements)."""
        self.assertEqual(response.status_code, status_code)
        self.assertIn(text, page_text(response))

    def assertError(self, response: Any, status: int, code: str) -> dict[str, Any]:  # noqa: N802
        self.assertEqual(response.status_code, status, response.content)
        body = response.json()
        self.assertEqual(body["status"], "KO")
        self.assertEqual(body["code"], code)
        self.assertIsInstance(body["error"], str)
        return body


def totp_code(secret: str, at: float | None = None) -> str:
    """The authenticator app's six digits for `secret` (RFC 6238, SHA-1, 30 s), computed here, not by allauth."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{value:06d}"


def link_in(message: Any, path_prefix: str) -> str:
    """The first link in an email whose path starts with `path_prefix`, as the full URL."""
    match = re.search(rf"https?://[^\s\"<>]+{re.escape(path_prefix)}[^\s\"<>]*", message.body)
    assert match, f"no {path_prefix} link in: {message.body}"
    return match[0]
