"""The members page (list, invite, change role, remove, resend, cancel, leave) and the invitation link."""

from __future__ import annotations

import re
from datetime import timedelta

from django.core import mail
from django.test import Client
from django.utils import timezone

from organizations import services
from organizations.exceptions import InvitationNotFound
from organizations.models import AuditEvent, Invitation, Membership, User
from organizations.roles import Principal, Role
from tests.base import ApiTestCase, make_user

ACCEPT = "/invitations/accept/"


class MembersTestCase(ApiTestCase):
    def setUp(self) -> None:
        self.url = f"/orgs/{self.org.id}/members/"

    def invite(self, email: str, role: str = Role.WRITE) -> Invitation:
        with self.captureOnCommitCallbacks(execute=True):
            services.member_invite(actor=Principal(self.alice), org=self.org, email=email, role=role)
        return Invitation.objects.get(organization=self.org, email=email, status=Invitation.Status.PENDING)

    def role_of(self, user: User) -> str | None:
        return Membership.objects.filter(organization=self.org, user=user).values_list("role", flat=True).first()


class MembersPageTestCase(MembersTestCase):
    def test_it_checks_access(self) -> None:
        self.assertRedirects(self.client.get(self.url), f"/accounts/login/?next={self.url}")
        self.client.force_login(self.oscar)
        self.assertEqual(self.client.get(self.url).status_code, 404)

    def test_it_lists_members_with_roles_and_pending_invitations_with_expiry(self) -> None:
        invitation = self.invite("newcomer@example.org", Role.UPLOAD)
        self.client.force_login(self.rita)
        r = self.client.get(self.url)
        for email in ("alice@example.org", "adam@example.org", "wendy@example.org", "rita@example.org"):
            self.assertContains(r, email)
        self.assertContains(r, '<span class="badge role-super_admin">Super admin</span>', html=True)
        self.assertContains(r, 'id="invitation-')
        self.assertContains(r, "newcomer@example.org")
        self.assertContains(r, invitation.expires_at.strftime("%Y-%m-%d %H:%M") + " UTC")
        self.assertContains(r, "no account yet")
        self.assertNotContains(r, "oscar@example.org")

    def test_the_only_super_admin_is_offered_no_role_change_removal_or_leave(self) -> None:
        self.client.force_login(self.alice)
        r = self.client.get(self.url)
        self.assertNotContains(r, f'id="role-{self.alice.pk}"')
        self.assertNotContains(r, 'id="leave-org"')
        self.assertContains(r, f'id="role-{self.rita.pk}"')
        # With a second super_admin, alice may change adam's role and leave; her own role is another's to change.
        Membership.objects.filter(user=self.adam, organization=self.org).update(role=Role.SUPER_ADMIN)
        r = self.client.get(self.url)
        self.assertContains(r, f'id="role-{self.adam.pk}"')
        self.assertNotContains(r, f'id="role-{self.alice.pk}"')
        self.assertContains(r, 'id="leave-org"')

    def test_no_one_is_offered_a_picker_for_their_own_role(self) -> None:
        self.client.force_login(self.adam)
        self.assertNotContains(self.client.get(self.url), f'id="role-{self.adam.pk}"')

    def test_a_read_member_sees_no_management_buttons_but_may_leave(self) -> None:
        self.invite("newcomer@example.org")
        self.client.force_login(self.rita)
        r = self.client.get(self.url)
        self.assertNotContains(r, 'id="invite-form"')
        self.assertNotContains(r, "Change role")
        self.assertNotContains(r, ">Remove<")
        self.assertNotContains(r, "Resend")
        self.assertNotContains(r, "Cancel invitation")
        self.assertNotContains(r, 'id="tab-settings"')
        self.assertNotContains(r, 'id="tab-audit"')
        self.assertContains(r, 'id="leave-org"')
        # No column of empty cells: the table has no Actions column for them.
        self.assertNotContains(r, "<th>Actions</th>")

    def test_an_admin_cannot_touch_a_super_admin_or_grant_super_admin(self) -> None:
        self.client.force_login(self.adam)
        r = self.client.get(self.url)
        self.assertContains(r, 'id="invite-form"')
        invite_roles = re.search(r'<div id="id_role" class="choices">(.*?)</fieldset>', r.content.decode(), re.S).group(
            1
        )
        self.assertIn('value="admin"', invite_roles)
        self.assertNotIn("super_admin", invite_roles)
        self.assertNotContains(r, f'id="role-{self.alice.pk}"')
        alice_row = re.search(rf'<tr id="member-{self.alice.pk}".*?</tr>', r.content.decode(), re.S).group(0)
        self.assertNotIn("Remove", alice_row)
        wendy_row = re.search(rf'<tr id="member-{self.wendy.pk}".*?</tr>', r.content.decode(), re.S).group(0)
        self.assertIn(f'id="role-{self.wendy.pk}"', wendy_row)
        self.assertIn("Remove", wendy_row)
        self.assertNotIn('value="super_admin"', wendy_row)

    def test_a_super_admin_may_grant_super_admin(self) -> None:
        self.client.force_login(self.alice)
        r = self.client.get(self.url)
        wendy_row = re.search(rf'<tr id="member-{self.wendy.pk}".*?</tr>', r.content.decode(), re.S).group(0)
        self.assertIn('value="super_admin"', wendy_row)


