"""The audit log page: admins only, with the API's filters and paging."""

from __future__ import annotations

import html
import re
from datetime import timedelta

from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import strip_tags

from organizations import services
from organizations.models import AuditEvent, Invitation
from organizations.roles import Principal, Role
from tests.base import ApiTestCase, make_user


class AuditPageTestCase(ApiTestCase):
    def setUp(self) -> None:
        self.url = f"/orgs/{self.org.id}/audit/"

    def rows(self, response) -> list[str]:  # noqa: ANN001 - a test client response
        """Each event as a reader sees it: the sentence, the time, then the raw record."""
        listing = re.search(r'<ol class="audit-list" id="audit-list">(.*?)</ol>', response.content.decode(), re.S)
        items = re.findall(r'<li class="audit-event".*?</li>', listing.group(1), re.S) if listing else []
        return [" ".join(html.unescape(strip_tags(item)).split()) for item in items]

    def sentences(self, response) -> list[str]:  # noqa: ANN001
        found = re.findall(r'<p class="audit-sentence">(.*?)</p>', response.content.decode(), re.S)
        return [" ".join(html.unescape(strip_tags(item)).split()) for item in found]

    def test_it_checks_access(self) -> None:
        self.assertRedirects(self.client.get(self.url), f"/accounts/login/?next={self.url}")
        self.client.force_login(self.oscar)
        self.assertEqual(self.client.get(self.url).status_code, 404)
        for member in (self.wendy, self.rita):
            self.client.force_login(member)
            r = self.client.get(self.url)
            self.assertEqual(r.status_code, 403)
            self.assertContains(r, "Admin role required", status_code=403)

    def test_an_admin_sees_the_events_newest_first_as_sentences(self) -> None:
        services.organization_update(actor=Principal(self.alice), org=self.org, changes={"name": "Renamed"})
        self.client.force_login(self.adam)
        r = self.client.get(self.url)
        rows = self.rows(r)
        total = AuditEvent.objects.filter(org_id=self.org.id).count()
        self.assertEqual(len(rows), total)
        self.assertTrue(rows[0].startswith("Alice renamed the organization from Alice Org to Renamed."), rows[0])
        self.assertEqual(
            self.sentences(r)[-2:], ["Alice joined as Super admin.", "Alice created the organization Alice Org."]
        )
        # The raw record is one click away, for those who need it.
        self.assertIn("The raw record Tableorgs OperationUPDATE", rows[0])
        self.assertContains(r, f"Events 1–{total} of {total}")
        self.assertNotContains(r, self.other_org.id)

    def test_it_filters_by_kind_of_change_and_by_person(self) -> None:
        services.member_change_role(
            actor=Principal(self.adam),
            org=self.org,
            membership=self.org.memberships.get(user=self.rita),
            new_role=Role.WRITE,
        )
        services.member_invite(actor=Principal(self.alice), org=self.org, email="new@example.org", role=Role.UPLOAD)
        self.client.force_login(self.alice)
        rows = self.sentences(self.client.get(self.url, {"kind": "members"}))
        self.assertEqual(rows, ["Adam changed the role of Rita from Read to Write.", "Alice joined as Super admin."])
        rows = self.sentences(self.client.get(self.url, {"kind": "invitations"}))
        self.assertEqual(rows, ["Alice invited new@example.org as Upload."])
        rows = self.sentences(self.client.get(self.url, {"person": str(self.adam.pk)}))
        self.assertEqual(rows, ["Adam changed the role of Rita from Read to Write."])
        self.assertEqual(len(self.rows(self.client.get(self.url, {"kind": "settings"}))), 1)
        # The cast's key limited to this organization was made by a command (no actor).
        self.assertEqual(
            self.sentences(self.client.get(self.url, {"person": "system"})),
            ["The system created the API key limited (All, never expires)."],
        )

    def test_every_kind_of_event_reads_as_a_sentence(self) -> None:
        alice = Principal(self.alice)
        services.organization_update(
            actor=alice, org=self.org, changes={"require_apikey_expiration": True, "max_apikey_expiration_days": 30}
        )
        bob = make_user("bob@example.org", "Bob")
        invitation_row = services.member_invite(actor=alice, org=self.org, email="bob@example.org", role=Role.WRITE)
        services.member_invite(actor=alice, org=self.org, email="bob@example.org", role=Role.WRITE)  # resent
        invitation = Invitation.objects.get(pk=invitation_row.invitation_id)
        services.invitation_accept(actor=Principal(bob), invitation=invitation)
        services.member_remove(actor=Principal(bob), org=self.org, email="bob@example.org")  # left
        services.member_invite(actor=alice, org=self.org, email="carol@example.org", role=Role.READ)
        services.member_remove(actor=alice, org=self.org, email="carol@example.org")  # cancelled
        dan = make_user("dan@example.org", "Dan")
        services.member_invite(actor=alice, org=self.org, email="dan@example.org", role=Role.READ)
        services.invitation_decline(
            actor=Principal(dan), invitation=Invitation.objects.get(email="dan@example.org", status="pending")
        )
        services.member_remove(actor=alice, org=self.org, email="wendy@example.org")
        key, _ = services.api_key_create(
            actor=alice, user=self.alice, name="CI", mode="write", limited_to_orgs=[self.org.id],
            expires_at=timezone.now() + timedelta(days=20),
        )  # fmt: skip
        services.api_key_update(actor=alice, key=key, changes={}, regenerate=True)
        services.api_key_delete(actor=alice, key=key)
        self.client.force_login(self.alice)
        sentences = self.sentences(self.client.get(self.url, {"limit": 100}))
        expected = [
            "Alice deleted the API key CI.",
            "Alice regenerated the API key CI.",
            f"Alice created the API key CI (Write, expires on {date_format(key.expires_at)}).",
            "Alice removed Wendy (Write).",
            "Dan declined the invitation.",
            "Alice invited dan@example.org as Read.",
            "Alice cancelled the invitation for carol@example.org.",
            "Alice invited carol@example.org as Read.",
            "Bob left the organization.",
            "Bob joined as Write.",
            "Bob accepted the invitation as Write.",
            "Alice sent the invitation to bob@example.org again.",
            "Alice invited bob@example.org as Write.",
            "Alice changed the API key policy: expiry required, at most 30 days.",
        ]
        self.assertEqual(sentences[: len(expected)], expected)

    def test_it_pages_like_the_api(self) -> None:
        for i in range(5):
            services.organization_update(actor=Principal(self.alice), org=self.org, changes={"name": f"Name {i}"})
        self.client.force_login(self.alice)
        total = AuditEvent.objects.filter(org_id=self.org.id).count()
        first = self.client.get(self.url, {"limit": 2})
        self.assertEqual(len(self.rows(first)), 2)
        self.assertIn("to Name 4.", self.rows(first)[0])
        self.assertContains(first, 'id="audit-next" href="?page=1&amp;limit=2"')
        self.assertNotContains(first, 'id="audit-previous"')
        second = self.client.get(self.url, {"limit": 2, "page": 1})
        self.assertIn("to Name 2.", self.rows(second)[0])
        self.assertContains(second, f"Events 3–4 of {total}")
        self.assertContains(second, 'id="audit-previous"')
        self.assertEqual(self.rows(self.client.get(self.url, {"limit": 2, "page": 99})), [])

    def test_the_limit_is_clamped_to_100_and_bad_values_are_ignored(self) -> None:
        self.client.force_login(self.alice)
        self.assertContains(self.client.get(self.url, {"limit": 5000}), 'value="100"')
        r = self.client.get(self.url, {"limit": "zero", "kind": "users"})
        self.assertContains(r, "Some filters were not valid and were ignored.")
        self.assertContains(r, 'value="50"')

    def test_the_audit_tab_is_shown_to_admins_only(self) -> None:
        self.client.force_login(self.adam)
        self.assertContains(self.client.get(f"/orgs/{self.org.id}/members/"), 'id="tab-audit"')
        self.client.force_login(self.wendy)
        self.assertNotContains(self.client.get(f"/orgs/{self.org.id}/members/"), 'id="tab-audit"')

    def test_markup_in_records_is_escaped(self) -> None:
        services.organization_update(
            actor=Principal(self.alice), org=self.org, changes={"name": "<script>alert(1)</script>"}
        )
        self.client.force_login(self.alice)
        r = self.client.get(self.url)
        self.assertNotContains(r, "<script>alert(1)</script>")
        self.assertContains(r, "&lt;script&gt;alert(1)&lt;/script&gt;")
