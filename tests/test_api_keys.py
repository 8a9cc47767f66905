"""/apikey/: list, get, create, update (and regenerate), delete, through HTTP with the whole cast."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime, timedelta
from typing import Any
from unittest import mock

from django.conf import settings
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.crypto import get_random_string

from organizations import api_keys, services
from organizations.models import ApiKey, ApiKeyOrgLimit, AuditEvent, Invitation, Organization, User
from organizations.roles import KeyMode, Principal, Role
from tests.base import ApiTestCase, add_member, make_key, make_user

URL = "/apikey/"
ORG_URL = "/organization/"
FIELDS = {
    "id", "name", "mode", "key", "key_preview", "limited_to_orgs", "expires_at", "created_at", "updated_at",
    "last_used_at", "user_id",
}  # fmt: skip


def detail(key_id: object) -> str:
    return f"{URL}{key_id}/"


def in_days(days: float) -> str:
    return (timezone.now() + timedelta(days=days)).isoformat()


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value)


def row(plaintext: str) -> ApiKey:
    """The stored row of a plaintext key."""
    return ApiKey.objects.get(lookup=api_keys.parse_lookup(plaintext))


def secret_part(plaintext: str) -> str:
    """What follows `capgo_<lookup>_`: the part that must never be shown again."""
    return plaintext.split("_", 2)[2]


class ApiKeyTestCase(ApiTestCase):
    """The cast, plus `target`: one more of alice's keys for the tests to read, change and delete."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.target, cls.target_plaintext = make_key(cls.alice, KeyMode.ALL, name="target")
        cls.adam_row = row(cls.adam_key)

    def setUp(self) -> None:
        super().setUp()
        # Rate-limit counters live in the cache, keyed by key id; SQLite reuses ids from class to class.
        cache.clear()

    def routes(self, key_id: object) -> list[tuple[str, str, Any]]:
        """Every /apikey/ route, with a body that would succeed for an allowed caller; DELETE last."""
        return [
            ("get", URL, None),
            ("post", URL, {"name": "New key"}),
            ("get", detail(key_id), None),
            ("put", detail(key_id), {"name": "Renamed"}),
            ("delete", detail(key_id), None),
        ]

    def call(self, method: str, path: str, data: Any = None, key: str | None = None) -> Any:
        return getattr(self, method)(path, data, key=key)

    def assertNothingChanged(self) -> None:  # noqa: N802
        self.assertFalse(ApiKey.objects.filter(name__in=["New key", "Renamed"]).exists())
        self.assertEqual(ApiKey.objects.get(pk=self.target.pk).name, "target")


# Reading ---------------------------------------------------------------------------------


class ApiKeyListTestCase(ApiKeyTestCase):
    def test_it_lists_my_keys_with_the_contract_fields_and_no_secret(self) -> None:
        r = self.get(URL, key=self.key["all"])
        self.assertEqual(r.status_code, 200)
        body = r.json()
        self.assertEqual(set(body), {"data"})
        names = [k["name"] for k in body["data"]]
        self.assertEqual(
            sorted(names), sorted(["read key", "upload key", "write key", "all key", "limited", "expired", "target"])
        )
        for item in body["data"]:
            self.assertEqual(set(item), FIELDS)
            self.assertIsNone(item["key"])
            self.assertEqual(item["user_id"], str(self.alice.pk))
            self.assertIsInstance(item["id"], int)
            self.assertTrue(item["key_preview"].startswith("capgo_"))
        limited = next(k for k in body["data"] if k["name"] == "limited")
        self.assertEqual(limited["limited_to_orgs"], [self.org.id])

    def test_it_lists_only_my_keys(self) -> None:
        ids = {k["id"] for k in self.get(URL, key=self.adam_key).json()["data"]}
        self.assertEqual(ids, {self.adam_row.pk})

    def test_the_list_runs_a_fixed_number_of_queries(self) -> None:
        def count() -> int:
            with CaptureQueriesContext(connection) as ctx:
                self.assertEqual(self.get(URL, key=self.key["all"]).status_code, 200)
            return len(ctx.captured_queries)

        count()  # the first use of a key records last_used_at
        few = count()
        for i in range(30):
            make_key(self.alice, limited_to_orgs=[self.org.id], name=f"bulk {i}")
        with self.assertNumQueries(few):
            r = self.get(URL, key=self.key["all"])
        self.assertEqual(len(r.json()["data"]), 37)


class ApiKeyGetTestCase(ApiKeyTestCase):
    def test_it_returns_one_key(self) -> None:
        r = self.get(detail(self.target.pk), key=self.key["all"])
        self.assertEqual(r.status_code, 200)
        body = r.json()
        self.assertEqual(set(body), {"data"})
        data = body["data"]
        self.assertEqual(set(data), FIELDS)
        self.assertEqual((data["id"], data["name"], data["mode"]), (self.target.pk, "target", "all"))
        self.assertIsNone(data["key"])
        self.assertEqual(data["limited_to_orgs"], [])
        self.assertIsNone(data["expires_at"])
        self.assertTrue(data["created_at"].endswith("Z"))

    def test_it_answers_without_the_trailing_slash(self) -> None:
        r = self.get(f"/apikey/{self.target.pk}", key=self.key["all"])
        self.assertEqual(r.json()["data"]["id"], self.target.pk)

    def test_another_users_key_is_404(self) -> None:
        body = self.assertError(self.get(detail(self.adam_row.pk), key=self.key["all"]), 404, "apikey_not_found")
        self.assertEqual(body["error"], "API key not found")

    def test_unknown_and_malformed_ids_are_404(self) -> None:
        for key_id in ("999999999", "abc", "1.5", "-1", "0x1", "99999999999999999999999", "%C2%B2"):
            self.assertError(self.get(detail(key_id), key=self.key["all"]), 404, "apikey_not_found")

    def test_non_ascii_digits_do_not_alias_a_key_id(self) -> None:
        # int("١٢") == 12: a path with Arabic-Indic digits must not reach key 12.
        arabic = str(self.target.pk).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
        self.assertError(self.get(detail(arabic), key=self.key["all"]), 404, "apikey_not_found")


# Who may manage keys ---------------------------------------------------------------------


