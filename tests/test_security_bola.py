"""BOLA, BFLA and mass assignment (OWASP API1, API5, API3): every id-taking parameter, every caller.

For every endpoint and every parameter that names an object (orgId in the query or the body,
a member's email, a key id in the path, the organizations of `limited_to_orgs`), four kinds of
caller are refused with the contract's answer: someone from another organization, a member
whose role is too low, a key whose mode is too low, and a key limited to other organizations.
After each refusal the database is exactly as before (`database_dump`). The last test sends
the same requests with a caller who may, so that none of these refusals comes from a broken
request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from organizations import services
from organizations.models import ApiKey, ApiKeyOrgLimit, AuditEvent, Invitation, Membership, Organization
from organizations.roles import Principal, Role
from tests.base import ApiTestCase, add_member, make_key


def database_dump() -> dict[str, list[Any]]:
    """Every row of the tables the API writes (the audit log by id: it only ever grows).

    `last_used_at` is left out: using a key records the use, which is not a change the caller made.
    """
    dump: dict[str, list[Any]] = {}
    for model in (Organization, Membership, Invitation, ApiKey, ApiKeyOrgLimit):
        rows = list(model.objects.order_by("pk").values())
        for row in rows:
            row.pop("last_used_at", None)
        dump[model.__name__] = rows
    dump["AuditEvent"] = list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True))
    return dump


@dataclass(frozen=True)
class Case:
    label: str
    method: str  # get, post, put, delete (query string), delete_body (JSON body)
    path: str
    data: dict[str, Any] | None
    key: str
    status: int
    code: str
    # The key of a caller who may do exactly this; None when no such caller exists in the cast.
    allowed: str | None = None


class AccessTestCase(ApiTestCase):
    """The cast of tests.base, plus: a third organization of alice's that her limited key does not
    reach, pending invitations, and oscar's own key ids."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.third = services.organization_create(actor=Principal(cls.alice), name="Alice Third")
        add_member(cls.third, cls.rita, Role.READ)
        alice, oscar = Principal(cls.alice), Principal(cls.oscar)
        services.member_invite(actor=alice, org=cls.org, email="pending@example.org", role=Role.WRITE)
        services.member_invite(actor=alice, org=cls.third, email="pending@example.org", role=Role.WRITE)
        # Alice is invited to oscar's organization: only an unlimited key of hers may accept.
        services.member_invite(actor=oscar, org=cls.other_org, email=cls.alice.email, role=Role.READ)
        cls.alice_key_id = ApiKey.objects.filter(user=cls.alice, name="read key").values_list("pk", flat=True)[0]
        cls.oscar_key_id = ApiKey.objects.get(user=cls.oscar).pk

    def send(self, case: Case, key: str | None = None) -> Any:
        key = key or case.key
        if case.method == "delete_body":
            return self.client.delete(
                case.path, json.dumps(case.data), content_type="application/json", HTTP_AUTHORIZATION=key
            )
        return getattr(self, case.method)(case.path, case.data, key=key)

    def assertRefused(self, cases: list[Case]) -> None:  # noqa: N802
        for case in cases:
            with self.subTest(case.label):
                before = database_dump()
                response = self.send(case)
                self.assertError(response, case.status, case.code)
                self.assertEqual(database_dump(), before, f"{case.label} changed the database")

    # The requests -------------------------------------------------------------------------

    def outsider_cases(self) -> list[Case]:
        """Oscar (super_admin of his own organization, key in `all` mode) against alice's objects."""
        o, org, alice_all = self.oscar_key, self.org.id, self.key["all"]
        key_url = f"/apikey/{self.alice_key_id}/"
        nf = (404, "org_not_found")
        return [
            Case("read org by orgId", "get", "/organization/", {"orgId": org}, o, *nf, alice_all),
            Case("update org", "put", "/organization/", {"orgId": org, "name": "Hijacked"}, o, *nf, alice_all),
            Case("delete org (query)", "delete", "/organization/", {"orgId": org}, o, *nf, alice_all),
            Case("delete org (body)", "delete_body", "/organization/", {"orgId": org}, o, *nf, alice_all),
            Case("list members", "get", "/organization/members/", {"orgId": org}, o, *nf, alice_all),
            Case(
                "invite self as super_admin", "post", "/organization/members/",
                {"orgId": org, "email": self.oscar.email, "role": "super_admin"}, o, *nf, alice_all,
            ),
            Case(
                "change a member's role", "post", "/organization/members/",
                {"orgId": org, "email": self.rita.email, "role": "admin"}, o, *nf, alice_all,
            ),
            Case(
                "remove a member", "delete", "/organization/members/",
                {"orgId": org, "email": self.rita.email}, o, *nf, alice_all,
            ),
            Case(
                "remove the super_admin", "delete", "/organization/members/",
                {"orgId": org, "email": self.alice.email}, o, *nf,
            ),
            Case(
                "cancel an invitation", "delete", "/organization/members/",
                {"orgId": org, "email": "pending@example.org"}, o, *nf, alice_all,
            ),
            Case(
                "accept someone else's invitation", "post", "/organization/members/accept/", {"orgId": org}, o,
                404, "invitation_not_found",
            ),
            Case("read the audit log", "get", "/organization/audit/", {"orgId": org}, o, *nf, alice_all),
            Case(
                "someone else's member, by email, through my org", "delete", "/organization/members/",
                {"orgId": self.other_org.id, "email": self.rita.email}, o, 404, "member_not_found",
            ),
            Case("read another user's key", "get", key_url, None, o, 404, "apikey_not_found", alice_all),
            Case("rename another user's key", "put", key_url, {"name": "mine"}, o, 404, "apikey_not_found", alice_all),
            Case(
                "regenerate another user's key", "put", key_url, {"regenerate": True}, o, 404, "apikey_not_found",
                alice_all,
            ),
            Case("delete another user's key", "delete", key_url, None, o, 404, "apikey_not_found", alice_all),
            Case(
                "create a key limited to another org", "post", "/apikey/", {"name": "k", "limited_to_orgs": [org]}, o,
                *nf, alice_all,
            ),
            Case(
                "limit my key to another org", "put", f"/apikey/{self.oscar_key_id}/", {"limited_to_orgs": [org]}, o,
                *nf,
            ),
        ]  # fmt: skip

    def lower_role_cases(self) -> list[Case]:
        """Members of alice's organization whose role is below what the action needs."""
        org, alice_all = self.org.id, self.key["all"]
        ir = (403, "insufficient_role")
        cases = []
        for who, key in (("write", self.wendy_key), ("read", self.rita_key)):
            cases += [
                Case(f"{who}: update org", "put", "/organization/", {"orgId": org, "name": "Renamed"}, key, *ir,
                     alice_all),
                Case(f"{who}: delete org", "delete", "/organization/", {"orgId": org}, key, *ir, alice_all),
                Case(
                    f"{who}: invite", "post", "/organization/members/",
                    {"orgId": org, "email": "new@example.org", "role": "read"}, key, *ir, alice_all,
                ),
                Case(
                    f"{who}: promote self", "post", "/organization/members/",
                    {"orgId": org, "email": self.wendy.email if who == "write" else self.rita.email, "role": "admin"},
                    key, *ir, alice_all,
                ),
                Case(
                    f"{who}: remove the admin", "delete", "/organization/members/",
                    {"orgId": org, "email": self.adam.email}, key, *ir, alice_all,
                ),
                Case(
                    f"{who}: cancel an invitation", "delete", "/organization/members/",
                    {"orgId": org, "email": "pending@example.org"}, key, *ir, alice_all,
                ),
                Case(f"{who}: read the audit log", "get", "/organization/audit/", {"orgId": org}, key, *ir, alice_all),
            ]  # fmt: skip
        a = self.adam_key
        cases += [
            Case(
                "admin: grant super_admin", "post", "/organization/members/",
                {"orgId": org, "email": self.rita.email, "role": "super_admin"}, a, 403, "insufficient_role", alice_all,
            ),
            Case(
                "admin: invite a super_admin", "post", "/organization/members/",
                {"orgId": org, "email": "boss@example.org", "role": "super_admin"}, a, 403, "insufficient_role",
                alice_all,
            ),
            Case(
                "admin: demote the super_admin", "post", "/organization/members/",
                {"orgId": org, "email": self.alice.email, "role": "read"}, a, 403, "insufficient_role",
            ),
            Case(
                "admin: remove the super_admin", "delete", "/organization/members/",
                {"orgId": org, "email": self.alice.email}, a, 403, "insufficient_role",
            ),
        ]  # fmt: skip
        return cases

    def lower_mode_cases(self) -> list[Case]:
        """Alice is super_admin everywhere; her read, upload and write keys may not do what their mode forbids."""
        org, alice_all = self.org.id, self.key["all"]
        km = (403, "key_mode_forbidden")
        key_url = f"/apikey/{self.alice_key_id}/"
        cases = []
        for mode in ("read", "upload"):
            key = self.key[mode]
            cases += [
                Case(f"{mode}: create org", "post", "/organization/", {"name": "New org"}, key, *km, alice_all),
                Case(f"{mode}: update org", "put", "/organization/", {"orgId": org, "name": "Renamed"}, key, *km,
                     alice_all),
                Case(f"{mode}: delete org", "delete", "/organization/", {"orgId": org}, key, *km, alice_all),
                Case(f"{mode}: delete org (body)", "delete_body", "/organization/", {"orgId": org}, key, *km,
                     alice_all),
                Case(
                    f"{mode}: invite", "post", "/organization/members/",
                    {"orgId": org, "email": "new@example.org", "role": "read"}, key, *km, alice_all,
                ),
                Case(
                    f"{mode}: remove a member", "delete", "/organization/members/",
                    {"orgId": org, "email": self.rita.email}, key, *km, alice_all,
                ),
                Case(
                    f"{mode}: accept an invitation", "post", "/organization/members/accept/",
                    {"orgId": self.other_org.id}, key, *km, alice_all,
                ),
            ]  # fmt: skip
        for mode in ("read", "upload", "write"):
            key = self.key[mode]
            cases += [
                Case(f"{mode}: list keys", "get", "/apikey/", None, key, *km, alice_all),
                Case(f"{mode}: create a key", "post", "/apikey/", {"name": "escalate", "mode": "all"}, key, *km,
                     alice_all),
                Case(f"{mode}: read a key", "get", key_url, None, key, *km, alice_all),
                Case(f"{mode}: raise a key's mode", "put", key_url, {"mode": "all"}, key, *km, alice_all),
                Case(f"{mode}: regenerate a key", "put", key_url, {"regenerate": True}, key, *km, alice_all),
                Case(f"{mode}: delete a key", "delete", key_url, None, key, *km, alice_all),
            ]  # fmt: skip
        return cases

    def limited_key_cases(self) -> list[Case]:
        """Alice's `all` key limited to her first organization, against her third one (and oscar's)."""
        third, lk, alice_all = self.third.id, self.limited_key, self.key["all"]
        nf = (404, "org_not_found")
        km = (403, "key_mode_forbidden")
        key_url = f"/apikey/{self.alice_key_id}/"
        return [
            Case("read org", "get", "/organization/", {"orgId": third}, lk, *nf, alice_all),
            Case("update org", "put", "/organization/", {"orgId": third, "name": "Renamed"}, lk, *nf, alice_all),
            Case("delete org", "delete", "/organization/", {"orgId": third}, lk, *nf, alice_all),
            Case("delete org (body)", "delete_body", "/organization/", {"orgId": third}, lk, *nf, alice_all),
            Case("list members", "get", "/organization/members/", {"orgId": third}, lk, *nf, alice_all),
            Case(
                "invite", "post", "/organization/members/",
                {"orgId": third, "email": "new@example.org", "role": "read"}, lk, *nf, alice_all,
            ),
            Case(
                "remove a member", "delete", "/organization/members/",
                {"orgId": third, "email": self.rita.email}, lk, *nf, alice_all,
            ),
            Case(
                "accept an invitation elsewhere", "post", "/organization/members/accept/",
                {"orgId": self.other_org.id}, lk, 404, "invitation_not_found", alice_all,
            ),
            Case("read the audit log", "get", "/organization/audit/", {"orgId": third}, lk, *nf, alice_all),
            Case("list keys", "get", "/apikey/", None, lk, *km, alice_all),
            Case("create a key", "post", "/apikey/", {"name": "unlimited", "mode": "all"}, lk, *km, alice_all),
            Case("read a key", "get", key_url, None, lk, *km, alice_all),
            Case("lift a key's limits", "put", key_url, {"limited_to_orgs": []}, lk, *km, alice_all),
            Case("delete a key", "delete", key_url, None, lk, *km, alice_all),
        ]  # fmt: skip

    def mass_assignment_cases(self) -> list[Case]:
        """Fields no caller may set, even one who may make the change: refused, nothing written."""
        org, k = self.org.id, self.key["all"]
        key_url = f"/apikey/{self.alice_key_id}/"
        ib = (400, "invalid_body")
        return [
            Case("create org with an id", "post", "/organization/", {"name": "Mine", "id": "org_chosen"}, k, *ib),
            Case("create org as someone else", "post", "/organization/",
                 {"name": "Mine", "created_by": str(self.oscar.pk)}, k, *ib),
            Case("create org with a customer", "post", "/organization/", {"name": "Mine", "customer_id": "cus_x"},
                 k, *ib),
            Case("create org backdated", "post", "/organization/",
                 {"name": "Mine", "created_at": "2000-01-01T00:00:00Z"}, k, *ib),
            Case("rename and set customer", "put", "/organization/", {"orgId": org, "name": "New", "customer_id": "c"},
                 k, *ib),
            Case("rename and change creator", "put", "/organization/",
                 {"orgId": org, "name": "New", "created_by": str(self.oscar.pk)}, k, *ib),
            Case("change an org's id", "put", "/organization/", {"orgId": org, "id": "org_other"}, k, *ib),
            Case("invite with a chosen uid", "post", "/organization/members/",
                 {"orgId": org, "email": "n@example.org", "role": "read", "uid": str(self.oscar.pk)}, k, *ib),
            Case("invite as already accepted", "post", "/organization/members/",
                 {"orgId": org, "email": "n@example.org", "role": "read", "is_tmp": False, "status": "accepted"},
                 k, *ib),
            Case("create a key for someone else", "post", "/apikey/", {"name": "k", "user_id": str(self.oscar.pk)},
                 k, *ib),
            Case("create a key with a chosen secret", "post", "/apikey/", {"name": "k", "key": "capgo_x"}, k, *ib),
            Case("create a key with a digest", "post", "/apikey/", {"name": "k", "digest": "0" * 64}, k, *ib),
            Case("move a key to someone else", "put", key_url, {"name": "k", "user_id": str(self.oscar.pk)}, k, *ib),
            Case("mark a key unlimited", "put", key_url, {"name": "k", "is_limited": False}, k, *ib),
            Case("unrevoke a key", "put", key_url, {"name": "k", "revoked_at": None}, k, *ib),
        ]  # fmt: skip


