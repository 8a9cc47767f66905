"""The whole invitation path through HTTP: API invite, email, link, sign-up, acceptance, member list."""

from __future__ import annotations

import html
import re
import unittest
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.core import mail
from django.core.cache import cache
from django.core.mail import EmailMultiAlternatives
from django.test import Client
from django.utils import timezone, translation
from django.utils.formats import date_format

from accounts.verification import is_verified
from organizations.models import Invitation, Membership, Organization, User
from organizations.roles import Role
from tests.base import ApiTestCase, make_user, page_text

MEMBERS_URL = "/organization/members/"
ACCEPT_URL = "/invitations/accept/"
LINK = re.compile(r"https?://[^\s\"<>]+/invitations/[\w-]+/")
GERMAN_CATALOGUE = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES" / "django.mo"
HREF = re.compile(r'href="([^"]*)"')


def links(response: Any, path: str) -> list[dict[str, list[str]]]:
    """The query strings of the page's links to `path`."""
    hrefs = [html.unescape(href) for href in HREF.findall(response.content.decode())]
    return [parse_qs(urlsplit(href).query) for href in hrefs if urlsplit(href).path == path]


class InvitationFlowTestCase(ApiTestCase):
    def setUp(self) -> None:
        cache.clear()  # rate-limit counters from other tests

    def says(self, response: Any, pattern: str) -> None:  # the page shows a message matching `pattern`
        self.assertRegex(page_text(response), re.compile(pattern, re.IGNORECASE))

    def invite(self, email: str = "newcomer@example.org", role: str = "write", key: str | None = None) -> str:
        """Invite through the API and return the path of the emailed link."""
        with self.captureOnCommitCallbacks(execute=True):
            r = self.post(MEMBERS_URL, {"orgId": self.org.id, "email": email, "role": role}, key=key or self.adam_key)
        self.assertEqual(r.status_code, 200, r.content)
        return urlsplit(LINK.search(mail.outbox[-1].body)[0]).path

    def follow(self, link: str) -> Any:
        """Open the emailed link: the token is kept in the session and the browser moves on without it."""
        r = self.client.get(link)
        self.assertRedirects(r, ACCEPT_URL, fetch_redirect_response=False)
        return self.client.get(ACCEPT_URL)

    def sign_up(self, email: str = "newcomer@example.org") -> User:
        """Sign up from the invitation page (the link was followed in this browser)."""
        r = self.client.post(
            "/accounts/signup/",
            {
                "email": email,
                "name": "Nina Newcomer",
                "password1": "a-long-passphrase-42",
                "password2": "a-long-passphrase-42",
                "next": ACCEPT_URL,
            },
        )
        # Following the link proved the address: no verification email, logged in, back to the invitation.
        self.assertRedirects(r, ACCEPT_URL, fetch_redirect_response=False)
        return User.objects.get(email=email)

    def test_an_unknown_person_signs_up_through_the_link_and_joins(self) -> None:
        link = self.invite()

        # The email: plain text and HTML, naming the organization and the inviter, with the expiry.
        [message] = mail.outbox
        self.assertIsInstance(message, EmailMultiAlternatives)
        self.assertEqual(message.to, ["newcomer@example.org"])
        self.assertEqual(message.subject, "You are invited to join Alice Org")
        invitation = Invitation.objects.get(email="newcomer@example.org")
        expiry = date_format(invitation.expires_at, "DATETIME_FORMAT")
        [(html, mimetype)] = message.alternatives
        self.assertEqual(mimetype, "text/html")
        for body in (message.body, html):
            self.assertIn("Alice Org", body)
            self.assertIn("Adam", body)
            self.assertIn(expiry, body)
            self.assertIn(settings.SITE_URL + link, body)
        self.assertIn(f'href="{settings.SITE_URL}{link}"', html)

        # Logged out, the link offers to sign up, with the way back to the invitation.
        r = self.follow(link)
        self.assertEqual(r.status_code, 200)
        self.assertIn("Alice Org", page_text(r))
        self.assertIn([ACCEPT_URL], [query.get("next") for query in links(r, "/accounts/signup/")])

        # Sign up through the page (verified by the link), come back to the invitation, accept.
        newcomer = self.sign_up()
        self.assertEqual(len(mail.outbox), 1, "the link proved the address: no verification email")
        self.assertTrue(is_verified(newcomer))
        self.assertFalse(Membership.objects.filter(organization=self.org, user=newcomer).exists())
        r = self.client.get(ACCEPT_URL)
        self.says(r, "Accept the invitation")
        r = self.client.post(ACCEPT_URL, follow=True)
        self.assertEqual(r.status_code, 200)
        self.says(r, "You joined Alice Org")
        self.assertEqual(Membership.objects.get(organization=self.org, user=newcomer).role, Role.WRITE)

        # The admin now sees the person as a member with the role.
        rows = self.get(MEMBERS_URL, {"orgId": self.org.id}, key=self.adam_key).json()["data"]
        [row] = [row for row in rows if row["email"] == "newcomer@example.org"]
        self.assertEqual(
            row,
            {
                "uid": str(newcomer.pk),
                "email": "newcomer@example.org",
                "image_url": None,
                "role": "write",
                "is_tmp": False,
            },
        )

    def test_the_token_leaves_the_address_bar_at_once(self) -> None:
        link = self.invite()
        r = self.client.get(link)
        self.assertEqual(r.status_code, 302)
        self.assertEqual(r["Location"], ACCEPT_URL)
        token = link.rstrip("/").rsplit("/", 1)[1]
        page = self.client.get(ACCEPT_URL)
        self.assertNotIn(token, page.content.decode())
        # Another browser has no token in its session: nothing to accept there.
        self.assertEqual(Client().get(ACCEPT_URL).status_code, 404)

    def test_the_invitee_shows_as_pending_until_they_accept(self) -> None:
        link = self.invite()
        rows = {
            row["email"]: row for row in self.get(MEMBERS_URL, {"orgId": self.org.id}, key=self.adam_key).json()["data"]
        }
        self.assertEqual(rows["newcomer@example.org"]["role"], "invite_write")
        self.assertIs(rows["newcomer@example.org"]["is_tmp"], True)
        self.follow(link)
        self.sign_up()
        rows = {
            row["email"]: row for row in self.get(MEMBERS_URL, {"orgId": self.org.id}, key=self.adam_key).json()["data"]
        }
        # An account now exists, but signing up alone joins nothing.
        self.assertEqual(rows["newcomer@example.org"]["role"], "invite_write")
        self.assertIs(rows["newcomer@example.org"]["is_tmp"], False)
        self.assertFalse(Membership.objects.filter(organization=self.org, user__email="newcomer@example.org").exists())

    def test_the_same_invitation_cannot_be_accepted_twice(self) -> None:
        self.follow(self.invite())
        newcomer = self.sign_up()
        self.client.post(ACCEPT_URL)
        r = self.client.post(ACCEPT_URL, follow=True)
        self.assertEqual(r.status_code, 404)  # the token left the session with the acceptance
        self.assertEqual(Membership.objects.filter(organization=self.org, user=newcomer).count(), 1)

    def test_another_account_cannot_accept_the_invitation(self) -> None:
        link = self.invite()
        self.client.force_login(self.oscar)
        self.says(self.follow(link), "sent to newcomer@example.org")
        r = self.client.post(ACCEPT_URL, follow=True)
        self.says(r, "sent to newcomer@example.org")
        self.assertFalse(Membership.objects.filter(organization=self.org, user=self.oscar).exists())
        self.assertEqual(Invitation.objects.get(email="newcomer@example.org").status, Invitation.Status.PENDING)

    def test_another_account_cannot_accept_it_after_the_invitee_did(self) -> None:
        link = self.invite()
        self.follow(link)
        self.sign_up()
        self.client.post(ACCEPT_URL)
        self.client.force_login(self.oscar)
        self.client.get(link)
        r = self.client.post(ACCEPT_URL, follow=True)
        self.says(r, "already been accepted|sent to newcomer@example.org")
        self.assertFalse(Membership.objects.filter(organization=self.org, user=self.oscar).exists())

    def test_an_expired_invitation_says_it_has_expired(self) -> None:
        link = self.invite()
        Invitation.objects.filter(email="newcomer@example.org").update(expires_at=timezone.now() - timedelta(minutes=1))
        self.says(self.follow(link), "has expired")
        self.client.force_login(make_user("newcomer@example.org"))
        r = self.client.post(ACCEPT_URL, follow=True)
        self.says(r, "has expired")
        self.assertFalse(Membership.objects.filter(organization=self.org, user__email="newcomer@example.org").exists())

    def test_an_expired_link_verifies_nothing(self) -> None:
        link = self.invite()
        Invitation.objects.filter(email="newcomer@example.org").update(expires_at=timezone.now() - timedelta(minutes=1))
        self.follow(link)
        r = self.client.post(
            "/accounts/signup/",
            {"email": "newcomer@example.org", "name": "N", "password1": "a-long-passphrase-42",
             "password2": "a-long-passphrase-42"},
        )  # fmt: skip
        self.assertRedirects(r, "/accounts/confirm-email/", fetch_redirect_response=False)
        self.assertFalse(is_verified(User.objects.get(email="newcomer@example.org")))

    def test_a_cancelled_invitation_says_it_was_cancelled(self) -> None:
        link = self.invite()
        self.delete(MEMBERS_URL, {"orgId": self.org.id, "email": "newcomer@example.org"}, key=self.adam_key)
        self.says(self.follow(link), "has been cancelled")
        self.client.force_login(make_user("newcomer@example.org"))
        r = self.client.post(ACCEPT_URL, follow=True)
        self.says(r, "has been cancelled")
        self.assertFalse(Membership.objects.filter(organization=self.org, user__email="newcomer@example.org").exists())

    def test_a_resent_invitation_retires_the_old_link(self) -> None:
        old_link = self.invite()
        new_link = self.invite(role="admin")
        self.assertNotEqual(old_link, new_link)
        r = self.client.get(old_link)
        self.assertEqual(r.status_code, 404)
        self.says(r, "not valid")
        self.follow(new_link)
        newcomer = self.sign_up()
        self.client.post(ACCEPT_URL)
        self.assertEqual(Membership.objects.get(organization=self.org, user=newcomer).role, Role.ADMIN)

    def test_an_existing_account_logs_in_and_accepts(self) -> None:
        link = self.invite("oscar@example.org", role="read")
        self.assertIn([ACCEPT_URL], [query.get("next") for query in links(self.follow(link), "/accounts/login/")])
        r = self.client.post(
            "/accounts/login/", {"login": "oscar@example.org", "password": "password-123", "next": ACCEPT_URL}
        )
        self.assertRedirects(r, ACCEPT_URL, fetch_redirect_response=False)
        self.client.post(ACCEPT_URL)
        self.assertEqual(Membership.objects.get(organization=self.org, user=self.oscar).role, Role.READ)
        self.assertEqual(self.get("/organization/", {"orgId": self.org.id}, key=self.oscar_key).status_code, 200)

    def test_markup_in_names_is_escaped_in_html_and_plain_in_text(self) -> None:
        Organization.objects.filter(pk=self.org.pk).update(name="<b>Bold</b> & O'Brien")
        self.invite()
        [message] = mail.outbox
        html = message.alternatives[0][0]
        self.assertIn("&lt;b&gt;Bold&lt;/b&gt; &amp; O&#x27;Brien", html)
        self.assertNotIn("<b>Bold</b>", html)
        self.assertIn("<b>Bold</b> & O'Brien", message.body)
        self.assertEqual(message.subject, "You are invited to join <b>Bold</b> & O'Brien")

    def test_a_name_with_a_newline_still_gives_a_one_line_subject(self) -> None:
        Organization.objects.filter(pk=self.org.pk).update(name="Two\nLines")
        self.invite()
        self.assertEqual(mail.outbox[0].subject, "You are invited to join Two Lines")


