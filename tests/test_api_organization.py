"""/organization/: list, get, create, update, delete, through HTTP with the whole cast."""

from __future__ import annotations

import json

from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.verification import is_verified
from organizations import services
from organizations.models import ApiKey, AuditEvent, Membership, Organization, User
from organizations.roles import Principal, Role
from tests.base import ApiTestCase, make_key, make_user

URL = "/organization/"


class OrganizationGetTestCase(ApiTestCase):
    def test_it_returns_one_organization_with_the_contract_fields(self) -> None:
        r = self.get(URL, {"orgId": self.org.id}, key=self.key["read"])
        self.assertEqual(r.status_code, 200)
        data = r.json()["data"]
        self.assertEqual(
            set(data),
            {
                "id", "created_by", "created_at", "updated_at", "logo", "name", "management_email", "customer_id",
                "website", "require_apikey_expiration", "max_apikey_expiration_days", "enforcing_2fa",
                "password_policy_config",
            },
        )  # fmt: skip
        self.assertEqual(data["id"], self.org.id)
        self.assertTrue(data["id"].startswith("org_"))
        self.assertEqual(data["name"], "Alice Org")
        self.assertEqual(data["created_by"], str(self.alice.pk))
        self.assertEqual(data["management_email"], "alice@example.org")
        self.assertTrue(data["created_at"].endswith("Z"))
        self.assertIsNone(data["logo"])

    def test_it_lists_only_my_organizations_with_paging(self) -> None:
        r = self.get(URL, key=self.key["read"])
        self.assertEqual(r.status_code, 200)
        body = r.json()
        self.assertEqual([o["id"] for o in body["data"]], [self.org.id])
        self.assertEqual((body["page"], body["limit"], body["total"]), (0, 50, 1))

    def test_it_orders_by_creation_and_pages(self) -> None:
        for i in range(3):
            services.organization_create(actor=Principal(self.alice), name=f"Extra {i}")
        r = self.get(URL, {"limit": 2, "page": 1}, key=self.key["all"])
        body = r.json()
        self.assertEqual(body["total"], 4)
        self.assertEqual([o["name"] for o in body["data"]], ["Extra 1", "Extra 2"])
        self.assertEqual(self.get(URL, {"limit": 2, "page": 5}, key=self.key["all"]).json()["data"], [])

    def test_it_clamps_limit_to_100(self) -> None:
        self.assertEqual(self.get(URL, {"limit": 100000}, key=self.key["all"]).json()["limit"], 100)

    def test_it_rejects_bad_paging(self) -> None:
        self.assertError(self.get(URL, {"page": "x"}, key=self.key["all"]), 400, "invalid_body")
        self.assertError(self.get(URL, {"limit": "0"}, key=self.key["all"]), 400, "invalid_body")

    def test_an_outsider_gets_the_same_404_as_for_a_missing_org(self) -> None:
        hidden = self.get(URL, {"orgId": self.org.id}, key=self.oscar_key)
        missing = self.get(URL, {"orgId": "org_doesnotexist"}, key=self.oscar_key)
        self.assertError(hidden, 404, "org_not_found")
        self.assertEqual(hidden.json(), missing.json())
        self.assertEqual(hidden.json()["error"], "Organization not found")

    def test_anonymous_gets_401(self) -> None:
        body = self.assertError(self.get(URL), 401, "no_key_provided")
        self.assertEqual(body["error"], "No API key provided")

    def test_an_unknown_key_gets_401(self) -> None:
        self.assertError(self.get(URL, key="capgo_aaaaaaaa_" + "x" * 43), 401, "invalid_apikey")
        self.assertError(self.get(URL, key="not-a-key"), 401, "invalid_apikey")

    def test_an_expired_key_gets_401(self) -> None:
        body = self.assertError(self.get(URL, key=self.expired_key), 401, "apikey_expired")
        self.assertEqual(body["error"], "API key has expired")

    def test_the_key_is_accepted_in_every_documented_header(self) -> None:
        key = self.key["read"]
        for headers in (
            {"HTTP_AUTHORIZATION": key},
            {"HTTP_AUTHORIZATION": f"Bearer {key}"},
            {"HTTP_CAPGKEY": key},
            {"HTTP_X_API_KEY": key},
        ):
            self.assertEqual(self.client.get(URL, **headers).status_code, 200, headers)

    def test_the_key_is_never_read_from_the_query_string(self) -> None:
        self.assertError(self.client.get(URL, {"apikey": self.key["all"]}), 401, "no_key_provided")

    def test_a_limited_key_sees_only_its_organizations(self) -> None:
        services.organization_create(actor=Principal(self.alice), name="Second")
        r = self.get(URL, key=self.limited_key)
        self.assertEqual([o["id"] for o in r.json()["data"]], [self.org.id])

    def test_a_key_limited_to_org_a_cannot_see_org_b(self) -> None:
        second = services.organization_create(actor=Principal(self.alice), name="Second")
        self.assertError(self.get(URL, {"orgId": second.id}, key=self.limited_key), 404, "org_not_found")

    def test_a_key_whose_limited_orgs_are_all_deleted_reaches_nothing(self) -> None:
        doomed = services.organization_create(actor=Principal(self.alice), name="Doomed")
        _key, plaintext = make_key(self.alice, limited_to_orgs=[doomed.id])
        services.organization_delete(actor=Principal(self.alice), org=doomed)
        r = self.get(URL, key=plaintext)
        self.assertEqual(r.json()["data"], [])
        self.assertError(self.get(URL, {"orgId": self.org.id}, key=plaintext), 404, "org_not_found")

    def test_a_pending_invitation_grants_nothing(self) -> None:
        services.member_invite(actor=Principal(self.alice), org=self.org, email="oscar@example.org", role="admin")
        self.assertError(self.get(URL, {"orgId": self.org.id}, key=self.oscar_key), 404, "org_not_found")

    def test_the_org_policy_refuses_keys_without_expiry(self) -> None:
        Organization.objects.filter(pk=self.org.pk).update(require_apikey_expiration=True)
        self.assertError(self.get(URL, {"orgId": self.org.id}, key=self.key["all"]), 401, "org_requires_expiring_key")

    def test_the_list_runs_a_fixed_number_of_queries(self) -> None:
        def count() -> int:
            with CaptureQueriesContext(connection) as ctx:
                self.assertEqual(self.get(URL, {"limit": 100}, key=self.key["read"]).status_code, 200)
            return len(ctx.captured_queries)

        count()  # the first use of a key records last_used_at
        one = count()
        for i in range(199):
            Membership.objects.create(
                organization=Organization.objects.create(name=f"Org {i}", management_email="x@example.org"),
                user=self.alice,
                role=Role.READ,
            )
        with self.assertNumQueries(one):
            r = self.get(URL, {"limit": 100}, key=self.key["read"])
        self.assertEqual(len(r.json()["data"]), 100)
        self.assertEqual(r.json()["total"], 200)

    def test_authenticating_a_key_is_one_query(self) -> None:
        ApiKey.objects.update(last_used_at=None)
        self.get(URL, {"orgId": self.org.id}, key=self.key["read"])  # the first use records last_used_at
        # The key, its user, the membership and the organization in one statement; no write within the minute.
        with self.assertNumQueries(1):
            self.assertEqual(self.get(URL, {"orgId": self.org.id}, key=self.key["read"]).status_code, 200)

    def test_last_used_at_is_written_at_most_once_a_minute(self) -> None:
        ApiKey.objects.update(last_used_at=None)
        self.get(URL, key=self.key["read"])
        first = ApiKey.objects.get(name="read key").last_used_at
        self.assertIsNotNone(first)
        self.get(URL, key=self.key["read"])
        self.assertEqual(ApiKey.objects.get(name="read key").last_used_at, first)


