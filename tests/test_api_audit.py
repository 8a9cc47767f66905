"""/organization/audit/: who may read it, what it holds, paging, cost, and that it cannot be rewritten."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from organizations import api_keys, services
from organizations.models import ApiKey, AuditEvent, Invitation, Organization
from organizations.roles import KeyMode, Principal
from tests.base import ApiTestCase, make_key

URL = "/organization/audit/"
ORG_URL = "/organization/"
MEMBERS_URL = "/organization/members/"
EVENT_FIELDS = {
    "id", "created_at", "org_id", "table_name", "record_id", "operation", "old_record", "new_record",
    "changed_fields", "actor_type", "actor_user_id", "actor_user_email", "actor_apikey_id", "actor_apikey_name",
}  # fmt: skip


def key_row(plaintext: str) -> ApiKey:
    return ApiKey.objects.get(lookup=api_keys.parse_lookup(plaintext))


class AuditTestCase(ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        # Rate-limit counters live in the cache, keyed by key id; SQLite reuses ids from class to class.
        cache.clear()


class AuditAccessTestCase(AuditTestCase):
    def audit(self, key: str | None = None, org_id: str | None = None):  # noqa: ANN201
        return self.get(URL, {"orgId": org_id or self.org.id}, key=key)

    def test_admins_and_super_admins_read_the_log(self) -> None:
        for key in (self.key["all"], self.adam_key, self.limited_key):
            r = self.audit(key)
            self.assertEqual(r.status_code, 200, r.content)
            self.assertGreater(r.json()["total"], 0)

    def test_a_read_key_of_an_admin_reads_the_log(self) -> None:
        _key, adam_read = make_key(self.adam, KeyMode.READ)
        for key in (adam_read, self.key["read"], self.key["upload"], self.key["write"]):
            self.assertEqual(self.audit(key).status_code, 200)

    def test_a_browser_session_of_an_admin_reads_the_log(self) -> None:
        self.client.force_login(self.adam)
        self.assertEqual(self.audit().status_code, 200)
        self.client.force_login(self.wendy)
        self.assertError(self.audit(), 403, "insufficient_role")

    def test_write_and_read_members_get_403(self) -> None:
        for key in (self.wendy_key, self.rita_key):
            body = self.assertError(self.audit(key), 403, "insufficient_role")
            self.assertEqual(body["error"], "Admin role required")

    def test_an_outsider_gets_the_same_404_as_for_a_missing_org(self) -> None:
        hidden = self.audit(self.oscar_key)
        self.assertError(hidden, 404, "org_not_found")
        self.assertEqual(hidden.json(), self.audit(self.oscar_key, "org_doesnotexist").json())
        self.assertError(self.audit(self.key["all"], self.other_org.id), 404, "org_not_found")

    def test_a_pending_invitation_grants_nothing(self) -> None:
        services.member_invite(actor=Principal(self.alice), org=self.org, email=self.oscar.email, role="admin")
        self.assertError(self.audit(self.oscar_key), 404, "org_not_found")

    def test_a_key_limited_to_another_org_gets_404(self) -> None:
        second = services.organization_create(actor=Principal(self.alice), name="Second")
        _key, limited = make_key(self.alice, limited_to_orgs=[second.id])
        self.assertError(self.audit(limited), 404, "org_not_found")
        self.assertEqual(self.audit(limited, second.id).status_code, 200)

    def test_anonymous_unknown_and_expired_keys_get_401(self) -> None:
        self.assertError(self.audit(), 401, "no_key_provided")
        self.assertError(self.audit("capgo_aaaaaaaa_" + "x" * 43), 401, "invalid_apikey")
        self.assertError(self.audit(self.expired_key), 401, "apikey_expired")

    def test_org_id_is_required(self) -> None:
        body = self.assertError(self.get(URL, key=self.key["all"]), 400, "invalid_body")
        self.assertIn("orgId", body["details"])

    def test_it_answers_without_the_trailing_slash(self) -> None:
        self.assertEqual(self.get("/organization/audit", {"orgId": self.org.id}, key=self.adam_key).status_code, 200)


class AuditListTestCase(AuditTestCase):
    def list(self, **params: object) -> dict:
        r = self.get(URL, {"orgId": self.org.id, **params}, key=self.adam_key)
        self.assertEqual(r.status_code, 200, r.content)
        return r.json()

    def test_it_returns_events_with_the_contract_fields(self) -> None:
        body = self.list()
        self.assertEqual(set(body), {"data", "total", "page", "limit"})
        self.assertEqual((body["page"], body["limit"]), (0, 50))
        for event in body["data"]:
            self.assertEqual(set(event), EVENT_FIELDS)
            self.assertEqual(event["org_id"], self.org.id)
            self.assertIn(event["table_name"], ("orgs", "org_users", "apikeys"))
            self.assertIn(event["operation"], ("INSERT", "UPDATE", "DELETE"))
            self.assertIn(event["actor_type"], ("user", "apikey", "system"))
            self.assertIsInstance(event["record_id"], str)
            self.assertTrue(event["created_at"].endswith("Z"))
        created = next(e for e in body["data"] if e["table_name"] == "orgs" and e["operation"] == "INSERT")
        self.assertEqual(created["record_id"], self.org.id)
        self.assertEqual(created["new_record"]["name"], "Alice Org")
        self.assertIsNone(created["old_record"])
        self.assertEqual((created["actor_type"], created["actor_user_id"]), ("user", str(self.alice.pk)))
        self.assertEqual(created["actor_user_email"], self.alice.email)

    def test_it_shows_only_this_organizations_events(self) -> None:
        services.organization_update(actor=Principal(self.oscar), org=self.other_org, changes={"name": "Oscar 2"})
        make_key(self.alice, name="unlimited")  # an unlimited key's events have no organization
        body = self.list(limit=100)
        self.assertEqual(body["total"], AuditEvent.objects.filter(org_id=self.org.id).count())
        self.assertEqual({e["org_id"] for e in body["data"]}, {self.org.id})
        self.assertTrue(AuditEvent.objects.filter(org_id=None, table_name="apikeys").exists())

    def test_newest_first(self) -> None:
        for i in range(3):
            services.organization_update(actor=Principal(self.alice), org=self.org, changes={"name": f"Name {i}"})
        data = self.list()["data"]
        self.assertEqual(data[0]["new_record"]["name"], "Name 2")
        self.assertEqual(data[1]["new_record"]["name"], "Name 1")
        stamps = [(e["created_at"], e["id"]) for e in data]
        self.assertEqual(stamps, sorted(stamps, reverse=True))

    def test_filters_by_table_and_operation(self) -> None:
        services.organization_update(actor=Principal(self.alice), org=self.org, changes={"name": "Renamed"})
        for params in (
            {"tableName": "apikeys"},
            {"tableName": "orgs"},
            {"tableName": "org_users"},
            {"operation": "UPDATE"},
            {"operation": "INSERT", "tableName": "orgs"},
        ):
            body = self.list(**params)
            expected = AuditEvent.objects.filter(org_id=self.org.id)
            if "tableName" in params:
                expected = expected.filter(table_name=params["tableName"])
            if "operation" in params:
                expected = expected.filter(operation=params["operation"])
            self.assertGreater(body["total"], 0, params)
            self.assertEqual(body["total"], expected.count(), params)
            self.assertEqual({e["id"] for e in body["data"]}, set(expected.values_list("id", flat=True)), params)
        self.assertEqual(self.list(tableName="orgs", operation="DELETE")["total"], 0)

    def test_bad_filters_are_refused(self) -> None:
        for params in ({"tableName": "users"}, {"operation": "SELECT"}, {"operation": "update"}):
            r = self.get(URL, {"orgId": self.org.id, **params}, key=self.adam_key)
            self.assertError(r, 400, "invalid_body")

    def test_pages_and_an_exact_total(self) -> None:
        for i in range(7):
            services.organization_update(actor=Principal(self.alice), org=self.org, changes={"name": f"Name {i}"})
        total = AuditEvent.objects.filter(org_id=self.org.id).count()
        everything = [e["id"] for e in self.list(limit=100)["data"]]
        self.assertEqual(len(everything), total)
        first, second = self.list(limit=3), self.list(limit=3, page=1)
        self.assertEqual((first["total"], second["total"]), (total, total))
        self.assertEqual((second["page"], second["limit"]), (1, 3))
        self.assertEqual([e["id"] for e in first["data"] + second["data"]], everything[:6])
        self.assertEqual(self.list(limit=3, page=1000)["data"], [])

    def test_limit_is_clamped_to_100(self) -> None:
        self.assertEqual(self.list(limit=1000)["limit"], 100)
        for params in ({"limit": 0}, {"limit": "x"}, {"page": -1}):
            self.assertError(self.get(URL, {"orgId": self.org.id, **params}, key=self.adam_key), 400, "invalid_body")

    def test_the_list_runs_a_fixed_number_of_queries(self) -> None:
        now = timezone.now()
        AuditEvent.objects.bulk_create(
            AuditEvent(
                org_id=self.org.id, table_name="orgs", record_id=self.org.id, operation="UPDATE",
                old_record={"name": "a"}, new_record={"name": "b"}, changed_fields=["name"],
                actor_type="system", created_at=now - timedelta(seconds=i),
            )
            for i in range(150)
        )  # fmt: skip
        self.list(limit=1)  # the first use of a key records last_used_at

        def count(limit: int) -> int:
            with CaptureQueriesContext(connection) as ctx:
                self.assertEqual(len(self.list(limit=limit)["data"]), limit)
            return len(ctx.captured_queries)

        self.assertEqual(count(1), count(100))
        with self.assertNumQueries(count(1)):
            self.list(limit=100, page=1)


class AuditCoverageTestCase(AuditTestCase):
    """One story through HTTP; every change in it shows up in the log, with the right actor."""

    def events(self, org_id: str) -> list[dict]:
        """The log as alice's browser session reads it (her keys may be refused by the org's policy)."""
        self.client.force_login(self.alice)
        r = self.get(URL, {"orgId": org_id, "limit": 100})
        self.client.logout()
        self.assertEqual(r.status_code, 200, r.content)
        return list(reversed(r.json()["data"]))  # oldest first, to read as a story

    def test_organization_member_invitation_and_key_changes_are_all_logged(self) -> None:
        all_key = key_row(self.key["all"])
        self.client.force_login(self.alice)
        org_id = self.post(ORG_URL, {"name": "Story"}).json()["id"]  # browser user
        self.client.logout()

        key = self.key["all"]
        r = self.put(ORG_URL, {"orgId": org_id, "name": "Story 2", "website": "https://story.dev"}, key=key)
        self.assertEqual(r.status_code, 200, r.content)
        self.post(MEMBERS_URL, {"orgId": org_id, "email": self.adam.email, "role": "write"}, key=key)
        invitation = Invitation.objects.get(organization_id=org_id, email=self.adam.email)
        self.assertEqual(self.post(MEMBERS_URL + "accept/", {"orgId": org_id}, key=self.adam_key).status_code, 200)
        self.post(MEMBERS_URL, {"orgId": org_id, "email": self.adam.email, "role": "admin"}, key=key)
        self.delete(MEMBERS_URL, {"orgId": org_id, "email": self.adam.email}, key=key)
        self.post(MEMBERS_URL, {"orgId": org_id, "email": "new@example.org", "role": "read"}, key=key)
        self.delete(MEMBERS_URL, {"orgId": org_id, "email": "new@example.org"}, key=key)
        key_id = self.post("/apikey/", {"name": "Story key", "limited_to_orgs": [org_id]}, key=key).json()["apikey"][
            "id"
        ]
        org = Organization.objects.get(pk=org_id)
        services.organization_update(actor=None, org=org, changes={"management_email": "ops@example.org"})

        story = [(e["table_name"], e["operation"], e["record_id"], e["actor_type"]) for e in self.events(org_id)]
        alice, adam = str(self.alice.pk), str(self.adam.pk)
        new_invitation = str(Invitation.objects.get(organization_id=org_id, email="new@example.org").id)
        self.assertEqual(
            story,
            [
                ("orgs", "INSERT", org_id, "user"),
                ("org_users", "INSERT", alice, "user"),
                ("orgs", "UPDATE", org_id, "apikey"),
                ("org_users", "INSERT", str(invitation.id), "apikey"),  # the invitation
                ("org_users", "UPDATE", str(invitation.id), "apikey"),  # accepted (by adam's key)
                ("org_users", "INSERT", adam, "apikey"),  # the membership
                ("org_users", "UPDATE", adam, "apikey"),  # role change
                ("org_users", "DELETE", adam, "apikey"),
                ("org_users", "INSERT", new_invitation, "apikey"),
                ("org_users", "UPDATE", new_invitation, "apikey"),  # cancelled
                ("apikeys", "INSERT", str(key_id), "apikey"),
                ("orgs", "UPDATE", org_id, "system"),
            ],
        )

        events = self.events(org_id)
        by_user, updated = events[0], events[2]
        self.assertEqual((by_user["actor_user_id"], by_user["actor_user_email"]), (alice, self.alice.email))
        self.assertIsNone(by_user["actor_apikey_id"])
        self.assertEqual((updated["actor_apikey_id"], updated["actor_apikey_name"]), (all_key.pk, "all key"))
        self.assertEqual(updated["actor_user_id"], alice)
        self.assertEqual(updated["changed_fields"], ["name", "website"])
        self.assertEqual((updated["old_record"]["name"], updated["new_record"]["name"]), ("Story", "Story 2"))
        accepted_by = events[4]
        self.assertEqual((accepted_by["actor_user_id"], accepted_by["actor_apikey_name"]), (adam, "all key"))
        self.assertEqual(accepted_by["changed_fields"], ["status"])
        self.assertEqual(events[6]["changed_fields"], ["role"])
        self.assertEqual((events[6]["old_record"]["role"], events[6]["new_record"]["role"]), ("write", "admin"))
        self.assertIsNone(events[7]["new_record"])
        self.assertEqual(events[9]["changed_fields"], ["status"])
        by_system = events[11]
        self.assertEqual(by_system["changed_fields"], ["management_email"])
        for field in ("actor_user_id", "actor_user_email", "actor_apikey_id", "actor_apikey_name"):
            self.assertIsNone(by_system[field])

        # Deleting the organization is logged too, and the log outlives it.
        count = AuditEvent.objects.filter(org_id=org_id).count()
        self.assertEqual(self.delete(ORG_URL, {"orgId": org_id}, key=key).status_code, 200)
        after = AuditEvent.objects.filter(org_id=org_id)
        # alice's membership, the story key losing its limit to this org, then the organization.
        self.assertEqual(after.count(), count + 3)
        self.assertEqual(
            list(after.order_by("-id").values_list("table_name", "operation", "record_id")[:3]),
            [("orgs", "DELETE", org_id), ("apikeys", "UPDATE", str(key_id)), ("org_users", "DELETE", alice)],
        )
        self.assertEqual(after.get(table_name="orgs", operation="DELETE").old_record["name"], "Story 2")
        self.assertError(self.get(URL, {"orgId": org_id}, key=key), 404, "org_not_found")

    def test_changed_fields_lists_exactly_what_changed(self) -> None:
        self.client.force_login(self.alice)  # her keys have no expiry
        for body in (
            {"name": "Alice Org", "require_apikey_expiration": True},
            {"max_apikey_expiration_days": 30, "website": None},
        ):
            self.assertEqual(self.put(ORG_URL, {"orgId": self.org.id, **body}).status_code, 200)
        updates = [e for e in self.events(self.org.id) if (e["table_name"], e["operation"]) == ("orgs", "UPDATE")]
        self.assertEqual(
            [e["changed_fields"] for e in updates], [["require_apikey_expiration"], ["max_apikey_expiration_days"]]
        )
        self.assertEqual(updates[1]["new_record"]["max_apikey_expiration_days"], 30)

    def test_an_update_that_changes_nothing_writes_no_event(self) -> None:
        count = AuditEvent.objects.count()
        r = self.put(ORG_URL, {"orgId": self.org.id, "name": "Alice Org"}, key=self.key["all"])
        self.assertEqual(r.status_code, 200)
        self.assertEqual(AuditEvent.objects.count(), count)


class AuditAppendOnlyTestCase(AuditTestCase):
    def test_the_api_has_no_route_to_change_or_delete_events(self) -> None:
        event = AuditEvent.objects.filter(org_id=self.org.id).first()
        before = list(AuditEvent.objects.values().order_by("id"))
        query = f"?orgId={self.org.id}&id={event.pk}"
        for method in ("post", "put", "patch", "delete"):
            r = getattr(self.client, method)(
                URL + query, json.dumps({"orgId": self.org.id, "id": event.pk}), content_type="application/json",
                HTTP_AUTHORIZATION=self.key["all"],
            )  # fmt: skip
            self.assertError(r, 405, "method_not_allowed")
        for method in ("get", "put", "delete"):
            r = getattr(self.client, method)(f"{URL}{event.pk}/", HTTP_AUTHORIZATION=self.key["all"])
            self.assertError(r, 404, "not_found")
        self.assertEqual(list(AuditEvent.objects.values().order_by("id")), before)

    def test_the_log_outlives_the_organization(self) -> None:
        ids = set(AuditEvent.objects.filter(org_id=self.org.id).values_list("id", flat=True))
        self.assertEqual(self.delete(ORG_URL, {"orgId": self.org.id}, key=self.adam_key).status_code, 200)
        self.assertFalse(Organization.objects.filter(pk=self.org.pk).exists())
        left = set(AuditEvent.objects.filter(org_id=self.org.id).values_list("id", flat=True))
        self.assertLess(ids, left)
        deleted = AuditEvent.objects.get(org_id=self.org.id, table_name="orgs", operation="DELETE")
        self.assertEqual((deleted.actor_type, deleted.actor_user_id), ("apikey", str(self.adam.pk)))

    @pytest.mark.postgres
    def test_postgresql_refuses_update_and_delete_on_the_table(self) -> None:
        event = AuditEvent.objects.filter(org_id=self.org.id).order_by("id").first()
        before = AuditEvent.objects.values().get(pk=event.pk)
        count = AuditEvent.objects.count()
        table = AuditEvent._meta.db_table
        attempts = [
            lambda: AuditEvent.objects.filter(pk=event.pk).update(record_id="forged"),
            lambda: AuditEvent.objects.filter(pk=event.pk).delete(),
            lambda: AuditEvent.objects.all().delete(),
            lambda: event.delete(),
            lambda: AuditEvent(**{**before, "actor_type": "system"}).save(),
        ]
        for attempt in attempts:
            with self.assertRaises(DatabaseError), transaction.atomic():
                attempt()
        for sql in (f"UPDATE {table} SET org_id = NULL", f"DELETE FROM {table}"):  # noqa: S608
            with self.assertRaises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql)
        self.assertEqual(AuditEvent.objects.values().get(pk=event.pk), before)
        self.assertEqual(AuditEvent.objects.count(), count)
