"""The API keys page: list, create (secret shown once), regenerate, delete."""

from __future__ import annotations

import re
from datetime import timedelta

from django.test import Client, override_settings
from django.utils import timezone

from organizations.models import ApiKey, AuditEvent
from organizations.roles import KEY_MODE_DESCRIPTIONS
from tests.base import ApiTestCase, make_key

URL = "/keys/"


def shown_secret(response) -> str:  # noqa: ANN001 - a test client response
    return re.search(r'id="api-key-secret" class="secret" value="([^"]+)"', response.content.decode()).group(1)


class ApiKeyListTestCase(ApiTestCase):
    def test_anonymous_is_sent_to_log_in(self) -> None:
        self.assertRedirects(self.client.get(URL), "/accounts/login/?next=/keys/")
        self.assertRedirects(self.client.post(f"{URL}new/", {"name": "x"}), "/accounts/login/?next=/keys/new/")

    def test_it_lists_my_keys_with_preview_mode_limits_expiry_and_last_use(self) -> None:
        key, _secret = make_key(self.rita, "read", name="CI deploy", limited_to_orgs=[self.org.id])
        ApiKey.objects.filter(pk=key.pk).update(
            expires_at=timezone.now() + timedelta(days=3), last_used_at=timezone.now() - timedelta(hours=2)
        )
        self.client.force_login(self.rita)
        r = self.client.get(URL)
        row = re.search(rf'<tr id="key-{key.pk}">.*?</tr>', r.content.decode(), re.S).group(0)
        self.assertIn("CI deploy", row)
        self.assertIn(key.key_preview, row)
        self.assertIn("Read", row)
        self.assertIn("Alice Org", row)
        self.assertIn((timezone.now() + timedelta(days=3)).strftime("%Y-%m-%d"), row)
        self.assertIn((timezone.now() - timedelta(hours=2)).strftime("%Y-%m-%d %H"), row)
        self.assertNotContains(r, "oscar")  # only my keys

    def test_it_never_shows_another_users_key(self) -> None:
        self.client.force_login(self.oscar)
        r = self.client.get(URL)
        alice_key = ApiKey.objects.filter(user=self.alice).first()
        self.assertNotContains(r, f'id="key-{alice_key.pk}"')
        self.assertNotContains(r, alice_key.key_preview)


class ApiKeyCreateTestCase(ApiTestCase):
    def test_it_shows_the_secret_once_and_the_secret_works_against_the_api(self) -> None:
        self.client.force_login(self.wendy)
        r = self.client.post(f"{URL}new/", {"name": "Laptop", "mode": "read", "limited_to_orgs": [self.org.id]})
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r["Cache-Control"], "no-store")
        self.assertContains(r, "It will not be shown again.")
        self.assertContains(r, 'data-copy-target="api-key-secret"')
        secret = shown_secret(r)
        key = ApiKey.objects.get(user=self.wendy, name="Laptop")
        self.assertEqual((key.mode, sorted(key.limited_org_ids)), ("read", [self.org.id]))
        self.assertNotEqual(key.digest, secret)
        self.assertNotIn(secret, self.client.get(URL).content.decode())
        api = self.client.get("/organization/", {"orgId": self.org.id}, HTTP_AUTHORIZATION=secret)
        self.assertEqual(api.status_code, 200)
        self.assertEqual(api.json()["data"]["name"], "Alice Org")
        event = AuditEvent.objects.get(table_name="apikeys", operation="INSERT", record_id=str(key.pk))
        self.assertEqual(event.actor_user_email, "wendy@example.org")

    def test_an_expiry_in_days_is_stored(self) -> None:
        self.client.force_login(self.wendy)
        self.client.post(f"{URL}new/", {"name": "Short", "mode": "all", "expires_in_days": "7"})
        key = ApiKey.objects.get(user=self.wendy, name="Short")
        self.assertAlmostEqual(key.expires_at, timezone.now() + timedelta(days=7), delta=timedelta(minutes=1))

    def test_the_organization_policy_is_a_form_error(self) -> None:
        self.org.require_apikey_expiration = True
        self.org.max_apikey_expiration_days = 30
        self.org.save()
        self.client.force_login(self.wendy)
        r = self.client.post(f"{URL}new/", {"name": "Forever", "mode": "all", "limited_to_orgs": [self.org.id]})
        self.assertContains(r, "Organization Alice Org requires API keys with an expiration date")
        r = self.client.post(
            f"{URL}new/", {"name": "Long", "mode": "all", "limited_to_orgs": [self.org.id], "expires_in_days": "90"}
        )
        self.assertContains(r, "API key expiration cannot exceed 30 days")
        self.assertFalse(ApiKey.objects.filter(user=self.wendy, name__in=["Forever", "Long"]).exists())

    def test_it_cannot_be_limited_to_an_organization_i_am_not_in(self) -> None:
        self.client.force_login(self.wendy)
        r = self.client.post(f"{URL}new/", {"name": "Sneaky", "mode": "all", "limited_to_orgs": [self.other_org.id]})
        self.assertContains(r, "Select a valid choice.")
        self.assertFalse(ApiKey.objects.filter(name="Sneaky").exists())

    def test_the_form_offers_only_my_organizations(self) -> None:
        self.client.force_login(self.wendy)
        r = self.client.get(URL)
        self.assertContains(r, f'value="{self.org.id}"')
        self.assertNotContains(r, self.other_org.id)

    def test_get_is_not_allowed_on_the_create_address(self) -> None:
        self.client.force_login(self.wendy)
        self.assertEqual(self.client.get(f"{URL}new/").status_code, 405)


