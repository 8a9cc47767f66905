"""A line-by-line audit of /work/shared/api-contract.md through HTTP (the Django test client)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from io import StringIO
from typing import Any

from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from organizations import services
from organizations.models import ApiKey, Invitation, Membership, Organization, User
from organizations.roles import Principal, Role
from tests.base import ApiTestCase, add_member, make_key, make_user

ORG = "/organization/"
MEMBERS = "/organization/members/"
ACCEPT = "/organization/members/accept/"
AUDIT = "/organization/audit/"
KEYS = "/apikey/"

FORBIDDEN_FIELD_WORDS = ("hash", "secret", "password", "salt")
# The contract's names for an organization's password *policy* (rules, not anyone's password).
POLICY_FIELD_NAMES = {"password_policy_config", "password_policy_compliant"}


def keys_in(value: Any) -> set[str]:
    """Every dict key anywhere in a JSON value."""
    found: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            found.add(str(k))
            found |= keys_in(v)
    elif isinstance(value, list):
        for v in value:
            found |= keys_in(v)
    return found


class ContractBase(ApiTestCase):
    def assertIsoWithTz(self, value: Any) -> None:  # noqa: N802
        self.assertIsInstance(value, str)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        self.assertIsNotNone(parsed.tzinfo, value)
        self.assertRegex(value, r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
        self.assertRegex(value, r"(Z|[+-]\d{2}:\d{2})$")

    def assertNoSecrets(self, body: Any) -> None:  # noqa: N802
        for k in keys_in(body) - POLICY_FIELD_NAMES:
            for word in FORBIDDEN_FIELD_WORDS:
                self.assertNotIn(word, k.lower(), f"field {k!r} in {body!r}")

    def raw(self, method: str, path: str, body: Any, key: str | None, content_type: str | None = "application/json"):
        """A request with a raw body and any (or no) content type."""
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        headers: dict[str, Any] = {"HTTP_AUTHORIZATION": key} if key else {}
        if content_type is None:
            # No Content-Type header: WSGI servers then give an empty CONTENT_TYPE.
            content_type = ""
        return self.client.generic(method, path, data, content_type=content_type, **headers)

    def delete_body(self, path: str, body: Any, key: str | None):
        return self.raw("DELETE", path, body, key)

    def new_key_id(self, key: str | None = None, **body: Any) -> tuple[int, str]:
        r = self.post(KEYS, {"name": "tmp", **body}, key=key or self.key["all"])
        self.assertEqual(r.status_code, 201, r.content)
        return r.json()["apikey"]["id"], r.json()["apikey"]["key"]


# General rules: paths ------------------------------------------------------------------------


class PathTestCase(ContractBase):
    def assertNotRedirect(self, r: Any) -> None:  # noqa: N802
        self.assertNotIn(r.status_code, (301, 302, 307, 308), r)

    def test_get_paths_answer_with_and_without_slash(self) -> None:
        kid = ApiKey.objects.filter(user=self.alice).first().pk
        for base, params in (
            (ORG, {}),
            (ORG, {"orgId": self.org.id}),
            (MEMBERS, {"orgId": self.org.id}),
            (AUDIT, {"orgId": self.org.id}),
            (KEYS, {}),
            (f"{KEYS}{kid}/", {}),
        ):
            for path in (base, base.rstrip("/")):
                with self.subTest(path=path):
                    r = self.get(path, params, key=self.key["all"])
                    self.assertNotRedirect(r)
                    self.assertEqual(r.status_code, 200, (path, r.content))

    def test_post_organization_without_slash(self) -> None:
        r = self.post("/organization", {"name": "No slash"}, key=self.key["all"])
        self.assertEqual(r.status_code, 201, r.content)
        self.assertEqual(r.json()["status"], "Organization created")

    def test_put_organization_without_slash(self) -> None:
        r = self.put("/organization", {"orgId": self.org.id, "name": "Renamed"}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json()["data"]["name"], "Renamed")

    def test_delete_organization_without_slash(self) -> None:
        org = services.organization_create(actor=Principal(self.alice), name="Doomed")
        r = self.delete("/organization", {"orgId": org.id}, key=self.key["all"])
        self.assertEqual(r.json(), {"status": "Organization deleted", "id": org.id})
        self.assertFalse(Organization.objects.filter(pk=org.id).exists())

    def test_post_and_delete_members_without_slash(self) -> None:
        r = self.post(
            "/organization/members",
            {"orgId": self.org.id, "email": "n@example.org", "role": "read"},
            key=self.key["all"],
        )
        self.assertEqual(r.status_code, 200, r.content)
        r = self.delete("/organization/members", {"orgId": self.org.id, "email": "n@example.org"}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json(), {"status": "OK"})

    def test_post_accept_without_slash(self) -> None:
        bob = make_user("bob@example.org")
        bob_key = make_key(bob)[1]
        self.post(MEMBERS, {"orgId": self.org.id, "email": "bob@example.org", "role": "write"}, key=self.key["all"])
        r = self.post("/organization/members/accept", {"orgId": self.org.id}, key=bob_key)
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json()["status"], "OK")
        self.assertEqual(r.json()["data"]["role"], "write")

    def test_post_apikey_without_slash(self) -> None:
        r = self.post("/apikey", {"name": "ns"}, key=self.key["all"])
        self.assertEqual(r.status_code, 201, r.content)

    def test_put_and_delete_apikey_without_slash(self) -> None:
        kid, _ = self.new_key_id()
        r = self.put(f"/apikey/{kid}", {"name": "renamed"}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json()["apikey"]["name"], "renamed")
        r = self.client.delete(f"/apikey/{kid}", HTTP_AUTHORIZATION=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json(), {"success": True})


# General rules: parameters, DELETE with a body ----------------------------------------------


class DeleteWithBodyTestCase(ContractBase):
    def test_delete_organization_with_a_json_body(self) -> None:
        org = services.organization_create(actor=Principal(self.alice), name="Doomed")
        for path in (ORG, ORG.rstrip("/")):
            org = services.organization_create(actor=Principal(self.alice), name="Doomed")
            r = self.delete_body(path, {"orgId": org.id}, self.key["all"])
            self.assertEqual(r.status_code, 200, r.content)
            self.assertEqual(r.json(), {"status": "Organization deleted", "id": org.id})
            self.assertFalse(Organization.objects.filter(pk=org.id).exists())

    def test_delete_member_with_a_json_body(self) -> None:
        for path in (MEMBERS, MEMBERS.rstrip("/")):
            r = self.delete_body(path, {"orgId": self.org.id, "email": "rita@example.org"}, self.key["all"])
            self.assertEqual(r.status_code, 200, r.content)
            self.assertEqual(r.json(), {"status": "OK"})
            self.assertFalse(Membership.objects.filter(organization=self.org, user=self.rita).exists())
            add_member(self.org, self.rita, Role.READ)

    def test_delete_apikey_with_a_json_body(self) -> None:
        kid, _ = self.new_key_id()
        r = self.delete_body(f"{KEYS}{kid}/", {"id": kid}, self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json(), {"success": True})

    def test_delete_with_a_json_body_with_a_text_content_type(self) -> None:
        org = services.organization_create(actor=Principal(self.alice), name="Doomed")
        r = self.raw("DELETE", ORG, {"orgId": org.id}, self.key["all"], content_type="text/plain")
        self.assertEqual(r.status_code, 200, r.content)

    def test_delete_with_a_bad_json_body(self) -> None:
        for path in (ORG, MEMBERS):
            with self.subTest(path=path):
                self.assertError(self.delete_body(path, "[1]", self.key["all"]), 400, "invalid_json_parse_body")
                self.assertError(self.delete_body(path, "{bad", self.key["all"]), 400, "invalid_json_parse_body")

    def test_delete_without_parameters_is_invalid_body(self) -> None:
        body = self.assertError(self.delete(ORG, key=self.key["all"]), 400, "invalid_body")
        self.assertIn("orgId", body["details"])
        body = self.assertError(self.delete(MEMBERS, {"orgId": self.org.id}, key=self.key["all"]), 400, "invalid_body")
        self.assertIn("email", body["details"])

    def test_post_and_put_do_not_read_the_query_string(self) -> None:
        r = self.client.put(
            ORG + "?orgId=" + self.org.id + "&name=Sneaky",
            "{}",
            content_type="application/json",
            HTTP_AUTHORIZATION=self.key["all"],
        )
        body = self.assertError(r, 400, "invalid_body")
        self.assertIn("orgId", body["details"])

    def test_get_does_not_read_a_body(self) -> None:
        r = self.client.generic(
            "GET",
            ORG,
            json.dumps({"orgId": "org_missing"}),
            content_type="application/json",
            HTTP_AUTHORIZATION=self.key["all"],
        )
        self.assertEqual(r.status_code, 200, r.content)
        self.assertIn("total", r.json())


# General rules: JSON only --------------------------------------------------------------------


class JsonBodyTestCase(ContractBase):
    def endpoints(self) -> list[tuple[str, str]]:
        kid = ApiKey.objects.filter(user=self.alice).order_by("id").first().pk
        return [
            ("POST", ORG),
            ("PUT", ORG),
            ("POST", MEMBERS),
            ("POST", ACCEPT),
            ("POST", KEYS),
            ("PUT", f"{KEYS}{kid}/"),
        ]

    def test_non_object_bodies_are_invalid_json_parse_body(self) -> None:
        for method, path in self.endpoints():
            for body in ("[]", '[{"name": "abc"}]', '"a string"', "42", "null", "true", "{not json", b"\xff\xfe"):
                with self.subTest(method=method, path=path, body=body):
                    self.assertError(self.raw(method, path, body, self.key["all"]), 400, "invalid_json_parse_body")

    def test_json_with_a_text_plain_content_type_is_read(self) -> None:
        r = self.raw("POST", ORG, {"name": "Plain text"}, self.key["all"], content_type="text/plain")
        self.assertEqual(r.status_code, 201, r.content)
        self.assertEqual(Organization.objects.get(pk=r.json()["id"]).name, "Plain text")

    def test_json_with_no_content_type_is_read(self) -> None:
        r = self.raw("POST", ORG, {"name": "No type"}, self.key["all"], content_type=None)
        self.assertEqual(r.status_code, 201, r.content)
        self.assertEqual(Organization.objects.get(pk=r.json()["id"]).name, "No type")

    def test_json_with_other_content_types_is_read(self) -> None:
        for ctype in ("application/octet-stream", "application/json; charset=utf-8", "text/json", "APPLICATION/JSON"):
            with self.subTest(content_type=ctype):
                r = self.raw("POST", ORG, {"name": "Typed"}, self.key["all"], content_type=ctype)
                self.assertEqual(r.status_code, 201, r.content)
        kid = ApiKey.objects.filter(user=self.alice).first().pk
        r = self.raw("PUT", f"{KEYS}{kid}/", {"name": "plain"}, self.key["all"], content_type="text/plain")
        self.assertEqual(r.status_code, 200, r.content)
        r = self.raw(
            "POST",
            MEMBERS,
            {"orgId": self.org.id, "email": "t@example.org", "role": "read"},
            self.key["all"],
            content_type="text/plain",
        )
        self.assertEqual(r.status_code, 200, r.content)

    def test_a_form_body_is_not_json(self) -> None:
        r = self.raw("POST", ORG, "name=Form", self.key["all"], content_type="application/x-www-form-urlencoded")
        self.assertError(r, 400, "invalid_json_parse_body")
        r = self.raw("POST", ORG, "name=Form", self.key["all"], content_type="multipart/form-data; boundary=x")
        self.assertError(r, 400, "invalid_json_parse_body")

    def test_a_body_over_one_mib_is_413(self) -> None:
        big = json.dumps({"name": "x" * (1024 * 1024 + 10)})
        for method, path in self.endpoints():
            with self.subTest(method=method, path=path):
                self.assertError(self.raw(method, path, big, self.key["all"]), 413, "payload_too_large")

    def test_a_body_just_under_one_mib_is_not_413(self) -> None:
        body = json.dumps({"name": "abc", "website": "https://x.dev/" + "a" * (1024 * 1024 - 200)})
        r = self.raw("POST", ORG, body, self.key["all"])
        self.assertNotEqual(r.status_code, 413)


# General rules: schema and docs ---------------------------------------------------------------


class SchemaTestCase(ContractBase):
    def test_schema_and_docs_need_no_auth(self) -> None:
        r = self.client.get("/api/schema/")
        self.assertEqual(r.status_code, 200)
        self.assertIn(b"openapi: 3", r.content)
        r = self.client.get("/api/schema/", HTTP_ACCEPT="application/json")
        self.assertEqual(r.status_code, 200)
        r = self.client.get("/api/docs/")
        self.assertEqual(r.status_code, 200)
        self.assertIn(b"swagger", r.content.lower())

    def test_schema_and_docs_ignore_a_bad_key(self) -> None:
        self.assertEqual(self.client.get("/api/schema/", HTTP_AUTHORIZATION="junk").status_code, 200)
        self.assertEqual(self.client.get("/api/docs/", HTTP_AUTHORIZATION="junk").status_code, 200)

    def test_schema_lists_every_path(self) -> None:
        text = self.client.get("/api/schema/").content.decode()
        for path in (
            "/organization/",
            "/organization/members/",
            "/organization/members/accept/",
            "/organization/audit/",
            "/apikey/",
        ):
            self.assertIn(path, text)


# Authentication --------------------------------------------------------------------------------


class AuthTestCase(ContractBase):
    def test_every_header_form(self) -> None:
        key = self.key["read"]
        for headers in (
            {"HTTP_AUTHORIZATION": key},
            {"HTTP_AUTHORIZATION": f"Bearer {key}"},
            {"HTTP_CAPGKEY": key},
            {"HTTP_X_API_KEY": key},
        ):
            with self.subTest(headers=list(headers)):
                self.assertEqual(self.client.get(ORG, **headers).status_code, 200)

    def test_no_key_in_the_query_string(self) -> None:
        for name in ("apikey", "key", "capgkey", "authorization", "x-api-key"):
            body = self.assertError(self.client.get(ORG, {name: self.key["read"]}), 401, "no_key_provided")
            self.assertEqual(body["error"], "No API key provided")

    def test_no_key_on_every_endpoint_and_method(self) -> None:
        for method, path in (
            ("get", ORG),
            ("post", ORG),
            ("put", ORG),
            ("delete", ORG),
            ("get", MEMBERS),
            ("post", MEMBERS),
            ("delete", MEMBERS),
            ("post", ACCEPT),
            ("get", AUDIT),
            ("get", KEYS),
            ("post", KEYS),
            ("get", KEYS + "1/"),
            ("put", KEYS + "1/"),
            ("delete", KEYS + "1/"),
        ):
            with self.subTest(method=method, path=path):
                body = self.assertError(getattr(self, method)(path), 401, "no_key_provided")
                self.assertEqual(body["error"], "No API key provided")

    def test_invalid_key_sentence(self) -> None:
        for bad in ("nope", "Bearer nope", "capgo_" + "a" * 60, self.key["all"] + "x", ""):
            with self.subTest(key=bad):
                if not bad:
                    continue
                body = self.assertError(self.get(ORG, key=bad), 401, "invalid_apikey")
                self.assertEqual(body["error"], "Invalid API key")

    def test_revoked_key_is_invalid(self) -> None:
        kid, plaintext = self.new_key_id()
        self.assertEqual(self.get(ORG, key=plaintext).status_code, 200)
        self.client.delete(f"{KEYS}{kid}/", HTTP_AUTHORIZATION=self.key["all"])
        body = self.assertError(self.get(ORG, key=plaintext), 401, "invalid_apikey")
        self.assertEqual(body["error"], "Invalid API key")

    def test_expired_key_on_a_write(self) -> None:
        body = self.assertError(self.post(ORG, {"name": "abc"}, key=self.expired_key), 401, "apikey_expired")
        self.assertEqual(body["error"], "API key has expired")

    def test_session_may_call_the_api_and_needs_csrf_on_unsafe_methods(self) -> None:
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.alice)
        self.assertEqual(client.get(ORG).status_code, 200)
        self.assertEqual(client.get(KEYS).status_code, 200)
        r = client.post(ORG, json.dumps({"name": "Session org"}), content_type="application/json")
        self.assertEqual(r.status_code, 403)
        self.assertEqual(r.json()["status"], "KO")
        self.assertFalse(Organization.objects.filter(name="Session org").exists())

    def test_session_with_csrf_token_may_write(self) -> None:
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.alice)
        client.get("/orgs/")
        token = client.cookies["csrftoken"].value
        r = client.post(
            ORG, json.dumps({"name": "Session org"}), content_type="application/json", HTTP_X_CSRFTOKEN=token
        )
        self.assertEqual(r.status_code, 201, r.content)

    def test_options_and_head(self) -> None:
        self.assertEqual(self.client.head(ORG, HTTP_AUTHORIZATION=self.key["read"]).status_code, 200)
        r = self.client.options(ORG, HTTP_AUTHORIZATION=self.key["read"])
        self.assertIn(r.status_code, (200, 204, 405), r.content)
        if r.status_code == 405:
            self.assertError(r, 405, "method_not_allowed")

    def test_rate_limit_headers_on_keyed_responses(self) -> None:
        for r in (self.get(ORG, key=self.key["all"]), self.get(ORG, {"orgId": "org_nope"}, key=self.key["all"])):
            for header in ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"):
                self.assertIn(header, r.headers)


# Errors ----------------------------------------------------------------------------------------


class ErrorTestCase(ContractBase):
    def test_unknown_api_paths_are_json_404_not_found(self) -> None:
        for path in (
            "/organization/nope/",
            "/organization/nope",
            "/organization/members/accept/x/",
            "/organization/audit/x",
            "/apikey/1/extra/",
            "/apikey/1/2",
            "/organizations/",
            "/apikeys/",
        ):
            with self.subTest(path=path):
                r = self.get(path, key=self.key["all"])
                self.assertError(r, 404, "not_found")
                self.assertEqual(r["Content-Type"], "application/json")

    def test_wrong_method_is_405_method_not_allowed(self) -> None:
        kid = ApiKey.objects.filter(user=self.alice).first().pk
        for method, path in (
            ("PATCH", ORG),
            ("PATCH", "/organization"),
            ("PUT", MEMBERS),
            ("PATCH", MEMBERS),
            ("GET", ACCEPT),
            ("GET", "/organization/members/accept"),
            ("DELETE", ACCEPT),
            ("POST", AUDIT),
            ("DELETE", AUDIT),
            ("PUT", KEYS),
            ("DELETE", KEYS),
            ("DELETE", "/apikey"),
            ("POST", f"{KEYS}{kid}/"),
            ("PATCH", f"/apikey/{kid}"),
        ):
            with self.subTest(method=method, path=path):
                self.assertError(self.raw(method, path, {}, self.key["all"]), 405, "method_not_allowed")

    def test_unknown_fields_are_named(self) -> None:
        for field in ("id", "created_by", "created_at", "customer_id", "bogus"):
            with self.subTest(field=field):
                body = self.assertError(
                    self.post(ORG, {"name": "abcd", field: "x"}, key=self.key["all"]), 400, "invalid_body"
                )
                self.assertIn(field, body["details"])
                body = self.assertError(
                    self.put(ORG, {"orgId": self.org.id, field: "x"}, key=self.key["all"]), 400, "invalid_body"
                )
                self.assertIn(field, body["details"])
        self.org.refresh_from_db()
        self.assertIsNone(self.org.customer_id)
        body = self.assertError(
            self.post(KEYS, {"name": "k", "user_id": str(self.oscar.pk)}, key=self.key["all"]), 400, "invalid_body"
        )
        self.assertIn("user_id", body["details"])
        body = self.assertError(
            self.post(
                MEMBERS,
                {"orgId": self.org.id, "email": "z@example.org", "role": "read", "uid": "x"},
                key=self.key["all"],
            ),
            400,
            "invalid_body",
        )
        self.assertIn("uid", body["details"])

    def test_name_is_required_sentence(self) -> None:
        body = self.assertError(self.post(ORG, {}, key=self.key["all"]), 400, "invalid_body")
        self.assertEqual(body["error"], "Name is required")
        self.assertIn("name", body["details"])
        body = self.assertError(self.post(ORG, {"name": "   "}, key=self.key["all"]), 400, "invalid_body")
        self.assertEqual(body["error"], "Name is required")

    def test_admin_role_required_sentence_and_insufficient_role(self) -> None:
        body = self.assertError(
            self.put(ORG, {"orgId": self.org.id, "name": "Nope"}, key=self.rita_key), 403, "insufficient_role"
        )
        self.assertEqual(body["error"], "Admin role required")
        body = self.assertError(self.delete(ORG, {"orgId": self.org.id}, key=self.wendy_key), 403, "insufficient_role")
        self.assertEqual(body["error"], "Admin role required")
        body = self.assertError(self.get(AUDIT, {"orgId": self.org.id}, key=self.wendy_key), 403, "insufficient_role")
        self.assertEqual(body["error"], "Admin role required")
        body = self.assertError(
            self.post(MEMBERS, {"orgId": self.org.id, "email": "z@example.org", "role": "read"}, key=self.wendy_key),
            403,
            "insufficient_role",
        )
        self.assertEqual(body["error"], "Admin role required")
        body = self.assertError(
            self.delete(MEMBERS, {"orgId": self.org.id, "email": "rita@example.org"}, key=self.wendy_key),
            403,
            "insufficient_role",
        )

    def test_super_admin_actions_by_an_admin_are_insufficient_role(self) -> None:
        self.assertError(
            self.post(
                MEMBERS, {"orgId": self.org.id, "email": "rita@example.org", "role": "super_admin"}, key=self.adam_key
            ),
            403,
            "insufficient_role",
        )
        self.assertError(
            self.post(MEMBERS, {"orgId": self.org.id, "email": "alice@example.org", "role": "read"}, key=self.adam_key),
            403,
            "insufficient_role",
        )
        self.assertError(
            self.delete(MEMBERS, {"orgId": self.org.id, "email": "alice@example.org"}, key=self.adam_key),
            403,
            "insufficient_role",
        )

    def test_org_not_found_for_outsider_on_every_org_endpoint(self) -> None:
        for method, path, data in (
            ("get", ORG, {"orgId": self.org.id}),
            ("put", ORG, {"orgId": self.org.id, "name": "Hack"}),
            ("delete", ORG, {"orgId": self.org.id}),
            ("get", MEMBERS, {"orgId": self.org.id}),
            ("post", MEMBERS, {"orgId": self.org.id, "email": "z@example.org", "role": "read"}),
            ("delete", MEMBERS, {"orgId": self.org.id, "email": "rita@example.org"}),
            ("get", AUDIT, {"orgId": self.org.id}),
        ):
            with self.subTest(method=method, path=path):
                hidden = getattr(self, method)(path, data, key=self.oscar_key)
                body = self.assertError(hidden, 404, "org_not_found")
                self.assertEqual(body["error"], "Organization not found")
                missing = getattr(self, method)(path, {**data, "orgId": "org_doesnotexist"}, key=self.oscar_key)
                self.assertEqual(hidden.json(), missing.json())

    def test_errors_never_carry_extra_top_level_fields(self) -> None:
        for r in (
            self.get(ORG),
            self.get(ORG, {"orgId": "org_x"}, key=self.key["all"]),
            self.post(ORG, {}, key=self.key["all"]),
            self.raw("PATCH", ORG, {}, self.key["all"]),
            self.get("/organization/zzz", key=self.key["all"]),
        ):
            self.assertLessEqual(set(r.json()), {"status", "error", "code", "details"})


# Key modes x roles ---------------------------------------------------------------------------


class KeyModeTestCase(ContractBase):
    def test_read_and_upload_keys_only_get(self) -> None:
        for mode in ("read", "upload"):
            key = self.key[mode]
            with self.subTest(mode=mode):
                self.assertEqual(self.get(ORG, key=key).status_code, 200)
                self.assertEqual(self.get(MEMBERS, {"orgId": self.org.id}, key=key).status_code, 200)
                self.assertEqual(self.get(AUDIT, {"orgId": self.org.id}, key=key).status_code, 200)
                self.assertError(self.post(ORG, {"name": "abc"}, key=key), 403, "key_mode_forbidden")
                self.assertError(
                    self.put(ORG, {"orgId": self.org.id, "name": "abc"}, key=key), 403, "key_mode_forbidden"
                )
                self.assertError(self.delete(ORG, {"orgId": self.org.id}, key=key), 403, "key_mode_forbidden")
                self.assertError(
                    self.post(MEMBERS, {"orgId": self.org.id, "email": "z@example.org", "role": "read"}, key=key),
                    403,
                    "key_mode_forbidden",
                )
                self.assertError(
                    self.delete(MEMBERS, {"orgId": self.org.id, "email": "alice@example.org"}, key=key),
                    403,
                    "key_mode_forbidden",
                )
                self.assertError(self.post(ACCEPT, {"orgId": self.org.id}, key=key), 403, "key_mode_forbidden")
                self.assertError(self.get(KEYS, key=key), 403, "key_mode_forbidden")
                self.assertError(self.post(KEYS, {"name": "k"}, key=key), 403, "key_mode_forbidden")
        self.assertTrue(Organization.objects.filter(pk=self.org.id).exists())

    def test_write_key_manages_orgs_and_members_but_not_keys(self) -> None:
        key = self.key["write"]
        r = self.post(ORG, {"name": "Written"}, key=key)
        self.assertEqual(r.status_code, 201)
        self.assertEqual(self.put(ORG, {"orgId": self.org.id, "name": "Rewritten"}, key=key).status_code, 200)
        self.assertEqual(
            self.post(MEMBERS, {"orgId": self.org.id, "email": "z@example.org", "role": "read"}, key=key).status_code,
            200,
        )
        self.assertEqual(self.get(AUDIT, {"orgId": self.org.id}, key=key).status_code, 200)
        kid = ApiKey.objects.filter(user=self.alice).first().pk
        self.assertError(self.get(KEYS, key=key), 403, "key_mode_forbidden")
        self.assertError(self.post(KEYS, {"name": "k"}, key=key), 403, "key_mode_forbidden")
        self.assertError(self.get(f"{KEYS}{kid}/", key=key), 403, "key_mode_forbidden")
        self.assertError(self.put(f"{KEYS}{kid}/", {"name": "x"}, key=key), 403, "key_mode_forbidden")
        self.assertError(self.client.delete(f"{KEYS}{kid}/", HTTP_AUTHORIZATION=key), 403, "key_mode_forbidden")
        self.assertEqual(self.delete(ORG, {"orgId": r.json()["id"]}, key=key).status_code, 200)

    def test_write_key_of_an_admin_deletes_an_org(self) -> None:
        adam_write = make_key(self.adam, "write")[1]
        r = self.delete(ORG, {"orgId": self.org.id}, key=adam_write)
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json(), {"status": "Organization deleted", "id": self.org.id})

    def test_write_key_of_a_write_member_cannot_delete(self) -> None:
        wendy_write = make_key(self.wendy, "write")[1]
        self.assertError(self.delete(ORG, {"orgId": self.org.id}, key=wendy_write), 403, "insufficient_role")

    def test_read_key_of_an_admin_reads_the_audit_log(self) -> None:
        adam_read = make_key(self.adam, "read")[1]
        r = self.get(AUDIT, {"orgId": self.org.id}, key=adam_read)
        self.assertEqual(r.status_code, 200, r.content)
        self.assertIn("data", r.json())

    def test_read_key_of_a_write_member_cannot_read_the_audit_log(self) -> None:
        wendy_read = make_key(self.wendy, "read")[1]
        self.assertError(self.get(AUDIT, {"orgId": self.org.id}, key=wendy_read), 403, "insufficient_role")

    def test_all_key_of_a_read_member_is_limited_by_role(self) -> None:
        self.assertEqual(self.get(MEMBERS, {"orgId": self.org.id}, key=self.rita_key).status_code, 200)
        self.assertError(
            self.put(ORG, {"orgId": self.org.id, "name": "abc"}, key=self.rita_key), 403, "insufficient_role"
        )
        self.assertError(self.get(AUDIT, {"orgId": self.org.id}, key=self.rita_key), 403, "insufficient_role")

    def test_limited_all_key_cannot_manage_keys(self) -> None:
        self.assertError(self.get(KEYS, key=self.limited_key), 403, "key_mode_forbidden")
        self.assertError(self.post(KEYS, {"name": "x"}, key=self.limited_key), 403, "key_mode_forbidden")

    def test_any_member_may_leave_with_a_write_key(self) -> None:
        rita_write = make_key(self.rita, "write")[1]
        r = self.delete(MEMBERS, {"orgId": self.org.id, "email": "rita@example.org"}, key=rita_write)
        self.assertEqual(r.json(), {"status": "OK"})


# Limited keys ----------------------------------------------------------------------------------


class LimitedKeyTestCase(ContractBase):
    def test_limited_key_sees_only_its_orgs(self) -> None:
        services.organization_create(actor=Principal(self.alice), name="Second")
        body = self.get(ORG, key=self.limited_key).json()
        self.assertEqual([o["id"] for o in body["data"]], [self.org.id])
        self.assertEqual(body["total"], 1)

    def test_key_limited_only_to_deleted_orgs_reaches_nothing(self) -> None:
        doomed = services.organization_create(actor=Principal(self.alice), name="Doomed")
        other = services.organization_create(actor=Principal(self.alice), name="Survivor")
        _k, key = make_key(self.alice, "all", limited_to_orgs=[doomed.id], name="limited to doomed")
        self.assertEqual(self.delete(ORG, {"orgId": doomed.id}, key=self.key["all"]).status_code, 200)
        body = self.get(ORG, key=key).json()
        self.assertEqual((body["data"], body["total"]), ([], 0))
        for org_id in (self.org.id, other.id, doomed.id):
            self.assertError(self.get(ORG, {"orgId": org_id}, key=key), 404, "org_not_found")
            self.assertError(self.get(MEMBERS, {"orgId": org_id}, key=key), 404, "org_not_found")
            self.assertError(self.get(AUDIT, {"orgId": org_id}, key=key), 404, "org_not_found")
            self.assertError(self.put(ORG, {"orgId": org_id, "name": "abc"}, key=key), 404, "org_not_found")
        self.assertNotEqual(self.post(ORG, {"name": "New from dead key"}, key=key).status_code, 201)


# Organizations ---------------------------------------------------------------------------------


class OrganizationContractTestCase(ContractBase):
    def test_list_shape_and_defaults(self) -> None:
        body = self.get(ORG, key=self.key["all"]).json()
        self.assertEqual(set(body), {"data", "page", "limit", "total"})
        self.assertEqual((body["page"], body["limit"], body["total"]), (0, 50, 1))
        self.assertNoSecrets(body)

    def test_list_limit_clamped(self) -> None:
        for limit in (101, 1000, 10**9):
            body = self.get(ORG, {"limit": limit}, key=self.key["all"]).json()
            self.assertEqual(body["limit"], 100)
        self.assertEqual(self.get(ORG, {"limit": 100}, key=self.key["all"]).json()["limit"], 100)
        self.assertEqual(self.get(ORG, {"limit": 7}, key=self.key["all"]).json()["limit"], 7)

    def test_list_limit_clamp_really_returns_100(self) -> None:
        for i in range(105):
            services.organization_create(actor=Principal(self.alice), name=f"Org {i:03}")
        body = self.get(ORG, {"limit": 500}, key=self.key["all"]).json()
        self.assertEqual(len(body["data"]), 100)
        self.assertEqual(body["total"], 106)

    def test_list_excludes_pending_invitations(self) -> None:
        self.post(
            MEMBERS, {"orgId": self.other_org.id, "email": "alice@example.org", "role": "read"}, key=self.oscar_key
        )
        body = self.get(ORG, key=self.key["all"]).json()
        self.assertEqual([o["id"] for o in body["data"]], [self.org.id])

    def test_get_one_shape_and_types(self) -> None:
        data = self.get(ORG, {"orgId": self.org.id}, key=self.key["all"]).json()["data"]
        self.assertTrue(data["id"].startswith("org_"))
        self.assertIsInstance(data["created_by"], str)
        self.assertEqual(data["created_by"], str(self.alice.pk))
        self.assertIsoWithTz(data["created_at"])
        self.assertIsoWithTz(data["updated_at"])
        self.assertIs(data["require_apikey_expiration"], False)
        self.assertNoSecrets(data)

    def test_post_exact_success_body(self) -> None:
        r = self.post(ORG, {"name": "  Brand new  "}, key=self.key["all"])
        self.assertEqual(r.status_code, 201)
        body = r.json()
        self.assertEqual(set(body), {"status", "id"})
        self.assertEqual(body["status"], "Organization created")
        self.assertTrue(body["id"].startswith("org_"))
        org = Organization.objects.get(pk=body["id"])
        self.assertEqual(org.name, "Brand new")
        self.assertEqual(org.management_email, "alice@example.org")
        self.assertEqual(Membership.objects.get(organization=org, user=self.alice).role, Role.SUPER_ADMIN)
        data = self.get(ORG, {"orgId": org.id}, key=self.key["all"]).json()["data"]
        self.assertEqual(data["management_email"], "alice@example.org")

    def test_name_length_after_trim(self) -> None:
        self.assertError(self.post(ORG, {"name": "  ab  "}, key=self.key["all"]), 400, "invalid_body")
        self.assertError(self.post(ORG, {"name": "x" * 101}, key=self.key["all"]), 400, "invalid_body")
        self.assertEqual(self.post(ORG, {"name": "x" * 100}, key=self.key["all"]).status_code, 201)
        self.assertEqual(self.post(ORG, {"name": "abc"}, key=self.key["all"]).status_code, 201)
        self.assertError(self.post(ORG, {"name": 123}, key=self.key["all"]), 400, "invalid_body")
        self.assertError(self.post(ORG, {"name": None}, key=self.key["all"]), 400, "invalid_body")

    def test_markup_stored_and_returned_verbatim(self) -> None:
        name = "<b>Bold</b> & <script>x</script>"
        org_id = self.post(ORG, {"name": name}, key=self.key["all"]).json()["id"]
        self.assertEqual(self.get(ORG, {"orgId": org_id}, key=self.key["all"]).json()["data"]["name"], name)

    def test_website_rules(self) -> None:
        r = self.post(ORG, {"name": "Site", "website": "HTTPS://x.dev"}, key=self.key["all"])
        self.assertEqual(r.status_code, 201, r.content)
        data = self.get(ORG, {"orgId": r.json()["id"]}, key=self.key["all"]).json()["data"]
        self.assertEqual(data["website"], "https://x.dev/")
        for bad in ("ftp://x.dev", "javascript:alert(1)", "https://user:pw@x.dev/", "https://user@x.dev/"):
            with self.subTest(website=bad):
                self.assertError(
                    self.post(ORG, {"name": "Site", "website": bad}, key=self.key["all"]), 400, "invalid_body"
                )

    def test_logo_rules(self) -> None:
        self.assertError(
            self.post(ORG, {"name": "Logo", "logo": "http://x.dev/a.png"}, key=self.key["all"]), 400, "invalid_body"
        )
        r = self.post(ORG, {"name": "Logo", "logo": "https://x.dev/a.png"}, key=self.key["all"])
        self.assertEqual(r.status_code, 201, r.content)
        data = self.get(ORG, {"orgId": r.json()["id"]}, key=self.key["all"]).json()["data"]
        self.assertEqual(data["logo"], "https://x.dev/a.png")

    def test_put_exact_body_partial_update_and_nulls(self) -> None:
        r = self.put(
            ORG, {"orgId": self.org.id, "website": "https://a.dev", "logo": "https://a.dev/l.png"}, key=self.key["all"]
        )
        self.assertEqual(r.status_code, 200, r.content)
        body = r.json()
        self.assertEqual(set(body), {"status", "data"})
        self.assertEqual(body["status"], "Organization updated")
        self.assertEqual(body["data"]["name"], "Alice Org")
        self.assertEqual(body["data"]["website"], "https://a.dev/")
        r = self.put(ORG, {"orgId": self.org.id, "website": None, "logo": None}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        self.assertIsNone(r.json()["data"]["website"])
        self.assertIsNone(r.json()["data"]["logo"])
        self.assertEqual(r.json()["data"]["name"], "Alice Org")

    def test_put_max_expiration_days_range(self) -> None:
        for bad in (0, 366, -1, "5", 1.5, True):
            with self.subTest(value=bad):
                self.assertError(
                    self.put(ORG, {"orgId": self.org.id, "max_apikey_expiration_days": bad}, key=self.key["all"]),
                    400,
                    "invalid_body",
                )
        for good in (1, 365, None):
            r = self.put(ORG, {"orgId": self.org.id, "max_apikey_expiration_days": good}, key=self.key["all"])
            self.assertEqual(r.status_code, 200, r.content)
            self.assertEqual(r.json()["data"]["max_apikey_expiration_days"], good)

    def test_put_by_admin_allowed(self) -> None:
        self.assertEqual(
            self.put(ORG, {"orgId": self.org.id, "name": "Adam was here"}, key=self.adam_key).status_code, 200
        )

    def test_delete_exact_body_and_cascade_and_audit_survives(self) -> None:
        self.post(MEMBERS, {"orgId": self.org.id, "email": "pending@example.org", "role": "read"}, key=self.key["all"])
        r = self.delete(ORG, {"orgId": self.org.id}, key=self.adam_key)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.json(), {"status": "Organization deleted", "id": self.org.id})
        self.assertFalse(Membership.objects.filter(organization_id=self.org.id).exists())
        self.assertFalse(Invitation.objects.filter(organization_id=self.org.id).exists())
        from organizations.models import AuditEvent

        self.assertTrue(AuditEvent.objects.filter(org_id=self.org.id, table_name="orgs", operation="DELETE").exists())


# Members ---------------------------------------------------------------------------------------


class MembersContractTestCase(ContractBase):
    def test_list_shape(self) -> None:
        r = self.get(MEMBERS, {"orgId": self.org.id}, key=self.rita_key)
        self.assertEqual(r.status_code, 200)
        body = r.json()
        self.assertEqual(set(body), {"data"})
        for m in body["data"]:
            self.assertLessEqual({"uid", "email", "image_url", "role", "is_tmp"}, set(m))
            self.assertIsInstance(m["uid"], str)
            self.assertIsInstance(m["is_tmp"], bool)
        self.assertNoSecrets(body)
        roles = {m["email"]: m["role"] for m in body["data"]}
        self.assertEqual(roles["alice@example.org"], "super_admin")
        self.assertEqual(roles["rita@example.org"], "read")

    def test_invite_new_email_is_tmp_with_invite_role(self) -> None:
        r = self.post(MEMBERS, {"orgId": self.org.id, "email": "ghost@example.org", "role": "write"}, key=self.adam_key)
        self.assertEqual(r.status_code, 200, r.content)
        body = r.json()
        self.assertEqual(set(body), {"status", "data"})
        self.assertEqual(body["status"], "OK")
        self.assertEqual(body["data"]["role"], "invite_write")
        self.assertIs(body["data"]["is_tmp"], True)
        self.assertEqual(body["data"]["email"], "ghost@example.org")
        listed = {m["email"]: m for m in self.get(MEMBERS, {"orgId": self.org.id}, key=self.rita_key).json()["data"]}
        self.assertEqual(listed["ghost@example.org"]["role"], "invite_write")

    def test_invite_existing_user_not_tmp_and_aliases(self) -> None:
        make_user("bob@example.org")
        r = self.post(
            MEMBERS,
            {"orgId": self.org.id, "email": "bob@example.org", "invite_type": "invite_upload"},
            key=self.key["all"],
        )
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json()["data"]["role"], "invite_upload")
        self.assertIs(r.json()["data"]["is_tmp"], False)

    def test_invitation_grants_nothing_until_accepted(self) -> None:
        bob = make_user("bob@example.org")
        bob_key = make_key(bob)[1]
        self.post(MEMBERS, {"orgId": self.org.id, "email": "bob@example.org", "role": "admin"}, key=self.key["all"])
        self.assertError(self.get(ORG, {"orgId": self.org.id}, key=bob_key), 404, "org_not_found")
        self.assertError(self.get(AUDIT, {"orgId": self.org.id}, key=bob_key), 404, "org_not_found")
        r = self.post(ACCEPT, {"orgId": self.org.id}, key=bob_key)
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(set(r.json()), {"status", "data"})
        self.assertEqual(r.json()["data"]["role"], "admin")
        self.assertEqual(self.get(AUDIT, {"orgId": self.org.id}, key=bob_key).status_code, 200)
        self.assertError(self.post(ACCEPT, {"orgId": self.org.id}, key=bob_key), 404, "invitation_not_found")

    def test_invite_again_refreshes_expiry(self) -> None:
        self.post(MEMBERS, {"orgId": self.org.id, "email": "ghost@example.org", "role": "read"}, key=self.key["all"])
        inv = Invitation.objects.get(organization=self.org, email="ghost@example.org")
        Invitation.objects.filter(pk=inv.pk).update(expires_at=timezone.now() + timedelta(days=1))
        r = self.post(
            MEMBERS, {"orgId": self.org.id, "email": "ghost@example.org", "role": "read"}, key=self.key["all"]
        )
        self.assertEqual(r.status_code, 200, r.content)
        inv.refresh_from_db()
        self.assertGreater(inv.expires_at, timezone.now() + timedelta(days=6, hours=23))

    def test_expired_invitations_are_not_listed(self) -> None:
        self.post(MEMBERS, {"orgId": self.org.id, "email": "ghost@example.org", "role": "read"}, key=self.key["all"])
        Invitation.objects.filter(email="ghost@example.org").update(expires_at=timezone.now() - timedelta(seconds=1))
        emails = [m["email"] for m in self.get(MEMBERS, {"orgId": self.org.id}, key=self.key["all"]).json()["data"]]
        self.assertNotIn("ghost@example.org", emails)

    def test_change_role_answers_ok_with_member(self) -> None:
        r = self.post(MEMBERS, {"orgId": self.org.id, "email": "rita@example.org", "role": "write"}, key=self.adam_key)
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json()["status"], "OK")
        self.assertEqual(r.json()["data"]["role"], "write")
        self.assertEqual(r.json()["data"]["uid"], str(self.rita.pk))

    def test_invalid_role_and_email(self) -> None:
        self.assertError(
            self.post(MEMBERS, {"orgId": self.org.id, "email": "z@example.org", "role": "owner"}, key=self.key["all"]),
            400,
            "invalid_body",
        )
        self.assertError(
            self.post(MEMBERS, {"orgId": self.org.id, "email": "not-an-email", "role": "read"}, key=self.key["all"]),
            400,
            "invalid_body",
        )
        body = self.assertError(
            self.post(MEMBERS, {"orgId": self.org.id, "email": "z@example.org"}, key=self.key["all"]),
            400,
            "invalid_body",
        )
        self.assertIn("role", body["details"])

    def test_remove_unknown_email_is_member_not_found(self) -> None:
        self.assertError(
            self.delete(MEMBERS, {"orgId": self.org.id, "email": "nobody@example.org"}, key=self.key["all"]),
            404,
            "member_not_found",
        )
        self.assertError(
            self.delete(MEMBERS, {"orgId": self.org.id, "email": "oscar@example.org"}, key=self.key["all"]),
            404,
            "member_not_found",
        )

    def test_cancel_pending_invitation(self) -> None:
        self.post(MEMBERS, {"orgId": self.org.id, "email": "ghost@example.org", "role": "read"}, key=self.key["all"])
        r = self.delete(MEMBERS, {"orgId": self.org.id, "email": "ghost@example.org"}, key=self.key["all"])
        self.assertEqual(r.json(), {"status": "OK"})
        emails = [m["email"] for m in self.get(MEMBERS, {"orgId": self.org.id}, key=self.key["all"]).json()["data"]]
        self.assertNotIn("ghost@example.org", emails)

    def test_last_super_admin(self) -> None:
        body = self.assertError(
            self.delete(MEMBERS, {"orgId": self.org.id, "email": "alice@example.org"}, key=self.key["all"]),
            409,
            "last_super_admin",
        )
        self.assertEqual(body["error"], "Cannot remove the last super admin")
        body = self.assertError(
            self.post(
                MEMBERS, {"orgId": self.org.id, "email": "alice@example.org", "role": "admin"}, key=self.key["all"]
            ),
            409,
            "last_super_admin",
        )
        self.assertEqual(body["error"], "Cannot remove the last super admin")
        self.assertEqual(Membership.objects.get(organization=self.org, user=self.alice).role, Role.SUPER_ADMIN)

    def test_accept_without_invitation(self) -> None:
        body = self.assertError(
            self.post(ACCEPT, {"orgId": self.org.id}, key=self.oscar_key), 404, "invitation_not_found"
        )
        self.assertIsInstance(body["error"], str)
        self.assertError(self.post(ACCEPT, {"orgId": "org_nope"}, key=self.oscar_key), 404, "invitation_not_found")
        self.assertError(self.post(ACCEPT, {"orgId": self.org.id}, key=self.rita_key), 404, "invitation_not_found")
        self.assertError(self.post(ACCEPT, {}, key=self.rita_key), 400, "invalid_body")


# Audit log -------------------------------------------------------------------------------------


class AuditContractTestCase(ContractBase):
    EVENT_FIELDS = {
        "id",
        "created_at",
        "org_id",
        "table_name",
        "record_id",
        "operation",
        "old_record",
        "new_record",
        "changed_fields",
        "actor_type",
        "actor_user_id",
        "actor_user_email",
        "actor_apikey_id",
        "actor_apikey_name",
    }

    def test_shape_and_types(self) -> None:
        self.put(ORG, {"orgId": self.org.id, "name": "Renamed"}, key=self.key["all"])
        self.post(KEYS, {"name": "audited", "limited_to_orgs": [self.org.id]}, key=self.key["all"])
        r = self.get(AUDIT, {"orgId": self.org.id}, key=self.adam_key)
        self.assertEqual(r.status_code, 200)
        body = r.json()
        self.assertEqual(set(body), {"data", "total", "page", "limit"})
        self.assertEqual((body["page"], body["limit"]), (0, 50))
        self.assertNoSecrets(
            [{k: v for k, v in e.items() if k not in ("old_record", "new_record")} for e in body["data"]]
        )
        for e in body["data"]:
            self.assertLessEqual(self.EVENT_FIELDS, set(e))
            self.assertIsoWithTz(e["created_at"])
            self.assertIn(e["table_name"], ("orgs", "org_users", "apikeys"))
            self.assertIn(e["operation"], ("INSERT", "UPDATE", "DELETE"))
            self.assertIn(e["actor_type"], ("user", "apikey", "system"))
            self.assertIsInstance(e["record_id"], str)
            if e["actor_user_id"] is not None:
                self.assertIsInstance(e["actor_user_id"], str)
            if e["actor_apikey_id"] is not None:
                self.assertIsInstance(e["actor_apikey_id"], int)
        times = [e["created_at"] for e in body["data"]]
        self.assertEqual(times, sorted(times, reverse=True))
        update = next(e for e in body["data"] if e["table_name"] == "orgs" and e["operation"] == "UPDATE")
        self.assertEqual(update["record_id"], self.org.id)
        self.assertEqual(update["actor_type"], "apikey")
        key_event = next(e for e in body["data"] if e["table_name"] == "apikeys")
        self.assertEqual(key_event["record_id"], str(ApiKey.objects.get(name="audited").pk))

    def test_audit_records_hold_no_key_material(self) -> None:
        r = self.post(KEYS, {"name": "audited", "limited_to_orgs": [self.org.id]}, key=self.key["all"])
        plaintext = r.json()["apikey"]["key"]
        self.put(f"{KEYS}{r.json()['apikey']['id']}/", {"regenerate": True}, key=self.key["all"])
        text = json.dumps(self.get(AUDIT, {"orgId": self.org.id, "tableName": "apikeys"}, key=self.key["all"]).json())
        self.assertNotIn(plaintext, text)
        self.assertNoSecrets(
            self.get(AUDIT, {"orgId": self.org.id, "tableName": "apikeys"}, key=self.key["all"]).json()
        )

    def test_member_record_id_is_user_id(self) -> None:
        self.post(MEMBERS, {"orgId": self.org.id, "email": "rita@example.org", "role": "write"}, key=self.key["all"])
        data = self.get(
            AUDIT, {"orgId": self.org.id, "tableName": "org_users", "operation": "UPDATE"}, key=self.key["all"]
        ).json()["data"]
        self.assertEqual(data[0]["record_id"], str(self.rita.pk))
        self.assertTrue(all(e["table_name"] == "org_users" and e["operation"] == "UPDATE" for e in data))

    def test_limit_clamped(self) -> None:
        for i in range(105):
            self.put(ORG, {"orgId": self.org.id, "name": f"Name {i:03}"}, key=self.key["all"])
        body = self.get(AUDIT, {"orgId": self.org.id, "limit": 1000}, key=self.key["all"]).json()
        self.assertEqual(body["limit"], 100)
        self.assertEqual(len(body["data"]), 100)
        self.assertGreater(body["total"], 100)

    def test_bad_filters(self) -> None:
        self.assertError(
            self.get(AUDIT, {"orgId": self.org.id, "tableName": "users"}, key=self.key["all"]), 400, "invalid_body"
        )
        self.assertError(
            self.get(AUDIT, {"orgId": self.org.id, "operation": "SELECT"}, key=self.key["all"]), 400, "invalid_body"
        )
        self.assertError(self.get(AUDIT, {}, key=self.key["all"]), 400, "invalid_body")


# API keys --------------------------------------------------------------------------------------


class ApiKeyContractTestCase(ContractBase):
    FIELDS = {
        "id",
        "name",
        "mode",
        "key",
        "key_preview",
        "limited_to_orgs",
        "expires_at",
        "created_at",
        "updated_at",
        "last_used_at",
        "user_id",
    }

    def test_post_exact_shape(self) -> None:
        expires = (timezone.now() + timedelta(days=3)).isoformat()
        r = self.post(
            KEYS, {"name": "new", "limited_to_orgs": [self.org.id], "expires_at": expires}, key=self.key["all"]
        )
        self.assertEqual(r.status_code, 201, r.content)
        body = r.json()
        self.assertEqual(set(body), {"apikey"})
        k = body["apikey"]
        self.assertLessEqual(self.FIELDS, set(k))
        self.assertNoSecrets(body)
        self.assertIsInstance(k["id"], int)
        self.assertIsInstance(k["user_id"], str)
        self.assertEqual(k["user_id"], str(self.alice.pk))
        self.assertEqual(k["mode"], "all")
        self.assertEqual(k["limited_to_orgs"], [self.org.id])
        self.assertIsoWithTz(k["expires_at"])
        self.assertIsoWithTz(k["created_at"])
        self.assertIsoWithTz(k["updated_at"])
        self.assertIsInstance(k["key"], str)
        self.assertIsInstance(k["key_preview"], str)
        self.assertLess(len(k["key_preview"]), len(k["key"]))
        self.assertNotIn(k["key"], k["key_preview"])
        # The plaintext works, and is never shown again.
        self.assertEqual(self.get(ORG, key=k["key"]).status_code, 200)
        listed = next(x for x in self.get(KEYS, key=self.key["all"]).json()["data"] if x["id"] == k["id"])
        self.assertIsNone(listed["key"])
        self.assertEqual(listed["key_preview"], k["key_preview"])
        one = self.get(f"{KEYS}{k['id']}/", key=self.key["all"]).json()
        self.assertEqual(set(one), {"data"})
        self.assertIsNone(one["data"]["key"])
        self.assertIsoWithTz(self.get(f"{KEYS}{k['id']}/", key=self.key["all"]).json()["data"]["created_at"])
        self.assertNotIn(k["key"], json.dumps(self.get(KEYS, key=self.key["all"]).json()))

    def test_last_used_at_is_iso(self) -> None:
        kid, plaintext = self.new_key_id()
        self.get(ORG, key=plaintext)
        data = self.get(f"{KEYS}{kid}/", key=self.key["all"]).json()["data"]
        if data["last_used_at"] is not None:
            self.assertIsoWithTz(data["last_used_at"])

    def test_stored_only_as_hash(self) -> None:
        kid, plaintext = self.new_key_id()
        row = ApiKey.objects.filter(pk=kid).values().get()
        self.assertNotIn(plaintext, json.dumps(row, default=str))

    def test_post_validation(self) -> None:
        body = self.assertError(self.post(KEYS, {}, key=self.key["all"]), 400, "invalid_body")
        self.assertIn("name", body["details"])
        self.assertError(self.post(KEYS, {"name": "k", "mode": "admin"}, key=self.key["all"]), 400, "invalid_body")
        past = (timezone.now() - timedelta(days=1)).isoformat()
        self.assertError(self.post(KEYS, {"name": "k", "expires_at": past}, key=self.key["all"]), 400, "invalid_body")
        self.assertError(
            self.post(KEYS, {"name": "k", "limited_to_orgs": [self.other_org.id]}, key=self.key["all"]),
            404,
            "org_not_found",
        )
        self.assertError(
            self.post(KEYS, {"name": "k", "limited_to_orgs": ["org_nope"]}, key=self.key["all"]), 404, "org_not_found"
        )
        self.assertError(
            self.post(KEYS, {"name": "k", "limited_to_orgs": self.org.id}, key=self.key["all"]), 400, "invalid_body"
        )

    def test_default_mode_all(self) -> None:
        r = self.post(KEYS, {"name": "k"}, key=self.key["all"])
        self.assertEqual(r.json()["apikey"]["mode"], "all")
        self.assertEqual(r.json()["apikey"]["limited_to_orgs"], [])
        self.assertIsNone(r.json()["apikey"]["expires_at"])

    def test_unknown_or_foreign_id_is_apikey_not_found(self) -> None:
        oscar_kid = ApiKey.objects.filter(user=self.oscar).first().pk
        for kid in (999999, oscar_kid, "abc", "1.5", "-1", "99999999999999999999999"):
            with self.subTest(kid=kid):
                self.assertError(self.get(f"{KEYS}{kid}/", key=self.key["all"]), 404, "apikey_not_found")
                self.assertError(self.put(f"{KEYS}{kid}/", {"name": "x"}, key=self.key["all"]), 404, "apikey_not_found")
                self.assertError(
                    self.client.delete(f"{KEYS}{kid}/", HTTP_AUTHORIZATION=self.key["all"]), 404, "apikey_not_found"
                )
        self.assertTrue(ApiKey.objects.filter(pk=oscar_kid, revoked_at__isnull=True).exists())

    def test_put_empty_body(self) -> None:
        kid, _ = self.new_key_id()
        for body in ({}, ""):
            with self.subTest(body=body):
                self.assertError(
                    self.put(f"{KEYS}{kid}/", body, key=self.key["all"]), 400, "no_valid_fields_provided_for_update"
                )
        self.assertError(
            self.put(f"{KEYS}{kid}/", {"regenerate": False}, key=self.key["all"]),
            400,
            "no_valid_fields_provided_for_update",
        )

    def test_put_shape_and_regenerate(self) -> None:
        kid, old = self.new_key_id()
        r = self.put(f"{KEYS}{kid}/", {"name": "renamed"}, key=self.key["all"])
        self.assertEqual(r.status_code, 200)
        self.assertEqual(set(r.json()), {"apikey"})
        self.assertIsNone(r.json()["apikey"]["key"])
        self.assertEqual(self.get(ORG, key=old).status_code, 200)
        r = self.put(f"{KEYS}{kid}/", {"regenerate": True}, key=self.key["all"])
        self.assertEqual(r.status_code, 200)
        new = r.json()["apikey"]["key"]
        self.assertIsInstance(new, str)
        self.assertNotEqual(new, old)
        self.assertError(self.get(ORG, key=old), 401, "invalid_apikey")
        self.assertEqual(self.get(ORG, key=new).status_code, 200)

    def test_put_unknown_field(self) -> None:
        kid, _ = self.new_key_id()
        body = self.assertError(
            self.put(f"{KEYS}{kid}/", {"user_id": str(self.oscar.pk)}, key=self.key["all"]), 400, "invalid_body"
        )
        self.assertIn("user_id", body["details"])

    def test_delete_stops_key_at_once(self) -> None:
        kid, plaintext = self.new_key_id()
        r = self.client.delete(f"{KEYS}{kid}/", HTTP_AUTHORIZATION=self.key["all"])
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.json(), {"success": True})
        self.assertError(self.get(ORG, key=plaintext), 401, "invalid_apikey")
        self.assertError(self.get(f"{KEYS}{kid}/", key=self.key["all"]), 404, "apikey_not_found")

    def test_session_manages_keys(self) -> None:
        self.client.force_login(self.alice)
        r = self.client.post(KEYS, json.dumps({"name": "from session"}), content_type="application/json")
        self.assertEqual(r.status_code, 201, r.content)

    def test_expiry_policy_on_post(self) -> None:
        Organization.objects.filter(pk=self.org.pk).update(
            require_apikey_expiration=True, max_apikey_expiration_days=30
        )
        self.assertError(
            self.post(KEYS, {"name": "k", "limited_to_orgs": [self.org.id]}, key=self.key["all"]),
            400,
            "expiration_required",
        )
        far = (timezone.now() + timedelta(days=31)).isoformat()
        self.assertError(
            self.post(KEYS, {"name": "k", "limited_to_orgs": [self.org.id], "expires_at": far}, key=self.key["all"]),
            400,
            "expiration_exceeds_max",
        )
        near = (timezone.now() + timedelta(days=29)).isoformat()
        self.assertEqual(
            self.post(
                KEYS, {"name": "k", "limited_to_orgs": [self.org.id], "expires_at": near}, key=self.key["all"]
            ).status_code,
            201,
        )

    def test_max_days_without_require_flag(self) -> None:
        Organization.objects.filter(pk=self.org.pk).update(max_apikey_expiration_days=30)
        far = (timezone.now() + timedelta(days=31)).isoformat()
        self.assertError(
            self.post(KEYS, {"name": "k", "limited_to_orgs": [self.org.id], "expires_at": far}, key=self.key["all"]),
            400,
            "expiration_exceeds_max",
        )

    def test_expiry_policy_on_put(self) -> None:
        kid, _ = self.new_key_id()
        Organization.objects.filter(pk=self.org.pk).update(
            require_apikey_expiration=True, max_apikey_expiration_days=30
        )
        self.assertError(
            self.put(f"{KEYS}{kid}/", {"limited_to_orgs": [self.org.id]}, key=self.key["all"]),
            400,
            "expiration_required",
        )
        far = (timezone.now() + timedelta(days=31)).isoformat()
        self.assertError(
            self.put(f"{KEYS}{kid}/", {"limited_to_orgs": [self.org.id], "expires_at": far}, key=self.key["all"]),
            400,
            "expiration_exceeds_max",
        )
        # A limited key whose expiry is then cleared.
        near = (timezone.now() + timedelta(days=5)).isoformat()
        r = self.put(f"{KEYS}{kid}/", {"limited_to_orgs": [self.org.id], "expires_at": near}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        self.assertError(
            self.put(f"{KEYS}{kid}/", {"expires_at": None}, key=self.key["all"]), 400, "expiration_required"
        )

    def test_expiry_policy_at_use(self) -> None:
        Organization.objects.filter(pk=self.org.pk).update(require_apikey_expiration=True)
        for method, path, data in (
            ("get", ORG, {"orgId": self.org.id}),
            ("get", MEMBERS, {"orgId": self.org.id}),
            ("get", AUDIT, {"orgId": self.org.id}),
            ("put", ORG, {"orgId": self.org.id, "name": "abc"}),
            ("delete", ORG, {"orgId": self.org.id}),
            ("post", MEMBERS, {"orgId": self.org.id, "email": "z@example.org", "role": "read"}),
            ("delete", MEMBERS, {"orgId": self.org.id, "email": "rita@example.org"}),
        ):
            with self.subTest(method=method, path=path):
                self.assertError(
                    getattr(self, method)(path, data, key=self.key["all"]), 401, "org_requires_expiring_key"
                )
        # A key with an expiry is fine.
        _k, expiring = make_key(self.alice, "all", expires_at=timezone.now() + timedelta(days=1), name="exp")
        self.assertEqual(self.get(ORG, {"orgId": self.org.id}, key=expiring).status_code, 200)
        # The session is not a key.
        self.client.force_login(self.alice)
        self.assertEqual(self.client.get(ORG, {"orgId": self.org.id}).status_code, 200)


# Command line ----------------------------------------------------------------------------------


class CreateApiKeyCommandTestCase(ContractBase):
    def run_command(self, *args: str) -> tuple[str, str]:
        out, err = StringIO(), StringIO()
        call_command("create_api_key", *args, stdout=out, stderr=err)
        return out.getvalue(), err.getvalue()

    def test_prints_only_the_key_and_creates_the_user(self) -> None:
        out, _err = self.run_command("new@example.org")
        self.assertEqual(len(out.strip().splitlines()), 1)
        plaintext = out.strip()
        self.assertNotIn(" ", plaintext)
        user = User.objects.get(email="new@example.org")
        key = ApiKey.objects.get(user=user)
        self.assertEqual(key.mode, "all")
        r = self.get(ORG, key=plaintext)
        self.assertEqual(r.status_code, 200)

    def test_mode_name_orgs_and_expiry(self) -> None:
        org2 = services.organization_create(actor=Principal(self.alice), name="Second")
        out, _ = self.run_command(
            "alice@example.org",
            "--mode",
            "read",
            "--name",
            "cli",
            "--org",
            self.org.id,
            "--org",
            org2.id,
            "--expires-in-days",
            "3",
        )
        plaintext = out.strip()
        key = ApiKey.objects.get(user=self.alice, name="cli")
        self.assertEqual(key.mode, "read")
        self.assertEqual(sorted(key.limited_org_ids), sorted([self.org.id, org2.id]))
        self.assertIsNotNone(key.expires_at)
        body = self.get(ORG, key=plaintext).json()
        self.assertEqual(sorted(o["id"] for o in body["data"]), sorted([self.org.id, org2.id]))
        self.assertError(self.post(ORG, {"name": "abc"}, key=plaintext), 403, "key_mode_forbidden")

    def test_expires_in_days_zero_or_negative_refused(self) -> None:
        for days in ("0", "-1"):
            with self.subTest(days=days), self.assertRaises(CommandError):
                self.run_command("zero@example.org", "--expires-in-days", days)
        self.assertFalse(ApiKey.objects.filter(user__email="zero@example.org").exists())

    def test_bad_mode_refused(self) -> None:
        with self.assertRaises(CommandError):
            self.run_command("alice@example.org", "--mode", "admin")

    def test_org_not_a_member_refused(self) -> None:
        with self.assertRaises(CommandError):
            self.run_command("alice@example.org", "--org", self.other_org.id)
