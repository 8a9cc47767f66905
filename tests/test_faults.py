"""Faults: a write that fails half-way leaves nothing behind; a database that goes away is a 503.

Every multi-row write runs in one transaction. Each test here forces a failure between two of
a write's statements (the audit event after the change, a row of a cascade) and shows that the
database is exactly as before (`database_dump`), that the answer is the error envelope with no
trace of the cause, and that the next request succeeds.

The PostgreSQL tests run a real gunicorn worker against the test database and kill its
connection with pg_terminate_backend while a request waits on a row lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

import psycopg
import pytest
from django.db import connection
from django.db.models.signals import post_delete
from django.test import TransactionTestCase

from bench.load import Gunicorn, Reply, call, server_env
from organizations import audit, services
from organizations.models import ApiKey, AuditEvent, Invitation, Membership, Organization
from organizations.roles import Principal, Role
from tests.base import ApiTestCase, add_member, make_key, make_user
from tests.test_security_bola import database_dump


class InjectedFault(Exception):
    pass


@contextmanager
def audit_fails_on_call(n: int, function: str = "record") -> Iterator[None]:
    """audit.record (or record_many) works n-1 times, then raises: a failure after some of a write's rows."""
    real = getattr(audit, function)
    calls = 0

    def record(*args: Any, **kwargs: Any) -> AuditEvent:
        nonlocal calls
        calls += 1
        if calls >= n:
            raise InjectedFault("injected failure")
        return real(*args, **kwargs)

    with mock.patch.object(audit, function, side_effect=record):
        yield
    assert calls >= n, f"the write made only {calls} audit calls; the fault was never injected"


