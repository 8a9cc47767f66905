"""The audit log page: admins only, with the API's filters and paging."""

from __future__ import annotations

import re

from organizations import services
from organizations.models import AuditEvent
from organizations.roles import Principal, Role
from tests.base import ApiTestCase


class AuditPageTestCase(ApiTestCase):
    def setUp(self) -> None:
        self.url = f"/orgs/{self.org.id}/audit/"

    def rows(self, response) -> list[str]:  # noqa: ANN001 - a test client response
        table = re.search(r'id="audit-table">.*?<tbody>(.*?)</tbody>', response.content.decode(), re.S)
        return re.findall(r"<tr>.*?</tr>", table.group(1), re.S) if table else []

    def test_it_checks_access(self) -> None:
        self.assertRedirects(self.client.get(self.url), f"/accounts/login/?next={self.url}")
        self.client.force_login(self.oscar)
        self.assertEqual(self.client.get(self.url).status_code, 404)
        for member in (self.wendy, self.rita):
            self.client.force_login(member)
            r = self.client.get(self.url)
            self.assertEqual(r.status_code, 403)
            self.assertContains(r, "Admin role required", status_code=403)

    def test_an_admin_sees_the_events_newest_first(self) -> None:
        services.organization_update(actor=Principal(self.alice), org=self.org, changes={"name": "Renamed"})
        self.client.force_login(self.adam)
        r = self.client.get(self.url)
        rows = self.rows(r)
        total = AuditEvent.objects.filter(org_id=self.org.id).count()
        self.assertEqual(len(rows), total)
        self.assertIn("UPDATE", rows[0])
        self.assertIn("alice@example.org", rows[0])
        self.assertIn("name", rows[0])
        self.assertIn("Renamed", rows[0])
        self.assertContains(r, f"Events 1–{total} of {total}")
        self.assertNotContains(r, self.other_org.id)

    def test_it_filters_by_table_and_operation(self) -> None:
        services.member_change_role(
            actor=Principal(self.alice),
            org=self.org,
            membership=self.org.memberships.get(user=self.rita),
            new_role=Role.WRITE,
        )
        self.client.force_login(self.alice)
        rows = self.rows(self.client.get(self.url, {"tableName": "org_users", "operation": "UPDATE"}))
        self.assertEqual(len(rows), 1)
        self.assertIn("org_users", rows[0])
        self.assertIn(str(self.rita.pk), rows[0])
        self.assertEqual(len(self.rows(self.client.get(self.url, {"tableName": "orgs"}))), 1)

    def test_it_pages_like_the_api(self) -> None:
        for i in range(5):
            services.organization_update(actor=Principal(self.alice), org=self.org, changes={"name": f"Name {i}"})
        self.client.force_login(self.alice)
        total = AuditEvent.objects.filter(org_id=self.org.id).count()
        first = self.client.get(self.url, {"limit": 2})
        self.assertEqual(len(self.rows(first)), 2)
        self.assertIn("Name 4", self.rows(first)[0])
        self.assertContains(first, 'id="audit-next" href="?page=1&amp;limit=2"')
        self.assertNotContains(first, 'id="audit-previous"')
        second = self.client.get(self.url, {"limit": 2, "page": 1})
        self.assertIn("Name 2", self.rows(second)[0])
        self.assertContains(second, f"Events 3–4 of {total}")
        self.assertContains(second, 'id="audit-previous"')
        self.assertEqual(self.rows(self.client.get(self.url, {"limit": 2, "page": 99})), [])

    def test_the_limit_is_clamped_to_100_and_bad_values_are_ignored(self) -> None:
        self.client.force_login(self.alice)
        self.assertContains(self.client.get(self.url, {"limit": 5000}), 'value="100"')
        r = self.client.get(self.url, {"limit": "zero", "tableName": "users"})
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