class InviteTestCase(MembersTestCase):
    def test_a_read_member_is_refused_by_the_server_too(self) -> None:
        self.client.force_login(self.rita)
        r = self.client.post(f"{self.url}invite/", {"email": "x@example.org", "role": "read"})
        self.assertEqual(r.status_code, 403)
        self.assertFalse(Invitation.objects.filter(email="x@example.org").exists())
        self.assertEqual(mail.outbox, [])

    def test_an_outsider_gets_404(self) -> None:
        self.client.force_login(self.oscar)
        r = self.client.post(f"{self.url}invite/", {"email": "x@example.org", "role": "read"})
        self.assertEqual(r.status_code, 404)

    def test_an_admin_invites_by_email_and_role(self) -> None:
        self.client.force_login(self.adam)
        with self.captureOnCommitCallbacks(execute=True):
            r = self.client.post(f"{self.url}invite/", {"email": "New@Example.org", "role": "write"})
        self.assertRedirects(r, self.url, fetch_redirect_response=False)
        invitation = Invitation.objects.get(organization=self.org, email="new@example.org")
        self.assertEqual((invitation.role, invitation.status), ("write", "pending"))
        self.assertEqual(mail.outbox[0].to, ["new@example.org"])
        self.assertIn("/invitations/", mail.outbox[0].body)
        r = self.client.get(self.url)
        self.assertSays(r, "Invitation sent to new@example.org.")

    def test_an_admin_cannot_invite_a_super_admin(self) -> None:
        self.client.force_login(self.adam)
        r = self.client.post(f"{self.url}invite/", {"email": "boss@example.org", "role": "super_admin"})
        self.assertContains(r, "Select a valid choice.")
        self.assertFalse(Invitation.objects.filter(email="boss@example.org").exists())

    def test_inviting_an_existing_super_admin_as_an_admin_is_refused(self) -> None:
        self.client.force_login(self.adam)
        r = self.client.post(f"{self.url}invite/", {"email": "alice@example.org", "role": "read"})
        self.assertEqual(r.status_code, 403)
        self.assertContains(r, "Super admin role required", status_code=403)
        self.assertEqual(self.role_of(self.alice), Role.SUPER_ADMIN)

    def test_an_invalid_email_is_a_form_error(self) -> None:
        self.client.force_login(self.adam)
        r = self.client.post(f"{self.url}invite/", {"email": "not-an-email", "role": "read"})
        self.assertContains(r, "Enter a valid email address.")


