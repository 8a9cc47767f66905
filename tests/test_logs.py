"""No key, digest, password or credential header ever reaches a log line.

The in-process test turns every logger up to DEBUG (SQL with its parameters included), sends
the configured root handler's output to a buffer, runs a full API session — create a key, use
it, regenerate it, fail authentication in every header, log in with a password, hit an error
whose message quotes a key — and searches the buffer for every secret the session handled.
The gunicorn test does the same over HTTP against a real server and searches its error and
access logs.
"""

from __future__ import annotations

import io
import logging
import re
import secrets
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

from django.db import connection
from django.test import SimpleTestCase

from bench.load import Gunicorn, call, create_keys, prepare_database, server_env
from organizations import api_keys, services
from organizations.logging import REDACTED, RedactSecretsFilter, redact
from organizations.models import ApiKey, User
from tests.base import ApiTestCase

PASSWORD = "password-123"  # tests.base's password for every user
WRONG_PASSWORD = "Wrong-Passw0rd-" + secrets.token_hex(4)


@contextmanager
def all_logs() -> Iterator[io.StringIO]:
    """Everything every logger emits, at every level, as the configured root handler writes it."""
    handlers = [h for h in logging.getLogger().handlers if any(isinstance(f, RedactSecretsFilter) for f in h.filters)]
    assert handlers, "the root logger has lost its redacting handler (settings.LOGGING)"
    buffer = io.StringIO()
    loggers = [
        logging.getLogger(),
        *(lg for lg in logging.root.manager.loggerDict.values() if isinstance(lg, logging.Logger)),
    ]
    saved_levels = [(lg, lg.level) for lg in loggers]
    saved_streams = [(h, h.setStream(buffer), h.level) for h in handlers]
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
    for handler in handlers:
        handler.setLevel(logging.DEBUG)
    connection.force_debug_cursor = True  # django.db.backends logs every query with its parameters
    try:
        yield buffer
    finally:
        connection.force_debug_cursor = False
        for lg, level in saved_levels:
            lg.setLevel(level)
        for handler, stream, level in saved_streams:
            handler.setStream(stream)
            handler.setLevel(level)


def secret_forms(secret: str) -> list[str]:
    """A key and its 43-character secret part (the part after the lookup), or any other secret as is."""
    if secret.startswith("capgo_") and len(secret) > 20:
        return [secret, secret[len("capgo_12345678_") :]]
    return [secret]


