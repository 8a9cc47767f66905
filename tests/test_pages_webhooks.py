"""The Webhooks tab: admins and up; create (secret once), edit, test, toggle, rotate, delete, retry."""

from __future__ import annotations

from django.test import override_settings

from organizations.models import AuditEvent
from tests.base import ApiTestCase
from tests.receiver import Receiver
from webhooks.models import Delivery, Webhook


@override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=True)
class WebhookPagesTestCase(ApiTestCase):
    def setUp(self) -> None:
        self.receiver = Receiver().__enter__()
        self.addCleanup(self.receiver.__exit__)
        self.url = f"/orgs/{self.org.id}/webhooks/"

    def create(self, **fields: object):  # noqa: ANN201
        data = {"name": "Receiver", "url": self.receiver.url(), "events": ["org_users", "orgs"], "enabled": "on"}
        return self.client.post(self.url + "new/", {**data, **fields})

    def detail_url(self, webhook: Webhook) -> str:
        return f"{self.url}{webhook.pk}/"

    def test_the_tab_is_for_admins_and_up(self) -> None:
        self.assertRedirects(self.client.get(self.url), f"/accounts/login/?next={self.url}")
        for user, status in ((self.oscar, 404), (self.wendy, 403), (self.rita, 403), (self.adam, 200)):
            self.client.force_login(user)
            with self.subTest(user=user.email):
                self.assertEqual(self.client.get(self.url).status_code, status)
        r = self.client.get(f"/orgs/{self.org.id}/members/")
        self.assertContains(r, 'id="tab-webhooks"')
        self.client.force_login(self.wendy)
        self.assertNotContains(self.client.get(f"/orgs/{self.org.id}/members/"), 'id="tab-webhooks"')
        self.assertEqual(self.create().status_code, 403)
        self.assertFalse(Webhook.objects.exists())

    def test_creating_shows_the_secret_once_with_how_to_verify_it(self) -> None:
        self.client.force_login(self.adam)
        r = self.create()
        webhook = Webhook.objects.get()
        self.assertContains(r, webhook.secret)
        self.assertContains(r, "It will not be shown again")
        self.assertContains(r, "standardwebhooks")
        self.assertEqual(r["Cache-Control"], "no-store")
        self.assertEqual(webhook.created_by, self.adam)
        for page in (self.client.get(self.url), self.client.get(self.detail_url(webhook))):
            self.assertNotContains(page, webhook.secret)
        self.assertEqual(AuditEvent.objects.filter(table_name="webhooks", operation="INSERT").count(), 1)

    def test_a_refused_url_is_a_form_error(self) -> None:
        self.client.force_login(self.alice)
        with override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=False):
            r = self.create(url="http://127.0.0.1/x")
        self.assertContains(r, "https", status_code=400)
        self.assertFalse(Webhook.objects.exists())

    def test_send_a_test_and_see_it_in_the_log_with_the_answer(self) -> None:
        self.client.force_login(self.alice)
        self.create()
        webhook = Webhook.objects.get()
        self.receiver.answer(500)
        r = self.client.post(self.detail_url(webhook) + "test/", follow=True)
        self.assertContains(r, "The receiver answered HTTP 500.")
        delivery = Delivery.objects.get()
        self.assertContains(r, f'id="delivery-{delivery.pk}"')
        self.assertContains(r, "test.ping")
        self.assertContains(r, "HTTP 500")
        r = self.client.get(self.url)
        self.assertContains(r, "0 delivered")
        self.assertContains(r, "1 failed")

    def test_retry_toggle_edit_rotate_and_delete(self) -> None:
        self.client.force_login(self.alice)
        self.create()
        webhook = Webhook.objects.get()
        failed = Delivery.objects.create(webhook=webhook, event_type="orgs.UPDATE", event_id="e1", payload={"x": 1},
                                         status="failed", attempt_count=10)  # fmt: skip
        with self.captureOnCommitCallbacks(execute=True):
            r = self.client.post(f"{self.detail_url(webhook)}deliveries/{failed.pk}/retry/", follow=True)
        self.assertContains(r, "The delivery was queued again.")
        failed.refresh_from_db()
        self.assertEqual((failed.status, failed.attempt_count), ("success", 1))  # the immediate backend sent it

        self.client.post(self.detail_url(webhook) + "toggle/")
        self.assertFalse(Webhook.objects.get().enabled)
        r = self.client.post(self.detail_url(webhook), {"name": "Renamed", "url": self.receiver.url(),
                                                        "events": ["orgs"], "enabled": "on"})  # fmt: skip
        self.assertRedirects(r, self.detail_url(webhook))
        webhook.refresh_from_db()
        self.assertEqual((webhook.name, webhook.events, webhook.enabled), ("Renamed", ["orgs"], True))

        self.assertContains(self.client.get(self.detail_url(webhook) + "rotate/"), "Rotate the secret")
        old = webhook.secret
        r = self.client.post(self.detail_url(webhook) + "rotate/")
        webhook.refresh_from_db()
        self.assertNotEqual(webhook.secret, old)
        self.assertContains(r, webhook.secret)
        self.assertNotContains(r, old)

        self.assertContains(self.client.get(self.detail_url(webhook) + "delete/"), "Delete the webhook")
        self.assertTrue(Webhook.objects.exists())  # not before the confirmation
        self.assertRedirects(self.client.post(self.detail_url(webhook) + "delete/"), self.url)
        self.assertFalse(Webhook.objects.exists())

    def test_another_organizations_webhook_is_404(self) -> None:
        foreign = Webhook.objects.create(organization=self.other_org, name="Oscar's", url="https://x.example/",
                                         events=["orgs"], secret="whsec_x")  # fmt: skip
        self.client.force_login(self.alice)
        for path in ("", "test/", "toggle/", "rotate/", "delete/"):
            with self.subTest(path=path):
                self.assertEqual(self.client.post(f"{self.url}{foreign.pk}/{path}").status_code, 404)
        self.assertTrue(Webhook.objects.get(pk=foreign.pk).enabled)

    def test_the_tab_speaks_german(self) -> None:
        self.client.force_login(self.alice)
        r = self.client.get(self.url, HTTP_ACCEPT_LANGUAGE="de")
        self.assertContains(r, "Webhook hinzufügen")


