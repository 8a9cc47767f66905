"""/organization/members/ and /organization/members/accept/, through HTTP with the whole cast."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any
from unittest import mock

from django.core import mail
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from organizations import services
from organizations.exceptions import MemberNotFound
from organizations.models import AuditEvent, Email, Invitation, Membership, Organization, User
from organizations.roles import Principal, Role
from tests.base import ApiTestCase, add_member, make_key, make_user

URL = "/organization/members/"
ACCEPT_URL = "/organization/members/accept/"
MEMBER_FIELDS = {"uid", "email", "image_url", "role", "is_tmp"}
LINK = re.compile(r"https?://[^\s\"<>]+/invitations/([\w-]+)/")
SEVEN_DAYS = timedelta(days=7)


class MembersTestCase(ApiTestCase):
    """Helpers shared by the members tests."""

    def setUp(self) -> None:
        cache.clear()  # rate-limit counters from other tests

    def invite(self, email: str, role: str = Role.WRITE, by: User | None = None) -> Invitation:
        """Invite through the service (no HTTP), as `by` (alice by default)."""
        services.member_invite(actor=Principal(by or self.alice), org=self.org, email=email, role=role)
        return Invitation.objects.get(organization=self.org, email=email, status=Invitation.Status.PENDING)

    def rows(self, key: str | None = None) -> dict[str, dict[str, Any]]:
        r = self.get(URL, {"orgId": self.org.id}, key=key or self.key["read"])
        self.assertEqual(r.status_code, 200, r.content)
        return {row["email"]: row for row in r.json()["data"]}

    def role_of(self, user: User) -> str | None:
        return Membership.objects.filter(organization=self.org, user=user).values_list("role", flat=True).first()

    def make_super_admin(self, email: str = "sam@example.org") -> tuple[User, str]:
        sam = make_user(email, "Sam")
        add_member(self.org, sam, Role.SUPER_ADMIN)
        return sam, make_key(sam)[1]

    def post_and_send(self, data: dict[str, Any], key: str) -> Any:
        """POST an invitation and run what waits for the commit (the email)."""
        with self.captureOnCommitCallbacks(execute=True):
            return self.post(URL, data, key=key)


class MemberListTestCase(MembersTestCase):
    def test_it_lists_the_members_with_the_contract_fields(self) -> None:
        r = self.get(URL, {"orgId": self.org.id}, key=self.key["read"])
        self.assertEqual(r.status_code, 200)
        data = r.json()["data"]
        self.assertEqual([set(row) for row in data], [MEMBER_FIELDS] * 4)
        self.assertEqual(
            [(row["email"], row["role"]) for row in data],
            [
                ("alice@example.org", "super_admin"),
                ("adam@example.org", "admin"),
                ("wendy@example.org", "write"),
                ("rita@example.org", "read"),
            ],
        )
        alice = data[0]
        self.assertEqual(alice["uid"], str(self.alice.pk))
        self.assertIs(alice["is_tmp"], False)
        self.assertIsNone(alice["image_url"])

    def test_it_answers_without_the_trailing_slash(self) -> None:
        r = self.get("/organization/members", {"orgId": self.org.id}, key=self.key["read"])
        self.assertEqual(r.status_code, 200)
        self.assertEqual(len(r.json()["data"]), 4)

    def test_image_url_is_an_absolute_url_when_the_user_has_an_avatar(self) -> None:
        User.objects.filter(pk=self.wendy.pk).update(avatar="avatars/wendy/abc.png")
        self.assertEqual(self.rows()["wendy@example.org"]["image_url"], "http://testserver/media/avatars/wendy/abc.png")

    def test_pending_invitations_are_listed_as_invite_role(self) -> None:
        unknown = self.invite("new@example.org", Role.WRITE)
        self.invite("oscar@example.org", Role.ADMIN)
        rows = self.rows()
        self.assertEqual(
            rows["new@example.org"],
            {
                "uid": str(unknown.id),
                "email": "new@example.org",
                "image_url": None,
                "role": "invite_write",
                "is_tmp": True,
            },
        )
        self.assertEqual(
            rows["oscar@example.org"],
            {
                "uid": str(self.oscar.pk),
                "email": "oscar@example.org",
                "image_url": None,
                "role": "invite_admin",
                "is_tmp": False,
            },
        )

    def test_expired_and_cancelled_invitations_are_not_listed(self) -> None:
        expired = self.invite("expired@example.org")
        Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        cancelled = self.invite("cancelled@example.org")
        services.invitation_cancel(actor=Principal(self.alice), invitation=cancelled)
        self.invite("pending@example.org")
        emails = set(self.rows())
        self.assertIn("pending@example.org", emails)
        self.assertNotIn("expired@example.org", emails)
        self.assertNotIn("cancelled@example.org", emails)

    def test_an_accepted_invitation_is_listed_once_as_a_member(self) -> None:
        invitation = self.invite("oscar@example.org", Role.UPLOAD)
        services.invitation_accept(actor=Principal(self.oscar), invitation=invitation)
        r = self.get(URL, {"orgId": self.org.id}, key=self.key["read"])
        oscar_rows = [row for row in r.json()["data"] if row["email"] == "oscar@example.org"]
        self.assertEqual(oscar_rows, [{**oscar_rows[0], "role": "upload", "is_tmp": False}])

    def test_the_rows_are_what_the_models_say_in_order(self) -> None:
        # The list is one hand-written statement (services.member_rows): every column, in the order
        # members joined and then invitations were sent, as the models themselves describe them.
        self.oscar.name = "Oscar O"
        self.oscar.save()
        later = self.invite("later@example.org", Role.ADMIN)
        Invitation.objects.filter(pk=later.pk).update(created_at=timezone.now() + timedelta(seconds=5))
        first = self.invite(self.oscar.email, Role.UPLOAD)
        expected = [
            services.MemberRow.of_membership(m)
            for m in Membership.objects.filter(organization=self.org)
            .select_related("user")
            .order_by("created_at", "id")
        ] + [
            services.MemberRow.of_invitation(i, User.objects.filter(email=i.email).first())
            for i in Invitation.objects.filter(pk__in=[first.pk, later.pk]).order_by("created_at")
        ]
        self.assertEqual(services.member_rows(self.org), expected)
        self.assertEqual([row.email for row in expected[-2:]], [self.oscar.email, "later@example.org"])
        self.assertEqual(
            (expected[-2].uid, expected[-2].name, expected[-1].is_tmp), (str(self.oscar.pk), "Oscar O", True)
        )

    def test_every_key_mode_may_list(self) -> None:
        for mode, key in self.key.items():
            self.assertEqual(self.get(URL, {"orgId": self.org.id}, key=key).status_code, 200, mode)

    def test_a_read_member_may_list(self) -> None:
        self.assertEqual(self.get(URL, {"orgId": self.org.id}, key=self.rita_key).status_code, 200)

    def test_anonymous_gets_401(self) -> None:
        body = self.assertError(self.get(URL, {"orgId": self.org.id}), 401, "no_key_provided")
        self.assertEqual(body["error"], "No API key provided")

    def test_an_expired_key_gets_401(self) -> None:
        self.assertError(self.get(URL, {"orgId": self.org.id}, key=self.expired_key), 401, "apikey_expired")

    def test_an_outsider_gets_the_same_404_as_for_a_missing_org(self) -> None:
        hidden = self.get(URL, {"orgId": self.org.id}, key=self.oscar_key)
        missing = self.get(URL, {"orgId": "org_doesnotexist"}, key=self.oscar_key)
        self.assertError(hidden, 404, "org_not_found")
        self.assertEqual(hidden.json(), missing.json())
        self.assertEqual(hidden.json()["error"], "Organization not found")

    def test_orgid_is_required(self) -> None:
        body = self.assertError(self.get(URL, key=self.key["read"]), 400, "invalid_body")
        self.assertIn("orgId", body["details"])

    def test_a_key_limited_to_another_org_gets_404(self) -> None:
        second = services.organization_create(actor=Principal(self.alice), name="Second")
        self.assertError(self.get(URL, {"orgId": second.id}, key=self.limited_key), 404, "org_not_found")
        self.assertEqual(self.get(URL, {"orgId": self.org.id}, key=self.limited_key).status_code, 200)

    def test_the_list_runs_a_fixed_number_of_queries(self) -> None:
        org = services.organization_create(actor=Principal(self.alice), name="Counted")
        Invitation.objects.create(
            organization=org, email="tmp-0@example.org", role=Role.READ, token_hash="t" * 64,
            expires_at=timezone.now() + SEVEN_DAYS,
        )  # fmt: skip
        key = self.key["read"]
        self.get(URL, {"orgId": org.id}, key=key)  # the first use of a key records last_used_at
        with self.assertNumQueries(
            2
        ) as ctx:  # the key with the membership; members and invitations with their accounts
            r = self.get(URL, {"orgId": org.id}, key=key)
        self.assertEqual(len(r.json()["data"]), 2)
        small = len(ctx.captured_queries)

        users = User.objects.bulk_create([User(email=f"member-{i}@example.org") for i in range(199)])
        Membership.objects.bulk_create([Membership(organization=org, user=u, role=Role.READ) for u in users])
        User.objects.bulk_create([User(email=f"invitee-{i}@example.org") for i in range(100)])
        Invitation.objects.bulk_create(
            [
                Invitation(
                    organization=org,
                    email=f"{'invitee' if i < 100 else 'tmp'}-{i}@example.org",
                    role=Role.WRITE,
                    token_hash=f"{i:064d}",
                    expires_at=timezone.now() + SEVEN_DAYS,
                )
                for i in range(1, 200)
            ]
        )
        with self.assertNumQueries(small):
            r = self.get(URL, {"orgId": org.id}, key=key)
        data = r.json()["data"]
        self.assertEqual(len(data), 400)
        self.assertEqual(sum(row["role"] == "invite_write" for row in data), 199)
        self.assertEqual(sum(row["is_tmp"] for row in data), 101)  # tmp-0 and tmp-100 … tmp-199


class MemberInviteTestCase(MembersTestCase):
    def test_it_invites_an_email_by_role(self) -> None:
        r = self.post(URL, {"orgId": self.org.id, "email": "new@example.org", "role": "write"}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        invitation = Invitation.objects.get(organization=self.org, email="new@example.org")
        self.assertEqual(
            r.json(),
            {
                "status": "OK",
                "data": {
                    "uid": str(invitation.id),
                    "email": "new@example.org",
                    "image_url": None,
                    "role": "invite_write",
                    "is_tmp": True,
                },
            },
        )
        self.assertEqual(invitation.role, Role.WRITE)
        self.assertEqual(invitation.status, Invitation.Status.PENDING)
        self.assertEqual(invitation.invited_by, self.alice)
        self.assertAlmostEqual(invitation.expires_at, timezone.now() + SEVEN_DAYS, delta=timedelta(minutes=1))
        self.assertFalse(Membership.objects.filter(organization=self.org, user__email="new@example.org").exists())

    def test_invite_type_is_an_alias_of_role(self) -> None:
        r = self.post(
            URL, {"orgId": self.org.id, "email": "new@example.org", "invite_type": "read"}, key=self.key["all"]
        )
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json()["data"]["role"], "invite_read")
        self.assertEqual(Invitation.objects.get(email="new@example.org").role, Role.READ)

    def test_an_invite_prefixed_role_means_the_role(self) -> None:
        for field in ("role", "invite_type"):
            email = f"{field}@example.org"
            r = self.post(URL, {"orgId": self.org.id, "email": email, field: "invite_upload"}, key=self.key["all"])
            self.assertEqual(r.json()["data"]["role"], "invite_upload")
            self.assertEqual(Invitation.objects.get(email=email).role, Role.UPLOAD)

    def test_the_email_is_normalised(self) -> None:
        r = self.post(URL, {"orgId": self.org.id, "email": "New@Example.ORG", "role": "read"}, key=self.key["all"])
        self.assertEqual(r.json()["data"]["email"], "new@example.org")
        self.assertTrue(Invitation.objects.filter(email="new@example.org").exists())

    def test_the_email_is_sent_only_after_the_commit(self) -> None:
        with self.captureOnCommitCallbacks(execute=False) as callbacks:
            r = self.post(URL, {"orgId": self.org.id, "email": "new@example.org", "role": "read"}, key=self.key["all"])
        self.assertEqual(r.status_code, 200)
        self.assertEqual(mail.outbox, [])
        self.assertEqual(len(callbacks), 1)
        callbacks[0]()
        self.assertEqual(len(mail.outbox), 1)

    def test_the_email_carries_a_working_link(self) -> None:
        self.post_and_send({"orgId": self.org.id, "email": "new@example.org", "role": "read"}, key=self.key["all"])
        [message] = mail.outbox
        self.assertEqual(message.to, ["new@example.org"])
        self.assertIn("Alice Org", message.subject)
        token = LINK.search(message.body)[1]
        self.assertEqual(services.invitation_by_token(token), Invitation.objects.get(email="new@example.org"))
        self.assertEqual(self.client.get(f"/invitations/{token}/", follow=True).status_code, 200)

    def test_a_failing_mail_server_does_not_undo_the_invitation(self) -> None:
        with (
            override_settings(EMAIL_DELIVERY_BACKEND="tests.test_api_members.BrokenEmailBackend"),
            self.assertLogs("organizations.emails", level="WARNING"),  # logged, not raised; retried later
        ):
            r = self.post_and_send({"orgId": self.org.id, "email": "new@example.org", "role": "read"}, self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        self.assertTrue(Invitation.objects.filter(email="new@example.org", status="pending").exists())
        email = Email.objects.get()
        self.assertEqual((email.status, email.attempts), (Email.Status.PENDING, 1))

    def test_inviting_again_resends_with_a_fresh_expiry_and_a_new_link(self) -> None:
        data = {"orgId": self.org.id, "email": "new@example.org", "role": "read"}
        self.post_and_send(data, key=self.key["all"])
        first = Invitation.objects.get(email="new@example.org")
        Invitation.objects.filter(pk=first.pk).update(expires_at=timezone.now() + timedelta(days=1))
        old_token = LINK.search(mail.outbox[0].body)[1]

        r = self.post_and_send({**data, "role": "admin"}, key=self.adam_key)
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json()["data"]["role"], "invite_admin")
        again = Invitation.objects.get(email="new@example.org")
        self.assertEqual(again.pk, first.pk)
        self.assertEqual((again.role, again.invited_by), (Role.ADMIN, self.adam))
        self.assertAlmostEqual(again.expires_at, timezone.now() + SEVEN_DAYS, delta=timedelta(minutes=1))
        self.assertEqual(len(mail.outbox), 2)
        new_token = LINK.search(mail.outbox[1].body)[1]
        self.assertNotEqual(new_token, old_token)
        self.assertIsNone(services.invitation_by_token(old_token))
        self.assertEqual(self.client.get(f"/invitations/{old_token}/").status_code, 404)
        self.assertEqual(self.client.get(f"/invitations/{new_token}/", follow=True).status_code, 200)

    def test_an_expired_invitation_can_be_sent_again_and_accepted(self) -> None:
        invitation = self.invite("oscar@example.org", Role.READ)
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(days=1))
        self.assertNotIn("oscar@example.org", self.rows())
        r = self.post_and_send({"orgId": self.org.id, "email": "oscar@example.org", "role": "read"}, self.key["all"])
        self.assertEqual(r.json()["data"]["role"], "invite_read")
        self.assertEqual(Invitation.objects.get(email="oscar@example.org").pk, invitation.pk)
        self.assertEqual(self.post(ACCEPT_URL, {"orgId": self.org.id}, key=self.oscar_key).status_code, 200)
        self.assertEqual(self.role_of(self.oscar), Role.READ)

    def test_inviting_an_existing_member_changes_their_role(self) -> None:
        r = self.post_and_send({"orgId": self.org.id, "email": "rita@example.org", "role": "write"}, self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(
            r.json(),
            {
                "status": "OK",
                "data": {
                    "uid": str(self.rita.pk),
                    "email": "rita@example.org",
                    "image_url": None,
                    "role": "write",
                    "is_tmp": False,
                },
            },
        )
        self.assertEqual(self.role_of(self.rita), Role.WRITE)
        self.assertFalse(Invitation.objects.filter(email="rita@example.org").exists())
        self.assertEqual(mail.outbox, [])

    def test_changing_the_role_of_a_member_who_just_left_is_404(self) -> None:
        # The membership was read before a concurrent request removed it.
        membership = Membership.objects.get(organization=self.org, user=self.rita)
        services.member_remove(actor=Principal(self.rita), org=self.org, email="rita@example.org")
        with self.assertRaises(MemberNotFound):
            services.member_change_role(
                actor=Principal(self.adam), org=self.org, membership=membership, new_role="write"
            )

    def test_bad_input_is_400(self) -> None:
        cases: list[tuple[dict[str, Any], str]] = [
            ({"email": "new@example.org", "role": "owner"}, "role"),
            ({"email": "new@example.org", "role": "invite_owner"}, "role"),
            ({"email": "new@example.org", "invite_type": "boss"}, "invite_type"),
            ({"email": "not-an-email", "role": "read"}, "email"),
            ({"role": "read"}, "email"),
            ({"email": "new@example.org"}, "role"),
            ({"email": "new@example.org", "role": "read", "user_id": "x"}, "user_id"),
        ]
        for data, field in cases:
            body = self.assertError(
                self.post(URL, {"orgId": self.org.id, **data}, key=self.key["all"]), 400, "invalid_body"
            )
            self.assertIn(field, body["details"], data)
        body = self.assertError(
            self.post(URL, {"email": "new@example.org", "role": "read"}, key=self.key["all"]), 400, "invalid_body"
        )
        self.assertIn("orgId", body["details"])
        self.assertError(self.post(URL, "not json", key=self.key["all"]), 400, "invalid_json_parse_body")
        self.assertFalse(Invitation.objects.exists())

    def test_read_and_upload_keys_get_403(self) -> None:
        for mode in ("read", "upload"):
            r = self.post(URL, {"orgId": self.org.id, "email": "new@example.org", "role": "read"}, key=self.key[mode])
            self.assertError(r, 403, "key_mode_forbidden")
        self.assertFalse(Invitation.objects.exists())

    def test_a_write_key_of_a_super_admin_may_invite(self) -> None:
        r = self.post(URL, {"orgId": self.org.id, "email": "new@example.org", "role": "read"}, key=self.key["write"])
        self.assertEqual(r.status_code, 200, r.content)

    def test_a_write_member_gets_403(self) -> None:
        r = self.post(URL, {"orgId": self.org.id, "email": "new@example.org", "role": "read"}, key=self.wendy_key)
        body = self.assertError(r, 403, "insufficient_role")
        self.assertEqual(body["error"], "Admin role required")
        r = self.post(URL, {"orgId": self.org.id, "email": "rita@example.org", "role": "write"}, key=self.wendy_key)
        self.assertError(r, 403, "insufficient_role")
        self.assertFalse(Invitation.objects.exists())
        self.assertEqual(self.role_of(self.rita), Role.READ)

    def test_an_admin_may_invite_writers_and_admins(self) -> None:
        for role in ("write", "admin"):
            email = f"{role}@example.org"
            r = self.post(URL, {"orgId": self.org.id, "email": email, "role": role}, key=self.adam_key)
            self.assertEqual(r.status_code, 200, r.content)
            self.assertEqual(r.json()["data"]["role"], f"invite_{role}")

    def test_an_admin_cannot_invite_a_super_admin(self) -> None:
        r = self.post(URL, {"orgId": self.org.id, "email": "new@example.org", "role": "super_admin"}, key=self.adam_key)
        body = self.assertError(r, 403, "insufficient_role")
        self.assertEqual(body["error"], "Super admin role required")
        self.assertFalse(Invitation.objects.exists())

    def test_an_admin_cannot_promote_a_member_to_super_admin(self) -> None:
        r = self.post(
            URL, {"orgId": self.org.id, "email": "wendy@example.org", "role": "super_admin"}, key=self.adam_key
        )
        self.assertError(r, 403, "insufficient_role")
        self.assertEqual(self.role_of(self.wendy), Role.WRITE)

    def test_an_admin_cannot_change_a_super_admins_role(self) -> None:
        r = self.post(URL, {"orgId": self.org.id, "email": "alice@example.org", "role": "read"}, key=self.adam_key)
        self.assertError(r, 403, "insufficient_role")
        self.assertEqual(self.role_of(self.alice), Role.SUPER_ADMIN)

    def test_an_admin_cannot_resend_a_super_admin_invitation(self) -> None:
        self.invite("boss@example.org", Role.SUPER_ADMIN)
        r = self.post(URL, {"orgId": self.org.id, "email": "boss@example.org", "role": "read"}, key=self.adam_key)
        self.assertError(r, 403, "insufficient_role")
        self.assertEqual(Invitation.objects.get(email="boss@example.org").role, Role.SUPER_ADMIN)

    def test_a_super_admin_may_grant_super_admin(self) -> None:
        r = self.post(
            URL, {"orgId": self.org.id, "email": "new@example.org", "role": "super_admin"}, key=self.key["all"]
        )
        self.assertEqual(r.json()["data"]["role"], "invite_super_admin")
        r = self.post(
            URL, {"orgId": self.org.id, "email": "adam@example.org", "role": "super_admin"}, key=self.key["all"]
        )
        self.assertEqual(r.json()["data"]["role"], "super_admin")
        self.assertEqual(self.role_of(self.adam), Role.SUPER_ADMIN)

    def test_demoting_the_only_super_admin_is_409(self) -> None:
        r = self.post(URL, {"orgId": self.org.id, "email": "alice@example.org", "role": "admin"}, key=self.key["all"])
        body = self.assertError(r, 409, "last_super_admin")
        self.assertEqual(body["error"], "Cannot remove the last super admin")
        self.assertEqual(self.role_of(self.alice), Role.SUPER_ADMIN)

    def test_with_two_super_admins_one_can_be_demoted(self) -> None:
        sam, sam_key = self.make_super_admin()
        r = self.post(URL, {"orgId": self.org.id, "email": "alice@example.org", "role": "admin"}, key=sam_key)
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(self.role_of(self.alice), Role.ADMIN)
        # Now sam is the only one left.
        r = self.post(URL, {"orgId": self.org.id, "email": "sam@example.org", "role": "admin"}, key=sam_key)
        self.assertError(r, 409, "last_super_admin")
        self.assertEqual(self.role_of(sam), Role.SUPER_ADMIN)

    def test_anonymous_gets_401(self) -> None:
        r = self.post(URL, {"orgId": self.org.id, "email": "new@example.org", "role": "read"})
        self.assertError(r, 401, "no_key_provided")

    def test_an_expired_key_gets_401(self) -> None:
        r = self.post(URL, {"orgId": self.org.id, "email": "new@example.org", "role": "read"}, key=self.expired_key)
        self.assertError(r, 401, "apikey_expired")

    def test_an_outsider_gets_the_same_404_as_for_a_missing_org(self) -> None:
        hidden = self.post(URL, {"orgId": self.org.id, "email": "new@example.org", "role": "read"}, key=self.oscar_key)
        missing = self.post(URL, {"orgId": "org_nope", "email": "new@example.org", "role": "read"}, key=self.oscar_key)
        self.assertError(hidden, 404, "org_not_found")
        self.assertEqual(hidden.json(), missing.json())
        self.assertFalse(Invitation.objects.exists())

    def test_a_key_limited_to_another_org_gets_404(self) -> None:
        second = services.organization_create(actor=Principal(self.alice), name="Second")
        r = self.post(URL, {"orgId": second.id, "email": "new@example.org", "role": "read"}, key=self.limited_key)
        self.assertError(r, 404, "org_not_found")
        self.assertFalse(Invitation.objects.exists())


class BrokenEmailBackend:
    """An email backend whose server is down."""

    def __init__(self, **kwargs: Any) -> None:
        pass

    def send_messages(self, messages: Any) -> int:
        raise ConnectionRefusedError("mail server down")


class MemberRemoveTestCase(MembersTestCase):
    def test_an_admin_removes_a_member(self) -> None:
        r = self.delete(URL, {"orgId": self.org.id, "email": "wendy@example.org"}, key=self.adam_key)
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json(), {"status": "OK"})
        self.assertIsNone(self.role_of(self.wendy))
        self.assertTrue(User.objects.filter(pk=self.wendy.pk).exists())
        self.assertNotIn("wendy@example.org", self.rows())

    def test_a_removed_member_loses_access_at_once(self) -> None:
        self.delete(URL, {"orgId": self.org.id, "email": "wendy@example.org"}, key=self.adam_key)
        self.assertError(self.get(URL, {"orgId": self.org.id}, key=self.wendy_key), 404, "org_not_found")

    def test_it_cancels_a_pending_invitation(self) -> None:
        invitation = self.invite("new@example.org")
        r = self.delete(URL, {"orgId": self.org.id, "email": "new@example.org"}, key=self.adam_key)
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json(), {"status": "OK"})
        invitation.refresh_from_db()
        self.assertEqual(invitation.status, Invitation.Status.CANCELLED)
        self.assertNotIn("new@example.org", self.rows())
        # The invitee, signing up afterwards, has nothing to accept.
        newcomer = make_user("new@example.org")
        newcomer_key = make_key(newcomer)[1]
        self.assertError(self.post(ACCEPT_URL, {"orgId": self.org.id}, key=newcomer_key), 404, "invitation_not_found")
        self.assertIsNone(self.role_of(newcomer))
        # Cancelling again: there is nothing left to cancel.
        r = self.delete(URL, {"orgId": self.org.id, "email": "new@example.org"}, key=self.adam_key)
        self.assertError(r, 404, "member_not_found")

    def test_a_member_may_leave(self) -> None:
        r = self.delete(URL, {"orgId": self.org.id, "email": "rita@example.org"}, key=self.rita_key)
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json(), {"status": "OK"})
        self.assertIsNone(self.role_of(self.rita))

    def test_a_read_member_cannot_remove_someone_else(self) -> None:
        r = self.delete(URL, {"orgId": self.org.id, "email": "wendy@example.org"}, key=self.rita_key)
        self.assertError(r, 403, "insufficient_role")
        self.assertEqual(self.role_of(self.wendy), Role.WRITE)

    def test_a_write_member_cannot_cancel_an_invitation(self) -> None:
        invitation = self.invite("new@example.org")
        r = self.delete(URL, {"orgId": self.org.id, "email": "new@example.org"}, key=self.wendy_key)
        self.assertError(r, 403, "insufficient_role")
        invitation.refresh_from_db()
        self.assertEqual(invitation.status, Invitation.Status.PENDING)

    def test_an_unknown_email_is_404(self) -> None:
        r = self.delete(URL, {"orgId": self.org.id, "email": "nobody@example.org"}, key=self.adam_key)
        body = self.assertError(r, 404, "member_not_found")
        self.assertEqual(body["error"], "Member not found")

    def test_read_and_upload_keys_get_403_even_to_leave(self) -> None:
        _key, rita_read = make_key(self.rita, "read")
        self.assertError(
            self.delete(URL, {"orgId": self.org.id, "email": "rita@example.org"}, key=rita_read),
            403,
            "key_mode_forbidden",
        )
        for mode in ("read", "upload"):
            r = self.delete(URL, {"orgId": self.org.id, "email": "wendy@example.org"}, key=self.key[mode])
            self.assertError(r, 403, "key_mode_forbidden")
        self.assertEqual(self.role_of(self.rita), Role.READ)
        self.assertEqual(self.role_of(self.wendy), Role.WRITE)

    def test_an_admin_cannot_remove_a_super_admin(self) -> None:
        r = self.delete(URL, {"orgId": self.org.id, "email": "alice@example.org"}, key=self.adam_key)
        self.assertError(r, 403, "insufficient_role")
        self.assertEqual(self.role_of(self.alice), Role.SUPER_ADMIN)

    def test_an_admin_cannot_cancel_a_super_admin_invitation(self) -> None:
        invitation = self.invite("boss@example.org", Role.SUPER_ADMIN)
        r = self.delete(URL, {"orgId": self.org.id, "email": "boss@example.org"}, key=self.adam_key)
        self.assertError(r, 403, "insufficient_role")
        invitation.refresh_from_db()
        self.assertEqual(invitation.status, Invitation.Status.PENDING)

    def test_the_only_super_admin_cannot_leave(self) -> None:
        r = self.delete(URL, {"orgId": self.org.id, "email": "alice@example.org"}, key=self.key["all"])
        body = self.assertError(r, 409, "last_super_admin")
        self.assertEqual(body["error"], "Cannot remove the last super admin")
        self.assertEqual(self.role_of(self.alice), Role.SUPER_ADMIN)

    def test_with_two_super_admins_one_can_remove_the_other(self) -> None:
        sam, sam_key = self.make_super_admin()
        r = self.delete(URL, {"orgId": self.org.id, "email": "alice@example.org"}, key=sam_key)
        self.assertEqual(r.status_code, 200, r.content)
        self.assertIsNone(self.role_of(self.alice))
        # sam is now the last one: removing them is refused.
        r = self.delete(URL, {"orgId": self.org.id, "email": "sam@example.org"}, key=sam_key)
        self.assertError(r, 409, "last_super_admin")
        self.assertEqual(self.role_of(sam), Role.SUPER_ADMIN)

    def test_with_two_super_admins_one_can_leave(self) -> None:
        self.make_super_admin()
        r = self.delete(URL, {"orgId": self.org.id, "email": "alice@example.org"}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        self.assertIsNone(self.role_of(self.alice))

    def test_a_json_body_without_a_query_string_works(self) -> None:
        body = json.dumps({"orgId": self.org.id, "email": "wendy@example.org"})
        r = self.client.delete(URL, body, content_type="application/json", HTTP_AUTHORIZATION=self.adam_key)
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json(), {"status": "OK"})
        self.assertIsNone(self.role_of(self.wendy))

    def test_orgid_and_email_are_required(self) -> None:
        body = self.assertError(self.delete(URL, {"orgId": self.org.id}, key=self.adam_key), 400, "invalid_body")
        self.assertIn("email", body["details"])
        body = self.assertError(
            self.delete(URL, {"email": "wendy@example.org"}, key=self.adam_key), 400, "invalid_body"
        )
        self.assertIn("orgId", body["details"])
        self.assertEqual(self.role_of(self.wendy), Role.WRITE)

    def test_anonymous_gets_401(self) -> None:
        self.assertError(self.delete(URL, {"orgId": self.org.id, "email": "wendy@example.org"}), 401, "no_key_provided")

    def test_an_expired_key_gets_401(self) -> None:
        r = self.delete(URL, {"orgId": self.org.id, "email": "wendy@example.org"}, key=self.expired_key)
        self.assertError(r, 401, "apikey_expired")

    def test_an_outsider_gets_the_same_404_as_for_a_missing_org(self) -> None:
        hidden = self.delete(URL, {"orgId": self.org.id, "email": "wendy@example.org"}, key=self.oscar_key)
        missing = self.delete(URL, {"orgId": "org_nope", "email": "wendy@example.org"}, key=self.oscar_key)
        self.assertError(hidden, 404, "org_not_found")
        self.assertEqual(hidden.json(), missing.json())
        self.assertEqual(self.role_of(self.wendy), Role.WRITE)


class MemberAcceptTestCase(MembersTestCase):
    def test_the_invited_user_accepts_and_becomes_a_member(self) -> None:
        invitation = self.invite("oscar@example.org", Role.WRITE)
        r = self.post(ACCEPT_URL, {"orgId": self.org.id}, key=self.oscar_key)
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(
            r.json(),
            {
                "status": "OK",
                "data": {
                    "uid": str(self.oscar.pk),
                    "email": "oscar@example.org",
                    "image_url": None,
                    "role": "write",
                    "is_tmp": False,
                },
            },
        )
        self.assertEqual(self.role_of(self.oscar), Role.WRITE)
        invitation.refresh_from_db()
        self.assertEqual(invitation.status, Invitation.Status.ACCEPTED)
        self.assertEqual(self.get("/organization/", {"orgId": self.org.id}, key=self.oscar_key).status_code, 200)
        self.assertEqual(self.rows()["oscar@example.org"]["role"], "write")

    def test_it_answers_without_the_trailing_slash(self) -> None:
        self.invite("oscar@example.org")
        self.assertEqual(
            self.post("/organization/members/accept", {"orgId": self.org.id}, key=self.oscar_key).status_code, 200
        )

    def test_a_pending_invitation_grants_nothing(self) -> None:
        self.invite("oscar@example.org", Role.ADMIN)
        self.assertError(self.get("/organization/", {"orgId": self.org.id}, key=self.oscar_key), 404, "org_not_found")
        self.assertError(self.get(URL, {"orgId": self.org.id}, key=self.oscar_key), 404, "org_not_found")
        r = self.post(URL, {"orgId": self.org.id, "email": "new@example.org", "role": "read"}, key=self.oscar_key)
        self.assertError(r, 404, "org_not_found")
        self.assertNotIn(self.org.id, [o["id"] for o in self.get("/organization/", key=self.oscar_key).json()["data"]])
        self.assertIsNone(self.role_of(self.oscar))

    def test_without_a_pending_invitation_it_is_404(self) -> None:
        body = self.assertError(
            self.post(ACCEPT_URL, {"orgId": self.org.id}, key=self.oscar_key), 404, "invitation_not_found"
        )
        self.assertEqual(body["error"], "Invitation not found")
        self.assertError(self.post(ACCEPT_URL, {"orgId": "org_nope"}, key=self.oscar_key), 404, "invitation_not_found")

    def test_accepting_twice_is_404(self) -> None:
        self.invite("oscar@example.org")
        self.assertEqual(self.post(ACCEPT_URL, {"orgId": self.org.id}, key=self.oscar_key).status_code, 200)
        self.assertError(self.post(ACCEPT_URL, {"orgId": self.org.id}, key=self.oscar_key), 404, "invitation_not_found")
        self.assertEqual(Membership.objects.filter(organization=self.org, user=self.oscar).count(), 1)

    def test_only_the_invited_address_may_accept(self) -> None:
        self.invite("new@example.org")
        self.assertError(self.post(ACCEPT_URL, {"orgId": self.org.id}, key=self.oscar_key), 404, "invitation_not_found")
        self.assertIsNone(self.role_of(self.oscar))

    def test_an_expired_invitation_cannot_be_accepted(self) -> None:
        invitation = self.invite("oscar@example.org")
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        body = self.assertError(
            self.post(ACCEPT_URL, {"orgId": self.org.id}, key=self.oscar_key), 404, "invitation_not_found"
        )
        self.assertIn("expired", body["error"])
        self.assertIsNone(self.role_of(self.oscar))

    def test_a_cancelled_invitation_cannot_be_accepted(self) -> None:
        invitation = self.invite("oscar@example.org")
        services.invitation_cancel(actor=Principal(self.alice), invitation=invitation)
        self.assertError(self.post(ACCEPT_URL, {"orgId": self.org.id}, key=self.oscar_key), 404, "invitation_not_found")
        self.assertIsNone(self.role_of(self.oscar))

    def test_a_read_key_cannot_accept(self) -> None:
        self.invite("oscar@example.org")
        _key, oscar_read = make_key(self.oscar, "read")
        self.assertError(self.post(ACCEPT_URL, {"orgId": self.org.id}, key=oscar_read), 403, "key_mode_forbidden")
        self.assertIsNone(self.role_of(self.oscar))

    def test_a_key_limited_to_other_orgs_cannot_accept(self) -> None:
        self.invite("oscar@example.org")
        _key, limited = make_key(self.oscar, limited_to_orgs=[self.other_org.id])
        self.assertError(self.post(ACCEPT_URL, {"orgId": self.org.id}, key=limited), 404, "invitation_not_found")
        self.assertIsNone(self.role_of(self.oscar))

    def test_an_org_requiring_expiring_keys_refuses_a_key_without_expiry(self) -> None:
        self.invite("oscar@example.org")
        Organization.objects.filter(pk=self.org.pk).update(require_apikey_expiration=True)
        self.assertError(
            self.post(ACCEPT_URL, {"orgId": self.org.id}, key=self.oscar_key), 401, "org_requires_expiring_key"
        )
        _key, expiring = make_key(self.oscar, expires_at=timezone.now() + timedelta(days=1))
        self.assertEqual(self.post(ACCEPT_URL, {"orgId": self.org.id}, key=expiring).status_code, 200)

    def test_orgid_is_required(self) -> None:
        self.assertError(self.post(ACCEPT_URL, {}, key=self.oscar_key), 400, "invalid_body")

    def test_anonymous_gets_401(self) -> None:
        self.assertError(self.post(ACCEPT_URL, {"orgId": self.org.id}), 401, "no_key_provided")


class MemberAuditTestCase(MembersTestCase):
    """Every invite, acceptance, role change, removal and cancellation leaves its event."""

    def events(self) -> list[AuditEvent]:
        return list(AuditEvent.objects.filter(org_id=self.org.id, table_name="org_users").order_by("id"))

    def assertActor(self, event: AuditEvent, user: User, key_name: str | None) -> None:  # noqa: N802
        self.assertEqual(event.actor_user_id, str(user.pk))
        self.assertEqual(event.actor_user_email, user.email)
        if key_name is None:
            self.assertEqual(event.actor_type, "user")
            self.assertIsNone(event.actor_apikey_id)
        else:
            self.assertEqual(event.actor_type, "apikey")
            self.assertEqual(event.actor_apikey_name, key_name)
            self.assertIsNotNone(event.actor_apikey_id)

    def setUp(self) -> None:
        super().setUp()
        self.before = AuditEvent.objects.count()

    def test_an_invitation_is_an_insert(self) -> None:
        self.post(URL, {"orgId": self.org.id, "email": "new@example.org", "role": "write"}, key=self.key["all"])
        [event] = self.events()[-1:]
        invitation = Invitation.objects.get(email="new@example.org")
        self.assertEqual((event.operation, event.record_id), ("INSERT", str(invitation.id)))
        self.assertEqual(event.new_record["email"], "new@example.org")
        self.assertEqual(event.new_record["role"], "invite_write")
        self.assertIsNone(event.old_record)
        self.assertActor(event, self.alice, "all key")
        self.assertEqual(AuditEvent.objects.count(), self.before + 1)

    def test_a_resend_is_an_update(self) -> None:
        invitation = self.invite("new@example.org", Role.READ)
        self.post(URL, {"orgId": self.org.id, "email": "new@example.org", "role": "admin"}, key=self.adam_key)
        event = self.events()[-1]
        self.assertEqual((event.operation, event.record_id), ("UPDATE", str(invitation.id)))
        self.assertEqual((event.old_record["role"], event.new_record["role"]), ("invite_read", "invite_admin"))
        self.assertIn("expires_at", event.changed_fields)
        self.assertActor(event, self.adam, "all key")

    def test_an_acceptance_updates_the_invitation_and_inserts_the_member(self) -> None:
        invitation = self.invite("oscar@example.org", Role.WRITE)
        self.post(ACCEPT_URL, {"orgId": self.org.id}, key=self.oscar_key)
        accepted, joined = self.events()[-2:]
        self.assertEqual((accepted.operation, accepted.record_id), ("UPDATE", str(invitation.id)))
        self.assertEqual(accepted.new_record["status"], "accepted")
        self.assertEqual((joined.operation, joined.record_id), ("INSERT", str(self.oscar.pk)))
        self.assertEqual(joined.new_record["role"], "write")
        self.assertActor(accepted, self.oscar, "all key")
        self.assertActor(joined, self.oscar, "all key")

    def test_a_role_change_is_an_update(self) -> None:
        self.post(URL, {"orgId": self.org.id, "email": "rita@example.org", "role": "write"}, key=self.adam_key)
        [event] = self.events()[-1:]
        self.assertEqual((event.operation, event.record_id), ("UPDATE", str(self.rita.pk)))
        self.assertEqual((event.old_record["role"], event.new_record["role"]), ("read", "write"))
        self.assertEqual(event.changed_fields, ["role"])
        self.assertActor(event, self.adam, "all key")
        self.assertEqual(AuditEvent.objects.count(), self.before + 1)

    def test_setting_the_same_role_writes_nothing(self) -> None:
        self.post(URL, {"orgId": self.org.id, "email": "rita@example.org", "role": "read"}, key=self.adam_key)
        self.assertEqual(AuditEvent.objects.count(), self.before)

    def test_a_removal_is_a_delete(self) -> None:
        self.delete(URL, {"orgId": self.org.id, "email": "wendy@example.org"}, key=self.adam_key)
        [event] = self.events()[-1:]
        self.assertEqual((event.operation, event.record_id), ("DELETE", str(self.wendy.pk)))
        self.assertEqual(event.old_record["email"], "wendy@example.org")
        self.assertIsNone(event.new_record)
        self.assertActor(event, self.adam, "all key")

    def test_leaving_is_a_delete_by_the_member(self) -> None:
        self.delete(URL, {"orgId": self.org.id, "email": "rita@example.org"}, key=self.rita_key)
        event = self.events()[-1]
        self.assertEqual((event.operation, event.record_id), ("DELETE", str(self.rita.pk)))
        self.assertActor(event, self.rita, "all key")

    def test_a_cancellation_is_recorded(self) -> None:
        invitation = self.invite("new@example.org")
        self.delete(URL, {"orgId": self.org.id, "email": "new@example.org"}, key=self.adam_key)
        event = self.events()[-1]
        self.assertEqual((event.operation, event.record_id), ("UPDATE", str(invitation.id)))
        self.assertEqual((event.old_record["status"], event.new_record["status"]), ("pending", "cancelled"))
        self.assertActor(event, self.adam, "all key")

    def test_a_browser_session_is_recorded_as_the_user(self) -> None:
        self.client.force_login(self.adam)
        self.post(URL, {"orgId": self.org.id, "email": "rita@example.org", "role": "write"})
        self.assertActor(self.events()[-1], self.adam, None)

    def test_refused_changes_write_no_event(self) -> None:
        self.post(URL, {"orgId": self.org.id, "email": "alice@example.org", "role": "admin"}, key=self.key["all"])
        self.delete(URL, {"orgId": self.org.id, "email": "alice@example.org"}, key=self.adam_key)
        self.post(URL, {"orgId": self.org.id, "email": "new@example.org", "role": "read"}, key=self.wendy_key)
        self.assertEqual(AuditEvent.objects.count(), self.before)

    def test_the_change_and_its_event_commit_together(self) -> None:
        with (
            mock.patch("organizations.services.audit.record", side_effect=RuntimeError("audit down")),
            self.assertLogs("organizations.api", "ERROR"),
        ):
            r1 = self.post(URL, {"orgId": self.org.id, "email": "rita@example.org", "role": "write"}, key=self.adam_key)
            r2 = self.delete(URL, {"orgId": self.org.id, "email": "wendy@example.org"}, key=self.adam_key)
            r3 = self.post(URL, {"orgId": self.org.id, "email": "new@example.org", "role": "read"}, key=self.adam_key)
        for r in (r1, r2, r3):
            self.assertError(r, 500, "internal_error")
        self.assertEqual(self.role_of(self.rita), Role.READ)
        self.assertEqual(self.role_of(self.wendy), Role.WRITE)
        self.assertFalse(Invitation.objects.exists())


class MemberPrivacyTestCase(MembersTestCase):
    """Nobody learns through these endpoints whether an address has an account."""

    def test_an_outsider_gets_the_same_answer_for_an_existing_and_an_unknown_email(self) -> None:
        for method, extra in ((self.post, {"role": "read"}), (self.delete, {})):
            for org_id in (self.org.id, "org_nope"):
                known = method(URL, {"orgId": org_id, "email": "wendy@example.org", **extra}, key=self.oscar_key)
                unknown = method(URL, {"orgId": org_id, "email": "ghost@example.org", **extra}, key=self.oscar_key)
                self.assertError(known, 404, "org_not_found")
                self.assertEqual(known.json(), unknown.json())

    def test_a_reader_gets_the_same_answer_for_an_account_and_an_unknown_email(self) -> None:
        account = self.delete(URL, {"orgId": self.org.id, "email": "oscar@example.org"}, key=self.rita_key)
        unknown = self.delete(URL, {"orgId": self.org.id, "email": "ghost@example.org"}, key=self.rita_key)
        self.assertError(account, 403, "insufficient_role")
        self.assertEqual(account.json(), unknown.json())

    def test_an_admin_gets_the_same_404_for_an_account_and_an_unknown_email(self) -> None:
        account = self.delete(URL, {"orgId": self.org.id, "email": "oscar@example.org"}, key=self.adam_key)
        unknown = self.delete(URL, {"orgId": self.org.id, "email": "ghost@example.org"}, key=self.adam_key)
        self.assertError(account, 404, "member_not_found")
        self.assertEqual(account.json(), unknown.json())

    def test_an_invitation_answers_in_the_same_shape_with_or_without_an_account(self) -> None:
        with self.captureOnCommitCallbacks(execute=True):
            account = self.post(
                URL, {"orgId": self.org.id, "email": "oscar@example.org", "role": "read"}, key=self.adam_key
            )
            unknown = self.post(
                URL, {"orgId": self.org.id, "email": "ghost@example.org", "role": "read"}, key=self.adam_key
            )
        self.assertEqual((account.status_code, unknown.status_code), (200, 200))
        a, u = account.json(), unknown.json()
        self.assertEqual(set(a), set(u))
        self.assertEqual(set(a["data"]), MEMBER_FIELDS)
        self.assertEqual(set(u["data"]), MEMBER_FIELDS)
        self.assertEqual((a["status"], a["data"]["role"]), (u["status"], u["data"]["role"]))
        # Both are invited the same way: an email each, no membership for either yet.
        self.assertEqual(sorted(m.to[0] for m in mail.outbox), ["ghost@example.org", "oscar@example.org"])
        self.assertIsNone(self.role_of(self.oscar))
