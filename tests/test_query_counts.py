"""Every API endpoint runs a fixed number of queries, whatever the number of rows it touches.

Each count includes the key lookup. A key's first use in a minute writes `last_used_at` once
more; the tests use keys already used this minute, except the test of that rule itself.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from organizations import access, services
from organizations.access import ORGANIZATION_VALUES
from organizations.api.serializers import organization_json, organization_row_json
from organizations.models import ApiKey, ApiKeyOrgLimit, AuditEvent, Invitation, Membership, Organization, User
from organizations.roles import Principal, Role
from tests.base import ApiTestCase, add_member, make_key, make_user

ORG_URL = "/organization/"
MEMBERS_URL = "/organization/members/"
AUDIT_URL = "/organization/audit/"
KEYS_URL = "/apikey/"
MANY = 200
# Key with organization and role (one statement), the lock, memberships, invitations, limited keys, the audit events
# in one statement, the organization's enabled webhooks (the outbox), then the cascade (one
# statement per related table, the webhooks detached, the single sign-on connection and domains),
# savepoints.
DELETE_ORG_QUERIES = 16
# Every write that records audit events asks once whether the organization has an enabled
# webhook for them (the webhooks outbox, written in the same transaction): one indexed query.
WEBHOOK_LOOKUP = 1


def add_people(org: Organization, count: int, prefix: str) -> list[User]:
    """`count` accepted members of `org`, written in three statements."""
    users = User.objects.bulk_create(
        [User(email=f"{prefix}{n}@example.org", password="!unusable") for n in range(count)]  # noqa: S106
    )
    Membership.objects.bulk_create([Membership(organization=org, user=user, role=Role.READ) for user in users])
    return users


def add_invitations(org: Organization, count: int, prefix: str) -> None:
    expires = timezone.now() + timedelta(days=7)
    Invitation.objects.bulk_create(
        [
            Invitation(
                organization=org,
                email=f"{prefix}{n}@example.org",
                role=Role.READ,
                token_hash=hashlib.sha256(f"{prefix}{n}".encode()).hexdigest(),
                expires_at=expires,
            )
            for n in range(count)
        ]
    )


class QueryCountTestCase(ApiTestCase):
    def setUp(self) -> None:
        cache.clear()  # rate-limit counters from other tests
        # Used this minute: no last_used_at write in the counts below.
        ApiKey.objects.update(last_used_at=timezone.now())


class OrganizationQueryCountsTestCase(QueryCountTestCase):
    def test_get_one_organization_is_one_query(self) -> None:
        # The key with its user, the organization and the caller's role: one statement.
        with self.assertNumQueries(1):
            r = self.get(ORG_URL, {"orgId": self.org.id}, key=self.key["read"])
        self.assertEqual(r.status_code, 200)

    def test_the_list_is_two_queries_for_1_or_200_organizations(self) -> None:
        # The key, then the page with the total (COUNT(*) OVER ()).
        with self.assertNumQueries(2):
            r = self.get(ORG_URL, key=self.oscar_key)
        self.assertEqual(r.json()["total"], 1)
        for n in range(MANY - 1):
            org = Organization.objects.create(name=f"Oscar {n}", management_email="o@example.org")
            add_member(org, self.oscar, Role.READ)
        with self.assertNumQueries(2):
            r = self.get(ORG_URL, {"limit": 100}, key=self.oscar_key)
        body = r.json()
        self.assertEqual((len(body["data"]), body["total"]), (100, MANY))

    def test_a_page_past_the_end_counts_separately(self) -> None:
        with self.assertNumQueries(3):
            r = self.get(ORG_URL, {"page": 5}, key=self.oscar_key)
        self.assertEqual((r.json()["data"], r.json()["total"]), ([], 1))

    def test_list_rows_serialize_exactly_like_a_single_organization(self) -> None:
        row = Organization.objects.filter(pk=self.org.pk).values(*ORGANIZATION_VALUES).get()
        self.assertEqual(organization_row_json(row, None), organization_json(self.org, None))

    def test_the_lists_statement_sees_what_the_queryset_sees(self) -> None:
        # The API's page is hand-written SQL (access.visible_organizations_page); the pages use the
        # queryset. Both are the tenant wall: the same organizations, in the same order, for an
        # unlimited key, a limited one, a session, and pages past the end.
        others = [services.organization_create(actor=Principal(self.alice), name=f"Other {n}") for n in range(3)]
        outside = services.organization_create(actor=Principal(self.oscar), name="Not alice's")
        limited = make_key(self.alice, limited_to_orgs=[others[0].id, others[2].id])[0]
        ApiKeyOrgLimit.objects.create(api_key=limited, organization=outside)  # as if alice had left it
        for principal in [Principal(self.alice), Principal(self.alice, api_key=limited), Principal(self.oscar)]:
            expected = list(access.visible_organizations(principal).values(*ORGANIZATION_VALUES))
            for page, limit in [(0, 50), (0, 2), (1, 2), (7, 2)]:
                with self.subTest(key=principal.api_key, page=page, limit=limit):
                    self.assertEqual(
                        access.visible_organizations_page(principal, page, limit),
                        (expected[page * limit : (page + 1) * limit], len(expected)),
                    )
        self.assertEqual(
            [row["id"] for row in access.visible_organizations_page(Principal(self.alice, api_key=limited), 0, 50)[0]],
            [others[0].id, others[2].id],
        )

    def test_create(self) -> None:
        # Key; the organization, its first membership and their two audit events; savepoints.
        with self.assertNumQueries(7):
            r = self.post(ORG_URL, {"name": "Counted"}, key=self.key["all"])
        self.assertEqual(r.status_code, 201)

    def test_update(self) -> None:
        # Key with organization and role, the lock, the update, its audit event, savepoints.
        with self.assertNumQueries(6 + WEBHOOK_LOOKUP):
            r = self.put(ORG_URL, {"orgId": self.org.id, "name": "Renamed"}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)

    def delete_with_members(self, size: int) -> None:
        org = services.organization_create(actor=Principal(self.oscar), name=f"Doomed {size}")
        add_people(org, size - 1, f"doomed{size}-")
        add_invitations(org, size, f"doomed-invite{size}-")
        with self.assertNumQueries(DELETE_ORG_QUERIES):
            r = self.delete(ORG_URL, {"orgId": org.id}, key=self.oscar_key)
        self.assertEqual(r.status_code, 200, r.content)
        self.assertFalse(Membership.objects.filter(organization_id=org.id).exists())

    def test_delete(self) -> None:
        self.delete_with_members(1)

    @pytest.mark.postgres
    def test_delete_is_the_same_with_200_members_and_invitations(self) -> None:
        # PostgreSQL only: SQLite caps a statement's parameters, so there bulk_create splits
        # the 400 audit events into several INSERTs.
        self.delete_with_members(MANY)


class MembersQueryCountsTestCase(QueryCountTestCase):
    # The caller's role comes with the organization (access.org_for): member changes do not ask again.
    def test_the_member_list_is_the_same_for_4_or_200_members_with_invitations(self) -> None:
        # Key with organization and role; the members and the pending invitations with their accounts.
        add_invitations(self.org, 1, "pending-")
        with self.assertNumQueries(2):
            r = self.get(MEMBERS_URL, {"orgId": self.org.id}, key=self.key["read"])
        self.assertEqual(len(r.json()["data"]), 5)
        add_people(self.org, MANY, "member-")
        add_invitations(self.org, MANY, "more-pending-")
        with self.assertNumQueries(2):
            r = self.get(MEMBERS_URL, {"orgId": self.org.id}, key=self.key["read"])
        self.assertEqual(len(r.json()["data"]), 4 + MANY + 1 + MANY)

    def test_invite(self) -> None:
        # Key with organization and role; the lock, then the address's membership, account and pending
        # invitation (read after the lock, never with it: tests/test_concurrency.py); the invitation and
        # its audit event; the invitation email, stored with it; savepoints.
        # (Sent by a task after the commit: with the immediate backend of the tests, no query of its own.)
        with self.captureOnCommitCallbacks(execute=True), self.assertNumQueries(8 + WEBHOOK_LOOKUP):
            r = self.post(MEMBERS_URL, {"orgId": self.org.id, "email": "new@example.org", "role": "read"},
                          key=self.key["all"])  # fmt: skip
        self.assertEqual(r.status_code, 200, r.content)

    def test_change_a_role(self) -> None:
        # Key with organization and role; the lock, then the membership; the super_admin check, the
        # update, its audit event; savepoints.
        with self.assertNumQueries(7 + WEBHOOK_LOOKUP):
            r = self.post(MEMBERS_URL, {"orgId": self.org.id, "email": self.rita.email, "role": "write"},
                          key=self.key["all"])  # fmt: skip
        self.assertEqual(r.status_code, 200, r.content)

    def test_remove_a_member(self) -> None:
        add_people(self.org, MANY, "bystander-")
        # Key with organization and role; the lock, then the membership; the audit event; the delete; savepoints.
        with self.assertNumQueries(7 + WEBHOOK_LOOKUP):
            r = self.delete(MEMBERS_URL, {"orgId": self.org.id, "email": self.rita.email}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)

    def test_cancel_an_invitation(self) -> None:
        add_invitations(self.org, 1, "cancelled-")
        # Key with organization and role; the lock, then the (absent) membership and the pending
        # invitation; its update and audit event; savepoints. No savepoint of its own, no second read.
        with self.assertNumQueries(7 + WEBHOOK_LOOKUP):
            r = self.delete(MEMBERS_URL, {"orgId": self.org.id, "email": "cancelled-0@example.org"},
                            key=self.key["all"])  # fmt: skip
        self.assertEqual(r.status_code, 200, r.content)

    def test_accept(self) -> None:
        newcomer = make_user("newcomer@example.org")
        services.member_invite(actor=Principal(self.alice), org=self.org, email=newcomer.email, role=Role.WRITE)
        key = make_key(newcomer)[1]
        ApiKey.objects.update(last_used_at=timezone.now())
        with self.assertNumQueries(13):
            r = self.post(MEMBERS_URL + "accept/", {"orgId": self.org.id}, key=key)
        self.assertEqual(r.status_code, 200, r.content)


class AuditQueryCountsTestCase(QueryCountTestCase):
    def test_the_audit_log_is_the_same_for_1_or_200_events(self) -> None:
        org = Organization.objects.create(name="Audited", management_email="audit@example.org")
        add_member(org, self.oscar, Role.SUPER_ADMIN)
        event = {"org_id": org.id, "table_name": "orgs", "record_id": org.id, "operation": "UPDATE",
                 "actor_type": "system"}  # fmt: skip
        AuditEvent.objects.create(**event)
        # Key with organization and role, the total, the page.
        with self.assertNumQueries(3):
            r = self.get(AUDIT_URL, {"orgId": org.id}, key=self.oscar_key)
        self.assertEqual(r.json()["total"], 1)
        AuditEvent.objects.bulk_create([AuditEvent(**event) for _ in range(MANY)])
        with self.assertNumQueries(3):
            r = self.get(AUDIT_URL, {"orgId": org.id, "limit": 100}, key=self.oscar_key)
        self.assertEqual((len(r.json()["data"]), r.json()["total"]), (100, MANY + 1))


class ApiKeyQueryCountsTestCase(QueryCountTestCase):
    def test_the_key_list_is_the_same_for_a_few_or_200_keys(self) -> None:
        # Key, the caller's keys, their organization limits (one prefetch).
        with self.assertNumQueries(3):
            r = self.get(KEYS_URL, key=self.key["all"])
        few = len(r.json()["data"])
        for n in range(MANY):
            make_key(self.alice, name=f"many {n}", limited_to_orgs=[self.org.id] if n % 2 else [])
        ApiKey.objects.update(last_used_at=timezone.now())
        with self.assertNumQueries(3):
            r = self.get(KEYS_URL, key=self.key["all"])
        self.assertEqual(len(r.json()["data"]), few + MANY)

    def test_get_one_key(self) -> None:
        key = ApiKey.objects.get(user=self.alice, name="read key")
        with self.assertNumQueries(3):
            r = self.get(f"{KEYS_URL}{key.pk}/", key=self.key["all"])
        self.assertEqual(r.status_code, 200)

    def test_create(self) -> None:
        # One audit event per organization the key is limited to, each with its webhook look-up.
        with self.assertNumQueries(9 + WEBHOOK_LOOKUP):
            r = self.post(KEYS_URL, {"name": "Counted", "limited_to_orgs": [self.org.id]}, key=self.key["all"])
        self.assertEqual(r.status_code, 201, r.content)

    def test_update(self) -> None:
        key = ApiKey.objects.get(user=self.alice, name="read key")
        with self.assertNumQueries(11):
            r = self.put(f"{KEYS_URL}{key.pk}/", {"name": "Renamed"}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)

    def test_delete(self) -> None:
        key = ApiKey.objects.get(user=self.alice, name="read key")
        with self.assertNumQueries(10):
            r = self.delete(f"{KEYS_URL}{key.pk}/", key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)


class LastUsedTestCase(QueryCountTestCase):
    def test_a_keys_first_use_in_a_minute_writes_last_used_at_once(self) -> None:
        ApiKey.objects.update(last_used_at=None)
        with self.assertNumQueries(2):
            self.get(ORG_URL, {"orgId": self.org.id}, key=self.key["read"])
        with self.assertNumQueries(1):
            self.get(ORG_URL, {"orgId": self.org.id}, key=self.key["read"])
        ApiKey.objects.update(last_used_at=timezone.now() - timedelta(seconds=61))
        with self.assertNumQueries(2):
            self.get(ORG_URL, {"orgId": self.org.id}, key=self.key["read"])