class LogsTestCase(ApiTestCase):
    def assertNoSecretIn(self, text: str, secrets_: list[str]) -> None:  # noqa: N802
        for secret in secrets_:
            for form in secret_forms(secret):
                self.assertNotIn(form, text, f"a secret reached the logs: {form[:12]}…")

    def test_a_full_api_session_logs_no_secret(self) -> None:
        handled: list[str] = [self.key["all"], PASSWORD, WRONG_PASSWORD]
        bad_key = "capgo_abcdefgh_" + secrets.token_urlsafe(32)
        bearer_junk = "not-a-key-" + secrets.token_hex(16)
        handled += [bad_key, bearer_junk]
        with all_logs() as logs:
            created = self.post("/apikey/", {"name": "session", "mode": "all"}, key=self.key["all"]).json()["apikey"]
            first = created["key"]
            self.assertEqual(self.get("/organization/", key=first).status_code, 200)
            self.post("/organization/members/", {"orgId": self.org.id, "email": "x@example.org", "role": "read"},
                      key=first)  # fmt: skip
            regenerated = self.put(f"/apikey/{created['id']}/", {"regenerate": True}, key=first).json()["apikey"]
            second = regenerated["key"]
            handled += [first, second]
            self.assertEqual(self.get("/organization/", key=first).status_code, 401)
            self.assertEqual(self.get("/organization/", key=second).status_code, 200)
            for header in ("HTTP_AUTHORIZATION", "HTTP_CAPGKEY", "HTTP_X_API_KEY"):
                self.assertEqual(self.client.get("/organization/", **{header: bad_key}).status_code, 401)
            self.assertEqual(
                self.client.get("/organization/", HTTP_AUTHORIZATION=f"Bearer {bearer_junk}").status_code, 401
            )
            # An error whose message quotes a key: the traceback is logged, the key is not.
            with mock.patch.object(services, "member_rows", side_effect=RuntimeError(f"boom with {second}")):
                self.assertEqual(
                    self.get("/organization/members/", {"orgId": self.org.id}, key=second).status_code, 500
                )
            # Browser login, wrong password then the right one.
            self.client.post("/accounts/login/", {"login": self.rita.email, "password": WRONG_PASSWORD})
            self.client.post("/accounts/login/", {"login": self.alice.email, "password": PASSWORD})
            self.assertEqual(self.client.get("/organization/").status_code, 200)
            handled.append(self.client.cookies["sessionid"].value)
            self.assertEqual(self.delete(f"/apikey/{created['id']}/", key=self.key["all"]).status_code, 200)
        text = logs.getvalue()
        handled += list(ApiKey.objects.values_list("digest", flat=True))
        handled += list(User.objects.values_list("password", flat=True))
        handled += [api_keys.hash_key(first), api_keys.hash_key(second)]
        self.assertNoSecretIn(text, handled)
        # The capture saw the session: SQL with parameters, the failures, the error, the login.
        self.assertIn('INSERT INTO "organizations_apikey"', text)
        self.assertNotIn("args=", text)  # SQL without its values
        self.assertIn("Unhandled error in API view", text)
        self.assertIn("boom with capgo_", text)
        self.assertIn(REDACTED, text)

    def test_the_filter_redacts_what_a_careless_line_would_leak(self) -> None:
        key = "capgo_abcdefgh_" + secrets.token_urlsafe(32)
        digest = "a" * 64
        with all_logs() as logs:
            logging.getLogger("somewhere").warning("key=%s digest %s", key, digest)
            logging.getLogger("somewhere").info("headers: {'HTTP_AUTHORIZATION': 'Bearer %s'}", "opaque-token-1234")
            logging.getLogger("somewhere").info("login password=%s", "hunter2-hunter2")
            logging.getLogger("somewhere").info("hash md5$salt$0123456789abcdef and pbkdf2_sha256$870000$s$h=")
        text = logs.getvalue()
        for leak in (key[15:], digest, "opaque-token-1234", "hunter2-hunter2", "md5$salt", "pbkdf2_sha256$870000"):
            self.assertNotIn(leak, text)
        self.assertIn("capgo_abcdefgh_" + REDACTED, text)  # the non-secret lookup stays, to identify the key

    def test_redact_leaves_ordinary_text_alone(self) -> None:
        line = 'GET /organization/?orgId=org_3f1c9a2b7d4e4f0a9b8c7d6e5f4a3b2c HTTP/1.1" 200 "password_reset"'
        self.assertEqual(redact(line), line)