class OrganizationCreateTestCase(ApiTestCase):
    def test_it_creates_an_org_with_the_caller_as_super_admin(self) -> None:
        r = self.post(URL, {"name": "  New Org  ", "website": "HTTPS://x.dev"}, key=self.key["write"])
        self.assertEqual(r.status_code, 201, r.content)
        body = r.json()
        self.assertEqual(body["status"], "Organization created")
        org = Organization.objects.get(pk=body["id"])
        self.assertEqual(org.name, "New Org")
        self.assertEqual(org.website, "https://x.dev/")
        self.assertEqual(org.management_email, "alice@example.org")
        self.assertEqual(org.created_by, self.alice)
        self.assertEqual(Membership.objects.get(organization=org).role, Role.SUPER_ADMIN)
        event = AuditEvent.objects.get(org_id=org.id, table_name="orgs", operation="INSERT")
        self.assertEqual(event.actor_type, "apikey")
        self.assertEqual(event.new_record["name"], "New Org")

    def test_post_works_without_the_trailing_slash(self) -> None:
        r = self.post("/organization", {"name": "No slash"}, key=self.key["all"])
        self.assertEqual(r.status_code, 201)

    def test_a_read_key_gets_403(self) -> None:
        for mode in ("read", "upload"):
            self.assertError(self.post(URL, {"name": "Nope"}, key=self.key[mode]), 403, "key_mode_forbidden")
        self.assertFalse(Organization.objects.filter(name="Nope").exists())

    def test_a_limited_key_creates_no_organization(self) -> None:
        self.assertError(self.post(URL, {"name": "Outside"}, key=self.limited_key), 403, "key_mode_forbidden")
        self.assertFalse(Organization.objects.filter(name="Outside").exists())

    def test_name_is_required(self) -> None:
        body = self.assertError(self.post(URL, {}, key=self.key["all"]), 400, "invalid_body")
        self.assertEqual(body["error"], "Name is required")
        self.assertIn("name", body["details"])

    def test_a_two_character_name_is_refused(self) -> None:
        self.assertError(self.post(URL, {"name": "ab"}, key=self.key["all"]), 400, "invalid_body")
        self.assertError(self.post(URL, {"name": "   abc   x" * 20}, key=self.key["all"]), 400, "invalid_body")

    def test_bad_websites_are_refused(self) -> None:
        bad = (
            "ftp://capgo.app",
            "https://user:pass@capgo.app",
            "javascript:alert(1)",
            "https://",
            "i]x",
            "https://[::1",
        )
        for website in bad:
            self.assertError(
                self.post(URL, {"name": "Web", "website": website}, key=self.key["all"]), 400, "invalid_body"
            )
        self.assertFalse(Organization.objects.filter(name="Web").exists())

    def test_a_logo_must_be_https(self) -> None:
        self.assertError(
            self.post(URL, {"name": "Logo", "logo": "http://x.dev/a.png"}, key=self.key["all"]), 400, "invalid_body"
        )
        r = self.post(URL, {"name": "Logo", "logo": "https://x.dev/a.png"}, key=self.key["all"])
        org_id = r.json()["id"]
        self.assertEqual(
            self.get(URL, {"orgId": org_id}, key=self.key["all"]).json()["data"]["logo"], "https://x.dev/a.png"
        )

    def test_malformed_json_is_refused(self) -> None:
        for body in ("{not json", "[1, 2]", '"a string"'):
            self.assertError(self.post(URL, body, key=self.key["all"]), 400, "invalid_json_parse_body")

    def test_unknown_fields_are_refused(self) -> None:
        for field in ("id", "created_by", "created_at", "customer_id", "nonsense"):
            body = self.assertError(
                self.post(URL, {"name": "Mass", field: "x"}, key=self.key["all"]), 400, "invalid_body"
            )
            self.assertIn(field, body["details"])
        self.assertFalse(Organization.objects.filter(name="Mass").exists())

    def test_markup_in_names_is_stored_verbatim(self) -> None:
        r = self.post(URL, {"name": "<b>Bold</b> & co"}, key=self.key["all"])
        self.assertEqual(Organization.objects.get(pk=r.json()["id"]).name, "<b>Bold</b> & co")

    def test_a_body_over_1_mib_gets_413(self) -> None:
        body = '{"name": "' + "x" * (1024 * 1024 + 10) + '"}'
        self.assertError(self.post(URL, body, key=self.key["all"]), 413, "payload_too_large")


