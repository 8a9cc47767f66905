"""Emails leave the request and are never lost: a real SMTP server on loopback refuses, then accepts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from django.core import mail
from django.db import transaction
from django.test import override_settings
from django_tasks.signals import task_enqueued
from django_tasks_db import DatabaseBackend
from django_tasks_db.models import DBTaskResult

from organizations import emails, services
from organizations.models import Email
from organizations.queue import RowDatabaseBackend
from organizations.roles import Principal
from tests.base import ApiTestCase
from tests.smtp_server import SmtpServer, free_port
from tests.tasks import BACKENDS, DATABASE, run_tasks

MEMBERS = "/organization/members/"
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


@override_settings(TASKS=BACKENDS[DATABASE])
class SmtpOutageTestCase(ApiTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.clock = time_machine.travel(T0, tick=False)
        self.traveller = self.clock.start()
        self.addCleanup(self.clock.stop)

    def invite(self, email: str = "new@example.org") -> None:
        with self.captureOnCommitCallbacks(execute=True):
            r = self.post(MEMBERS, {"orgId": self.org.id, "email": email, "role": "read"}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)

    def test_a_refusing_server_delays_the_invitation_and_the_retry_delivers_it(self) -> None:
        with SmtpServer(refuse=2) as smtp, override_settings(**smtp.settings()):
            self.invite()
            email = Email.objects.get()
            # Stored unrendered: the worker renders it, from the link and what the invitation said.
            self.assertEqual((email.template, email.body, email.html), ("invitation", "", ""))
            self.assertIn("/invitations/", email.context["url"])
            run_tasks(DATABASE)
            email.refresh_from_db()
            self.assertEqual((email.status, email.attempts, smtp.refused), ("pending", 1, 1))
            self.assertEqual((email.body, email.context["role"]), ("", "read"))  # rendered again next time
            self.assertIn("451", email.last_error)
            self.assertEqual(email.next_attempt_at, T0 + emails.RETRY_DELAYS[0])
            self.traveller.shift(emails.RETRY_DELAYS[0] - timedelta(seconds=1))
            run_tasks(DATABASE)
            self.assertEqual(smtp.refused, 1)  # not yet
            self.traveller.shift(timedelta(seconds=1))
            run_tasks(DATABASE)
            self.traveller.shift(emails.RETRY_DELAYS[1])
            run_tasks(DATABASE)
        [message] = smtp.messages
        self.assertEqual(message["To"], "new@example.org")
        self.assertIn("/invitations/", message.get_payload()[0].get_payload(decode=True).decode())
        email.refresh_from_db()
        self.assertEqual((email.status, email.attempts, smtp.refused), ("sent", 3, 2))
        self.assertEqual((email.body, email.html, email.context), ("", "", {}))  # the link does not outlive the sending
        self.assertIn(
            "invited you to join the organization", message.get_payload()[0].get_payload(decode=True).decode()
        )
        self.assertIn("<strong>", message.get_payload()[1].get_payload(decode=True).decode())

    def test_a_server_that_is_down_neither_fails_the_request_nor_loses_the_email(self) -> None:
        port = free_port()
        with override_settings(**{**SmtpServer().settings(), "EMAIL_PORT": port}):
            self.invite()
            run_tasks(DATABASE)
        email = Email.objects.get()
        self.assertEqual((email.status, email.attempts), ("pending", 1))
        self.assertIn("ConnectionRefusedError", email.last_error)
        with SmtpServer() as smtp, override_settings(**smtp.settings()):
            self.traveller.shift(timedelta(hours=1))
            from organizations.tasks import sweep_emails

            with self.captureOnCommitCallbacks(execute=True):
                sweep_emails.enqueue()  # as the worker's periodic sweep does
            run_tasks(DATABASE)
        self.assertEqual(len(smtp.messages), 1)
        self.assertEqual(Email.objects.get().status, "sent")

    def test_after_the_last_attempt_the_email_is_kept_as_failed_and_can_be_sent_again(self) -> None:
        with SmtpServer(refuse=100) as smtp, override_settings(**smtp.settings()):
            self.invite()
            run_tasks(DATABASE)
            for delay in emails.RETRY_DELAYS:
                self.traveller.shift(delay)
                run_tasks(DATABASE)
            email = Email.objects.get()
            self.assertEqual((email.status, email.attempts), ("failed", emails.MAX_ATTEMPTS))
            smtp.refuse = 0
            with self.captureOnCommitCallbacks(execute=True):
                emails.resend(email)
            run_tasks(DATABASE)
        self.assertEqual(len(smtp.messages), 1)


class InRequestTestCase(ApiTestCase):
    """The immediate backend sends inside the request (after its commit): a failure still stays there."""

    def test_an_smtp_failure_during_the_request_is_not_the_requests_failure(self) -> None:
        with (
            SmtpServer(refuse=1) as smtp,
            override_settings(**smtp.settings()),
            self.captureOnCommitCallbacks(execute=True),
        ):
            r = self.post(
                MEMBERS, {"orgId": self.org.id, "email": "x@example.org", "role": "read"}, key=self.key["all"]
            )
        self.assertEqual(r.status_code, 200)
        self.assertEqual(Email.objects.get().status, "pending")

    @override_settings(EMAIL_BACKEND="organizations.emails.QueuedEmailBackend")
    def test_send_mail_queues_too(self) -> None:
        with self.captureOnCommitCallbacks(execute=False) as callbacks:
            r = self.client.post("/accounts/password/reset/", {"email": self.rita.email})
        self.assertEqual(r.status_code, 302)
        self.assertEqual(mail.outbox, [])
        email = Email.objects.get()
        self.assertEqual((email.to, email.status), ([self.rita.email], "pending"))
        for callback in callbacks:
            callback()
        self.assertEqual([m.to for m in mail.outbox], [[self.rita.email]])
        self.assertIn("/accounts/password/reset/key/", mail.outbox[0].body)

    def test_queue_email_takes_a_rendered_message(self) -> None:
        with self.captureOnCommitCallbacks(execute=True):
            emails.queue_email(
                subject="Hello", body="Text", html="<p>Text</p>", to=["a@example.org"], reply_to=["r@example.org"],
                headers={"X-Tag": "t"},
            )  # fmt: skip
        [message] = mail.outbox
        self.assertEqual(
            (message.subject, message.to, message.reply_to), ("Hello", ["a@example.org"], ["r@example.org"])
        )
        self.assertEqual(message.alternatives[0][0], "<p>Text</p>")
        self.assertEqual(message.extra_headers["X-Tag"], "t")


class QueuedBackendTestCase(ApiTestCase):
    def test_fail_silently_is_honoured_when_the_database_refuses(self) -> None:
        from unittest import mock

        from django.core.mail import EmailMessage

        backend = emails.QueuedEmailBackend(fail_silently=True)
        with (
            mock.patch.object(emails, "queue_message", side_effect=RuntimeError("database down")),
            self.assertLogs("organizations.emails", "ERROR"),
        ):
            self.assertEqual(backend.send_messages([EmailMessage("s", "b", to=["a@example.org"])]), 0)
        with (
            mock.patch.object(emails, "queue_message", side_effect=RuntimeError("database down")),
            self.assertRaises(RuntimeError),
        ):
            emails.QueuedEmailBackend().send_messages([EmailMessage("s", "b", to=["a@example.org"])])


@override_settings(TASKS=BACKENDS[DATABASE])
class TaskInTheTransactionTestCase(ApiTestCase):
    """On the database backend an email's task row is written in the transaction of its email."""

    def test_the_task_is_written_with_the_invitation_and_rolls_back_with_it(self) -> None:
        with self.captureOnCommitCallbacks(execute=False) as after_commit:
            r = self.post(MEMBERS, {"orgId": self.org.id, "email": "new@example.org", "role": "read"},
                          key=self.key["all"])  # fmt: skip
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(after_commit, [])  # nothing waits for the commit: the task is already there
        task = DBTaskResult.objects.get()
        self.assertEqual((task.task_path, task.args_kwargs["args"]), ("organizations.tasks.send_email",
                         [Email.objects.get().pk]))  # fmt: skip
        with self.assertRaises(RuntimeError), transaction.atomic():
            services.member_invite(actor=Principal(self.alice), org=self.org, email="other@example.org", role="read")
            raise RuntimeError("the request fails after the invitation")
        self.assertEqual((DBTaskResult.objects.count(), Email.objects.count()), (1, 1))
        self.assertEqual(run_tasks(DATABASE), 1)
        self.assertEqual([m.to for m in mail.outbox], [["new@example.org"]])

    def test_the_row_is_the_one_django_tasks_db_writes(self) -> None:
        from django_tasks import task_backends

        from organizations.tasks import send_email

        ours = task_backends["default"]
        self.assertIsInstance(ours, RowDatabaseBackend)
        theirs = DatabaseBackend("default", {"QUEUES": ["default"]})
        received: list[Any] = []

        def receiver(sender: Any, task_result: Any, **kwargs: Any) -> None:
            received.append(task_result.id)

        task_enqueued.connect(receiver)
        self.addCleanup(task_enqueued.disconnect, receiver)
        for task in [send_email, send_email.using(run_after=datetime(2030, 1, 2, tzinfo=UTC), priority=5)]:
            with self.subTest(task=task):
                written = [backend.enqueue(task, [7], {}).id for backend in (ours, theirs)]
                mine, library = (DBTaskResult.objects.values().get(pk=pk) for pk in written)
                self.assertLess(abs(mine.pop("enqueued_at") - library.pop("enqueued_at")), timedelta(seconds=5))
                self.assertEqual({**mine, "id": None}, {**library, "id": None})
        self.assertEqual(len(received), 4)  # the enqueued signal, from both backends