class ApiKeyAccessTestCase(ApiKeyTestCase):
    def test_an_unlimited_all_key_may_use_every_route(self) -> None:
        statuses = [self.call(m, p, d, key=self.key["all"]).status_code for m, p, d in self.routes(self.target.pk)]
        self.assertEqual(statuses, [200, 201, 200, 200, 200])
        self.assertFalse(ApiKey.objects.filter(pk=self.target.pk).exists())

    def test_a_browser_session_may_use_every_route(self) -> None:
        self.client.force_login(self.alice)
        statuses = [self.call(m, p, d).status_code for m, p, d in self.routes(self.target.pk)]
        self.assertEqual(statuses, [200, 201, 200, 200, 200])
        created = ApiKey.objects.get(name="New key")
        self.assertEqual(created.user, self.alice)
        self.assertFalse(ApiKey.objects.filter(pk=self.target.pk).exists())

    def test_a_session_needs_the_csrf_token_on_unsafe_methods(self) -> None:
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.alice)
        body = json.dumps({"name": "New key"})
        refused = [
            client.post(URL, body, content_type="application/json"),
            client.put(detail(self.target.pk), json.dumps({"name": "Renamed"}), content_type="application/json"),
            client.delete(detail(self.target.pk)),
        ]
        for r in refused:
            self.assertEqual(r.status_code, 403, r.content)
            self.assertEqual(r.json()["status"], "KO")
        self.assertNothingChanged()
        self.assertEqual(client.get(URL).status_code, 200)  # safe methods need no token

        token = get_random_string(32)
        client.cookies[settings.CSRF_COOKIE_NAME] = token
        csrf = {"HTTP_X_CSRFTOKEN": token}
        self.assertEqual(client.post(URL, body, content_type="application/json", **csrf).status_code, 201)
        r = client.put(detail(self.target.pk), json.dumps({"name": "Renamed"}), content_type="application/json", **csrf)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(client.delete(detail(self.target.pk), **csrf).status_code, 200)
        self.assertFalse(ApiKey.objects.filter(pk=self.target.pk).exists())

    def test_write_read_and_upload_keys_get_403_on_every_route(self) -> None:
        for mode in ("write", "read", "upload"):
            for method, path, data in self.routes(self.target.pk):
                r = self.call(method, path, data, key=self.key[mode])
                self.assertError(r, 403, "key_mode_forbidden")
        self.assertNothingChanged()

    def test_a_limited_all_key_gets_403_on_every_route(self) -> None:
        for method, path, data in self.routes(self.target.pk):
            self.assertError(self.call(method, path, data, key=self.limited_key), 403, "key_mode_forbidden")
        self.assertNothingChanged()

    def test_an_expired_key_gets_401_on_every_route(self) -> None:
        for method, path, data in self.routes(self.target.pk):
            body = self.assertError(self.call(method, path, data, key=self.expired_key), 401, "apikey_expired")
            self.assertEqual(body["error"], "API key has expired")
        self.assertNothingChanged()

    def test_anonymous_gets_401_on_every_route(self) -> None:
        for method, path, data in self.routes(self.target.pk):
            body = self.assertError(self.call(method, path, data), 401, "no_key_provided")
            self.assertEqual(body["error"], "No API key provided")
        self.assertNothingChanged()

    def test_an_unknown_key_gets_401_on_every_route(self) -> None:
        forged = "capgo_" + api_keys.parse_lookup(self.key["all"]) + "_" + "A" * 43
        for method, path, data in self.routes(self.target.pk):
            self.assertError(self.call(method, path, data, key=forged), 401, "invalid_apikey")
        self.assertNothingChanged()

    def test_the_key_of_a_deactivated_user_gets_401(self) -> None:
        User.objects.filter(pk=self.adam.pk).update(is_active=False)
        self.assertError(self.get(URL, key=self.adam_key), 401, "invalid_apikey")
        self.assertError(self.get(ORG_URL, key=self.adam_key), 401, "invalid_apikey")

    def test_another_users_key_id_is_404_and_the_key_is_unchanged(self) -> None:
        before = ApiKey.objects.values().get(pk=self.adam_row.pk)
        for method, path, data in self.routes(self.adam_row.pk)[2:]:
            self.assertError(self.call(method, path, data, key=self.key["all"]), 404, "apikey_not_found")
        regenerate = self.put(detail(self.adam_row.pk), {"regenerate": True}, key=self.key["all"])
        self.assertError(regenerate, 404, "apikey_not_found")
        self.assertEqual(ApiKey.objects.values().get(pk=self.adam_row.pk), before)
        self.assertEqual(self.get(ORG_URL, key=self.adam_key).status_code, 200)

    def test_an_unknown_id_is_404_on_every_detail_route(self) -> None:
        for key_id in ("999999999", "abc"):
            for method, path, data in self.routes(key_id)[2:]:
                self.assertError(self.call(method, path, data, key=self.key["all"]), 404, "apikey_not_found")


# Creating --------------------------------------------------------------------------------