class OrganizationUpdateTestCase(ApiTestCase):
    def test_an_admin_updates_fields_partially(self) -> None:
        r = self.put(
            URL, {"orgId": self.org.id, "name": "Renamed", "website": "https://www.capgo.app/docs"}, key=self.adam_key
        )
        self.assertEqual(r.status_code, 200, r.content)
        body = r.json()
        self.assertEqual(body["status"], "Organization updated")
        self.assertEqual(body["data"]["name"], "Renamed")
        self.assertEqual(body["data"]["website"], "https://www.capgo.app/docs")
        self.assertEqual(body["data"]["management_email"], "alice@example.org")
        event = AuditEvent.objects.get(org_id=self.org.id, table_name="orgs", operation="UPDATE")
        self.assertEqual(event.changed_fields, ["name", "website"])
        self.assertEqual(event.actor_user_id, str(self.adam.pk))

    def test_null_clears_website_and_logo(self) -> None:
        self.put(
            URL, {"orgId": self.org.id, "website": "https://a.dev", "logo": "https://a.dev/l.png"}, key=self.adam_key
        )
        r = self.put(URL, {"orgId": self.org.id, "website": None, "logo": None}, key=self.adam_key)
        self.assertIsNone(r.json()["data"]["website"])
        self.assertIsNone(r.json()["data"]["logo"])

    def test_a_read_member_gets_403(self) -> None:
        body = self.assertError(
            self.put(URL, {"orgId": self.org.id, "name": "Nope"}, key=self.rita_key), 403, "insufficient_role"
        )
        self.assertEqual(body["error"], "Admin role required")
        self.assertError(
            self.put(URL, {"orgId": self.org.id, "name": "Nope"}, key=self.wendy_key), 403, "insufficient_role"
        )
        self.org.refresh_from_db()
        self.assertEqual(self.org.name, "Alice Org")

    def test_a_read_key_gets_403(self) -> None:
        self.assertError(
            self.put(URL, {"orgId": self.org.id, "name": "Nope"}, key=self.key["read"]), 403, "key_mode_forbidden"
        )

    def test_an_outsider_gets_404(self) -> None:
        self.assertError(
            self.put(URL, {"orgId": self.org.id, "name": "Nope"}, key=self.oscar_key), 404, "org_not_found"
        )

    def test_customer_id_and_created_by_cannot_be_changed(self) -> None:
        for field, value in (("customer_id", "cus_evil"), ("created_by", str(self.oscar.pk)), ("id", "org_x")):
            self.assertError(
                self.put(URL, {"orgId": self.org.id, field: value}, key=self.key["all"]), 400, "invalid_body"
            )
        self.org.refresh_from_db()
        self.assertIsNone(self.org.customer_id)
        self.assertEqual(self.org.created_by, self.alice)

    def test_it_validates_the_policy_fields(self) -> None:
        for value in (0, 366, "x"):
            self.assertError(
                self.put(URL, {"orgId": self.org.id, "max_apikey_expiration_days": value}, key=self.key["all"]),
                400,
                "invalid_body",
            )
        r = self.put(
            URL,
            {"orgId": self.org.id, "max_apikey_expiration_days": 90, "require_apikey_expiration": True},
            key=self.key["all"],
        )
        self.assertEqual(r.json()["data"]["max_apikey_expiration_days"], 90)
        self.assertTrue(r.json()["data"]["require_apikey_expiration"])

    def test_org_id_is_required(self) -> None:
        self.assertError(self.put(URL, {"name": "x"}, key=self.key["all"]), 400, "invalid_body")