class BolaTestCase(AccessTestCase):
    def test_a_caller_from_another_organization_is_refused_everywhere(self) -> None:
        self.assertRefused(self.outsider_cases())

    def test_an_outsider_sees_the_same_404_as_for_a_missing_organization(self) -> None:
        for path in ("/organization/", "/organization/members/", "/organization/audit/"):
            with self.subTest(path):
                hidden = self.get(path, {"orgId": self.org.id}, key=self.oscar_key)
                missing = self.get(path, {"orgId": "org_" + "0" * 32}, key=self.oscar_key)
                self.assertEqual((hidden.status_code, hidden.json()), (missing.status_code, missing.json()))

    def test_a_limited_key_is_refused_outside_its_organizations(self) -> None:
        self.assertRefused(self.limited_key_cases())

    def test_a_limited_key_lists_only_its_organizations(self) -> None:
        listed = [o["id"] for o in self.get("/organization/", key=self.limited_key).json()["data"]]
        self.assertEqual(listed, [self.org.id])

    def test_a_key_limited_to_a_deleted_organization_reaches_nothing(self) -> None:
        services.organization_delete(actor=None, org=self.org)
        self.assertEqual(self.get("/organization/", key=self.limited_key).json()["data"], [])
        self.assertRefused(self.limited_key_cases())

    def test_a_removed_member_is_refused_on_the_very_next_request(self) -> None:
        self.assertEqual(self.get("/organization/", {"orgId": self.org.id}, key=self.wendy_key).status_code, 200)
        Membership.objects.filter(organization=self.org, user=self.wendy).delete()
        self.assertError(self.get("/organization/", {"orgId": self.org.id}, key=self.wendy_key), 404, "org_not_found")