class ChangeRoleTestCase(MembersTestCase):
    def role_url(self, user: User) -> str:
        return f"{self.url}{user.pk}/role/"

    def test_it_checks_access(self) -> None:
        url = self.role_url(self.wendy)
        self.assertRedirects(self.client.post(url, {"role": "read"}), f"/accounts/login/?next={url}")
        self.client.force_login(self.oscar)
        self.assertEqual(self.client.post(url, {"role": "read"}).status_code, 404)
        self.client.force_login(self.wendy)
        self.assertEqual(self.client.post(self.role_url(self.rita), {"role": "admin"}).status_code, 403)
        self.client.force_login(self.adam)
        self.assertEqual(self.client.post(self.role_url(self.alice), {"role": "read"}).status_code, 403)
        self.assertEqual(self.client.post(f"{self.url}{self.oscar.pk}/role/", {"role": "read"}).status_code, 404)
        self.assertEqual((self.role_of(self.rita), self.role_of(self.alice)), (Role.READ, Role.SUPER_ADMIN))

    def test_an_admin_changes_a_role(self) -> None:
        self.client.force_login(self.adam)
        r = self.client.post(self.role_url(self.rita), {"role": "write"})
        self.assertRedirects(r, self.url, fetch_redirect_response=False)
        self.assertEqual(self.role_of(self.rita), Role.WRITE)
        self.assertSays(self.client.get(self.url), "rita@example.org is now Write.")
        self.assertTrue(
            AuditEvent.objects.filter(org_id=self.org.id, table_name="org_users", record_id=str(self.rita.pk)).exists()
        )

    def test_with_htmx_the_page_comes_back_without_a_redirect(self) -> None:
        self.client.force_login(self.adam)
        r = self.client.post(self.role_url(self.rita), {"role": "upload"}, headers={"HX-Request": "true"})
        self.assertEqual(r.status_code, 200)
        self.assertContains(r, 'id="main"')
        self.assertSays(r, "rita@example.org is now Upload.")
        self.assertEqual(self.role_of(self.rita), Role.UPLOAD)

    def test_demoting_the_last_super_admin_shows_a_clear_message(self) -> None:
        self.client.force_login(self.alice)
        r = self.client.post(self.role_url(self.alice), {"role": "admin"}, follow=True)
        self.assertContains(r, "Cannot remove the last super admin")
        self.assertEqual(self.role_of(self.alice), Role.SUPER_ADMIN)

    def test_an_unknown_role_is_refused(self) -> None:
        self.client.force_login(self.alice)
        r = self.client.post(self.role_url(self.rita), {"role": "owner"}, follow=True)
        self.assertContains(r, "Choose a valid role.")
        self.assertEqual(self.role_of(self.rita), Role.READ)


class RemoveAndLeaveTestCase(MembersTestCase):
    def test_an_admin_removes_a_member(self) -> None:
        self.client.force_login(self.adam)
        r = self.client.post(f"{self.url}{self.wendy.pk}/remove/", follow=True)
        self.assertSays(r, "wendy@example.org was removed. Invite them again")
        self.assertIsNone(self.role_of(self.wendy))

    def test_the_server_refuses_removals_the_roles_forbid(self) -> None:
        self.client.force_login(self.wendy)
        self.assertEqual(self.client.post(f"{self.url}{self.rita.pk}/remove/").status_code, 403)
        self.client.force_login(self.adam)
        self.assertEqual(self.client.post(f"{self.url}{self.alice.pk}/remove/").status_code, 403)
        self.client.force_login(self.oscar)
        self.assertEqual(self.client.post(f"{self.url}{self.rita.pk}/remove/").status_code, 404)
        self.assertEqual((self.role_of(self.rita), self.role_of(self.alice)), (Role.READ, Role.SUPER_ADMIN))

    def test_a_member_leaves(self) -> None:
        self.client.force_login(self.rita)
        r = self.client.post(f"/orgs/{self.org.id}/leave/")
        self.assertRedirects(r, "/orgs/", fetch_redirect_response=False)
        self.assertIsNone(self.role_of(self.rita))
        self.assertSays(self.client.get("/orgs/"), "You left Alice Org.")
        self.assertEqual(self.client.get(self.url).status_code, 404)

    def test_the_last_super_admin_cannot_leave(self) -> None:
        self.client.force_login(self.alice)
        r = self.client.post(f"/orgs/{self.org.id}/leave/", follow=True)
        self.assertContains(r, "Cannot remove the last super admin")
        self.assertEqual(self.role_of(self.alice), Role.SUPER_ADMIN)

    def test_an_outsider_cannot_leave_what_they_are_not_in(self) -> None:
        self.client.force_login(self.oscar)
        self.assertEqual(self.client.post(f"/orgs/{self.org.id}/leave/").status_code, 404)


