"""Webhook deliveries end to end: a change through the API, the outbox, a real task backend, a real
HTTP receiver on loopback, signatures checked with the `standardwebhooks` library.

Every test runs twice: on django-tasks' database backend and on RQ (Redis at TEST_REDIS_URL).
Time is moved with time-machine, never slept.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from django.core import mail
from django.db import transaction
from django.test import override_settings
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from organizations import services as org_services
from organizations.models import Email
from organizations.roles import Principal, Role
from tests.base import ApiTestCase
from tests.receiver import Answer, Receiver
from tests.tasks import BACKENDS, DATABASE, RQ, redis_or_skip, reset, run_tasks
from webhooks.delivery import MAX_ATTEMPTS, RETRY_DELAYS
from webhooks.models import Delivery, Webhook

MEMBERS = "/organization/members/"
WEBHOOKS = "/webhooks/"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class DeliveryTests(ApiTestCase):
    """The tests; the subclasses pick the backend."""

    backend = DATABASE

    def setUp(self) -> None:
        super().setUp()
        self.receiver = Receiver().__enter__()
        self.addCleanup(self.receiver.__exit__)
        settings = override_settings(TASKS=BACKENDS[self.backend], WEBHOOK_ALLOW_PRIVATE_URLS=True)
        settings.enable()
        self.addCleanup(settings.disable)
        reset(self.backend)
        self.clock = time_machine.travel(T0, tick=False)
        self.traveller = self.clock.start()
        self.addCleanup(self.clock.stop)

    # Helpers ------------------------------------------------------------------------------

    def create_webhook(self, events: list[str] | None = None, url: str | None = None) -> dict[str, Any]:
        r = self.post(
            WEBHOOKS,
            {
                "orgId": self.org.id,
                "name": "Receiver",
                "url": url or self.receiver.url(),
                "events": events or ["org_users"],
            },
            key=self.key["all"],
        )
        self.assertEqual(r.status_code, 201, r.content)
        return r.json()["webhook"]

    def invite(self, email: str = "new@example.org") -> None:
        with self.captureOnCommitCallbacks(execute=True):
            r = self.post(MEMBERS, {"orgId": self.org.id, "email": email, "role": "read"}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)

    def run_tasks(self) -> int:
        return run_tasks(self.backend)

    def later(self, delta: timedelta) -> None:
        self.traveller.shift(delta)

    def verify(self, secret: str, index: int = -1) -> dict[str, Any]:
        request = self.receiver.requests[index]
        return StandardWebhook(secret).verify(request.body, request.headers)

    # The tests -------------------------------------------------------------------------------

    def test_an_invited_member_is_delivered_once_signed_with_the_secret_the_create_response_showed(self) -> None:
        webhook = self.create_webhook()
        self.invite()
        self.assertEqual(self.receiver.requests, [])  # nothing in the request: a worker sends it
        self.run_tasks()
        [request] = self.receiver.requests
        payload = self.verify(webhook["secret"])
        self.assertEqual(payload["event"], "org_users.INSERT")
        self.assertEqual(payload["type"], "org_users.INSERT")
        self.assertEqual(payload["org_id"], self.org.id)
        self.assertEqual(payload["data"]["table"], "org_users")
        self.assertEqual(payload["data"]["operation"], "INSERT")
        self.assertEqual(payload["data"]["new_record"]["email"], "new@example.org")
        self.assertEqual(payload["data"]["actor_user_email"], self.alice.email)
        self.assertEqual(request.headers["x-capgo-event"], "org_users.INSERT")
        self.assertEqual(request.headers["x-capgo-event-id"], payload["event_id"])
        self.assertEqual(request.headers["webhook-id"], payload["event_id"])
        self.assertEqual(request.headers["webhook-timestamp"], str(int(T0.timestamp())))
        [delivery] = Delivery.objects.all()
        self.assertEqual((delivery.status, delivery.attempt_count, delivery.response_status), ("success", 1, 200))
        with self.assertRaises(WebhookVerificationError):
            StandardWebhook(webhook["secret"][:-4] + "AAA=").verify(request.body, request.headers)

    def test_only_subscribed_tables_are_delivered(self) -> None:
        self.create_webhook(events=["orgs"])
        self.invite()
        self.assertEqual(Delivery.objects.count(), 0)
        with self.captureOnCommitCallbacks(execute=True):
            self.put("/organization/", {"orgId": self.org.id, "name": "Renamed"}, key=self.key["all"])
        self.run_tasks()
        self.assertEqual([r.headers["x-capgo-event"] for r in self.receiver.requests], ["orgs.UPDATE"])

    def test_a_500_is_retried_after_5_seconds_and_then_succeeds(self) -> None:
        webhook = self.create_webhook()
        self.receiver.answer(500)
        self.invite()
        self.run_tasks()
        delivery = Delivery.objects.get()
        self.assertEqual((delivery.status, delivery.attempt_count, delivery.response_status), ("pending", 1, 500))
        self.assertEqual(delivery.next_retry_at, T0 + timedelta(seconds=5))
        self.later(timedelta(seconds=4))
        self.run_tasks()
        self.assertEqual(len(self.receiver.requests), 1)  # not yet
        self.later(timedelta(seconds=1))
        self.run_tasks()
        self.assertEqual(len(self.receiver.requests), 2)
        first, second = self.receiver.requests
        self.assertEqual(first.headers["webhook-id"], second.headers["webhook-id"])  # stable across retries
        self.assertEqual(second.headers["webhook-timestamp"], str(int((T0 + timedelta(seconds=5)).timestamp())))
        self.verify(webhook["secret"])
        delivery.refresh_from_db()
        self.assertEqual((delivery.status, delivery.attempt_count, delivery.response_status), ("success", 2, 200))

    def test_retry_after_is_honoured_up_to_24_hours(self) -> None:
        self.create_webhook()
        self.receiver.answer(
            Answer(503, headers={"Retry-After": "120"}), Answer(503, headers={"Retry-After": "999999"})
        )
        self.invite()
        self.run_tasks()
        self.assertEqual(Delivery.objects.get().next_retry_at, T0 + timedelta(seconds=120))
        self.later(timedelta(seconds=120))
        self.run_tasks()
        self.assertEqual(len(self.receiver.requests), 2)
        self.assertEqual(Delivery.objects.get().next_retry_at, T0 + timedelta(seconds=120, hours=24))

    def test_a_410_disables_the_webhook_and_emails_the_management_address(self) -> None:
        self.create_webhook()
        self.receiver.answer(410)
        self.invite()
        mail.outbox.clear()
        self.run_tasks()
        webhook = Webhook.objects.get()
        self.assertFalse(webhook.enabled)
        self.assertIn("410", webhook.disabled_reason)
        self.assertEqual(Delivery.objects.get().status, "failed")
        [notice] = [m for m in mail.outbox if m.to == [self.org.management_email]]
        self.assertIn("Receiver", notice.subject)
        self.assertIn("410", notice.body)
        self.later(timedelta(days=2))
        self.run_tasks()
        self.assertEqual(len(self.receiver.requests), 1)  # never again

    def test_every_attempt_follows_the_schedule_and_the_last_failure_disables_and_emails(self) -> None:
        self.create_webhook()
        self.receiver.answer(*[500] * MAX_ATTEMPTS)
        self.invite()
        mail.outbox.clear()
        self.run_tasks()
        for number, delay in enumerate(RETRY_DELAYS, start=2):
            self.later(delay - timedelta(seconds=1))
            self.run_tasks()
            self.assertEqual(len(self.receiver.requests), number - 1, f"attempt {number} came early")
            self.later(timedelta(seconds=1))
            self.run_tasks()
            self.assertEqual(len(self.receiver.requests), number, f"attempt {number} did not come")
        delivery = Delivery.objects.get()
        self.assertEqual((delivery.status, delivery.attempt_count), ("failed", MAX_ATTEMPTS))
        webhook = Webhook.objects.get()
        self.assertFalse(webhook.enabled)
        self.assertEqual(webhook.disabled_reason, "10 delivery attempts failed in a row.")
        notices = [m for m in mail.outbox if m.to == [self.org.management_email]]
        self.assertEqual(len(notices), 1)
        self.assertIn("10 delivery attempts failed", notices[0].body)

    def test_after_a_rotation_both_secrets_verify_for_24_hours(self) -> None:
        webhook = self.create_webhook()
        r = self.put(WEBHOOKS, {"orgId": self.org.id, "webhookId": webhook["id"], "rotate_secret": True},
                     key=self.key["all"])  # fmt: skip
        new_secret = r.json()["webhook"]["secret"]
        self.assertNotEqual(new_secret, webhook["secret"])
        self.invite("first@example.org")
        self.run_tasks()
        self.assertEqual(len(self.receiver.requests[-1].headers["webhook-signature"].split(" ")), 2)
        self.verify(new_secret)
        self.verify(webhook["secret"])
        self.later(timedelta(hours=24, seconds=1))
        self.invite("second@example.org")
        self.run_tasks()
        self.verify(new_secret)
        with self.assertRaises(WebhookVerificationError):
            self.verify(webhook["secret"])

    def test_a_change_that_rolls_back_sends_nothing(self) -> None:
        self.create_webhook()
        with self.captureOnCommitCallbacks(execute=True), self.assertRaises(RuntimeError), transaction.atomic():
            org_services.member_invite(
                actor=Principal(self.alice), org=self.org, email="gone@example.org", role=Role.READ
            )
            raise RuntimeError("the change fails after its audit event")
        self.assertEqual(Delivery.objects.count(), 0)
        self.assertEqual(self.run_tasks(), 0)
        self.assertEqual(self.receiver.requests, [])

    def test_each_attempt_uses_the_current_url_and_stops_once_disabled(self) -> None:
        webhook = self.create_webhook()
        self.receiver.answer(500)
        self.invite()
        self.run_tasks()
        with Receiver() as moved:
            self.put(WEBHOOKS, {"orgId": self.org.id, "webhookId": webhook["id"], "url": moved.url()},
                     key=self.key["all"])  # fmt: skip
            self.later(RETRY_DELAYS[0])
            self.run_tasks()
            self.assertEqual((len(self.receiver.requests), len(moved.requests)), (1, 1))
        self.assertEqual(Delivery.objects.get().status, "success")

        self.receiver.answer(500)
        self.put(WEBHOOKS, {"orgId": self.org.id, "webhookId": webhook["id"], "url": self.receiver.url()},
                 key=self.key["all"])  # fmt: skip
        self.invite("other@example.org")
        self.run_tasks()
        self.put(WEBHOOKS, {"orgId": self.org.id, "webhookId": webhook["id"], "enabled": False}, key=self.key["all"])
        self.later(RETRY_DELAYS[0])
        self.run_tasks()
        self.assertEqual(len(self.receiver.requests), 2)  # the retry was not sent
        self.assertEqual(Delivery.objects.filter(status="failed").count(), 1)

    def test_a_failed_delivery_can_be_retried_by_hand(self) -> None:
        webhook = self.create_webhook()
        self.receiver.answer(410)
        self.invite()
        self.run_tasks()
        delivery = Delivery.objects.get()
        retry = {"orgId": self.org.id, "deliveryId": str(delivery.pk)}
        self.assertError(self.post(WEBHOOKS + "deliveries/retry/", retry, key=self.key["all"]), 409, "webhook_disabled")
        self.put(WEBHOOKS, {"orgId": self.org.id, "webhookId": webhook["id"], "enabled": True}, key=self.key["all"])
        with self.captureOnCommitCallbacks(execute=True):
            r = self.post(WEBHOOKS + "deliveries/retry/", retry, key=self.key["all"])
        self.assertEqual(r.json(), {"status": "Delivery queued for retry", "deliveryId": str(delivery.pk)})
        self.run_tasks()
        delivery.refresh_from_db()
        self.assertEqual((delivery.status, delivery.attempt_count), ("success", 1))
        self.assertEqual(
            self.receiver.requests[0].headers["webhook-id"], self.receiver.requests[1].headers["webhook-id"]
        )
        self.assertError(
            self.post(WEBHOOKS + "deliveries/retry/", retry, key=self.key["all"]), 409, "delivery_not_failed"
        )

    def test_the_sweep_queues_a_delivery_whose_task_was_lost(self) -> None:
        self.create_webhook()
        with self.captureOnCommitCallbacks(execute=False):  # the process died before queueing
            self.post(MEMBERS, {"orgId": self.org.id, "email": "new@example.org", "role": "read"}, key=self.key["all"])
        # On the database backend the invitation email's task row is written in the invitation's own
        # transaction, so it ran; on RQ it too is handed over after the commit, and was lost. The
        # delivery's task, handed over after the commit on both, was lost.
        self.assertEqual(self.run_tasks(), 1 if self.backend == DATABASE else 0)
        self.assertEqual((len(self.receiver.requests), Delivery.objects.get().status), (0, "pending"))
        from webhooks.tasks import sweep_deliveries

        with self.captureOnCommitCallbacks(execute=True):
            sweep_deliveries.enqueue()
        self.run_tasks()
        self.assertEqual(len(self.receiver.requests), 1)
        self.assertEqual(Delivery.objects.get().status, "success")

    def test_the_invitation_email_is_sent_by_the_worker(self) -> None:
        self.invite()
        self.assertEqual(mail.outbox, [])
        self.run_tasks()
        self.assertEqual([m.to for m in mail.outbox], [["new@example.org"]])
        self.assertEqual(Email.objects.get().status, "sent")

    def test_a_deleted_organization_still_delivers_its_last_events(self) -> None:
        self.create_webhook(events=["orgs", "org_users"])
        with self.captureOnCommitCallbacks(execute=True):
            r = self.delete("/organization/", {"orgId": self.org.id}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        self.run_tasks()
        events = sorted(json.loads(r.body)["event"] for r in self.receiver.requests)
        self.assertEqual(events, ["org_users.DELETE"] * 4 + ["orgs.DELETE"])
        from webhooks.delivery import cleanup

        self.assertEqual(cleanup()["webhooks"], 1)  # nothing left to send: the detached webhook goes


class DatabaseBackendDeliveryTestCase(DeliveryTests):
    backend = DATABASE


class RQBackendDeliveryTestCase(DeliveryTests):
    backend = RQ

    @classmethod
    def setUpClass(cls) -> None:
        redis_or_skip()
        super().setUpClass()


del DeliveryTests  # only the two backends' classes run
