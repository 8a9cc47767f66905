"""Names refuse control characters and bidirectional controls on every surface (the API, the
pages, the admin), with one rule (organizations.text); the pages and the admin isolate names."""

from __future__ import annotations

from organizations import services
from organizations.models import ApiKey, Organization, User
from organizations.text import isolate, sentence, validate_name
from tests.base import ApiTestCase
from webhooks.models import Webhook

REFUSED = {
    "right-to-left override": "Invoice\u202egpj.exe",
    "left-to-right embedding": "a\u202ab",
    "first-strong isolate": "a\u2068b",
    "pop directional isolate": "a\u2069b",
    "right-to-left mark": "a\u200fb",
    "arabic letter mark": "a\u061cb",
    "a NUL": "a\x00b",
    "a newline": "Acme\nRockets",
    "a tab": "Acme\tRockets",
    "DEL": "a\x7fb",
    "a C1 control": "a\x85b",
    "a line separator": "a\u2028b",
}
ALLOWED = [
    "Acme Rockets",
    "Ünïcödé GmbH",
    "שלום עולם",
    "مرحبا",
    "Team 👩\u200d💻",
    "Zwischen\u200craum",
    "日本語の会社",
]
MESSAGE = "A name cannot contain control characters or invisible direction marks."


class TheRuleTestCase(ApiTestCase):
    def test_it_refuses_controls_and_direction_marks_and_allows_every_script(self) -> None:
        for label, name in REFUSED.items():
            with self.subTest(label), self.assertRaises(Exception) as refused:
                validate_name(name)
            self.assertEqual(refused.exception.code, "control_characters")
        for name in ALLOWED:
            with self.subTest(name):
                validate_name(name)

    def test_isolate_wraps_only_what_could_reorder_its_sentence(self) -> None:
        self.assertEqual(isolate("Acme Rockets"), "Acme Rockets")
        self.assertEqual(isolate("שלום"), "\u2068שלום\u2069")
        self.assertEqual(isolate("Evil\u202eCorp"), "\u2068Evil\u202eCorp\u2069")
        self.assertEqual(str(Organization(name="Evil\u202eCorp")), "\u2068Evil\u202eCorp\u2069")

    def test_a_banner_escapes_and_isolates_each_value(self) -> None:
        html = sentence("%(name)s was <removed>.", name="<b>Bob</b>")
        self.assertEqual(html, "<bdi>&lt;b&gt;Bob&lt;/b&gt;</bdi> was &lt;removed&gt;.")


class ApiTestCase_(ApiTestCase):  # noqa: N801 - the API half of this file
    def assertRefused(self, response) -> None:  # noqa: ANN001, N802
        body = self.assertError(response, 400, "invalid_body")
        self.assertIn("name", body["details"])

    def test_organization_names(self) -> None:
        key = self.key["all"]
        before = Organization.objects.count()  # (PostgreSQL cannot even be asked about a name with NUL)
        for label, name in REFUSED.items():
            with self.subTest(label):
                self.assertRefused(self.post("/organization/", {"name": name}, key=key))
                self.assertRefused(self.put("/organization/", {"orgId": self.org.id, "name": name}, key=key))
        self.assertEqual(Organization.objects.count(), before)
        self.org.refresh_from_db()
        self.assertEqual(self.org.name, "Alice Org")
        r = self.post("/organization/", {"name": "שלום עולם"}, key=key)
        self.assertEqual(r.status_code, 201, r.content)

    def test_api_key_names(self) -> None:
        key_id = ApiKey.objects.filter(user=self.alice, name="read key").values_list("id", flat=True).get()
        before = ApiKey.objects.count()
        for label, name in REFUSED.items():
            with self.subTest(label):
                self.assertRefused(self.post("/apikey/", {"name": name}, key=self.key["all"]))
                self.assertRefused(self.put(f"/apikey/{key_id}/", {"name": name}, key=self.key["all"]))
        self.assertEqual(ApiKey.objects.count(), before)
        self.assertEqual(ApiKey.objects.get(pk=key_id).name, "read key")

    def test_webhook_names(self) -> None:
        body = {"orgId": self.org.id, "url": "https://hooks.example.org/x", "events": ["orgs"]}
        for label, name in REFUSED.items():
            with self.subTest(label):
                self.assertRefused(self.post("/webhooks/", {**body, "name": name}, key=self.key["all"]))
        self.assertFalse(Webhook.objects.exists())


class PagesAndAdminTestCase(ApiTestCase):
    def test_every_form_that_takes_a_name_says_so_at_the_field(self) -> None:
        sneaky = REFUSED["right-to-left override"]
        self.client.force_login(self.alice)
        forms = {
            "/orgs/new/": {"name": sneaky},
            f"/orgs/{self.org.id}/settings/": {"section": "general", "name": sneaky, "management_email": "a@b.org"},
            "/keys/new/": {"name": sneaky, "mode": "read", "expires_in_days": "30"},
            f"/orgs/{self.org.id}/webhooks/new/": {
                "name": sneaky,
                "url": "https://hooks.example.org",
                "events": "orgs",
            },
            "/accounts/profile/": {"name": sneaky, "language": "en"},
        }
        for url, data in forms.items():
            with self.subTest(url):
                r = self.client.post(url, data)
                self.assertIn(r.status_code, (200, 400))
                self.assertContains(r, MESSAGE, status_code=r.status_code)
        self.assertFalse(Organization.objects.filter(name=sneaky).exists())
        self.assertFalse(ApiKey.objects.filter(name=sneaky).exists())
        self.assertFalse(Webhook.objects.exists())
        self.assertEqual(User.objects.get(pk=self.alice.pk).name, "Alice")

    def test_the_admin_refuses_them_too(self) -> None:
        staff = User.objects.create_superuser("staff@example.org", "pw-staff-123")
        self.client.force_login(staff)
        url = f"/admin/organizations/organization/{self.org.id}/change/"
        page = self.client.get(url)
        self.assertEqual(page.status_code, 200, page.get("Location"))
        form = {
            "name": "a\u202eb", "management_email": "alice@example.org", "website": "", "logo_url": "",
            "max_apikey_expiration_days": "", "password_policy_config": "null",
            "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
            "invitations-TOTAL_FORMS": "0", "invitations-INITIAL_FORMS": "0",
        }  # fmt: skip
        r = self.client.post(url, form)
        self.assertContains(r, MESSAGE)
        self.org.refresh_from_db()
        self.assertEqual(self.org.name, "Alice Org")
        key = ApiKey.objects.filter(user=self.alice).first()
        r = self.client.post(f"/admin/organizations/apikey/{key.pk}/change/", {"name": "x\u2066y", "mode": "read"})
        self.assertContains(r, MESSAGE)

    def test_a_stored_name_is_isolated_in_the_admins_own_sentences(self) -> None:
        services.organization_update(actor=None, org=self.org, changes={})
        Organization.objects.filter(pk=self.org.pk).update(name="Evil\u202eCorp")
        staff = User.objects.create_superuser("staff@example.org", "pw-staff-123")
        self.client.force_login(staff)
        r = self.client.get(f"/admin/organizations/organization/{self.org.id}/change/")
        self.assertEqual(r.status_code, 200, r.get("Location"))
        self.assertContains(
            r, "<title>\u2068Evil\u202eCorp\u2069 | Change organization | capgo-org</title>", html=False
        )