class ApiKeyRegenerateTestCase(ApiTestCase):
    def test_it_asks_first_then_shows_the_new_secret_and_the_old_one_stops(self) -> None:
        key, old_secret = make_key(self.wendy, name="Rotating")
        self.client.force_login(self.wendy)
        url = f"{URL}{key.pk}/regenerate/"
        self.assertContains(self.client.get(url), "The current secret stops working at once.")
        r = self.client.post(url)
        self.assertContains(r, "Your regenerated API key")
        new_secret = shown_secret(r)
        self.assertNotEqual(new_secret, old_secret)
        self.assertEqual(self.client.get("/organization/", HTTP_AUTHORIZATION=old_secret).status_code, 401)
        self.assertEqual(self.client.get("/organization/", HTTP_AUTHORIZATION=new_secret).status_code, 200)

    def test_another_users_key_is_404(self) -> None:
        key, secret = make_key(self.oscar)
        self.client.force_login(self.wendy)
        self.assertEqual(self.client.get(f"{URL}{key.pk}/regenerate/").status_code, 404)
        self.assertEqual(self.client.post(f"{URL}{key.pk}/regenerate/").status_code, 404)
        self.assertEqual(self.client.get("/organization/", HTTP_AUTHORIZATION=secret).status_code, 200)


class ApiKeyDeleteTestCase(ApiTestCase):
    def test_it_asks_first_then_deletes(self) -> None:
        key, secret = make_key(self.wendy, name="Old laptop")
        self.client.force_login(self.wendy)
        url = f"{URL}{key.pk}/delete/"
        self.assertContains(self.client.get(url), "stops working at once")
        self.assertTrue(ApiKey.objects.filter(pk=key.pk).exists())
        r = self.client.post(url)
        self.assertRedirects(r, URL, fetch_redirect_response=False)
        self.assertFalse(ApiKey.objects.filter(pk=key.pk).exists())
        self.assertSays(self.client.get(URL), "The API key Old laptop was deleted. Create a new key")
        self.assertEqual(self.client.get("/organization/", HTTP_AUTHORIZATION=secret).status_code, 401)

    def test_another_users_key_is_404(self) -> None:
        key, _secret = make_key(self.oscar)
        self.client.force_login(self.wendy)
        self.assertEqual(self.client.post(f"{URL}{key.pk}/delete/").status_code, 404)
        self.assertTrue(ApiKey.objects.filter(pk=key.pk).exists())

    def test_anonymous_is_sent_to_log_in(self) -> None:
        key, _secret = make_key(self.wendy)
        url = f"{URL}{key.pk}/delete/"
        self.assertRedirects(self.client.post(url), f"/accounts/login/?next={url}")
        self.assertTrue(ApiKey.objects.filter(pk=key.pk).exists())


