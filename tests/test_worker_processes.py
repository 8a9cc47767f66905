"""Nothing committed is lost when processes die: real `manage.py worker` processes, real SIGKILLs.

PostgreSQL only (the worker processes need a database they can share with the test), on both
task backends. The receiver and the database are real; the only shortcut is a claim of two
seconds (WEBHOOK_CLAIM_SECONDS) instead of a minute, so that a dead worker's claim lapses soon.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import TransactionTestCase, override_settings

from organizations import services as org_services
from organizations.models import Email, Organization
from organizations.roles import Principal, Role
from tests.base import make_user
from tests.receiver import Answer, Receiver
from tests.tasks import BACKENDS, DATABASE, RQ, redis_or_skip, reset
from webhooks import services
from webhooks.models import Delivery

pytestmark = pytest.mark.postgres
ROOT = Path(settings.BASE_DIR)
CLAIM_SECONDS = 2


def database_url() -> str:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
    return f"postgres://{db['USER']}{password}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


class WorkerProcessTests(TransactionTestCase):
    backend = DATABASE

    def setUp(self) -> None:
        if self.backend == RQ:
            redis_or_skip()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
            "DATABASE_URL": database_url(),
            "TASKS_BACKEND": self.backend,
            "TASKS_REDIS_URL": os.environ.get("TEST_REDIS_URL", ""),
            "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
            "WEBHOOK_CLAIM_SECONDS": str(CLAIM_SECONDS),
            "SECRET_KEY": "worker-test-0123456789-abcdefghijklmnopqrstuvwxyz",
            "DEBUG": "false",
            "EMAIL_URL": "consolemail://",
            "CONN_MAX_AGE": "0",
            "LOG_LEVEL": "WARNING",
        }
        self.settings = override_settings(TASKS=BACKENDS[self.backend], WEBHOOK_ALLOW_PRIVATE_URLS=True)
        self.settings.enable()
        self.addCleanup(self.settings.disable)
        reset(self.backend)
        self.receiver = Receiver().__enter__()
        self.addCleanup(self.receiver.__exit__)
        self.alice = make_user("alice@example.org", "Alice")
        self.org = org_services.organization_create(actor=Principal(self.alice), name="Alice Org")
        self.webhook, _secret = services.webhook_create(
            actor=Principal(self.alice), org=self.org, name="Hook", url=self.receiver.url(), events=["org_users"]
        )

    @contextmanager
    def worker(self) -> Iterator[subprocess.Popen[Any]]:
        process = subprocess.Popen(  # its own process group: SIGKILL takes its children too
            [sys.executable, "manage.py", "worker"], cwd=ROOT, env=self.env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            wait_for(lambda: not _group_alive(process.pid))

    def tearDown(self) -> None:
        # A killed worker's database session can outlive it for a moment; the flush needs it gone.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        super().tearDown()

    def delivery(self) -> Delivery:
        return Delivery.objects.get()

    def test_a_process_killed_right_after_its_commit_loses_nothing(self) -> None:
        # The committing process dies before its after-commit hooks queue anything.
        code = (
            "import os, signal\n"
            "from django.db import transaction\n"
            "from organizations import services\n"
            "from organizations.models import Organization, User\n"
            "from organizations.roles import Principal\n"
            f"org = Organization.objects.get(pk='{self.org.id}')\n"
            "alice = User.objects.get(email='alice@example.org')\n"
            "with transaction.atomic():\n"
            "    transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))\n"
            "    services.member_invite(actor=Principal(alice), org=org, email='new@example.org', role='read')\n"
        )
        died = subprocess.run(
            [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=self.env, capture_output=True, timeout=60
        )
        self.assertEqual(died.returncode, -signal.SIGKILL, died.stderr)
        self.assertEqual((self.delivery().status, self.delivery().attempt_count), ("pending", 0))
        self.assertEqual(Email.objects.get().status, "pending")
        with self.worker():
            wait_for(lambda: self.delivery().status == "success" and Email.objects.get().status == "sent")
        [request] = self.receiver.requests
        self.assertEqual(request.headers["x-capgo-event"], "org_users.INSERT")

    def test_a_worker_killed_during_a_delivery_loses_nothing(self) -> None:
        self.receiver.answer(Answer(200, hang=120))  # the first attempt never gets its answer
        org_services.member_invite(
            actor=Principal(self.alice), org=Organization.objects.get(pk=self.org.pk), email="new@example.org",
            role=Role.READ,
        )  # fmt: skip
        with self.worker() as first:
            self.assertTrue(self.receiver.arrived.wait(60), "the first worker never sent the delivery")
            os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        delivery = self.delivery()
        self.assertEqual((delivery.status, delivery.attempt_count), ("pending", 0))
        self.assertIsNotNone(delivery.locked_until)  # claimed by the dead worker, for CLAIM_SECONDS
        time.sleep(CLAIM_SECONDS + 0.5)  # a real process's claim lapses in real time
        with self.worker():
            wait_for(lambda: self.delivery().status == "success")
        first_try, second_try = self.receiver.requests
        self.assertEqual(first_try.headers["webhook-id"], second_try.headers["webhook-id"])
        self.assertEqual(self.delivery().attempt_count, 1)


class DatabaseBackendWorkerTestCase(WorkerProcessTests):
    backend = DATABASE


class RQBackendWorkerTestCase(WorkerProcessTests):
    backend = RQ


del WorkerProcessTests
