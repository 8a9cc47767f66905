"""Security headers on pages and API responses; CORS only where configured."""

from __future__ import annotations

import json
import subprocess
import sys

from django.test import override_settings

from bench.load import ROOT, server_env
from tests.base import ApiTestCase

PAGE = "/accounts/login/"
API = "/organization/"


class SecurityHeadersTestCase(ApiTestCase):
    def assertHardened(self, response) -> None:  # noqa: ANN001, N802
        self.assertEqual(response["X-Content-Type-Options"], "nosniff")
        self.assertEqual(response["Referrer-Policy"], "same-origin")
        self.assertEqual(response["X-Frame-Options"], "DENY")
        self.assertEqual(response["Cross-Origin-Opener-Policy"], "same-origin")

    def test_pages_carry_a_content_security_policy_and_the_other_headers(self) -> None:
        r = self.client.get(PAGE)
        self.assertEqual(r.status_code, 200)
        self.assertHardened(r)
        policy = dict(
            (directive.split(" ", 1) + [""])[:2]
            for directive in (d.strip() for d in r["Content-Security-Policy"].split(";"))
        )
        self.assertEqual(policy["default-src"], "'self'")
        self.assertEqual(policy["script-src"], "'self'")  # no inline script, no CDN
        self.assertEqual(policy["frame-ancestors"], "'none'")
        self.assertEqual(policy["form-action"], "'self'")
        self.assertNotIn("unsafe-inline", r["Content-Security-Policy"])

    def test_api_responses_carry_them_too_success_and_error(self) -> None:
        self.assertHardened(self.get(API, key=self.key["read"]))
        self.assertHardened(self.get(API))

    def test_the_api_never_serves_html(self) -> None:
        r = self.get(API, key=self.key["read"], HTTP_ACCEPT="text/html")
        self.assertEqual(r["Content-Type"], "application/json")

    @override_settings(SECURE_HSTS_SECONDS=31536000, SECURE_HSTS_INCLUDE_SUBDOMAINS=True)
    def test_https_responses_carry_hsts(self) -> None:
        r = self.client.get(PAGE, secure=True)
        self.assertEqual(r["Strict-Transport-Security"], "max-age=31536000; includeSubDomains")

    def test_no_cors_by_default(self) -> None:
        origin = {"HTTP_ORIGIN": "https://evil.example"}
        r = self.get(API, key=self.key["read"], **origin)
        self.assertEqual(r.status_code, 200)
        self.assertFalse([h for h in r.headers if h.lower().startswith("access-control-")])
        preflight = self.client.options(API, HTTP_ACCESS_CONTROL_REQUEST_METHOD="DELETE", **origin)
        self.assertNotIn("Access-Control-Allow-Origin", preflight)


PROBE = """
import json
from django.test import Client
client = Client()
result = {}
for origin in ("https://app.example", "https://evil.example"):
    preflight = client.options("/organization/", HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="DELETE",
                               HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization")
    page = client.get("/accounts/login/", HTTP_ORIGIN=origin)
    api = client.get("/organization/", HTTP_ORIGIN=origin)
    result[origin] = {
        "preflight": {k.lower(): v for k, v in preflight.headers.items()},
        "page": {k.lower(): v for k, v in page.headers.items()},
        "api": {k.lower(): v for k, v in api.headers.items()},
    }
print("RESULT " + json.dumps(result))
"""


def test_cors_is_opt_in_and_limited_to_the_api_and_the_listed_origins(tmp_path) -> None:  # noqa: ANN001
    env = server_env(f"sqlite:///{tmp_path / 'unused.sqlite3'}", CORS_ALLOWED_ORIGINS="https://app.example")
    env.update(ALLOWED_HOSTS="testserver", DEBUG="true")  # DEBUG: the pages render without collectstatic
    run = subprocess.run(
        [sys.executable, "manage.py", "shell", "-v", "0", "-c", PROBE],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    result = json.loads(next(line for line in run.stdout.splitlines() if line.startswith("RESULT "))[7:])
    allowed, other = result["https://app.example"], result["https://evil.example"]
    assert allowed["preflight"]["access-control-allow-origin"] == "https://app.example"
    assert "authorization" in allowed["preflight"]["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in allowed["preflight"]  # keys, never cookies, cross-origin
    assert allowed["api"]["access-control-allow-origin"] == "https://app.example"
    assert "ratelimit-remaining" in allowed["api"]["access-control-expose-headers"].lower()
    assert "access-control-allow-origin" not in allowed["page"]  # the pages stay same-origin
    for response in other.values():
        assert "access-control-allow-origin" not in response