@override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=True)
class WebhookAdminTestCase(ApiTestCase):
    def test_staff_change_a_webhook_through_its_service_and_never_see_its_secret(self) -> None:
        staff = self.alice
        staff.is_staff = staff.is_superuser = True
        staff.save()
        with Receiver() as receiver:
            from organizations.roles import Principal
            from webhooks import services

            webhook, secret = services.webhook_create(actor=Principal(self.alice), org=self.org, name="Hook",
                                                      url=receiver.url(), events=["orgs"])  # fmt: skip
            self.client.force_login(staff)
            url = f"/admin/webhooks/webhook/{webhook.pk}/change/"
            r = self.client.get(url)
            self.assertEqual(r.status_code, 200)
            self.assertNotContains(r, secret)
            r = self.client.post(url, {"name": "Renamed", "url": receiver.url(), "events": ["orgs"], "enabled": "on"})
            self.assertEqual(r.status_code, 302, r.content)
            self.assertEqual(Webhook.objects.get().name, "Renamed")
            self.assertTrue(AuditEvent.objects.filter(table_name="webhooks", operation="UPDATE").exists())
            with override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=False):
                r = self.client.post(url, {"name": "Renamed", "url": "http://127.0.0.1/x", "events": ["orgs"]})
            self.assertContains(r, "Not saved: The webhook URL must use https.")
            self.assertEqual(Webhook.objects.get().url, receiver.url())
        self.assertEqual(self.client.get("/admin/webhooks/delivery/").status_code, 200)
        self.assertEqual(self.client.get("/admin/organizations/email/").status_code, 200)