class ApiKeyCreateTestCase(ApiKeyTestCase):
    def test_it_creates_a_key_and_shows_the_plaintext_once(self) -> None:
        r = self.post(URL, {"name": "CI"}, key=self.key["all"])
        self.assertEqual(r.status_code, 201, r.content)
        body = r.json()
        self.assertEqual(set(body), {"apikey"})
        data = body["apikey"]
        self.assertEqual(set(data), FIELDS)
        plaintext = data["key"]
        self.assertIsNotNone(api_keys.parse_lookup(plaintext))
        self.assertEqual((data["name"], data["mode"], data["limited_to_orgs"]), ("CI", "all", []))
        self.assertIsNone(data["expires_at"])
        self.assertIsNone(data["last_used_at"])
        self.assertEqual(data["user_id"], str(self.alice.pk))
        self.assertTrue(plaintext.startswith(data["key_preview"].rstrip("…")))
        self.assertNotIn(secret_part(plaintext), data["key_preview"])

        stored = ApiKey.objects.get(pk=data["id"])
        self.assertEqual(stored.user, self.alice)
        self.assertEqual(stored.digest, hashlib.sha256(plaintext.encode()).hexdigest())
        for field in ApiKey._meta.concrete_fields:
            self.assertNotIn(secret_part(plaintext), str(getattr(stored, field.attname)), field.name)

        self.assertIsNone(self.get(detail(data["id"]), key=self.key["all"]).json()["data"]["key"])
        listed = next(k for k in self.get(URL, key=self.key["all"]).json()["data"] if k["id"] == data["id"])
        self.assertIsNone(listed["key"])
        self.assertEqual(self.get(ORG_URL, key=plaintext).status_code, 200)

    def test_it_creates_a_limited_read_key_with_an_expiry(self) -> None:
        expires = timezone.now() + timedelta(days=7)
        r = self.post(
            URL,
            {"name": "Reader", "mode": "read", "limited_to_orgs": [self.org.id], "expires_at": expires.isoformat()},
            key=self.key["all"],
        )
        self.assertEqual(r.status_code, 201, r.content)
        data = r.json()["apikey"]
        self.assertEqual((data["mode"], data["limited_to_orgs"]), ("read", [self.org.id]))
        self.assertEqual(parse(data["expires_at"]), expires)
        stored = ApiKey.objects.get(pk=data["id"])
        self.assertTrue(stored.is_limited)
        self.assertEqual(stored.expires_at, expires)
        # The new key is what it says: read-only, and only in `org`.
        second = services.organization_create(actor=Principal(self.alice), name="Second")
        self.assertEqual([o["id"] for o in self.get(ORG_URL, key=data["key"]).json()["data"]], [self.org.id])
        self.assertError(self.get(ORG_URL, {"orgId": second.id}, key=data["key"]), 404, "org_not_found")
        self.assertError(self.post(ORG_URL, {"name": "Nope"}, key=data["key"]), 403, "key_mode_forbidden")

    def test_it_works_without_the_trailing_slash(self) -> None:
        self.assertEqual(self.post("/apikey", {"name": "CI"}, key=self.key["all"]).status_code, 201)

    def test_name_is_required(self) -> None:
        count = ApiKey.objects.count()
        for body in ({}, {"name": ""}, {"name": "   "}, {"name": None}, {"mode": "read"}):
            r = self.assertError(self.post(URL, body, key=self.key["all"]), 400, "invalid_body")
            self.assertEqual(r["error"], "Name is required", body)
            self.assertIn("name", r["details"])
        self.assertError(self.post(URL, {"name": "x" * 101}, key=self.key["all"]), 400, "invalid_body")
        self.assertEqual(ApiKey.objects.count(), count)

    def test_a_bad_mode_is_refused(self) -> None:
        for mode in ("admin", "ALL", "", None, 3):
            r = self.assertError(self.post(URL, {"name": "k", "mode": mode}, key=self.key["all"]), 400, "invalid_body")
            self.assertIn("mode", r["details"])
        self.assertFalse(ApiKey.objects.filter(name="k").exists())

    def test_limited_to_orgs_must_be_a_list_of_ids(self) -> None:
        for limits in (self.org.id, {"id": self.org.id}, 3, [None], [[self.org.id]], [{"id": self.org.id}]):
            body = {"name": "k", "limited_to_orgs": limits}
            r = self.assertError(self.post(URL, body, key=self.key["all"]), 400, "invalid_body")
            self.assertIn("limited_to_orgs", r["details"])
        self.assertFalse(ApiKey.objects.filter(name="k").exists())

    def test_limits_to_an_org_i_am_not_a_member_of_are_404(self) -> None:
        # other_org exists but alice is not in it; a pending invitation to it does not count.
        services.member_invite(actor=Principal(self.oscar), org=self.other_org, email=self.alice.email, role="read")
        for limits in ([self.other_org.id], [self.org.id, self.other_org.id], ["org_doesnotexist"]):
            body = {"name": "k", "limited_to_orgs": limits}
            r = self.assertError(self.post(URL, body, key=self.key["all"]), 404, "org_not_found")
            self.assertEqual(r["error"], "Organization not found")
        self.assertFalse(ApiKey.objects.filter(name="k").exists())

    def test_expires_at_must_be_a_future_date(self) -> None:
        for value in (in_days(-1), timezone.now().isoformat(), "not-a-date", "2024-13-01"):
            r = self.assertError(
                self.post(URL, {"name": "k", "expires_at": value}, key=self.key["all"]), 400, "invalid_body"
            )
            self.assertIn("expires_at", r["details"])
        self.assertFalse(ApiKey.objects.filter(name="k").exists())

    def test_unknown_fields_are_refused(self) -> None:
        for field, value in (
            ("id", 1), ("user_id", str(self.adam.pk)), ("key", "capgo_x"), ("digest", "0" * 64),
            ("lookup", "abcdefgh"), ("created_at", in_days(-3)), ("is_limited", False), ("hashed", True),
        ):  # fmt: skip
            r = self.assertError(self.post(URL, {"name": "k", field: value}, key=self.key["all"]), 400, "invalid_body")
            self.assertEqual(r["error"], f"Unknown field: {field}")
            self.assertIn(field, r["details"])
        self.assertFalse(ApiKey.objects.filter(name="k").exists())

    def test_malformed_json_is_refused(self) -> None:
        for raw in ("{", "[]", '"name"'):
            self.assertError(self.post(URL, raw, key=self.key["all"]), 400, "invalid_json_parse_body")


# Changing --------------------------------------------------------------------------------