class ResendAndCancelTestCase(MembersTestCase):
    def test_an_admin_resends_with_a_fresh_expiry_and_link(self) -> None:
        invitation = self.invite("newcomer@example.org")
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() + timedelta(hours=1))
        mail.outbox.clear()
        self.client.force_login(self.adam)
        with self.captureOnCommitCallbacks(execute=True):
            r = self.client.post(f"/orgs/{self.org.id}/invitations/{invitation.pk}/resend/", follow=True)
        self.assertSays(r, "Invitation sent again to newcomer@example.org.")
        invitation.refresh_from_db()
        self.assertGreater(invitation.expires_at, timezone.now() + timedelta(days=6))
        self.assertEqual(mail.outbox[0].to, ["newcomer@example.org"])

    def test_an_admin_cancels_and_the_link_stops_working(self) -> None:
        invitation = self.invite("newcomer@example.org")
        link = re.search(r"http://\S+(/invitations/\S+/)", mail.outbox[0].body).group(1)
        self.client.force_login(self.adam)
        r = self.client.post(f"/orgs/{self.org.id}/invitations/{invitation.pk}/cancel/", follow=True)
        self.assertSays(r, "The invitation for newcomer@example.org was cancelled. Invite again")
        self.assertNotContains(r, 'id="invitation-')
        invitation.refresh_from_db()
        self.assertEqual(invitation.status, Invitation.Status.CANCELLED)
        self.client.logout()
        self.assertContains(self.client.get(link, follow=True), "has been cancelled")

    def test_the_server_refuses_them_to_low_roles_and_outsiders(self) -> None:
        invitation = self.invite("newcomer@example.org")
        for user, status in ((self.wendy, 403), (self.oscar, 404)):
            self.client.force_login(user)
            for action in ("resend", "cancel"):
                with self.subTest(user=user.email, action=action):
                    url = f"/orgs/{self.org.id}/invitations/{invitation.pk}/{action}/"
                    self.assertEqual(self.client.post(url).status_code, status)
        invitation.refresh_from_db()
        self.assertEqual(invitation.status, Invitation.Status.PENDING)

    def test_an_admin_cannot_cancel_a_super_admin_invitation(self) -> None:
        invitation = self.invite("boss@example.org", Role.SUPER_ADMIN)
        self.client.force_login(self.adam)
        r = self.client.get(self.url)
        row = re.search(rf'<tr id="invitation-{invitation.pk}".*?</tr>', r.content.decode(), re.S).group(0)
        self.assertNotIn("Cancel invitation", row)
        self.assertEqual(self.client.post(f"/orgs/{self.org.id}/invitations/{invitation.pk}/cancel/").status_code, 403)

    def test_an_unknown_invitation_is_404(self) -> None:
        self.client.force_login(self.adam)
        url = f"/orgs/{self.org.id}/invitations/00000000-0000-0000-0000-000000000000/cancel/"
        self.assertEqual(self.client.post(url).status_code, 404)


