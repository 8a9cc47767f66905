"""Caps on the invitation emails sent on someone's behalf: per sender, organization and recipient.

Past a cap the API answers 429 `rate_limited` with Retry-After and the page shows a form error;
nothing else changes: no invitation written or refreshed, no email, no audit event.
"""

from __future__ import annotations

from django.core import mail
from django.test import override_settings

from organizations.models import AuditEvent, Invitation
from tests.base import ApiTestCase

URL = "/organization/members/"


@override_settings(
    INVITATION_EMAILS_PER_HOUR_PER_SENDER=4,
    INVITATION_EMAILS_PER_HOUR_PER_ORG=6,
    INVITATION_EMAILS_PER_HOUR_PER_RECIPIENT=2,
)
class InvitationCapTestCase(ApiTestCase):
    def invite(self, email: str, key: str | None = None) -> object:
        with self.captureOnCommitCallbacks(execute=True):
            return self.post(URL, {"orgId": self.org.id, "email": email, "role": "read"}, key=key or self.adam_key)

    def test_one_recipient_gets_at_most_the_cap_whatever_is_resent(self) -> None:
        self.assertEqual([self.invite("x@example.org").status_code for _ in range(2)], [200, 200])
        before = Invitation.objects.get(email="x@example.org")
        events, sent = AuditEvent.objects.count(), len(mail.outbox)
        r = self.invite("x@example.org", key=self.key["all"])  # another sender changes nothing
        body = self.assertError(r, 429, "rate_limited")
        self.assertIn("this address", body["error"])
        self.assertGreaterEqual(int(r["Retry-After"]), 1)
        after = Invitation.objects.get(email="x@example.org")
        self.assertEqual((after.token_hash, after.expires_at), (before.token_hash, before.expires_at))
        self.assertEqual((AuditEvent.objects.count(), len(mail.outbox)), (events, sent))
        self.assertEqual(self.invite("y@example.org").status_code, 200)

    def test_one_sender_is_capped_and_others_are_not(self) -> None:
        statuses = [self.invite(f"s{n}@example.org").status_code for n in range(5)]
        self.assertEqual(statuses, [200, 200, 200, 200, 429])
        self.assertFalse(Invitation.objects.filter(email="s4@example.org").exists())
        self.assertEqual(self.invite("other@example.org", key=self.key["all"]).status_code, 200)

    def test_one_organization_is_capped_across_its_senders(self) -> None:
        statuses = [self.invite(f"a{n}@example.org").status_code for n in range(3)]
        statuses += [self.invite(f"b{n}@example.org", key=self.key["all"]).status_code for n in range(4)]
        self.assertEqual(statuses, [200] * 6 + [429])
        self.assertEqual(self.invite("o@example.org", key=self.oscar_key).status_code, 404)  # not his organization
        r = self.post(URL, {"orgId": self.other_org.id, "email": "o@example.org", "role": "read"}, key=self.oscar_key)
        self.assertEqual(r.status_code, 200)  # another organization's count is its own

    def test_changing_a_members_role_sends_nothing_and_is_not_capped(self) -> None:
        for _ in range(5):
            r = self.post(URL, {"orgId": self.org.id, "email": "wendy@example.org", "role": "read"}, key=self.adam_key)
            self.assertEqual(r.status_code, 200)

    def test_the_page_shows_the_cap_at_the_email_field(self) -> None:
        self.client.force_login(self.adam)
        page = f"/orgs/{self.org.id}/members/invite/"
        for _ in range(2):
            self.client.post(page, {"email": "x@example.org", "role": "read"})
        sent = len(mail.outbox)
        r = self.client.post(page, {"email": "x@example.org", "role": "read"})
        self.assertContains(r, "Too many invitations were sent to this address.")
        self.assertEqual(len(mail.outbox), sent)
        form = r.context["invite_form"]
        self.assertIn("email", form.errors)
