"""Revoking a key takes effect on the very next request, whichever gunicorn worker answers it.

Nothing about a key is kept between requests (the one statement of `authentication.key_for`
reads it every time), so a regenerated, deleted or expired key, or the key of a deactivated
account, is refused by both workers at once, though both had just served it. On the embedded
default (SQLite) and on PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.test import SimpleTestCase

from bench.load import Gunicorn, call, create_keys, manage, prepare_database, server_env

URL = "/organization/"
EMAILS = ["regenerated@example.org", "deleted@example.org", "expired@example.org", "deactivated@example.org"]


class RevocationAcrossWorkersMixin:
    database_url: str
    server: Gunicorn

    @classmethod
    def start(cls, database_url: str) -> None:
        cls.database_url = database_url
        prepare_database(database_url)
        cls.keys = dict(zip(EMAILS, create_keys(database_url, EMAILS), strict=True))
        # Refusals of the revoked keys would otherwise soon be throttled (429) as guesses from one address.
        cls.server = Gunicorn(server_env(database_url, AUTH_FAILURE_LIMIT_PER_MINUTE="1000"), workers=2)
        cls.server.start()

    def statuses(self, key: str, n: int = 12) -> list[int]:
        """`n` requests with `key` from four threads at once: both workers answer some."""
        with ThreadPoolExecutor(4) as pool:
            return sorted(pool.map(lambda _i: call(self.server.port, "GET", URL, key=key).status, range(n)))

    def shell(self, code: str) -> None:
        manage("shell", "-v", "0", "-c", code, env=server_env(self.database_url))

    def test_every_kind_of_revocation_is_seen_by_both_workers_at_once(self) -> None:
        for _key_id, key in self.keys.values():
            self.assertEqual(self.statuses(key), [200] * 12)
        self.assertGreaterEqual(len(self.server.access_pids()), 2, "both workers should have answered")

        key_id, old = self.keys["regenerated@example.org"]
        reply = call(self.server.port, "PUT", f"/apikey/{key_id}/", key=old, body={"regenerate": True})
        self.assertEqual(reply.status, 200, reply.body)
        self.assertEqual(self.statuses(old), [401] * 12)
        self.assertEqual(self.statuses(reply.json()["apikey"]["key"]), [200] * 12)

        key_id, key = self.keys["deleted@example.org"]
        self.assertEqual(call(self.server.port, "DELETE", f"/apikey/{key_id}/", key=key).status, 200)
        self.assertEqual(self.statuses(key), [401] * 12)

        key_id, key = self.keys["expired@example.org"]
        self.shell(
            "from datetime import timedelta\nfrom django.utils import timezone\n"
            "from organizations.models import ApiKey\n"
            f"ApiKey.objects.filter(pk={key_id}).update(expires_at=timezone.now() - timedelta(seconds=1))"
        )
        self.assertEqual(self.statuses(key), [401] * 12)

        _key_id, key = self.keys["deactivated@example.org"]
        self.shell(
            "from organizations.models import User\n"
            "User.objects.filter(email='deactivated@example.org').update(is_active=False)"
        )
        self.assertEqual(self.statuses(key), [401] * 12)


class OnTheEmbeddedDefaultTestCase(RevocationAcrossWorkersMixin, SimpleTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.tmp = Path(tempfile.mkdtemp(prefix="capgo-revocation-"))
        cls.start(f"sqlite:///{cls.tmp / 'db.sqlite3'}")

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()


@pytest.mark.postgres
class OnPostgreSQLTestCase(RevocationAcrossWorkersMixin, SimpleTestCase):
    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        # The PostgreSQL server of this test run, a database of this test's own.
        server = urlsplit(os.environ["DATABASE_URL"])
        cls.start(server._replace(path="/capgo_revocation_test").geturl())

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.stop()
        super().tearDownClass()