class InvitationLinkTestCase(MembersTestCase):
    def link_for(self, email: str, role: str = Role.WRITE) -> tuple[Invitation, str]:
        mail.outbox.clear()
        invitation = self.invite(email, role)
        return invitation, re.search(r"http://\S+(/invitations/\S+/)", mail.outbox[0].body).group(1)

    def test_an_invalid_token_says_so(self) -> None:
        r = self.client.get("/invitations/not-a-real-token/")
        self.assertContains(r, "This invitation link is not valid.", status_code=404)

    def test_someone_without_an_account_signs_up_through_the_link_and_accepts(self) -> None:
        _invitation, link = self.link_for("newcomer@example.org")
        r = self.client.get(link, follow=True)
        self.assertEqual(r.redirect_chain, [(ACCEPT, 302)])
        self.assertSays(r, "You are invited to join Alice Org as Write.")
        self.assertContains(r, "Create an account with this address to accept it.")
        signup = re.search(r'id="invitation-signup" href="([^"]+)"', r.content.decode()).group(1).replace("&amp;", "&")
        r = self.client.get(signup)
        self.assertContains(r, 'value="newcomer@example.org"')
        r = self.client.post(
            signup,
            {
                "email": "newcomer@example.org",
                "name": "Newcomer",
                "password1": "a-long-pass-phrase",
                "password2": "a-long-pass-phrase",
            },
        )
        self.assertRedirects(r, ACCEPT, fetch_redirect_response=False)
        self.assertContains(self.client.get(ACCEPT), 'id="accept-invitation"')
        r = self.client.post(ACCEPT)
        self.assertRedirects(r, self.url, fetch_redirect_response=False)
        newcomer = User.objects.get(email="newcomer@example.org")
        self.assertEqual(self.role_of(newcomer), Role.WRITE)
        self.assertSays(self.client.get(self.url), "You joined Alice Org.")

    def test_a_logged_out_user_with_an_account_is_offered_to_log_in_and_come_back(self) -> None:
        make_user("bob@example.org")
        _invitation, link = self.link_for("bob@example.org")
        r = self.client.get(link, follow=True)
        self.assertContains(r, "Log in with this address to accept it.")
        self.assertContains(r, f'id="invitation-login" href="/accounts/login/?next={ACCEPT}"')
        r = self.client.post(
            f"/accounts/login/?next={ACCEPT}", {"login": "bob@example.org", "password": "password-123", "next": ACCEPT}
        )
        self.assertRedirects(r, ACCEPT, fetch_redirect_response=False)

    def test_a_logged_in_user_accepts_with_one_button(self) -> None:
        bob = make_user("bob@example.org")
        _invitation, link = self.link_for("bob@example.org", Role.ADMIN)
        self.client.force_login(bob)
        self.assertContains(self.client.get(link, follow=True), "Accept the invitation")
        self.client.post(ACCEPT)
        self.assertEqual(self.role_of(bob), Role.ADMIN)
        r = self.client.get(link, follow=True)
        self.assertContains(r, "has already been accepted")

    def test_someone_logged_in_with_another_address_is_told_so(self) -> None:
        _invitation, link = self.link_for("bob@example.org")
        self.client.force_login(self.oscar)
        r = self.client.get(link, follow=True)
        self.assertSays(r, "This invitation was sent to bob@example.org", status_code=403)
        self.assertEqual(self.client.post(ACCEPT).status_code, 403)
        self.assertIsNone(self.role_of(self.oscar))

    def test_an_expired_invitation_says_so(self) -> None:
        invitation, link = self.link_for("bob@example.org")
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
        self.assertContains(self.client.get(link, follow=True), "has expired")
        bob = make_user("bob@example.org")
        self.client.force_login(bob)
        self.client.post(ACCEPT)
        self.assertIsNone(self.role_of(bob))

    def test_the_accept_form_needs_the_csrf_token(self) -> None:
        bob = make_user("bob@example.org")
        _invitation, link = self.link_for("bob@example.org")
        client = Client(enforce_csrf_checks=True)
        client.force_login(bob)
        client.get(link)
        self.assertEqual(client.post(ACCEPT).status_code, 403)
        self.assertIsNone(self.role_of(bob))


class JoinFromTheListTestCase(MembersTestCase):
    def test_my_pending_invitations_are_listed_and_can_be_accepted(self) -> None:
        bob = make_user("bob@example.org")
        self.invite("bob@example.org", Role.UPLOAD)
        self.client.force_login(bob)
        r = self.client.get("/orgs/")
        self.assertContains(r, "Invitations for you")
        self.assertContains(r, "Alice Org")
        r = self.client.post(f"/orgs/{self.org.id}/join/")
        self.assertRedirects(r, self.url, fetch_redirect_response=False)
        self.assertEqual(self.role_of(bob), Role.UPLOAD)
        self.assertNotContains(self.client.get("/orgs/"), "Invitations for you")

    def test_without_an_invitation_nothing_is_joined(self) -> None:
        self.client.force_login(self.oscar)
        r = self.client.post(f"/orgs/{self.org.id}/join/", follow=True)
        self.assertContains(r, "Invitation not found")
        self.assertIsNone(self.role_of(self.oscar))

    def test_an_expired_invitation_is_neither_listed_nor_accepted(self) -> None:
        bob = make_user("bob@example.org")
        invitation = self.invite("bob@example.org")
        Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
        self.client.force_login(bob)
        self.assertNotContains(self.client.get("/orgs/"), "Invitations for you")
        r = self.client.post(f"/orgs/{self.org.id}/join/", follow=True)
        self.assertContains(r, "This invitation has expired.")
        self.assertIsNone(self.role_of(bob))


