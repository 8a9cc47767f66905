"""The webhooks API to the contract: shapes, roles, key modes, the tenant wall, 404s, the audit log."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from django.test import override_settings

from organizations.models import AuditEvent
from organizations.roles import Role
from tests.base import ApiTestCase, add_member
from tests.receiver import Receiver
from webhooks.models import Delivery, Webhook

URL = "/webhooks/"
WEBHOOK_FIELDS = {"id", "org_id", "name", "url", "enabled", "events", "created_at", "updated_at", "created_by",
                  "disabled_reason"}  # fmt: skip
DELIVERY_FIELDS = {"id", "webhook_id", "event_type", "event_id", "status", "attempt_count", "response_status",
                   "response_preview", "created_at", "completed_at", "next_retry_at", "duration_ms"}  # fmt: skip


@override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=True)
class WebhookApiTestCase(ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.receiver = Receiver().__enter__()
        self.addCleanup(self.receiver.__exit__)

    def create(self, key: str | None = None, **fields: Any):  # noqa: ANN201
        body = {"orgId": self.org.id, "name": "Hook", "url": self.receiver.url(), "events": ["org_users"], **fields}
        return self.post(URL, body, key=key or self.key["all"])

    def webhook(self) -> dict[str, Any]:
        r = self.create()
        self.assertEqual(r.status_code, 201, r.content)
        return r.json()["webhook"]


class CreateTestCase(WebhookApiTestCase):
    def test_create_answers_201_with_the_secret_once(self) -> None:
        r = self.create(enabled=False)
        self.assertEqual(r.status_code, 201, r.content)
        body = r.json()
        self.assertEqual(body["status"], "Webhook created")
        webhook = body["webhook"]
        self.assertEqual(set(webhook), WEBHOOK_FIELDS | {"secret"})
        self.assertRegex(webhook["secret"], r"^whsec_[A-Za-z0-9+/]{43}=$")
        self.assertEqual(
            (webhook["org_id"], webhook["enabled"], webhook["events"]), (self.org.id, False, ["org_users"])
        )
        self.assertEqual(webhook["created_by"], str(self.alice.pk))
        self.assertIsNone(webhook["disabled_reason"])
        for r in (self.get(URL, {"orgId": self.org.id}, key=self.key["read"]),
                  self.get(URL, {"orgId": self.org.id, "webhookId": webhook["id"]}, key=self.key["read"])):  # fmt: skip
            self.assertNotIn(webhook["secret"], r.content.decode())
            self.assertNotIn("secret", r.content.decode())

    def test_events_must_be_a_non_empty_list_of_table_names(self) -> None:
        for events in ([], ["orgs", "apps"], ["webhooks"], "orgs", None, [1]):
            with self.subTest(events=events):
                self.assertError(self.create(events=events), 400, "invalid_events")
        self.assertFalse(Webhook.objects.exists())
        r = self.create(events=["orgs", "apikeys", "orgs"])
        self.assertEqual(r.json()["webhook"]["events"], ["orgs", "apikeys"])

    def test_the_name_is_1_to_100_plain_characters(self) -> None:
        for name in ("", "x" * 101, "bad\x00name", "bad\u202ename", "tab\tname"):
            with self.subTest(name=name):
                self.assertError(self.create(name=name), 400, "invalid_body")
        self.assertEqual(self.create(name="<b>x</b>").json()["webhook"]["name"], "<b>x</b>")

    def test_unknown_fields_are_refused(self) -> None:
        for field in ("secret", "id", "created_by", "org_id"):
            with self.subTest(field=field):
                self.assertError(self.create(**{field: "x"}), 400, "invalid_body")

    def test_the_list_is_newest_first(self) -> None:
        first, second = self.webhook(), self.webhook()
        r = self.get(URL, {"orgId": self.org.id}, key=self.key["read"])
        self.assertEqual([w["id"] for w in r.json()["data"]], [second["id"], first["id"]])
        self.assertEqual(set(r.json()["data"][0]), WEBHOOK_FIELDS)

    def test_one_webhook_carries_its_last_24_hours(self) -> None:
        webhook = self.webhook()
        r = self.post(URL + "test/", {"orgId": self.org.id, "webhookId": webhook["id"]}, key=self.key["all"])
        self.assertTrue(r.json()["success"])
        r = self.get(URL, {"orgId": self.org.id, "webhookId": webhook["id"]}, key=self.key["read"])
        self.assertEqual(r.json()["data"]["stats_24h"], {"success": 1, "failed": 0, "pending": 0})


class UpdateDeleteTestCase(WebhookApiTestCase):
    def test_update_changes_only_what_is_given(self) -> None:
        webhook = self.webhook()
        r = self.put(URL, {"orgId": self.org.id, "webhookId": webhook["id"], "name": "Renamed", "events": ["orgs"]},
                     key=self.key["write"])  # fmt: skip
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(r.json()["status"], "Webhook updated")
        updated = r.json()["webhook"]
        self.assertNotIn("secret", updated)
        self.assertEqual((updated["name"], updated["events"], updated["url"]), ("Renamed", ["orgs"], webhook["url"]))

    def test_nothing_to_change_is_400(self) -> None:
        webhook = self.webhook()
        for body in ({}, {"rotate_secret": False}):
            with self.subTest(body=body):
                r = self.put(URL, {"orgId": self.org.id, "webhookId": webhook["id"], **body}, key=self.key["all"])
                self.assertError(r, 400, "no_valid_fields_provided_for_update")

    def test_rotation_returns_the_new_secret_once(self) -> None:
        webhook = self.webhook()
        r = self.put(
            URL, {"orgId": self.org.id, "webhookId": webhook["id"], "rotate_secret": True}, key=self.key["all"]
        )
        secret = r.json()["webhook"]["secret"]
        self.assertNotEqual(secret, webhook["secret"])
        self.assertEqual(Webhook.objects.get().signing_secrets(), [secret, webhook["secret"]])

    def test_enabling_again_clears_the_reason(self) -> None:
        webhook = self.webhook()
        Webhook.objects.update(enabled=False, disabled_reason="The receiver answered 410 Gone.")
        r = self.get(URL, {"orgId": self.org.id, "webhookId": webhook["id"]}, key=self.key["read"])
        self.assertEqual(r.json()["data"]["disabled_reason"], "The receiver answered 410 Gone.")
        r = self.put(URL, {"orgId": self.org.id, "webhookId": webhook["id"], "enabled": True}, key=self.key["all"])
        self.assertEqual((r.json()["webhook"]["enabled"], r.json()["webhook"]["disabled_reason"]), (True, None))

    def test_delete_takes_the_deliveries_with_it(self) -> None:
        webhook = self.webhook()
        self.post(URL + "test/", {"orgId": self.org.id, "webhookId": webhook["id"]}, key=self.key["all"])
        r = self.delete(URL, {"orgId": self.org.id, "webhookId": webhook["id"]}, key=self.key["all"])
        self.assertEqual(r.json(), {"status": "Webhook deleted", "webhookId": webhook["id"]})
        self.assertFalse(Webhook.objects.exists() or Delivery.objects.exists())

    def test_delete_also_takes_a_json_body(self) -> None:
        webhook = self.webhook()
        r = self.client.delete(URL, json.dumps({"orgId": self.org.id, "webhookId": webhook["id"]}),
                               content_type="application/json", HTTP_AUTHORIZATION=self.key["all"])  # fmt: skip
        self.assertEqual(r.status_code, 200, r.content)


class TestAndDeliveriesTestCase(WebhookApiTestCase):
    def test_the_test_answers_200_with_the_receivers_answer_even_when_it_failed(self) -> None:
        webhook = self.webhook()
        self.receiver.answer(500)
        r = self.post(URL + "test", {"orgId": self.org.id, "webhookId": webhook["id"]}, key=self.key["all"])
        self.assertEqual(r.status_code, 200)
        body = r.json()
        self.assertEqual(set(body), {"success", "status", "duration_ms", "response_preview", "delivery_id"})
        self.assertEqual((body["success"], body["status"]), (False, 500))
        [request] = self.receiver.requests
        payload = json.loads(request.body)
        self.assertEqual((payload["type"], payload["event"], payload["data"]["table"]), ("test.ping",) * 2 + ("test",))
        delivery = Delivery.objects.get(pk=body["delivery_id"])
        self.assertEqual((delivery.status, delivery.attempt_count, delivery.next_retry_at), ("failed", 1, None))
        self.assertTrue(Webhook.objects.get().enabled)  # a test never disables

    def test_the_delivery_log_pages_newest_first_and_filters_by_status(self) -> None:
        webhook = self.webhook()
        self.receiver.answer(500)
        for _ in range(3):
            self.post(URL + "test/", {"orgId": self.org.id, "webhookId": webhook["id"]}, key=self.key["all"])
        r = self.get(URL + "deliveries/", {"orgId": self.org.id, "webhookId": webhook["id"]}, key=self.key["read"])
        body = r.json()
        self.assertEqual((body["page"], body["limit"], body["total"]), (0, 50, 3))
        self.assertEqual(set(body["data"][0]), DELIVERY_FIELDS)
        self.assertEqual([d["status"] for d in body["data"]], ["success", "success", "failed"])
        r = self.get(URL + "deliveries", {"orgId": self.org.id, "webhookId": webhook["id"], "status": "failed"},
                     key=self.key["read"])  # fmt: skip
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual((r.json()["total"], r.json()["data"][0]["response_status"]), (1, 500))
        r = self.get(URL + "deliveries/", {"orgId": self.org.id, "webhookId": webhook["id"], "page": 1},
                     key=self.key["read"])  # fmt: skip
        self.assertEqual((r.json()["data"], r.json()["total"]), ([], 3))


class AccessTestCase(WebhookApiTestCase):
    """Admin and up; write or all keys for changes; outsiders and foreign ids get 404."""

    def setUp(self) -> None:
        super().setUp()
        self.hook = self.webhook()
        self.receiver.answer(500)
        self.post(URL + "test/", {"orgId": self.org.id, "webhookId": self.hook["id"]}, key=self.key["all"])
        self.delivery_id = str(Delivery.objects.get().pk)

    def calls(self) -> list[tuple[str, str, dict[str, Any]]]:
        org, hook, delivery = self.org.id, self.hook["id"], self.delivery_id
        return [
            ("get", URL, {"orgId": org}),
            ("get", URL, {"orgId": org, "webhookId": hook}),
            ("post", URL, {"orgId": org, "name": "X", "url": self.receiver.url(), "events": ["orgs"]}),
            ("put", URL, {"orgId": org, "webhookId": hook, "name": "Y"}),
            ("post", URL + "test/", {"orgId": org, "webhookId": hook}),
            ("get", URL + "deliveries/", {"orgId": org, "webhookId": hook}),
            ("post", URL + "deliveries/retry/", {"orgId": org, "deliveryId": delivery}),
            ("delete", URL, {"orgId": org, "webhookId": hook}),
        ]

    def test_anonymous_is_401(self) -> None:
        for method, path, data in self.calls():
            with self.subTest(method=method, path=path):
                self.assertError(getattr(self, method)(path, data), 401, "no_key_provided")

    def test_an_outsider_gets_the_404_of_a_missing_organization(self) -> None:
        for method, path, data in self.calls():
            with self.subTest(method=method, path=path):
                self.assertError(getattr(self, method)(path, data, key=self.oscar_key), 404, "org_not_found")

    def test_write_and_read_members_are_403(self) -> None:
        for key in (self.wendy_key, self.rita_key):
            for method, path, data in self.calls():
                with self.subTest(method=method, path=path):
                    self.assertError(getattr(self, method)(path, data, key=key), 403, "insufficient_role")

    def test_read_and_upload_keys_only_read(self) -> None:
        for mode in ("read", "upload"):
            for method, path, data in self.calls():
                with self.subTest(mode=mode, method=method, path=path):
                    r = getattr(self, method)(path, data, key=self.key[mode])
                    if method == "get":
                        self.assertEqual(r.status_code, 200, r.content)
                    else:
                        self.assertError(r, 403, "key_mode_forbidden")
        self.assertEqual(Webhook.objects.get().name, "Hook")

    def test_an_admin_may_do_everything(self) -> None:
        for method, path, data in self.calls():
            with self.subTest(method=method, path=path):
                r = getattr(self, method)(path, data, key=self.adam_key)
                self.assertIn(r.status_code, (200, 201), r.content)

    def test_unknown_malformed_and_foreign_ids_are_the_same_404(self) -> None:
        other = Webhook.objects.create(organization=self.other_org, name="Oscar's", url="https://x.example/",
                                       events=["orgs"], secret="whsec_x")  # fmt: skip
        other_delivery = Delivery.objects.create(webhook=other, event_type="orgs.UPDATE", event_id="e", payload={},
                                                 status="failed")  # fmt: skip
        for webhook_id in (str(uuid.uuid4()), "not-a-uuid", str(other.pk), "１２３"):
            for method, path in (("get", URL), ("put", URL), ("delete", URL), ("post", URL + "test/"),
                                 ("get", URL + "deliveries/")):  # fmt: skip
                data = {"orgId": self.org.id, "webhookId": webhook_id, **({"name": "Z"} if method == "put" else {})}
                with self.subTest(webhook_id=webhook_id, method=method, path=path):
                    r = getattr(self, method)(path, data, key=self.key["all"])
                    body = self.assertError(r, 404, "webhook_not_found")
                    self.assertEqual(body["error"], "Webhook not found")
        for delivery_id in (str(uuid.uuid4()), "nope", str(other_delivery.pk)):
            with self.subTest(delivery_id=delivery_id):
                r = self.post(URL + "deliveries/retry/", {"orgId": self.org.id, "deliveryId": delivery_id},
                              key=self.key["all"])  # fmt: skip
                self.assertError(r, 404, "delivery_not_found")
        self.assertEqual(Webhook.objects.get(pk=other.pk).name, "Oscar's")

    def test_a_key_limited_to_another_organization_gets_404(self) -> None:
        from tests.base import make_key

        limited = make_key(self.alice, limited_to_orgs=[self.org.id])[1]
        self.assertEqual(self.get(URL, {"orgId": self.org.id}, key=limited).status_code, 200)
        add_member(self.other_org, self.alice, Role.ADMIN)
        elsewhere = make_key(self.alice, limited_to_orgs=[self.other_org.id])[1]
        self.assertError(self.get(URL, {"orgId": self.org.id}, key=elsewhere), 404, "org_not_found")

    def test_paths_answer_with_and_without_the_trailing_slash_and_others_are_json_404(self) -> None:
        for path in ("/webhooks", "/webhooks/"):
            self.assertEqual(self.get(path, {"orgId": self.org.id}, key=self.key["read"]).status_code, 200)
        self.assertError(self.get("/webhooks/nothing/", key=self.key["read"]), 404, "not_found")
        self.assertError(self.client.patch(URL, HTTP_AUTHORIZATION=self.key["all"]), 405, "method_not_allowed")


class AuditTestCase(WebhookApiTestCase):
    def test_every_change_is_audited_without_the_secret(self) -> None:
        with self.assertLogs(level=logging.DEBUG) as logs:
            webhook = self.webhook()
            r = self.put(URL, {"orgId": self.org.id, "webhookId": webhook["id"], "rotate_secret": True, "name": "N"},
                         key=self.key["all"])  # fmt: skip
            rotated = r.json()["webhook"]["secret"]
            self.delete(URL, {"orgId": self.org.id, "webhookId": webhook["id"]}, key=self.key["all"])
        events = AuditEvent.objects.filter(table_name="webhooks").order_by("id")
        self.assertEqual([e.operation for e in events], ["INSERT", "UPDATE", "DELETE"])
        self.assertEqual({e.record_id for e in events}, {webhook["id"]})
        self.assertEqual(events[1].new_record["secret_rotated"], True)
        self.assertEqual(events[1].changed_fields, ["name", "secret_rotated"])
        everything = json.dumps([[e.old_record, e.new_record] for e in events]) + "\n".join(logs.output)
        for secret in (webhook["secret"], rotated, webhook["secret"][6:], rotated[6:]):
            self.assertNotIn(secret, everything)
        r = self.get("/organization/audit/", {"orgId": self.org.id, "tableName": "webhooks"}, key=self.key["all"])
        self.assertEqual(r.json()["total"], 3)

    def test_webhook_changes_are_not_sent_to_webhooks(self) -> None:
        self.webhook()
        self.webhook()
        self.assertEqual(Delivery.objects.count(), 0)


class LimitsAndCountsTestCase(WebhookApiTestCase):
    def test_webhook_responses_carry_the_rate_limit(self) -> None:
        r = self.get(URL, {"orgId": self.org.id}, key=self.key["read"])
        self.assertIn("RateLimit-Limit", r.headers)
        with override_settings(API_RATE_LIMIT_PER_MINUTE=1):
            self.get(URL, {"orgId": self.org.id}, key=self.adam_key)
            self.assertError(self.get(URL, {"orgId": self.org.id}, key=self.adam_key), 429, "rate_limited")

    def test_the_lists_are_a_fixed_number_of_queries(self) -> None:
        from django.utils import timezone

        from organizations.models import ApiKey

        webhook = self.webhook()
        hook = Webhook.objects.get()
        Delivery.objects.create(webhook=hook, event_type="orgs.UPDATE", event_id="first", payload={})
        ApiKey.objects.update(last_used_at=timezone.now())
        params = {"orgId": self.org.id, "webhookId": webhook["id"]}
        # The key with the organization and role, then the webhooks; for the log: the webhook, the count, the page.
        with self.assertNumQueries(2):
            self.get(URL, {"orgId": self.org.id}, key=self.key["read"])
        with self.assertNumQueries(4):
            self.get(URL + "deliveries/", params, key=self.key["read"])
        Webhook.objects.bulk_create(
            [Webhook(organization=self.org, name=f"H{n}", url="https://x.example/", events=["orgs"], secret="s")
             for n in range(30)]
        )  # fmt: skip
        Delivery.objects.bulk_create(
            [Delivery(webhook=hook, event_type="orgs.UPDATE", event_id=str(n), payload={}) for n in range(60)]
        )
        with self.assertNumQueries(2):
            r = self.get(URL, {"orgId": self.org.id}, key=self.key["read"])
        self.assertEqual(len(r.json()["data"]), 31)
        with self.assertNumQueries(4):
            r = self.get(URL + "deliveries/", params, key=self.key["read"])
        self.assertEqual((len(r.json()["data"]), r.json()["total"]), (50, 61))

    def test_deliveries_are_kept_30_days(self) -> None:
        from datetime import timedelta

        from django.utils import timezone

        from webhooks.delivery import cleanup

        self.webhook()
        hook = Webhook.objects.get()
        old = Delivery.objects.create(webhook=hook, event_type="orgs.UPDATE", event_id="old", payload={},
                                      created_at=timezone.now() - timedelta(days=30, minutes=1))  # fmt: skip
        kept = Delivery.objects.create(webhook=hook, event_type="orgs.UPDATE", event_id="kept", payload={},
                                       created_at=timezone.now() - timedelta(days=29, hours=23))  # fmt: skip
        self.assertEqual(cleanup(), {"deliveries": 1, "webhooks": 0})
        self.assertFalse(Delivery.objects.filter(pk=old.pk).exists())
        self.assertTrue(Delivery.objects.filter(pk=kept.pk).exists())

    def test_a_webhook_secret_never_reaches_a_log_line(self) -> None:
        from organizations.logging import redact

        secret = self.webhook()["secret"]
        self.assertNotIn(secret[6:], redact(f"something logged {secret} by a library"))
