"""Two requests racing on the last two super_admins, on one member or one invitation, against the
real PostgreSQL.

Each test starts two threads at the same moment (a barrier). A short sleep inside the guarded
section (after the last-super_admin check, before the write) makes the race certain: without
the organization row lock both checks pass and the organization is left without a super_admin.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from django.test import TransactionTestCase

from organizations import services
from organizations.exceptions import InvitationNotFound, LastSuperAdmin, MemberNotFound, OrgNotFound
from organizations.models import AuditEvent, Invitation, Membership, Organization, User
from organizations.roles import Principal, Role
from tests.base import add_member, make_user

RACE_WINDOW = 0.3  # seconds: far longer than the gap between the two threads' checks


def _slow_guard() -> Callable[..., None]:
    """`_last_super_admin_guard`, then a pause before the caller writes."""
    guard = services._last_super_admin_guard

    def slow(org: Organization, membership: Membership) -> None:
        guard(org, membership)
        time.sleep(RACE_WINDOW)

    return slow


@pytest.mark.postgres
class LastSuperAdminRaceTestCase(TransactionTestCase):
    def setUp(self) -> None:
        self.alice = make_user("alice@example.org", "Alice")
        self.sam = make_user("sam@example.org", "Sam")
        self.org = services.organization_create(actor=Principal(self.alice), name="Raced Org")
        add_member(self.org, self.sam, Role.SUPER_ADMIN)

    def race(self, *calls: Callable[[], Any]) -> list[BaseException | None]:
        """Run the calls in threads released together; each call's exception, or None."""
        barrier = threading.Barrier(len(calls))
        outcomes: list[BaseException | None] = [None] * len(calls)

        def run(index: int, call: Callable[[], Any]) -> None:
            try:
                barrier.wait(timeout=10)
                call()
            except BaseException as exc:  # reported to the test below
                outcomes[index] = exc
            finally:
                connection.close()

        threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
        with mock.patch.object(services, "_last_super_admin_guard", _slow_guard()):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=30)
        self.assertFalse(any(thread.is_alive() for thread in threads), "a racing call did not finish")
        return outcomes

    def super_admins(self) -> list[str]:
        return list(
            Membership.objects.filter(organization=self.org, role=Role.SUPER_ADMIN).values_list(
                "user__email", flat=True
            )
        )

    def remove(self, actor: User, email: str) -> Callable[[], None]:
        return lambda: services.member_remove(actor=Principal(actor), org=self.org, email=email)

    def demote(self, actor: User, target: User) -> Callable[[], Membership]:
        def call() -> Membership:
            membership = Membership.objects.get(organization=self.org, user=target)
            return services.member_change_role(
                actor=Principal(actor), org=self.org, membership=membership, new_role=Role.ADMIN
            )

        return call

    def assertOneWins(self, outcomes: list[BaseException | None], *losers: type[Exception]) -> None:  # noqa: N802
        """Exactly one super_admin is left, one call succeeded and the other failed with one of `losers`."""
        self.assertEqual(len(self.super_admins()), 1, outcomes)
        self.assertEqual(outcomes.count(None), 1, outcomes)
        [failure] = [o for o in outcomes if o is not None]
        self.assertIsInstance(failure, losers)

    def test_both_leaving_at_once_leaves_one(self) -> None:
        outcomes = self.race(self.remove(self.alice, "alice@example.org"), self.remove(self.sam, "sam@example.org"))
        self.assertOneWins(outcomes, LastSuperAdmin)

    def test_both_demoting_themselves_at_once_leaves_one(self) -> None:
        outcomes = self.race(self.demote(self.alice, self.alice), self.demote(self.sam, self.sam))
        self.assertOneWins(outcomes, LastSuperAdmin)

    def test_demoting_the_other_and_leaving_at_once_leaves_one(self) -> None:
        # One super_admin sends two requests: demote sam, and leave. Whichever gets the lock first
        # wins; the other is refused: leaving as the last super_admin (409), or demoting sam after
        # having left (no longer a member: 404).
        outcomes = self.race(self.demote(self.alice, self.sam), self.remove(self.alice, "alice@example.org"))
        self.assertOneWins(outcomes, LastSuperAdmin, OrgNotFound)

    def test_each_demoting_the_other_leaves_one(self) -> None:
        # Both callers were super_admins when their requests began: the second to get the lock
        # meets the last-super_admin rule (409), as the contract says.
        outcomes = self.race(self.demote(self.alice, self.sam), self.demote(self.sam, self.alice))
        self.assertOneWins(outcomes, LastSuperAdmin)

    def test_each_removing_the_other_leaves_one(self) -> None:
        # The second to get the lock was a super_admin when its request began: 409, not 404.
        outcomes = self.race(self.remove(self.alice, "sam@example.org"), self.remove(self.sam, "alice@example.org"))
        self.assertOneWins(outcomes, LastSuperAdmin)
        self.assertEqual(Membership.objects.filter(organization=self.org).count(), 1)

    def test_removing_the_same_member_twice_at_once_removes_it_once(self) -> None:
        # The second to get the lock must see the membership as the first left it (gone: 404), not
        # as it was when its statement began: one removal, one audit event.
        bob = make_user("bob@example.org", "Bob")
        add_member(self.org, bob, Role.READ)
        outcomes = self.race(self.remove(self.alice, "bob@example.org"), self.remove(self.sam, "bob@example.org"))
        self.assertEqual(outcomes.count(None), 1, outcomes)
        self.assertIsInstance([o for o in outcomes if o is not None][0], MemberNotFound)
        removals = AuditEvent.objects.filter(org_id=self.org.id, operation="DELETE", record_id=str(bob.pk))
        self.assertEqual(removals.count(), 1)

    def test_inviting_an_address_that_is_being_invited_resends_instead_of_inviting_twice(self) -> None:
        def invite(actor: User) -> Callable[[], Any]:
            address = "new@example.org"
            return lambda: services.member_invite(actor=Principal(actor), org=self.org, email=address, role="read")

        with mock.patch.object(services, "_count_invitation_email", lambda *args: time.sleep(RACE_WINDOW)):
            outcomes = self.race(invite(self.alice), invite(self.sam))
        self.assertEqual(outcomes, [None, None])
        self.assertEqual(Invitation.objects.filter(organization=self.org, email="new@example.org").count(), 1)

    def test_a_decline_and_a_cancellation_at_once_cancel_once(self) -> None:
        # Both take the organization's lock; the second sees the invitation as the first left it.
        services.member_invite(actor=Principal(self.alice), org=self.org, email="bob@example.org", role="read")
        bob = make_user("bob@example.org", "Bob")
        invitation = Invitation.objects.get(email="bob@example.org")
        cancel = services._cancel_locked

        def slow_cancel(actor: Principal | None, pending: Invitation) -> None:
            time.sleep(RACE_WINDOW)
            cancel(actor, pending)

        with mock.patch.object(services, "_cancel_locked", slow_cancel):
            outcomes = self.race(
                lambda: services.invitation_decline(actor=Principal(bob), invitation=invitation),
                self.remove(self.alice, "bob@example.org"),
            )
        self.assertEqual(outcomes.count(None), 1, outcomes)
        self.assertIsInstance([o for o in outcomes if o is not None][0], (InvitationNotFound, MemberNotFound))
        cancellations = AuditEvent.objects.filter(org_id=self.org.id, record_id=str(invitation.pk), operation="UPDATE")
        self.assertEqual(cancellations.count(), 1)