class MembersCsrfTestCase(MembersTestCase):
    def test_every_member_form_needs_the_csrf_token(self) -> None:
        invitation = self.invite("newcomer@example.org")
        mail.outbox.clear()
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.alice)
        urls = [
            (f"{self.url}invite/", {"email": "x@example.org", "role": "read"}),
            (f"{self.url}{self.rita.pk}/role/", {"role": "admin"}),
            (f"{self.url}{self.rita.pk}/remove/", {}),
            (f"/orgs/{self.org.id}/invitations/{invitation.pk}/resend/", {}),
            (f"/orgs/{self.org.id}/invitations/{invitation.pk}/cancel/", {}),
            (f"/orgs/{self.org.id}/leave/", {}),
            (f"/orgs/{self.org.id}/join/", {}),
        ]
        for url, data in urls:
            with self.subTest(url=url):
                self.assertEqual(client.post(url, data).status_code, 403)
        # The same request with htmx's header but no token is refused as well.
        r = client.post(f"{self.url}{self.rita.pk}/role/", {"role": "admin"}, headers={"HX-Request": "true"})
        self.assertEqual(r.status_code, 403)
        self.assertEqual(self.role_of(self.rita), Role.READ)
        self.assertEqual(mail.outbox, [])
        invitation.refresh_from_db()
        self.assertEqual(invitation.status, Invitation.Status.PENDING)

    def test_htmx_sends_the_token_in_a_header(self) -> None:
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.alice)
        page = client.get(self.url).content.decode()
        token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)
        r = client.post(
            f"{self.url}{self.rita.pk}/role/", {"role": "admin"}, headers={"HX-Request": "true", "X-CSRFToken": token}
        )
        self.assertEqual(r.status_code, 200)
        self.assertEqual(self.role_of(self.rita), Role.ADMIN)


class ConfirmationTestCase(MembersTestCase):
    """Removing, cancelling, leaving and declining ask first: the GET is the question and changes nothing."""

    def test_each_question_names_what_will_happen_and_changes_nothing(self) -> None:
        invitation = self.invite("newcomer@example.org")
        self.client.force_login(self.adam)
        questions = {
            f"{self.url}{self.wendy.pk}/remove/": "Remove wendy@example.org?",
            f"/orgs/{self.org.id}/invitations/{invitation.pk}/cancel/": (
                "Cancel the invitation for newcomer@example.org?"
            ),
            f"/orgs/{self.org.id}/leave/": "Leave Alice Org?",
        }
        events = AuditEvent.objects.count()
        for url, question in questions.items():
            with self.subTest(url):
                r = self.client.get(url)
                self.assertSays(r, question)
                self.assertContains(r, 'id="confirm"')
                self.assertContains(r, f'href="{self.url}" data-dialog-cancel')
        self.assertEqual(AuditEvent.objects.count(), events)
        self.assertEqual((self.role_of(self.wendy), self.role_of(self.adam)), (Role.WRITE, Role.ADMIN))
        invitation.refresh_from_db()
        self.assertEqual(invitation.status, Invitation.Status.PENDING)

    def test_a_question_is_not_offered_to_who_may_not_act(self) -> None:
        self.client.force_login(self.adam)
        self.assertEqual(self.client.get(f"{self.url}{self.alice.pk}/remove/").status_code, 403)  # a super_admin
        self.client.force_login(self.wendy)
        self.assertEqual(self.client.get(f"{self.url}{self.rita.pk}/remove/").status_code, 403)
        self.client.force_login(self.oscar)
        self.assertEqual(self.client.get(f"/orgs/{self.org.id}/leave/").status_code, 404)

    def test_removal_offers_to_invite_again_with_the_form_filled_in(self) -> None:
        self.client.force_login(self.adam)
        r = self.client.post(f"{self.url}{self.wendy.pk}/remove/", follow=True)
        self.assertContains(r, f'href="{self.url}?invite=wendy%40example.org&amp;role=write#invite-section"')
        r = self.client.get(self.url, {"invite": "wendy@example.org", "role": "write"})
        self.assertContains(r, 'value="wendy@example.org"')
        self.assertContains(r, 'value="write" class="choices" required id="id_role_2" checked')
        # A role the admin may not grant is not filled in.
        r = self.client.get(self.url, {"invite": "x@example.org", "role": "super_admin"})
        self.assertContains(r, 'value="read" class="choices" required id="id_role_0" checked')