class GunicornLogsTestCase(SimpleTestCase):
    """The same session against gunicorn, whose error and access logs (default format) are searched."""

    def test_gunicorn_logs_no_secret(self) -> None:
        tmp = Path(tempfile.mkdtemp(prefix="capgo-logs-"))
        self.addCleanup(shutil.rmtree, tmp, True)
        database = tmp / "db.sqlite3"
        url = f"sqlite:///{database}"
        prepare_database(url)
        [(_id, admin_key)] = create_keys(url, ["logs@example.org"])
        env = server_env(url, LOG_LEVEL="DEBUG")
        default_access_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
        server = Gunicorn(env, workers=1, extra_args=("--log-level", "debug"), access_format=default_access_format)
        bad_key = "capgo_abcdefgh_" + secrets.token_urlsafe(32)
        with server:
            created = call(server.port, "POST", "/apikey/", key=admin_key, body={"name": "over http"}).json()["apikey"]
            port, first = server.port, created["key"]
            self.assertEqual(call(port, "GET", "/organization/", key=first).status, 200)
            second = call(port, "PUT", f"/apikey/{created['id']}/", key=first, body={"regenerate": True}).json()
            second = second["apikey"]["key"]
            self.assertEqual(call(port, "GET", "/organization/", key=first).status, 401)
            self.assertEqual(call(port, "GET", "/organization/", headers={"x-api-key": bad_key}).status, 401)
            self.assertEqual(call(port, "GET", "/organization/", key=f"Bearer {bad_key}").status, 401)
            self.assertEqual(call(port, "DELETE", f"/apikey/{created['id']}/", key=admin_key).status, 200)
        output = server.output()
        with sqlite3.connect(database) as db:
            digests = [row[0] for row in db.execute("SELECT digest FROM organizations_apikey")]
        self.assertIn('"GET /organization/ HTTP/1.1" 200', output)  # the access log was captured
        for secret in [admin_key, first, second, bad_key, *digests]:
            for form in secret_forms(secret):
                self.assertNotIn(form, output, f"a secret reached gunicorn's logs: {form[:12]}…")


class LinkTokensTestCase(SimpleTestCase):
    """Tokens that travel in a link's path stay out of gunicorn's access log."""

    def test_an_invitation_links_token_is_not_in_the_access_log_and_leaves_the_url(self) -> None:
        tmp = Path(tempfile.mkdtemp(prefix="capgo-links-"))
        self.addCleanup(shutil.rmtree, tmp, True)
        url = f"sqlite:///{tmp / 'db.sqlite3'}"
        prepare_database(url)
        [(_id, key)] = create_keys(url, ["owner@example.org"])
        outbox = tmp / "mail"
        env = server_env(url, EMAIL_URL=f"filemail:///{outbox}", TASKS_BACKEND="immediate")  # sent at once
        default_access_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
        with Gunicorn(env, workers=1, access_format=default_access_format) as server:
            org = call(server.port, "POST", "/organization/", key=key, body={"name": "Links"}).json()["id"]
            invite = {"orgId": org, "email": "guest@example.org", "role": "read"}
            self.assertEqual(call(server.port, "POST", "/organization/members/", key=key, body=invite).status, 200)
            deadline = time.monotonic() + 10
            while not list(outbox.glob("*")) and time.monotonic() < deadline:
                time.sleep(0.1)
            [message] = [path.read_text() for path in outbox.glob("*")]
            token = re.search(r"/invitations/([A-Za-z0-9_-]{20,})/", message)[1]
            reply = call(
                server.port, "GET", f"/invitations/{token}/", headers={"referer": f"http://x/invitations/{token}/"}
            )
            self.assertEqual((reply.status, reply.headers["location"]), (302, "/invitations/accept/"))
        access = [line for line in server.output().splitlines() if '"GET /invitations/' in line]
        self.assertEqual(len(access), 1, server.output())
        self.assertIn(f"/invitations/{REDACTED}/", access[0])
        self.assertNotIn(token, server.output())

    def test_every_link_token_pattern_is_redacted(self) -> None:
        lines = [
            "GET /invitations/Zm9vYmFyYmF6cXV4cXV1eDEyMzQ1Njc4OTA/ HTTP/1.1",
            "GET /accounts/confirm-email/MQ:1tAbCd:Xy_z0123456789abcdef/ HTTP/1.1",
            "GET /accounts/password/reset/key/1-c7d2a9-0f1e2d3c4b5a69788796a5b4c3d2e1f0/ HTTP/1.1",
        ]
        for line in lines:
            with self.subTest(line=line):
                self.assertIn(REDACTED, redact(line))
                self.assertNotRegex(redact(line), r"[0-9a-f]{16}|Zm9v|MQ:1t")
        self.assertEqual(redact("GET /invitations/accept/ HTTP/1.1"), "GET /invitations/accept/ HTTP/1.1")