class AtomicWritesTestCase(ApiTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.third = services.organization_create(actor=Principal(cls.alice), name="Alice Third")
        services.member_invite(actor=Principal(cls.alice), org=cls.org, email="pending@example.org", role=Role.READ)

    def assertAllOrNothing(self, fault: Callable[[], Any], request: Callable[[], Any], ok: int = 200) -> None:  # noqa: N802
        """With `fault` active, `request` is a clean 500 and changes nothing; without it, it succeeds."""
        before = database_dump()
        with fault(), self.assertLogs("organizations.api", "ERROR"):
            response = request()
        body = self.assertError(response, 500, "internal_error")
        self.assertEqual(body, {"status": "KO", "error": "Internal server error", "code": "internal_error"})
        self.assertEqual(database_dump(), before, "a failed write left rows behind")
        self.assertEqual(request().status_code, ok)

    def test_organization_create_is_all_or_nothing(self) -> None:
        # The organization and its first membership are written; then their audit events fail.
        self.assertAllOrNothing(
            lambda: audit_fails_on_call(1, "record_many"),
            lambda: self.post("/organization/", {"name": "New"}, key=self.key["all"]),
            ok=201,
        )  # fmt: skip

    def delete_org(self) -> Any:
        return self.delete("/organization/", {"orgId": self.org.id}, key=self.key["all"])

    def test_organization_delete_is_all_or_nothing_when_its_cascade_fails(self) -> None:
        # The audit events are written, then the cascade fails after deleting one membership.
        @contextmanager
        def cascade_fails() -> Iterator[None]:
            deleted = []

            def receiver(sender: Any, instance: Membership, **kwargs: Any) -> None:
                deleted.append(instance.pk)
                if len(deleted) == 2:  # one membership row is already gone
                    raise InjectedFault("injected failure")

            post_delete.connect(receiver, sender=Membership)
            try:
                yield
            finally:
                post_delete.disconnect(receiver, sender=Membership)
            assert len(deleted) == 2

        self.assertTrue(Invitation.objects.filter(organization=self.org).exists())
        self.assertTrue(self.org.limited_api_keys.exists())
        self.assertAllOrNothing(cascade_fails, self.delete_org)

    def test_member_invite_is_all_or_nothing(self) -> None:
        invite = {"orgId": self.org.id, "email": "new@example.org", "role": "write"}
        self.assertAllOrNothing(
            lambda: audit_fails_on_call(1), lambda: self.post("/organization/members/", invite, key=self.key["all"])
        )

    def test_a_change_does_not_commit_without_its_webhook_deliveries(self) -> None:
        # The outbox is part of the change: a failing delivery insert undoes the invitation too.
        from webhooks.models import Delivery, Webhook

        Webhook.objects.create(organization=self.org, name="Hook", url="https://hooks.example/", events=["org_users"],
                               secret="whsec_" + "A" * 43 + "=")  # fmt: skip
        invite = {"orgId": self.org.id, "email": "new@example.org", "role": "write"}
        self.assertAllOrNothing(
            lambda: mock.patch.object(type(Delivery.objects), "bulk_create", side_effect=InjectedFault("injected")),
            lambda: self.post("/organization/members/", invite, key=self.key["all"]),
        )

    def test_a_resent_invitation_is_all_or_nothing(self) -> None:
        invite = {"orgId": self.org.id, "email": "pending@example.org", "role": "admin"}
        self.assertAllOrNothing(
            lambda: audit_fails_on_call(1), lambda: self.post("/organization/members/", invite, key=self.key["all"])
        )

    def test_a_role_change_is_all_or_nothing(self) -> None:
        change = {"orgId": self.org.id, "email": self.rita.email, "role": "admin"}
        self.assertAllOrNothing(
            lambda: audit_fails_on_call(1), lambda: self.post("/organization/members/", change, key=self.key["all"])
        )

    def test_member_remove_is_all_or_nothing(self) -> None:
        @contextmanager
        def delete_fails() -> Iterator[None]:
            with mock.patch.object(Membership, "delete", side_effect=InjectedFault("injected failure")):
                yield

        remove = {"orgId": self.org.id, "email": self.rita.email}
        self.assertAllOrNothing(
            delete_fails, lambda: self.delete("/organization/members/", remove, key=self.key["all"])
        )

    def test_api_key_create_with_limits_is_all_or_nothing(self) -> None:
        # The key and both limit rows are written; the second organization's audit event fails.
        body = {"name": "Two orgs", "limited_to_orgs": [self.org.id, self.third.id]}
        self.assertAllOrNothing(
            lambda: audit_fails_on_call(2), lambda: self.post("/apikey/", body, key=self.key["all"]), ok=201
        )

    def test_api_key_update_of_limits_is_all_or_nothing(self) -> None:
        key, _plaintext = make_key(self.alice, limited_to_orgs=[self.org.id], name="to widen")
        body = {"limited_to_orgs": [self.org.id, self.third.id], "regenerate": True}
        self.assertAllOrNothing(
            lambda: audit_fails_on_call(2), lambda: self.put(f"/apikey/{key.pk}/", body, key=self.key["all"])
        )

    def test_an_unexpected_error_is_a_500_without_any_trace_of_its_cause(self) -> None:
        boom = InjectedFault('SELECT secret FROM organizations_apikey -- File "/work/x.py", line 1')
        with mock.patch.object(services, "member_rows", side_effect=boom), self.assertLogs("organizations.api"):
            r = self.get("/organization/members/", {"orgId": self.org.id}, key=self.key["all"])
        self.assertEqual(r.json(), {"status": "KO", "error": "Internal server error", "code": "internal_error"})
        self.assertEqual(r.status_code, 500)


def _test_database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.postgres
class DatabaseGoesAwayTestCase(TransactionTestCase):
    """One gunicorn worker on the test database (committed rows: TransactionTestCase)."""

    def setUp(self) -> None:
        self.alice = make_user("alice@example.org")
        self.org = services.organization_create(actor=Principal(self.alice), name="Alice Org")
        add_member(self.org, make_user("rita@example.org"), Role.READ)
        self.key = make_key(self.alice)[1]
        self.url = _test_database_url()
        self.server = Gunicorn(server_env(self.url, CONN_MAX_AGE="60"), workers=1)
        self.server.start()
        self.addCleanup(self.server.stop)
        self.admin = psycopg.connect(self.url.replace("postgres://", "postgresql://", 1), autocommit=True)
        self.addCleanup(self.admin.close)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.own_pids = {cursor.fetchone()[0], self.admin.info.backend_pid}

    def server_backends(self, waiting_on_lock: bool = False) -> list[int]:
        query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> ALL(%s)"
        if waiting_on_lock:
            query += " AND wait_event_type = 'Lock'"
        return [pid for (pid,) in self.admin.execute(query, [list(self.own_pids)]).fetchall()]

    def org_name(self) -> str:
        reply = call(self.server.port, "GET", "/organization/", key=self.key, query={"orgId": self.org.id})
        self.assertEqual(reply.status, 200, reply.body)
        return reply.json()["data"]["name"]

    def test_a_connection_killed_mid_request_is_an_enveloped_503_and_the_next_request_succeeds(self) -> None:
        self.assertEqual(self.org_name(), "Alice Org")
        replies: list[Reply] = []
        table = Organization._meta.db_table
        with psycopg.connect(self.url.replace("postgres://", "postgresql://", 1)) as locker:
            # Hold the organization's row lock, so the update waits in the middle of its transaction.
            locker.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR UPDATE", [self.org.id])  # noqa: S608
            self.own_pids.add(locker.info.backend_pid)
            body = {"orgId": self.org.id, "name": "Renamed"}
            thread = threading.Thread(
                target=lambda: replies.append(call(self.server.port, "PUT", "/organization/", key=self.key, body=body))
            )
            thread.start()
            deadline = time.monotonic() + 15
            while not (waiting := self.server_backends(waiting_on_lock=True)) and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertEqual(len(waiting), 1, "the update never waited on the lock")
            self.admin.execute("SELECT pg_terminate_backend(%s)", [waiting[0]])
            thread.join(timeout=15)
            locker.rollback()
        reply = replies[0]
        self.assertEqual(reply.status, 503, reply.body)
        self.assertEqual(
            reply.json(), {"status": "KO", "error": "Service temporarily unavailable", "code": "service_unavailable"}
        )
        self.assertEqual(reply.headers["retry-after"], "1")
        for leak in (b"terminat", b"SELECT", b"Traceback", b"psycopg"):
            self.assertNotIn(leak, reply.body)
        # The next request reconnects; the interrupted update left nothing behind.
        self.assertEqual(self.org_name(), "Alice Org")
        self.assertEqual(AuditEvent.objects.filter(operation=AuditEvent.Operation.UPDATE).count(), 0)
        reply = call(
            self.server.port, "PUT", "/organization/", key=self.key, body={"orgId": self.org.id, "name": "Again"}
        )
        self.assertEqual(reply.status, 200, reply.body)
        self.assertEqual(self.org_name(), "Again")

    def test_connections_killed_between_requests_are_replaced(self) -> None:
        self.assertEqual(self.org_name(), "Alice Org")
        backends = self.server_backends()
        self.assertTrue(backends, "the worker keeps its connection between requests (CONN_MAX_AGE)")
        for pid in backends:
            self.admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        self.assertEqual(self.org_name(), "Alice Org")
        self.assertEqual(ApiKey.objects.count(), 1)


class ConsistencyCheckTestCase(TransactionTestCase):
    """bench/check_consistency.py, which the load test runs, finds a change without its audit event."""

    def test_it_passes_on_audited_changes_and_fails_on_an_unaudited_one(self) -> None:
        from bench import check_consistency

        alice, bob = make_user("alice@example.org"), make_user("bob@example.org")
        org = services.organization_create(actor=Principal(alice), name="Audited")
        services.member_invite(actor=Principal(alice), org=org, email=bob.email, role=Role.READ)
        gone = services.organization_create(actor=Principal(bob), name="Gone")
        services.organization_delete(actor=Principal(bob), org=gone)
        make_key(alice, limited_to_orgs=[org.id])
        with mock.patch("builtins.print") as printed:
            self.assertEqual(check_consistency.main(), 0, printed.call_args_list)
        add_member(org, bob, Role.WRITE)  # behind the services' back: no audit event
        with mock.patch("builtins.print") as printed:
            self.assertEqual(check_consistency.main(), 1)
        self.assertIn("INSERT minus DELETE events is 0, expected 1", str(printed.call_args_list))