class DeclineTestCase(MembersTestCase):
    def test_the_invited_person_declines_after_a_question(self) -> None:
        bob = make_user("bob@example.org", "Bob")
        invitation = self.invite("bob@example.org", Role.UPLOAD)
        self.client.force_login(bob)
        url = f"/orgs/{self.org.id}/decline/"
        self.assertContains(self.client.get("/orgs/"), f'href="{url}"')
        self.assertSays(self.client.get(url), "Decline the invitation to Alice Org? Alice invited you as Upload.")
        invitation.refresh_from_db()
        self.assertEqual(invitation.status, Invitation.Status.PENDING)
        r = self.client.post(url, follow=True)
        self.assertSays(r, "You declined the invitation to Alice Org.")
        invitation.refresh_from_db()
        self.assertEqual(invitation.status, Invitation.Status.CANCELLED)
        event = AuditEvent.objects.filter(record_id=str(invitation.pk), operation="UPDATE").latest("id")
        self.assertEqual((event.actor_user_email, event.new_record["status"]), ("bob@example.org", "cancelled"))
        self.assertIsNone(self.role_of(bob))
        self.assertEqual(self.client.post(url).status_code, 404)  # nothing left to decline

    def test_no_one_else_can_decline_it(self) -> None:
        invitation = self.invite("bob@example.org")
        for user in (self.wendy, self.oscar):
            self.client.force_login(user)
            self.assertEqual(self.client.post(f"/orgs/{self.org.id}/decline/").status_code, 404)
        with self.assertRaises(InvitationNotFound):
            services.invitation_decline(actor=Principal(self.alice), invitation=invitation)
        invitation.refresh_from_db()
        self.assertEqual(invitation.status, Invitation.Status.PENDING)

    def test_the_emailed_link_offers_to_decline_too(self) -> None:
        bob = make_user("bob@example.org", "Bob")
        self.invite("bob@example.org")
        link = re.search(r"http://\S+(/invitations/\S+/)", mail.outbox[-1].body).group(1)
        self.client.force_login(bob)
        r = self.client.get(link, follow=True)
        self.assertContains(r, 'id="accept-invitation"')
        self.assertContains(r, f'id="decline-invitation" href="/orgs/{self.org.id}/decline/"')


class InviteAtTheFieldTestCase(MembersTestCase):
    def test_inviting_yourself_is_an_error_at_the_field_that_keeps_the_address(self) -> None:
        self.client.force_login(self.alice)
        r = self.client.post(f"{self.url}invite/", {"email": "Alice@Example.org", "role": "read"})
        self.assertContains(r, "This is your own address: you are a member already. Invite someone else.")
        self.assertContains(r, 'value="Alice@Example.org"')
        self.assertNotContains(r, "Cannot remove the last super admin")
        self.assertEqual(self.role_of(self.alice), Role.SUPER_ADMIN)
        self.assertFalse(AuditEvent.objects.filter(operation="UPDATE", table_name="org_users").exists())

    def test_a_refusal_of_the_service_is_said_at_the_field_too(self) -> None:
        self.client.force_login(self.adam)
        with self.settings(INVITATION_EMAILS_PER_HOUR_PER_RECIPIENT=0):
            r = self.client.post(f"{self.url}invite/", {"email": "new@example.org", "role": "read"})
        self.assertContains(r, "Too many invitations were sent to this address.")
        self.assertContains(r, 'value="new@example.org"')
        self.assertFalse(Invitation.objects.filter(email="new@example.org").exists())