class InvitationEmailLanguageTestCase(ApiTestCase):
    """The email speaks the inviter's language."""

    def setUp(self) -> None:
        cache.clear()  # rate-limit counters from other tests

    def invite_as(self, language: str) -> EmailMultiAlternatives:
        User.objects.filter(pk=self.adam.pk).update(language=language)
        with self.captureOnCommitCallbacks(execute=True):
            r = self.post(
                MEMBERS_URL,
                {"orgId": self.org.id, "email": f"{language}@example.org", "role": "read"},
                key=self.adam_key,
            )
        self.assertEqual(r.status_code, 200, r.content)
        return mail.outbox[-1]

    def expiry(self, email: str, language: str) -> str:
        with translation.override(language):
            return date_format(Invitation.objects.get(email=email).expires_at, "DATETIME_FORMAT")

    def test_a_german_inviter_sends_the_email_in_german(self) -> None:
        # Django's own German catalogue and formats: the date reads "14. Januar 2030 12:00".
        message = self.invite_as("de")
        german, english = self.expiry("de@example.org", "de"), self.expiry("de@example.org", "en")
        self.assertNotEqual(german, english)
        self.assertIn(german, message.body)
        self.assertIn(german, message.alternatives[0][0])
        self.assertNotIn(english, message.body)

    def test_an_english_inviter_sends_the_email_in_english(self) -> None:
        message = self.invite_as("en")
        self.assertIn(self.expiry("en@example.org", "en"), message.body)
        self.assertEqual(message.subject, "You are invited to join Alice Org")

    def test_the_inviters_language_wins_over_the_request_language(self) -> None:
        User.objects.filter(pk=self.adam.pk).update(language="en")
        with self.captureOnCommitCallbacks(execute=True):
            self.post(
                MEMBERS_URL, {"orgId": self.org.id, "email": "x@example.org", "role": "read"}, key=self.adam_key,
                HTTP_ACCEPT_LANGUAGE="de",
            )  # fmt: skip
        self.assertIn(self.expiry("x@example.org", "en"), mail.outbox[-1].body)

    @unittest.skipUnless(GERMAN_CATALOGUE.exists(), "German catalogue not compiled yet")
    def test_a_german_inviter_sends_a_german_subject(self) -> None:
        self.assertNotEqual(self.invite_as("de").subject, "You are invited to join Alice Org")