class ApiKeyUpdateTestCase(ApiKeyTestCase):
    def test_it_renames_a_key_without_showing_its_secret(self) -> None:
        r = self.put(detail(self.target.pk), {"name": "Deploy"}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        body = r.json()
        self.assertEqual(set(body), {"apikey"})
        self.assertEqual(set(body["apikey"]), FIELDS)
        self.assertEqual((body["apikey"]["id"], body["apikey"]["name"]), (self.target.pk, "Deploy"))
        self.assertIsNone(body["apikey"]["key"])
        self.assertEqual(ApiKey.objects.get(pk=self.target.pk).name, "Deploy")
        self.assertEqual(self.get(ORG_URL, key=self.target_plaintext).status_code, 200)  # same secret still works

    def test_it_works_without_the_trailing_slash(self) -> None:
        r = self.put(f"/apikey/{self.target.pk}", {"name": "Deploy"}, key=self.key["all"])
        self.assertEqual(r.json()["apikey"]["name"], "Deploy")

    def test_it_changes_mode_limits_and_expiry(self) -> None:
        expires = timezone.now() + timedelta(days=3)
        body = {"mode": "read", "limited_to_orgs": [self.org.id], "expires_at": expires.isoformat()}
        data = self.put(detail(self.target.pk), body, key=self.key["all"]).json()["apikey"]
        self.assertEqual((data["mode"], data["limited_to_orgs"]), ("read", [self.org.id]))
        self.assertEqual(parse(data["expires_at"]), expires)
        stored = ApiKey.objects.get(pk=self.target.pk)
        self.assertTrue(stored.is_limited)
        self.assertEqual(stored.expires_at, expires)
        self.assertError(self.post(ORG_URL, {"name": "Nope"}, key=self.target_plaintext), 403, "key_mode_forbidden")

        data = self.put(detail(self.target.pk), {"limited_to_orgs": [], "expires_at": None}, key=self.key["all"])
        self.assertEqual(data.json()["apikey"]["limited_to_orgs"], [])
        self.assertIsNone(data.json()["apikey"]["expires_at"])
        stored.refresh_from_db()
        self.assertFalse(stored.is_limited)
        self.assertIsNone(stored.expires_at)
        self.assertFalse(ApiKeyOrgLimit.objects.filter(api_key=stored).exists())

    def test_an_empty_body_is_refused(self) -> None:
        for body in ({}, None, {"regenerate": False}):
            r = self.put(detail(self.target.pk), body, key=self.key["all"])
            self.assertError(r, 400, "no_valid_fields_provided_for_update")
        self.assertEqual(ApiKey.objects.get(pk=self.target.pk).digest, self.target.digest)

    def test_invalid_changes_are_refused_and_change_nothing(self) -> None:
        before = ApiKey.objects.values().get(pk=self.target.pk)
        for body in (
            {"name": ""},
            {"mode": "admin"},
            {"limited_to_orgs": self.org.id},
            {"expires_at": in_days(-1)},
            {"expires_at": "soon"},
            {"user_id": str(self.adam.pk)},
            {"name": "Renamed", "digest": "0" * 64},
            {"name": "Renamed", "regenerate": "please"},
        ):
            self.assertError(self.put(detail(self.target.pk), body, key=self.key["all"]), 400, "invalid_body")
        r = self.put(detail(self.target.pk), {"limited_to_orgs": [self.other_org.id]}, key=self.key["all"])
        self.assertError(r, 404, "org_not_found")
        self.assertEqual(ApiKey.objects.values().get(pk=self.target.pk), before)
        self.assertFalse(ApiKeyOrgLimit.objects.filter(api_key=self.target).exists())

    def test_regenerate_replaces_the_secret_at_once(self) -> None:
        self.assertEqual(self.get(ORG_URL, key=self.target_plaintext).status_code, 200)
        r = self.put(detail(self.target.pk), {"regenerate": True}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        data = r.json()["apikey"]
        new = data["key"]
        self.assertIsNotNone(api_keys.parse_lookup(new))
        self.assertNotEqual(new, self.target_plaintext)
        self.assertEqual(data["id"], self.target.pk)
        self.assertNotEqual(data["key_preview"], self.target.key_preview)
        # The very next request with the old secret fails; the new one works.
        body = self.assertError(self.get(ORG_URL, key=self.target_plaintext), 401, "invalid_apikey")
        self.assertEqual(body["error"], "Invalid API key")
        self.assertEqual(self.get(ORG_URL, key=new).status_code, 200)
        self.assertEqual(ApiKey.objects.get(pk=self.target.pk).digest, hashlib.sha256(new.encode()).hexdigest())
        self.assertIsNone(self.get(detail(self.target.pk), key=new).json()["data"]["key"])

    def test_regenerate_with_other_changes_applies_both(self) -> None:
        data = self.put(detail(self.target.pk), {"regenerate": True, "name": "Fresh"}, key=self.key["all"]).json()
        self.assertEqual(data["apikey"]["name"], "Fresh")
        self.assertEqual(self.get(ORG_URL, key=data["apikey"]["key"]).status_code, 200)
        self.assertError(self.get(ORG_URL, key=self.target_plaintext), 401, "invalid_apikey")

    def test_a_key_may_regenerate_itself_and_its_old_secret_dies(self) -> None:
        own = row(self.key["all"])
        r = self.put(detail(own.pk), {"regenerate": True}, key=self.key["all"])
        self.assertEqual(r.status_code, 200)
        self.assertError(self.get(URL, key=self.key["all"]), 401, "invalid_apikey")
        self.assertEqual(self.get(URL, key=r.json()["apikey"]["key"]).status_code, 200)


# Deleting --------------------------------------------------------------------------------


class ApiKeyDeleteTestCase(ApiKeyTestCase):
    def test_delete_stops_the_key_at_once(self) -> None:
        self.assertEqual(self.get(ORG_URL, key=self.target_plaintext).status_code, 200)
        r = self.delete(detail(self.target.pk), key=self.key["all"])
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.json(), {"success": True})
        self.assertError(self.get(ORG_URL, key=self.target_plaintext), 401, "invalid_apikey")
        self.assertError(self.get(detail(self.target.pk), key=self.key["all"]), 404, "apikey_not_found")
        self.assertError(self.delete(detail(self.target.pk), key=self.key["all"]), 404, "apikey_not_found")
        self.assertFalse(ApiKey.objects.filter(pk=self.target.pk).exists())

    def test_it_works_without_the_trailing_slash(self) -> None:
        self.assertEqual(self.delete(f"/apikey/{self.target.pk}", key=self.key["all"]).json(), {"success": True})

    def test_a_key_may_delete_itself(self) -> None:
        own = row(self.key["all"])
        self.assertEqual(self.delete(detail(own.pk), key=self.key["all"]).status_code, 200)
        self.assertError(self.get(URL, key=self.key["all"]), 401, "invalid_apikey")

    def test_a_revoked_key_is_gone_from_the_api(self) -> None:
        services.api_key_revoke(actor=None, key=self.target)
        self.assertError(self.get(ORG_URL, key=self.target_plaintext), 401, "invalid_apikey")
        self.assertError(self.get(detail(self.target.pk), key=self.key["all"]), 404, "apikey_not_found")
        self.assertNotIn(self.target.pk, [k["id"] for k in self.get(URL, key=self.key["all"]).json()["data"]])


# Secrecy ---------------------------------------------------------------------------------


class ApiKeySecrecyTestCase(ApiKeyTestCase):
    def test_no_response_contains_a_digest_or_another_keys_secret(self) -> None:
        all_key = self.key["all"]
        responses: list[tuple[bytes, str | None]] = []  # (raw body, the plaintext it may show)

        def keep(r: Any, shown: str | None = None) -> Any:
            self.assertLess(r.status_code, 300, r.content)
            responses.append((r.content, shown))
            return r

        created = self.post(URL, {"name": "Shown once", "limited_to_orgs": [self.org.id]}, key=all_key)
        keep(created, created.json()["apikey"]["key"])
        new_id = created.json()["apikey"]["id"]
        keep(self.get(URL, key=all_key))
        keep(self.get(detail(new_id), key=all_key))
        keep(self.put(detail(new_id), {"name": "Renamed"}, key=all_key))
        regenerated = self.put(detail(new_id), {"regenerate": True}, key=all_key)
        keep(regenerated, regenerated.json()["apikey"]["key"])
        keep(self.get(URL, key=all_key))
        keep(self.get("/organization/audit/", {"orgId": self.org.id}, key=all_key))
        digests = set(ApiKey.objects.values_list("digest", flat=True))
        keep(self.delete(detail(new_id), key=all_key))
        self.client.force_login(self.alice)
        keep(self.get(URL))

        plaintexts = {*self.key.values(), self.limited_key, self.expired_key, self.target_plaintext}
        plaintexts |= {created.json()["apikey"]["key"], regenerated.json()["apikey"]["key"]}
        for raw, shown in responses:
            for digest in digests:
                self.assertNotIn(digest.encode(), raw)
            for plaintext in plaintexts - {shown}:
                self.assertNotIn(secret_part(plaintext).encode(), raw)
            self.assertNotIn(b"digest", raw)
            self.assertNotIn(b"pbkdf2", raw)


# Organization policy on expiry -----------------------------------------------------------


class ApiKeyExpiryPolicyTestCase(ApiKeyTestCase):
    def set_policy(self, **fields: Any) -> None:
        r = self.put(ORG_URL, {"orgId": self.org.id, **fields}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        for name, value in fields.items():
            self.assertEqual(r.json()["data"][name], value)

    def test_an_org_requiring_expiry_refuses_new_keys_without_one(self) -> None:
        self.set_policy(require_apikey_expiration=True)
        body = self.assertError(
            self.post(URL, {"name": "k", "limited_to_orgs": [self.org.id]}, key=self.key["all"]),
            400,
            "expiration_required",
        )
        self.assertEqual(body["details"]["org_id"], self.org.id)
        expires_at = {"expires_at": None}
        r = self.post(URL, {"name": "k", "limited_to_orgs": [self.org.id], **expires_at}, key=self.key["all"])
        self.assertError(r, 400, "expiration_required")
        self.assertFalse(ApiKey.objects.filter(name="k").exists())
        r = self.post(
            URL, {"name": "k", "limited_to_orgs": [self.org.id], "expires_at": in_days(400)}, key=self.key["all"]
        )
        self.assertEqual(r.status_code, 201, r.content)  # no maximum set
        # An unlimited key names no organization, so no policy applies at creation.
        self.assertEqual(self.post(URL, {"name": "free"}, key=self.key["all"]).status_code, 201)

    def test_an_org_with_a_maximum_lifetime_refuses_longer_keys(self) -> None:
        self.set_policy(require_apikey_expiration=True, max_apikey_expiration_days=30)
        limited = {"name": "k", "limited_to_orgs": [self.org.id]}
        self.assertError(self.post(URL, limited, key=self.key["all"]), 400, "expiration_required")
        body = self.assertError(
            self.post(URL, {**limited, "expires_at": in_days(60)}, key=self.key["all"]), 400, "expiration_exceeds_max"
        )
        self.assertIn("30", body["error"])
        self.assertFalse(ApiKey.objects.filter(name="k").exists())
        r = self.post(URL, {**limited, "expires_at": in_days(15)}, key=self.key["all"])
        self.assertEqual(r.status_code, 201, r.content)
        self.assertEqual(r.json()["apikey"]["limited_to_orgs"], [self.org.id])

    def test_a_maximum_alone_is_checked_against_an_expiry(self) -> None:
        self.set_policy(max_apikey_expiration_days=30)
        limited = {"name": "k", "limited_to_orgs": [self.org.id]}
        self.assertError(
            self.post(URL, {**limited, "expires_at": in_days(31)}, key=self.key["all"]), 400, "expiration_exceeds_max"
        )
        self.assertEqual(self.post(URL, {**limited, "expires_at": in_days(29)}, key=self.key["all"]).status_code, 201)

    def test_the_policy_of_every_listed_org_applies(self) -> None:
        second = services.organization_create(actor=Principal(self.alice), name="Second")
        Organization.objects.filter(pk=second.pk).update(require_apikey_expiration=True)
        body = {"name": "k", "limited_to_orgs": [self.org.id, second.id]}
        r = self.assertError(self.post(URL, body, key=self.key["all"]), 400, "expiration_required")
        self.assertEqual(r["details"]["org_id"], second.id)

    def test_updates_follow_the_policy(self) -> None:
        key, _plaintext = make_key(
            self.alice, limited_to_orgs=[self.org.id], expires_at=timezone.now() + timedelta(days=15)
        )
        self.set_policy(require_apikey_expiration=True, max_apikey_expiration_days=30)
        before = ApiKey.objects.values().get(pk=key.pk)
        self.assertError(
            self.put(detail(key.pk), {"expires_at": None}, key=self.key["all"]), 400, "expiration_required"
        )
        r = self.put(detail(key.pk), {"expires_at": in_days(60)}, key=self.key["all"])
        self.assertError(r, 400, "expiration_exceeds_max")
        self.assertEqual(ApiKey.objects.values().get(pk=key.pk), before)
        # Limiting an unlimited, non-expiring key to the org is refused too, and changes nothing.
        r = self.put(detail(self.target.pk), {"limited_to_orgs": [self.org.id]}, key=self.key["all"])
        self.assertError(r, 400, "expiration_required")
        self.assertFalse(ApiKey.objects.get(pk=self.target.pk).is_limited)
        self.assertFalse(ApiKeyOrgLimit.objects.filter(api_key=self.target).exists())
        r = self.put(
            detail(self.target.pk), {"limited_to_orgs": [self.org.id], "expires_at": in_days(10)}, key=self.key["all"]
        )
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(self.put(detail(key.pk), {"expires_at": in_days(20)}, key=self.key["all"]).status_code, 200)

    def test_at_use_an_org_requiring_expiry_refuses_keys_without_one(self) -> None:
        self.set_policy(require_apikey_expiration=True)
        _key, expiring = make_key(self.alice, expires_at=timezone.now() + timedelta(days=5), name="expiring")
        for path in (ORG_URL, "/organization/members/", "/organization/audit/"):
            body = self.assertError(
                self.get(path, {"orgId": self.org.id}, key=self.key["all"]), 401, "org_requires_expiring_key"
            )
            self.assertIsInstance(body["error"], str)
            self.assertEqual(self.get(path, {"orgId": self.org.id}, key=expiring).status_code, 200, path)
        r = self.put(ORG_URL, {"orgId": self.org.id, "name": "Renamed"}, key=self.key["all"])
        self.assertError(r, 401, "org_requires_expiring_key")
        self.assertEqual(Organization.objects.get(pk=self.org.pk).name, "Alice Org")
        # The list names no organization; the browser session carries no key.
        self.assertEqual(self.get(ORG_URL, key=self.key["all"]).status_code, 200)
        self.client.force_login(self.alice)
        self.assertEqual(self.get(ORG_URL, {"orgId": self.org.id}).status_code, 200)


# A key limited to a deleted organization ------------------------------------------------


class ApiKeyLimitedToDeletedOrgTestCase(ApiKeyTestCase):
    def test_a_key_limited_to_a_deleted_org_reaches_no_organization(self) -> None:
        created = self.post(ORG_URL, {"name": "Doomed"}, key=self.key["all"])
        doomed = created.json()["id"]
        limited = self.post(URL, {"name": "doomed only", "limited_to_orgs": [doomed]}, key=self.key["all"])
        plaintext = limited.json()["apikey"]["key"]
        self.assertEqual(self.get(ORG_URL, {"orgId": doomed}, key=plaintext).status_code, 200)

        self.assertEqual(self.delete(ORG_URL, {"orgId": doomed}, key=self.key["all"]).status_code, 200)

        body = self.get(ORG_URL, key=plaintext).json()
        self.assertEqual((body["data"], body["total"]), ([], 0))
        for org_id in (doomed, self.org.id):
            for path in (ORG_URL, "/organization/members/", "/organization/audit/"):
                self.assertError(self.get(path, {"orgId": org_id}, key=plaintext), 404, "org_not_found")
        r = self.put(ORG_URL, {"orgId": self.org.id, "name": "Hijacked"}, key=plaintext)
        self.assertError(r, 404, "org_not_found")
        self.assertError(self.delete(ORG_URL, {"orgId": self.org.id}, key=plaintext), 404, "org_not_found")
        r = self.post(
            "/organization/members/", {"orgId": self.org.id, "email": "x@example.org", "role": "read"}, key=plaintext
        )
        self.assertError(r, 404, "org_not_found")
        self.assertEqual(Organization.objects.get(pk=self.org.pk).name, "Alice Org")
        # It stays limited (to nothing); it did not become an unlimited key.
        self.assertTrue(row(plaintext).is_limited)
        self.assertError(self.get(URL, key=plaintext), 403, "key_mode_forbidden")


# Audit events of key changes -------------------------------------------------------------


class ApiKeyAuditTestCase(ApiKeyTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.second = services.organization_create(actor=Principal(cls.alice), name="Second")
        cls.all_row = row(cls.key["all"])

    def events(self, key_id: int, operation: str) -> list[AuditEvent]:
        return list(
            AuditEvent.objects.filter(table_name="apikeys", record_id=str(key_id), operation=operation).order_by(
                "org_id"
            )
        )

    def assertByAllKey(self, event: AuditEvent) -> None:  # noqa: N802
        self.assertEqual(event.actor_type, "apikey")
        self.assertEqual((event.actor_apikey_id, event.actor_apikey_name), (self.all_row.pk, "all key"))
        self.assertEqual((event.actor_user_id, event.actor_user_email), (str(self.alice.pk), self.alice.email))

    def test_every_change_writes_one_event_per_limited_org(self) -> None:
        orgs = sorted([self.org.id, self.second.id])
        r = self.post(URL, {"name": "Audited", "limited_to_orgs": orgs}, key=self.key["all"])
        key_id = r.json()["apikey"]["id"]
        inserts = self.events(key_id, "INSERT")
        self.assertEqual([e.org_id for e in inserts], orgs)
        for event in inserts:
            self.assertByAllKey(event)
            self.assertIsNone(event.old_record)
            self.assertIsNone(event.changed_fields)
            self.assertEqual(event.new_record["name"], "Audited")
            self.assertEqual(event.new_record["limited_to_orgs"], orgs)

        self.put(detail(key_id), {"name": "Renamed"}, key=self.key["all"])
        updates = self.events(key_id, "UPDATE")
        self.assertEqual([e.org_id for e in updates], orgs)
        for event in updates:
            self.assertByAllKey(event)
            self.assertEqual(event.changed_fields, ["name"])
            self.assertEqual((event.old_record["name"], event.new_record["name"]), ("Audited", "Renamed"))

        self.put(detail(key_id), {"limited_to_orgs": [self.org.id]}, key=self.key["all"])
        limit_changes = [e for e in self.events(key_id, "UPDATE") if e.changed_fields == ["limited_to_orgs"]]
        # Both the organization it left and the one it kept see the change.
        self.assertEqual(sorted(e.org_id for e in limit_changes), orgs)

        self.put(detail(key_id), {"regenerate": True}, key=self.key["all"])
        regenerations = [e for e in self.events(key_id, "UPDATE") if (e.new_record or {}).get("regenerated")]
        self.assertEqual([e.org_id for e in regenerations], [self.org.id])
        self.assertIn("key_preview", regenerations[0].changed_fields)

        self.delete(detail(key_id), key=self.key["all"])
        deletes = self.events(key_id, "DELETE")
        self.assertEqual([e.org_id for e in deletes], [self.org.id])
        self.assertByAllKey(deletes[0])
        self.assertIsNone(deletes[0].new_record)
        self.assertEqual(deletes[0].old_record["id"], key_id)

    def test_an_unlimited_keys_events_have_no_org(self) -> None:
        self.client.force_login(self.alice)
        key_id = self.post(URL, {"name": "Free"}).json()["apikey"]["id"]
        self.put(detail(key_id), {"mode": "read"})
        self.delete(detail(key_id))
        events = AuditEvent.objects.filter(table_name="apikeys", record_id=str(key_id)).order_by("id")
        self.assertEqual(
            [(e.operation, e.org_id) for e in events], [("INSERT", None), ("UPDATE", None), ("DELETE", None)]
        )
        for event in events:
            self.assertEqual((event.actor_type, event.actor_user_id), ("user", str(self.alice.pk)))
            self.assertIsNone(event.actor_apikey_id)
        self.assertEqual(events[1].changed_fields, ["mode"])

    def test_a_refused_change_writes_no_event(self) -> None:
        before = AuditEvent.objects.count()
        self.put(detail(self.target.pk), {"limited_to_orgs": [self.other_org.id]}, key=self.key["all"])
        self.put(detail(self.adam_row.pk), {"name": "x"}, key=self.key["all"])
        self.post(URL, {"name": "k", "expires_at": in_days(-1)}, key=self.key["all"])
        self.post(URL, {"name": "k"}, key=self.key["read"])
        self.assertEqual(AuditEvent.objects.count(), before)

    def test_the_event_and_the_change_commit_together(self) -> None:
        count = ApiKey.objects.count()
        with mock.patch("organizations.audit.insert", side_effect=RuntimeError("disk full")):
            self.assertError(self.post(URL, {"name": "k"}, key=self.key["all"]), 500, "internal_error")
            self.assertError(
                self.put(detail(self.target.pk), {"name": "x"}, key=self.key["all"]), 500, "internal_error"
            )
            self.assertError(self.delete(detail(self.target.pk), key=self.key["all"]), 500, "internal_error")
        self.assertEqual(ApiKey.objects.count(), count)
        self.assertEqual(ApiKey.objects.get(pk=self.target.pk).name, "target")

    def test_no_event_holds_a_secret_a_digest_or_password_data(self) -> None:
        all_key = self.key["all"]
        plaintexts = {*self.key.values(), self.limited_key, self.expired_key, self.target_plaintext}
        digests = set(ApiKey.objects.values_list("digest", flat=True))
        created = self.post(URL, {"name": "Full", "limited_to_orgs": [self.org.id]}, key=all_key).json()["apikey"]
        plaintexts.add(created["key"])
        digests.add(ApiKey.objects.get(pk=created["id"]).digest)
        self.put(detail(created["id"]), {"name": "Fuller", "mode": "write", "expires_at": in_days(5)}, key=all_key)
        regenerated = self.put(detail(created["id"]), {"regenerate": True}, key=all_key).json()["apikey"]
        plaintexts.add(regenerated["key"])
        digests.add(ApiKey.objects.get(pk=created["id"]).digest)
        self.delete(detail(created["id"]), key=all_key)
        self.put(detail(self.target.pk), {"regenerate": True}, key=all_key)
        digests.add(ApiKey.objects.get(pk=self.target.pk).digest)
        services.api_key_revoke(actor=None, key=self.target)
        # Members and invitations too: their events sit in the same table.
        self.post(
            "/organization/members/", {"orgId": self.org.id, "email": "new@example.org", "role": "read"}, key=all_key
        )
        self.post(
            "/organization/members/", {"orgId": self.org.id, "email": self.rita.email, "role": "write"}, key=all_key
        )
        self.put(ORG_URL, {"orgId": self.org.id, "name": "Renamed Org"}, key=all_key)
        self.delete(ORG_URL, {"orgId": self.second.id}, key=all_key)

        secrets = {secret_part(p) for p in plaintexts} | digests
        secrets |= set(User.objects.values_list("password", flat=True))
        secrets |= set(Invitation.objects.values_list("token_hash", flat=True))
        events = list(AuditEvent.objects.all())
        self.assertGreater(len(events), 20)
        for event in events:
            dump = json.dumps([event.old_record, event.new_record, event.changed_fields])
            for secret in secrets:
                self.assertNotIn(secret, dump, event)
            # The organization's password *policy* (its rules, not anyone's password) is audited like any field.
            words = dump.lower().replace('"password_policy_config"', "")
            for word in ("digest", "password", "token", "lookup", "hash", "pbkdf2", '"key"'):
                self.assertNotIn(word, words, event)


# The cost of a key check -----------------------------------------------------------------


class ApiKeyCheckCostTestCase(ApiKeyTestCase):
    def key_queries(self, path: str, params: dict[str, str], key: str) -> tuple[list[str], Any]:
        with CaptureQueriesContext(connection) as ctx:
            r = self.get(path, params, key=key)
        return [q["sql"] for q in ctx.captured_queries], r

    def test_a_key_check_is_one_indexed_query(self) -> None:
        ApiKey.objects.update(last_used_at=timezone.now())
        queries, r = self.key_queries(ORG_URL, {"orgId": self.org.id}, self.key["read"])
        self.assertEqual(r.status_code, 200)
        table = ApiKey._meta.db_table
        on_keys = [sql for sql in queries if f'FROM "{table}"' in sql]
        self.assertEqual(len(on_keys), 1, queries)
        self.assertTrue(on_keys[0].startswith("SELECT"))
        self.assertIn('"lookup" =', on_keys[0])
        self.assertEqual(len(queries), 1, queries)  # the key, the membership and the organization: one statement
        with connection.cursor() as cursor:
            constraints = connection.introspection.get_constraints(cursor, table)
        self.assertTrue(
            any(c["columns"] == ["lookup"] and (c["unique"] or c["index"]) for c in constraints.values()), constraints
        )

    def test_a_refused_key_costs_at_most_one_query(self) -> None:
        with self.assertNumQueries(0):
            self.assertError(self.get(ORG_URL, key="not-a-key"), 401, "invalid_apikey")
        forged = "capgo_" + api_keys.parse_lookup(self.key["read"]) + "_" + "A" * 43
        with self.assertNumQueries(1):
            self.assertError(self.get(ORG_URL, key=forged), 401, "invalid_apikey")

    def test_last_used_at_is_written_at_most_once_a_minute(self) -> None:
        read = row(self.key["read"])
        ApiKey.objects.filter(pk=read.pk).update(last_used_at=None)

        queries, _r = self.key_queries(ORG_URL, {"orgId": self.org.id}, self.key["read"])
        self.assertEqual(len(queries), 2, queries)  # the first use writes once
        self.assertTrue(queries[1].startswith("UPDATE"))
        first = ApiKey.objects.get(pk=read.pk).last_used_at
        self.assertIsNotNone(first)

        queries, _r = self.key_queries(ORG_URL, {"orgId": self.org.id}, self.key["read"])
        self.assertEqual(len(queries), 1, queries)
        self.assertEqual(ApiKey.objects.get(pk=read.pk).last_used_at, first)

        almost = timezone.now() - timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION - 5)
        ApiKey.objects.filter(pk=read.pk).update(last_used_at=almost)
        self.get(ORG_URL, key=self.key["read"])
        self.assertEqual(ApiKey.objects.get(pk=read.pk).last_used_at, almost)

        two_minutes_ago = timezone.now() - timedelta(minutes=2)
        ApiKey.objects.filter(pk=read.pk).update(last_used_at=two_minutes_ago)
        queries, _r = self.key_queries(ORG_URL, {"orgId": self.org.id}, self.key["read"])
        self.assertEqual(sum(sql.startswith("UPDATE") for sql in queries), 1, queries)
        touched = ApiKey.objects.get(pk=read.pk).last_used_at
        self.assertGreater(touched, two_minutes_ago + timedelta(minutes=1))
        self.assertEqual(
            self.get(detail(read.pk), key=self.key["all"]).json()["data"]["last_used_at"].endswith("Z"), True
        )

    def test_last_used_at_is_shown(self) -> None:
        ApiKey.objects.update(last_used_at=None)
        self.get(ORG_URL, key=self.key["read"])
        data = self.get(detail(row(self.key["read"]).pk), key=self.key["all"]).json()["data"]
        self.assertLess(abs(parse(data["last_used_at"]) - timezone.now()), timedelta(minutes=1))


# A member's role does not matter for managing their own keys ----------------------------


class ApiKeyRoleTestCase(ApiKeyTestCase):
    def test_any_user_manages_their_own_keys_whatever_their_role(self) -> None:
        nobody = make_user("nobody@example.org")
        _key, plaintext = make_key(nobody)
        r = self.post(URL, {"name": "mine"}, key=plaintext)
        self.assertEqual(r.status_code, 201)
        self.assertEqual(r.json()["apikey"]["user_id"], str(nobody.pk))
        self.assertError(
            self.post(URL, {"name": "k", "limited_to_orgs": [self.org.id]}, key=plaintext), 404, "org_not_found"
        )
        add_member(self.org, nobody, Role.READ)
        self.assertEqual(
            self.post(URL, {"name": "k", "limited_to_orgs": [self.org.id]}, key=plaintext).status_code, 201
        )


class ApiKeyCapTestCase(ApiKeyTestCase):
    """A user holds at most API_KEYS_PER_USER keys (here 3); rita holds one, the cast's."""

    def setUp(self) -> None:
        super().setUp()
        cap = override_settings(API_KEYS_PER_USER=3)  # after the cast is made: alice holds more
        cap.enable()
        self.addCleanup(cap.disable)

    def create(self) -> Any:
        return self.post(URL, {"name": "One more"}, key=self.rita_key)

    def test_past_the_cap_creating_a_key_is_409_and_creates_nothing(self) -> None:
        self.assertEqual([self.create().status_code for _ in range(2)], [201, 201])
        body = self.assertError(self.create(), 409, "apikey_limit_reached")
        self.assertEqual(body["details"], {"limit": 3})
        self.assertEqual(ApiKey.objects.filter(user=self.rita).count(), 3)
        inserted = AuditEvent.objects.filter(table_name="apikeys", operation="INSERT", new_record__name="One more")
        self.assertEqual(inserted.count(), 2)  # nothing recorded for the refused one

    def test_deleting_a_key_frees_its_place(self) -> None:
        created = [self.create().json()["apikey"]["id"] for _ in range(2)]
        self.assertError(self.create(), 409, "apikey_limit_reached")
        self.assertEqual(self.delete(detail(created[0]), key=self.rita_key).status_code, 200)
        self.assertEqual(self.create().status_code, 201)

    def test_revoked_keys_do_not_count_and_expired_ones_do(self) -> None:
        revoked, _ = make_key(self.rita, name="revoked")
        services.api_key_revoke(actor=None, key=revoked)
        expired, _ = make_key(self.rita, name="expired")
        ApiKey.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(days=1))
        self.assertEqual(self.create().status_code, 201)  # the cast's, the expired one, this one
        self.assertError(self.create(), 409, "apikey_limit_reached")

    def test_the_cap_is_per_user(self) -> None:
        for _ in range(2):
            self.create()
        self.assertEqual(self.post(URL, {"name": "Mine"}, key=self.wendy_key).status_code, 201)

    def test_the_command_line_is_held_to_it_too(self) -> None:
        for _ in range(2):
            self.create()
        with self.assertRaisesMessage(CommandError, "apikey_limit_reached"):
            call_command("create_api_key", self.rita.email, stdout=io.StringIO())