class BflaTestCase(AccessTestCase):
    def test_a_lower_role_is_refused(self) -> None:
        self.assertRefused(self.lower_role_cases())

    def test_a_lower_key_mode_is_refused(self) -> None:
        self.assertRefused(self.lower_mode_cases())

    def test_a_read_key_of_an_admin_may_still_read_the_audit_log(self) -> None:
        read_key = make_key(self.adam, "read")[1]
        self.assertEqual(self.get("/organization/audit/", {"orgId": self.org.id}, key=read_key).status_code, 200)


class MassAssignmentTestCase(AccessTestCase):
    def test_fields_no_caller_may_set_are_refused_and_named(self) -> None:
        self.assertRefused(self.mass_assignment_cases())
        body = self.post("/organization/", {"name": "Mine", "id": "org_chosen"}, key=self.key["all"]).json()
        self.assertEqual(list(body["details"]), ["id"])

    def test_no_response_carries_a_secret(self) -> None:
        digests = list(ApiKey.objects.values_list("digest", flat=True))
        for path in ("/apikey/", f"/apikey/{self.alice_key_id}/", "/organization/audit/"):
            with self.subTest(path):
                text = self.get(path, {"orgId": self.org.id} if "audit" in path else None, key=self.key["all"]).content
                for secret in [*digests, *self.key.values(), self.alice.password]:
                    self.assertNotIn(secret.encode(), text)
                self.assertNotIn(b"md5$", text)


class ControlTestCase(AccessTestCase):
    def test_every_refused_request_succeeds_for_a_caller_who_may(self) -> None:
        cases = [
            *self.outsider_cases(),
            *self.lower_role_cases(),
            *self.lower_mode_cases(),
            *self.limited_key_cases(),
        ]
        checked = 0
        for case in cases:
            if case.allowed is None:
                continue
            with self.subTest(case.label), transaction.atomic():
                response = self.send(case, key=case.allowed)
                self.assertLess(response.status_code, 300, f"{case.label}: {response.content!r}")
                transaction.set_rollback(True)
            checked += 1
        self.assertGreater(checked, 60)