class OrganizationDeleteTestCase(ApiTestCase):
    def test_an_admin_deletes_the_org_and_the_audit_log_stays(self) -> None:
        r = self.delete(URL, {"orgId": self.org.id}, key=self.adam_key)
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json(), {"status": "Organization deleted", "id": self.org.id})
        self.assertFalse(Organization.objects.filter(pk=self.org.pk).exists())
        self.assertFalse(Membership.objects.filter(organization_id=self.org.id).exists())
        self.assertTrue(AuditEvent.objects.filter(org_id=self.org.id, table_name="orgs", operation="DELETE").exists())
        self.assertTrue(AuditEvent.objects.filter(org_id=self.org.id, table_name="orgs", operation="INSERT").exists())

    def test_every_row_that_goes_with_the_org_gets_an_event(self) -> None:
        services.member_invite(actor=Principal(self.alice), org=self.org, email="new@example.org", role="read")
        key, _plaintext = make_key(self.alice, limited_to_orgs=[self.org.id])
        self.delete(URL, {"orgId": self.org.id}, key=self.key["all"])
        events = AuditEvent.objects.filter(org_id=self.org.id, operation="DELETE", table_name="org_users")
        self.assertEqual(
            sorted(e.old_record["email"] for e in events),
            ["adam@example.org", "alice@example.org", "new@example.org", "rita@example.org", "wendy@example.org"],
        )
        key_event = AuditEvent.objects.get(
            org_id=self.org.id, table_name="apikeys", record_id=str(key.pk), operation="UPDATE"
        )
        self.assertEqual(key_event.old_record["limited_to_orgs"], [self.org.id])
        self.assertEqual(key_event.new_record["limited_to_orgs"], [])
        self.assertEqual(key_event.changed_fields, ["limited_to_orgs"])

    def test_delete_accepts_a_json_body(self) -> None:
        r = self.client.delete(
            URL, f'{{"orgId": "{self.org.id}"}}', content_type="application/json", HTTP_AUTHORIZATION=self.key["write"]
        )
        self.assertEqual(r.status_code, 200, r.content)

    def test_a_read_member_and_a_read_key_get_403(self) -> None:
        self.assertError(self.delete(URL, {"orgId": self.org.id}, key=self.rita_key), 403, "insufficient_role")
        self.assertError(self.delete(URL, {"orgId": self.org.id}, key=self.key["read"]), 403, "key_mode_forbidden")
        self.assertTrue(Organization.objects.filter(pk=self.org.pk).exists())

    def test_an_outsider_gets_404(self) -> None:
        self.assertError(self.delete(URL, {"orgId": self.org.id}, key=self.oscar_key), 404, "org_not_found")
        self.assertTrue(Organization.objects.filter(pk=self.org.pk).exists())


