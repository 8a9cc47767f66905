"""Every query of every API endpoint uses an index on the tables that grow (PostgreSQL only).

The endpoints are called through HTTP with a key, their SQL captured, and each statement
EXPLAINed after a few thousand rows have been added to the big tables and ANALYZEd, so the
planner chooses as it would in production. A sequential scan on one of the big tables would
make that endpoint slower as organizations grow; at 1,000,000 organizations it is the
difference between a millisecond and a second.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from organizations import services
from organizations.models import ApiKey, AuditEvent, Invitation, Membership, Organization, User
from organizations.roles import Principal, Role
from tests.base import ApiTestCase, add_member, make_key, make_user

BIG_TABLES = {
    "organizations_organization",
    "organizations_membership",
    "organizations_apikey",
    "organizations_auditevent",
    "organizations_invitation",
    "organizations_user",
}
ROWS = 3000


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def fill_big_tables() -> None:
    """A few thousand rows in each big table, spread over many organizations and users."""
    now = timezone.now()
    users = User.objects.bulk_create(
        [User(email=f"filler{n}@example.org", password="!unusable") for n in range(ROWS)]  # noqa: S106
    )
    orgs = Organization.objects.bulk_create(
        [Organization(name=f"Filler {n}", management_email=f"filler{n}@example.org") for n in range(ROWS)]
    )
    Membership.objects.bulk_create(
        [Membership(organization=org, user=users[(n + shift) % ROWS], role=Role.WRITE)
         for n, org in enumerate(orgs) for shift in (0, 1)]
    )  # fmt: skip
    Invitation.objects.bulk_create(
        [Invitation(organization=org, email=f"invited{n}@example.org", role=Role.READ, token_hash=digest(f"t{n}"),
                    expires_at=now + timedelta(days=7)) for n, org in enumerate(orgs)]
    )  # fmt: skip
    ApiKey.objects.bulk_create(
        [ApiKey(user=users[n], name=f"filler {n}", lookup=f"f{n:07d}", digest=digest(f"k{n}")) for n in range(ROWS)]
    )
    AuditEvent.objects.bulk_create(
        [AuditEvent(org_id=org.id, table_name="orgs", record_id=org.id, operation=op, actor_type="system")
         for org in orgs for op in ("INSERT", "UPDATE")]
    )  # fmt: skip
    with connection.cursor() as cursor:
        for table in sorted(BIG_TABLES):
            cursor.execute(f"ANALYZE {table}")


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


@pytest.mark.postgres
class ExplainTestCase(ApiTestCase):
    maxDiff = None

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        fill_big_tables()

    def setUp(self) -> None:
        cache.clear()  # rate-limit counters from other tests

    def call_every_endpoint(self) -> None:
        """Each endpoint once, successfully, through HTTP with keys."""
        org, key = self.org.id, self.key["all"]
        calls = [
            self.get("/organization/", {"orgId": org}, key=key),
            self.get("/organization/", key=key),
            self.get("/organization/", {"page": 3}, key=key),
            self.post("/organization/", {"name": "Explained"}, key=key),
            self.put("/organization/", {"orgId": org, "name": "Explained org"}, key=key),
            self.get("/organization/members/", {"orgId": org}, key=key),
            self.post(
                "/organization/members/", {"orgId": org, "email": "someone@example.org", "role": "read"}, key=key
            ),
            self.post("/organization/members/", {"orgId": org, "email": self.rita.email, "role": "write"}, key=key),
            self.delete("/organization/members/", {"orgId": org, "email": "someone@example.org"}, key=key),
            self.delete("/organization/members/", {"orgId": org, "email": self.wendy.email}, key=key),
            self.get("/organization/audit/", {"orgId": org}, key=key),
            self.get("/organization/audit/", {"orgId": org, "tableName": "orgs", "operation": "UPDATE"}, key=key),
            self.get("/apikey/", key=key),
        ]
        newcomer = make_user("newcomer@example.org")
        services.member_invite(actor=Principal(self.alice), org=self.org, email=newcomer.email, role=Role.READ)
        calls.append(self.post("/organization/members/accept/", {"orgId": org}, key=make_key(newcomer)[1]))
        created = self.post("/apikey/", {"name": "Explained", "limited_to_orgs": [org]}, key=key)
        calls.append(created)
        key_id = created.json()["apikey"]["id"]
        calls += [
            self.get(f"/apikey/{key_id}/", key=key),
            self.put(f"/apikey/{key_id}/", {"name": "Explained again"}, key=key),
            self.delete(f"/apikey/{key_id}/", key=key),
        ]
        doomed = services.organization_create(actor=Principal(self.alice), name="Doomed")
        add_member(doomed, self.oscar, Role.READ)
        calls.append(self.delete("/organization/", {"orgId": doomed.id}, key=key))
        for response in calls:
            self.assertLess(response.status_code, 300, (response.request["PATH_INFO"], response.content))

    def test_no_endpoint_scans_a_big_table_sequentially(self) -> None:
        with CaptureQueriesContext(connection) as captured:
            self.call_every_endpoint()
        statements = {
            q["sql"]
            for q in captured.captured_queries
            if q["sql"].split(None, 1)[0].upper() in ("SELECT", "UPDATE", "DELETE")
        }
        self.assertGreater(len(statements), 30)
        scans = []
        with connection.cursor() as cursor:
            for sql in sorted(statements):
                cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
                raw = cursor.fetchone()[0]
                plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
                for node in plan_nodes(plan):
                    if node["Node Type"] == "Seq Scan" and node.get("Relation Name") in BIG_TABLES:
                        scans.append(f"{node['Relation Name']}: {sql[:300]}")
        self.assertEqual(scans, [], "sequential scans:\n" + "\n".join(scans))

    def test_the_hot_lookups_are_index_only_or_index_scans(self) -> None:
        """The key lookup, with the membership and organization in the same statement, never touches more
        than indexes and their rows."""
        ApiKey.objects.update(last_used_at=timezone.now())
        with CaptureQueriesContext(connection) as captured:
            self.get("/organization/", {"orgId": self.org.id}, key=self.key["read"])
        self.assertEqual(len(captured.captured_queries), 1)
        with connection.cursor() as cursor:
            for query in captured.captured_queries:
                cursor.execute("EXPLAIN (FORMAT JSON) " + query["sql"])
                raw = cursor.fetchone()[0]
                plan = (json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]
                nodes = list(plan_nodes(plan))
                # The second-factor subquery (only for organizations that enforce 2FA) reads allauth's
                # small authenticator table by its user index; a bitmap scan there is still by index.
                factor = [
                    n for n in nodes if n.get("Relation Name") == "mfa_authenticator" or "Bitmap" in n["Node Type"]
                ]
                kinds = {node["Node Type"] for node in nodes if node not in factor}
                self.assertLessEqual(kinds, {"Nested Loop", "Index Scan", "Index Only Scan", "Limit"}, query["sql"])
                factor_kinds = {node["Node Type"] for node in factor}
                self.assertLessEqual(
                    factor_kinds, {"Index Scan", "Index Only Scan", "Bitmap Index Scan", "Bitmap Heap Scan"}
                )
