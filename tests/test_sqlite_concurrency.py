"""The embedded default (SQLite) under concurrent writes, through gunicorn with two workers.

Writes that meet wait for each other instead of failing with "database is locked" (a 503),
and the last-super_admin race ends as on PostgreSQL (tests/test_concurrency.py): one request
wins, the other is 409 `last_super_admin`. Each worker pauses inside the last-super_admin check
(tests/gunicorn_slow_guard.py), so the two racing requests always overlap.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from django.test import SimpleTestCase

from bench.load import Gunicorn, Reply, call, create_keys, prepare_database, server_env

MEMBERS = "/organization/members/"


def send(port: int, method: str, key: str, params: dict[str, Any]) -> Reply:
    """One API call: parameters in the query string for GET and DELETE, else the JSON body; `path` picks the path."""
    params = dict(params)
    path = params.pop("path", MEMBERS)
    if method in ("GET", "DELETE"):
        return call(port, method, path, key=key, query=params, timeout=60)
    return call(port, method, path, key=key, body=params, timeout=60)


def at_once(port: int, *requests: tuple[str, str, dict[str, Any]]) -> list[Reply]:
    """Send the (method, key, parameters) requests together, released by a barrier; their replies in order."""
    barrier = threading.Barrier(len(requests))
    replies: list[Reply | None] = [None] * len(requests)

    def run(index: int, method: str, key: str, params: dict[str, Any]) -> None:
        barrier.wait(timeout=10)
        replies[index] = send(port, method, key, params)

    threads = [threading.Thread(target=run, args=(i, *request)) for i, request in enumerate(requests)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    assert all(reply is not None for reply in replies), "a request did not finish"
    return replies  # type: ignore[return-value]


class SqliteTwoWorkersTestCase(SimpleTestCase):
    server: Gunicorn

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.tmp = Path(tempfile.mkdtemp(prefix="capgo-sqlite-race-"))
        database_url = f"sqlite:///{cls.tmp / 'db.sqlite3'}"
        prepare_database(database_url)
        (_a, cls.alice), (_s, cls.sam) = create_keys(database_url, ["alice@example.org", "sam@example.org"])
        config = Path(__file__).with_name("gunicorn_slow_guard.py")
        cls.server = Gunicorn(server_env(database_url), workers=2, extra_args=("--config", str(config)))
        cls.server.start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def request(self, method: str, path: str, key: str, **params: Any) -> Reply:
        return send(self.server.port, method, key, {"path": path, **params})

    def setUp(self) -> None:
        """A new organization with two super_admins, alice and sam."""
        created = self.request("POST", "/organization/", self.alice, name="Raced Org")
        self.assertEqual(created.status, 201, created.body)
        self.org = created.json()["id"]
        invited = self.request("POST", MEMBERS, self.alice, orgId=self.org, email="sam@example.org", role="super_admin")
        self.assertEqual(invited.status, 200, invited.body)
        accepted = self.request("POST", MEMBERS + "accept/", self.sam, orgId=self.org)
        self.assertEqual(accepted.status, 200, accepted.body)

    def super_admins(self) -> list[str]:
        reply = self.request("GET", MEMBERS, self.alice, orgId=self.org)
        if reply.status == 404:  # alice is no longer a member: ask sam
            reply = self.request("GET", MEMBERS, self.sam, orgId=self.org)
        return sorted(m["email"] for m in reply.json()["data"] if m["role"] == "super_admin")

    def assertOneWinsTheOther409(self, replies: list[Reply]) -> None:  # noqa: N802
        statuses = sorted(reply.status for reply in replies)
        self.assertEqual(statuses, [200, 409], [reply.body for reply in replies])
        loser = next(reply for reply in replies if reply.status == 409)
        self.assertEqual(loser.json()["code"], "last_super_admin")
        self.assertEqual(len(self.super_admins()), 1)
        self.assertGreaterEqual(len(self.server.access_pids()), 2, "both workers should have answered")

    def test_each_demoting_the_other_at_once_one_wins_and_the_other_is_409(self) -> None:
        replies = at_once(
            self.server.port,
            ("POST", self.alice, {"orgId": self.org, "email": "sam@example.org", "role": "admin"}),
            ("POST", self.sam, {"orgId": self.org, "email": "alice@example.org", "role": "admin"}),
        )
        self.assertOneWinsTheOther409(replies)

    def test_both_leaving_at_once_one_leaves_and_the_other_is_409(self) -> None:
        replies = at_once(
            self.server.port,
            ("DELETE", self.alice, {"orgId": self.org, "email": "alice@example.org"}),
            ("DELETE", self.sam, {"orgId": self.org, "email": "sam@example.org"}),
        )
        self.assertOneWinsTheOther409(replies)

    def test_concurrent_writes_wait_for_each_other_instead_of_failing(self) -> None:
        renames = [("PUT", self.alice, {"path": "/organization/", "orgId": self.org, "name": f"Name {n}"})
                   for n in range(16)]  # fmt: skip
        invites = [("POST", self.sam, {"orgId": self.org, "email": f"guest{n}@example.org", "role": "read"})
                   for n in range(16)]  # fmt: skip
        replies = at_once(self.server.port, *renames, *invites)
        self.assertEqual([reply.status for reply in replies], [200] * 32, [r.body for r in replies if r.status != 200])
        audit = self.request("GET", "/organization/audit/", self.alice, orgId=self.org, tableName="orgs",
                             operation="UPDATE")  # fmt: skip
        self.assertEqual(audit.json()["total"], 16)  # every rename was written, with its event
