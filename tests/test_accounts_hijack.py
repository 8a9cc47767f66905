"""The hijacks the security review found, each tried through HTTP and refused.

An attacker who never receives the invited address's email signs up with it: without
verification they got a session at once, accepted the invitation on the organization list or
through the API with a key, and became admin. Every route is tried here; the real owner can
still sign up, verify and accept.
"""

from __future__ import annotations

import time
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

from django.core import mail
from django.test import Client

from accounts.verification import is_verified
from organizations import services
from organizations.models import ApiKey, Invitation, Membership, User
from organizations.roles import KeyMode, Principal, Role
from tests.base import ApiTestCase, link_in, make_key, make_user

INVITED = "newhire@corp.example"
ATTACKER_PASSWORD = "attacker-pass-phrase-1"
SIGNUP = {"email": INVITED, "name": "Not Newhire", "password1": ATTACKER_PASSWORD, "password2": ATTACKER_PASSWORD}


def minutes_later(minutes: int) -> Any:
    """allauth's rate limits see the clock this many minutes on (its cooldowns are what we skip)."""
    return mock.patch("allauth.core.internal.ratelimit.time.time", return_value=time.time() + 60 * minutes)


class HijackTestCase(ApiTestCase):
    def setUp(self) -> None:
        # Alice invites newhire@ as admin; the email goes to newhire's inbox, not to the attacker.
        with self.captureOnCommitCallbacks(execute=True):
            services.member_invite(actor=Principal(self.alice), org=self.org, email=INVITED, role=Role.ADMIN)
        self.invitation_email = mail.outbox[-1]
        mail.outbox.clear()
        self.attacker = Client()

    def assert_no_membership(self) -> None:
        self.assertFalse(Membership.objects.filter(organization=self.org, user__email=INVITED).exists())
        self.assertEqual(Invitation.objects.get(organization=self.org, email=INVITED).status, Invitation.Status.PENDING)

    def test_signing_up_with_the_invited_address_gives_no_session(self) -> None:
        r = self.attacker.post("/accounts/signup/", SIGNUP)
        self.assertRedirects(r, "/accounts/confirm-email/", fetch_redirect_response=False)
        self.assertNotIn("_auth_user_id", self.attacker.session)
        # The only way on is the link, and it went to the address, not to the attacker.
        self.assertEqual([m.to for m in mail.outbox], [[INVITED]])
        r = self.attacker.post("/accounts/login/", {"login": INVITED, "password": ATTACKER_PASSWORD})
        self.assertRedirects(r, "/accounts/confirm-email/", fetch_redirect_response=False)
        self.assertNotIn("_auth_user_id", self.attacker.session)

    def test_the_organization_lists_join_button_is_refused(self) -> None:
        self.attacker.post("/accounts/signup/", SIGNUP)
        self.attacker.post("/accounts/login/", {"login": INVITED, "password": ATTACKER_PASSWORD})
        r = self.attacker.post(f"/orgs/{self.org.id}/join/")
        self.assertRedirects(r, f"/accounts/login/?next=/orgs/{self.org.id}/join/", fetch_redirect_response=False)
        self.assertEqual(self.attacker.get("/orgs/").status_code, 302)
        self.assert_no_membership()

    def test_a_key_cannot_be_made_and_an_unverified_accounts_key_is_refused(self) -> None:
        self.attacker.post("/accounts/signup/", SIGNUP)
        self.assertEqual(self.attacker.post("/keys/new/", {"name": "mine", "mode": "all"}).status_code, 302)
        self.assertFalse(ApiKey.objects.filter(user__email=INVITED).exists())
        squatter = User.objects.get(email=INVITED)
        self.assertFalse(is_verified(squatter))
        # Even a key that exists (say, made by staff before the address was proved) does nothing.
        ApiKey.objects.filter(pk=make_key(self.alice)[0].pk).update(user=squatter)
        key = ApiKey.objects.get(user=squatter)
        plaintext = services.api_key_update(actor=None, key=key, changes={}, regenerate=True)[1]
        r = self.post("/organization/members/accept/", {"orgId": self.org.id}, key=plaintext)
        self.assertError(r, 403, "email_not_verified")
        self.assertError(self.get("/organization/", key=plaintext), 403, "email_not_verified")
        self.assert_no_membership()

    def test_the_service_refuses_an_unverified_acceptor_whatever_the_route(self) -> None:
        squatter = make_user(INVITED, verified=False)
        invitation = services.pending_invitation_for(squatter, self.org.id)
        with self.assertRaises(services.EmailNotVerified):
            services.invitation_accept(actor=Principal(squatter), invitation=invitation)
        self.assert_no_membership()

    def test_an_unverified_account_cannot_hold_keys(self) -> None:
        squatter = make_user(INVITED, verified=False)
        with self.assertRaises(services.EmailNotVerified):
            services.api_key_create(actor=None, user=squatter, name="k", mode=KeyMode.ALL)
        self.assertFalse(ApiKey.objects.filter(user=squatter).exists())

    def test_a_read_member_who_registers_a_pending_admins_address_gets_nothing(self) -> None:
        rita = Client()
        rita.force_login(self.rita)
        self.assertContains(rita.get(f"/orgs/{self.org.id}/members/"), INVITED)  # she sees who is invited
        anonymous = Client()
        anonymous.post("/accounts/signup/", SIGNUP)
        anonymous.post("/accounts/login/", {"login": INVITED, "password": ATTACKER_PASSWORD})
        self.assertNotIn("_auth_user_id", anonymous.session)
        self.assert_no_membership()

    def test_the_real_owner_still_signs_up_verifies_and_accepts(self) -> None:
        # The attacker got there first with the address and a password of their own.
        self.attacker.post("/accounts/signup/", SIGNUP)
        mail.outbox.clear()
        owner = Client()
        # The owner follows the emailed invitation and tries to sign up: the same answer as any sign-up,
        # and an email (to them) saying an account exists, with the way to reset its password.
        owner.get(urlsplit(link_in(self.invitation_email, "/invitations/")).path)
        with minutes_later(4):  # past the per-recipient cooldown the attacker's sign-up started
            r = owner.post(
                "/accounts/signup/", {**SIGNUP, "password1": "owners-own-phrase-9", "password2": "owners-own-phrase-9"}
            )
        self.assertRedirects(r, "/accounts/confirm-email/", fetch_redirect_response=False)
        self.assertEqual(User.objects.filter(email=INVITED).count(), 1)
        [exists] = mail.outbox
        self.assertEqual(exists.to, [INVITED])
        # They reset the password from their inbox, which ends the attacker's hold on it...
        with minutes_later(6):
            owner.post("/accounts/password/reset/", {"email": INVITED})
        reset = urlsplit(link_in(mail.outbox[-1], "/accounts/password/reset/key/")).path
        form = owner.get(reset, follow=True).redirect_chain[-1][0]
        with minutes_later(8):
            r = owner.post(form, {"password1": "owners-own-phrase-9", "password2": "owners-own-phrase-9"})
        # ... and, the address not being proved yet, are sent a verification link.
        self.assertRedirects(r, "/accounts/confirm-email/", fetch_redirect_response=False)
        confirm = urlsplit(link_in(mail.outbox[-1], "/accounts/confirm-email/")).path
        r = owner.post(confirm)
        self.assertEqual(r.status_code, 302)
        owner.post("/accounts/login/", {"login": INVITED, "password": "owners-own-phrase-9"})
        self.assertIn("_auth_user_id", owner.session)
        self.assertFalse(self.attacker_can_log_in())
        r = owner.post(f"/orgs/{self.org.id}/join/", follow=True)
        self.assertSays(r, "You joined Alice Org.")
        self.assertEqual(Membership.objects.get(organization=self.org, user__email=INVITED).role, Role.ADMIN)

    def attacker_can_log_in(self) -> bool:
        client = Client()
        client.post("/accounts/login/", {"login": INVITED, "password": ATTACKER_PASSWORD})
        return "_auth_user_id" in client.session

    def test_the_invitation_link_verifies_a_new_account_made_from_it(self) -> None:
        owner = Client()
        owner.get(urlsplit(link_in(self.invitation_email, "/invitations/")).path)
        r = owner.post("/accounts/signup/", {**SIGNUP, "next": "/invitations/accept/"})
        self.assertRedirects(r, "/invitations/accept/", fetch_redirect_response=False)
        self.assertTrue(is_verified(User.objects.get(email=INVITED)))
        r: Any = owner.post("/invitations/accept/", follow=True)
        self.assertSays(r, "You joined Alice Org.")
