"""Bad input gets a 4xx of its own, never a 5xx and never a stranger's HTML.

JSON nested too deep, URLs up to 16 KiB (through gunicorn, whose own limit is raised by
gunicorn.conf.py), and bodies over their route's limit on every route, pages included,
refused before they are read. The API's 1 MiB limit itself: tests/test_ratelimit.py.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import shutil
import socket
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.files.uploadedfile import InMemoryUploadedFile, SimpleUploadedFile
from django.test import RequestFactory, SimpleTestCase, override_settings
from PIL import Image

from bench.load import Gunicorn, call, collected_static, create_keys, prepare_database, server_env
from organizations.api.parsers import MAX_JSON_DEPTH
from organizations.models import User
from tests.base import ApiTestCase

ORG = "/organization/"


def nested(depth: int, leaf: str = "1") -> str:
    """`depth` arrays, one inside the other, around `leaf`."""
    return "[" * depth + leaf + "]" * depth


def noise_png(side: int) -> bytes:
    """A PNG that does not compress: about 3 × side² bytes."""
    rng = random.Random(side)
    image = Image.frombytes("RGB", (side, side), bytes(rng.getrandbits(8) for _ in range(side * side * 3)))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


class JsonDepthTestCase(ApiTestCase):
    def test_a_body_nested_100000_levels_deep_is_a_400_not_a_500(self) -> None:
        for body in (f'{{"name": {nested(100_000)}}}', '{"a": ' * 100_000 + "1" + "}" * 100_000):
            for method in (self.post, self.put):
                with self.subTest(method=method.__name__, body=body[:8]):
                    self.assertError(method(ORG, body, key=self.key["all"]), 400, "invalid_json_parse_body")

    def test_the_limit_is_32_levels(self) -> None:
        # 32 levels are parsed (and the unknown field refused); 33 are not parsed at all.
        at_limit = f'{{"name": "Fine org", "extra": {nested(MAX_JSON_DEPTH - 1)}}}'
        self.assertError(self.post(ORG, at_limit, key=self.key["all"]), 400, "invalid_body")
        over = f'{{"name": "Fine org", "extra": {nested(MAX_JSON_DEPTH)}}}'
        self.assertError(self.post(ORG, over, key=self.key["all"]), 400, "invalid_json_parse_body")

    def test_many_shallow_brackets_are_fine(self) -> None:
        body = json.dumps({"name": "Wide org", "extra": [[1]] * 5000})
        self.assertError(self.post(ORG, body, key=self.key["all"]), 400, "invalid_body")  # parsed: unknown field


class PageBodyLimitTestCase(ApiTestCase):
    def test_a_page_body_over_the_limit_is_413_with_the_sites_page(self) -> None:
        body = b"username=a&password=" + b"x" * settings.MAX_BODY_BYTES
        r = self.client.post("/accounts/login/", body, content_type="application/x-www-form-urlencoded")
        self.assertEqual(r.status_code, 413)
        self.assertContains(r, "Too large", status_code=413)
        self.assertIn("frame-ancestors 'none'", r["Content-Security-Policy"])  # the site's headers too
        self.assertEqual(r["X-Frame-Options"], "DENY")

    def test_the_admin_is_limited_too(self) -> None:
        r = self.client.post("/admin/login/", b"x" * (settings.MAX_BODY_BYTES + 1), content_type="text/plain")
        self.assertEqual(r.status_code, 413)

    def test_an_api_path_answers_with_the_envelope(self) -> None:
        r = self.post("/apikey/", b"x" * (settings.API_MAX_BODY_BYTES + 1), key=self.key["all"])
        self.assertError(r, 413, "payload_too_large")

    def test_an_upload_that_passes_the_limit_stays_in_memory(self) -> None:
        # Django's default would write a file over 2.5 MB to a temporary file while parsing.
        upload = SimpleUploadedFile("big.bin", b"x" * (settings.MAX_BODY_BYTES - 64 * 1024))
        request = RequestFactory().post("/accounts/profile/", {"avatar": upload})
        self.assertIsInstance(request.FILES["avatar"], InMemoryUploadedFile)

    def test_a_2_mb_avatar_still_uploads(self) -> None:
        image = noise_png(830)
        self.assertGreater(len(image), 2_000_000)
        media = tempfile.TemporaryDirectory()
        self.addCleanup(media.cleanup)
        self.client.force_login(self.rita)
        with override_settings(MEDIA_ROOT=media.name):
            avatar = SimpleUploadedFile("me.png", image, content_type="image/png")
            r = self.client.post("/accounts/profile/", {"name": "Rita", "language": "en", "avatar": avatar})
        self.assertEqual(r.status_code, 302, r.content[:500])
        self.assertTrue(User.objects.get(pk=self.rita.pk).avatar.name.startswith("avatars/"))


class ThroughGunicornTestCase(SimpleTestCase):
    """gunicorn (this project's gunicorn.conf.py) on a SQLite file, as make run serves."""

    server: Gunicorn

    @classmethod
    def setUpClass(cls) -> None:
        super().setUpClass()
        cls.tmp = Path(tempfile.mkdtemp(prefix="capgo-bad-input-"))
        database_url = f"sqlite:///{cls.tmp / 'db.sqlite3'}"
        prepare_database(database_url)
        [(_id, cls.key)] = create_keys(database_url, ["input@example.org"])
        env = server_env(database_url, STATIC_ROOT=str(collected_static()))  # the 413 page needs its CSS
        cls.server = Gunicorn(env, workers=1)
        cls.server.start()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        super().tearDownClass()

    def raw(self, head: bytes, body: bytes = b"", timeout: float = 10) -> bytes:
        """Send `head` and then `body` on one connection; what the server answers within `timeout`."""
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=timeout) as conn:
            conn.sendall(head)
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # refused before it was all sent
                conn.sendall(body)
            answer = b""
            while chunk := conn.recv(65536):
                answer += chunk
        return answer

    def test_a_5_kb_url_is_answered_by_the_envelope(self) -> None:
        reply = call(self.server.port, "GET", ORG, key=self.key, query={"orgId": "a" * 5000})
        self.assertEqual(reply.status, 400)
        self.assertEqual(reply.json()["code"], "invalid_body")

    def test_request_lines_up_to_16_kib_reach_django(self) -> None:
        path = "/organization/?orgId="
        longest = path + "a" * (16 * 1024 - len(f"GET {path} HTTP/1.1"))
        reply = call(self.server.port, "GET", longest, key=self.key)
        self.assertEqual((reply.status, reply.json()["code"]), (400, "invalid_body"))
        # Past 16 KiB gunicorn refuses the line itself: a bound on what a request line may cost.
        answer = self.raw(f"GET {longest}aaaa HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        self.assertTrue(answer.startswith(b"HTTP/1.1 4"), answer[:100])

    def test_a_200_mb_login_body_is_refused_before_it_is_read(self) -> None:
        # Only the headers and 64 KiB are sent: a server that read the body would wait for the rest.
        head = (
            b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 209715200\r\n\r\n"
        )
        answer = self.raw(head, b"--xyz\r\n" + b"x" * 65536)
        self.assertTrue(answer.startswith(b"HTTP/1.1 413 "), answer[:200])
        self.assertIn(b"Too large", answer)

    def test_a_chunked_page_body_over_the_limit_is_413(self) -> None:
        head = b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        piece = b"x" * 65536
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(64)) + b"0\r\n\r\n"  # 4 MiB
        answer = self.raw(head, chunks)
        self.assertTrue(answer.startswith(b"HTTP/1.1 413 "), answer[:200])

    def test_a_deeply_nested_body_is_a_400_envelope(self) -> None:
        body = f'{{"name": {nested(100_000)}}}'.encode()
        head = (
            f"POST {ORG} HTTP/1.1\r\nHost: 127.0.0.1\r\nauthorization: {self.key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        answer = self.raw(head.encode(), body)
        self.assertTrue(answer.startswith(b"HTTP/1.1 400 "), answer[:200])
        self.assertIn(b'"code":"invalid_json_parse_body"', answer)