class ErrorEnvelopeTestCase(ApiTestCase):
    def test_extra_query_parameters_are_ignored_but_unknown_body_fields_are_not(self) -> None:
        r = self.get("/organization/members/", {"orgId": self.org.id, "_": "123"}, key=self.key["read"])
        self.assertEqual(r.status_code, 200, r.content)
        r = self.delete(URL, {"orgId": self.org.id, "cachebust": "1"}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        body = {"orgId": self.other_org.id, "cachebust": "1"}
        r = self.client.delete(
            URL, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=self.oscar_key
        )
        self.assertError(r, 400, "invalid_body")

    def test_wrong_method_gets_405_with_the_envelope(self) -> None:
        self.assertError(
            self.client.patch(URL, "{}", content_type="application/json", HTTP_AUTHORIZATION=self.key["all"]),
            405,
            "method_not_allowed",
        )

    def test_an_unknown_path_under_the_api_gets_a_json_404(self) -> None:
        self.assertError(self.get("/organization/nope/", key=self.key["all"]), 404, "not_found")
        self.assertError(self.get("/apikey/1/extra", key=self.key["all"]), 404, "not_found")

    def test_schema_and_docs_need_no_authentication(self) -> None:
        self.assertEqual(self.client.get("/api/schema/").status_code, 200)
        self.assertEqual(self.client.get("/api/docs/").status_code, 200)


class CreateApiKeyCommandTestCase(ApiTestCase):
    def test_it_prints_only_a_working_key(self) -> None:
        from io import StringIO

        from django.core.management import call_command

        out = StringIO()
        call_command("create_api_key", "new@example.org", "--mode", "read", "--expires-in-days", "3", stdout=out)
        plaintext = out.getvalue().strip()
        self.assertEqual(len(plaintext.splitlines()), 1)
        self.assertEqual(self.get(URL, key=plaintext).status_code, 200)
        self.assertEqual(ApiKey.objects.get(user__email="new@example.org").mode, "read")

    def test_it_refuses_zero_days(self) -> None:
        from django.core.management import call_command
        from django.core.management.base import CommandError

        with self.assertRaises(CommandError):
            call_command("create_api_key", "new@example.org", "--expires-in-days", "0")

    def test_it_limits_to_several_orgs(self) -> None:
        from io import StringIO

        from django.core.management import call_command

        second = services.organization_create(actor=Principal(self.alice), name="Second")
        out = StringIO()
        call_command("create_api_key", "alice@example.org", "--org", self.org.id, "--org", second.id, stdout=out)
        r = self.get(URL, key=out.getvalue().strip())
        self.assertEqual({o["id"] for o in r.json()["data"]}, {self.org.id, second.id})


class CreateApiKeyVerificationTestCase(ApiTestCase):
    def test_a_user_the_command_creates_counts_as_verified_and_can_log_in(self) -> None:
        from io import StringIO

        from django.core.management import call_command

        call_command("create_api_key", "cli@example.org", stdout=StringIO())
        user = User.objects.get(email="cli@example.org")
        self.assertTrue(is_verified(user))

    def test_it_refuses_an_existing_account_whose_address_is_not_proved(self) -> None:
        from io import StringIO

        from django.core.management import call_command
        from django.core.management.base import CommandError

        make_user("squatter@example.org", verified=False)
        with self.assertRaisesMessage(CommandError, "not verified"):
            call_command("create_api_key", "squatter@example.org", stdout=StringIO())
        self.assertFalse(ApiKey.objects.filter(user__email="squatter@example.org").exists())


class OneStatementLookupTestCase(ApiTestCase):
    """The key's lookup reads the organization a request names in the same statement; what the
    view acts on is still the organization its parameters name, checked as always."""

    def test_a_query_string_org_does_not_stand_in_for_the_bodys(self) -> None:
        # alice administers `org`, not oscar's `other_org`: naming hers in the query string while
        # the body names his must not let her rename his.
        r = self.put(f"{URL}?orgId={self.org.id}", {"orgId": self.other_org.id, "name": "Taken"}, key=self.key["all"])
        self.assertError(r, 404, "org_not_found")
        self.assertEqual(Organization.objects.get(pk=self.other_org.pk).name, "Oscar Org")
        r = self.put(f"{URL}?orgId={self.other_org.id}", {"orgId": self.org.id, "name": "Mine"}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(Organization.objects.get(pk=self.org.pk).name, "Mine")

    def test_a_membership_ended_since_the_last_request_is_seen_at_once(self) -> None:
        self.assertEqual(self.get(URL, {"orgId": self.org.id}, key=self.key["read"]).status_code, 200)
        Membership.objects.filter(organization=self.org, user=self.alice).update(role=Role.READ)
        r = self.put(URL, {"orgId": self.org.id, "name": "Demoted"}, key=self.key["all"])
        self.assertError(r, 403, "insufficient_role")
        Membership.objects.filter(organization=self.org, user=self.alice).delete()
        self.assertError(self.get(URL, {"orgId": self.org.id}, key=self.key["read"]), 404, "org_not_found")

    def test_an_org_id_with_a_nul_is_refused_with_the_envelope(self) -> None:
        # Read by the key's statement too: PostgreSQL would refuse the NUL with an error (500).
        r = self.get(URL, {"orgId": "org_\x00"}, key=self.key["read"])
        self.assertEqual(r.status_code // 100, 4, r.content)
        self.assertIn("error", r.json())
        r = self.put(URL, {"orgId": "org_\x00", "name": "X"}, key=self.key["all"])
        self.assertEqual(r.status_code // 100, 4, r.content)