class ApiKeyCapPageTestCase(ApiTestCase):
    @override_settings(API_KEYS_PER_USER=1)
    def test_past_the_cap_the_form_says_so_and_nothing_is_created(self) -> None:
        self.client.force_login(self.wendy)  # who holds one key already
        r = self.client.post(f"{URL}new/", {"name": "Laptop", "mode": "read"})
        self.assertEqual(r.status_code, 200)
        self.assertContains(r, "API key limit reached: delete a key before creating another")
        self.assertNotContains(r, "It will not be shown again.")
        self.assertFalse(ApiKey.objects.filter(user=self.wendy, name="Laptop").exists())


class ApiKeyCsrfTestCase(ApiTestCase):
    def test_every_key_form_needs_the_csrf_token(self) -> None:
        key, _secret = make_key(self.wendy, name="Keep")
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.wendy)
        for url in (f"{URL}new/", f"{URL}{key.pk}/regenerate/", f"{URL}{key.pk}/delete/"):
            with self.subTest(url=url):
                self.assertEqual(client.post(url, {"name": "x", "mode": "all"}).status_code, 403)
        key.refresh_from_db()
        self.assertEqual(ApiKey.objects.filter(user=self.wendy).count(), 2)  # the cast's key and "Keep"


class SafeDefaultsTestCase(ApiTestCase):
    """The key form starts with the weakest mode and an expiry every policy accepts, explains each
    mode, and says which organization would refuse a key before it is made."""

    def test_the_defaults_are_the_safe_ones(self) -> None:
        self.client.force_login(self.wendy)
        r = self.client.get(URL)
        self.assertContains(r, 'value="read" class="choices" required id="id_mode_0" checked')
        self.assertContains(r, 'name="expires_in_days" value="90"')
        for description in KEY_MODE_DESCRIPTIONS.values():
            self.assertContains(r, str(description))
        self.org.max_apikey_expiration_days = 30
        self.org.save()
        self.assertContains(self.client.get(URL), 'name="expires_in_days" value="30"')  # no policy refuses it
        self.assertContains(self.client.get(URL), "(limited keys expire within 30 days)")

    def test_a_key_an_organization_would_refuse_is_confirmed_first(self) -> None:
        self.org.require_apikey_expiration = True
        self.org.save()
        self.client.force_login(self.wendy)
        r = self.client.post(f"{URL}new/", {"name": "Forever", "mode": "read", "expires_in_days": ""})
        self.assertContains(r, 'id="key-policy-warning"')
        self.assertContains(r, "Organization Alice Org requires API keys with an expiration date")
        self.assertContains(r, '<input type="hidden" name="confirmed" value="on">', html=True)
        self.assertFalse(ApiKey.objects.filter(name="Forever").exists())
        r = self.client.post(
            f"{URL}new/", {"name": "Forever", "mode": "read", "expires_in_days": "", "confirmed": "on"}
        )
        self.assertContains(r, "It will not be shown again.")
        self.assertIsNone(ApiKey.objects.get(name="Forever").expires_at)
        # With an expiry, nothing to confirm.
        r = self.client.post(f"{URL}new/", {"name": "Soon", "mode": "read", "expires_in_days": "30"})
        self.assertContains(r, "It will not be shown again.")

    def test_each_policy_error_is_at_its_field(self) -> None:
        self.org.max_apikey_expiration_days = 30
        self.org.save()
        self.client.force_login(self.wendy)
        r = self.client.post(
            f"{URL}new/", {"name": "Long", "mode": "all", "limited_to_orgs": [self.org.id], "expires_in_days": "90"}
        )
        field = re.search(r'<input type="number" name="expires_in_days".*?</div>', r.content.decode(), re.S)
        group = r.content.decode()[: field.start()].rsplit("<div>", 1)[1]
        self.assertIn("API key expiration cannot exceed 30 days for this organization", group)
        self.assertNotContains(r, 'class="errorlist nonfield"')
        self.assertContains(r, 'aria-invalid="true"')
