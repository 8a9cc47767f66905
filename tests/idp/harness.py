"""Starts the test identity providers as processes of their own, with keys made here, and plays the
person at their login pages (with `requests`, for tests that drive our side with Django's client).

    with OidcProvider(tmp) as idp:          # django-oauth-toolkit, OpenID Connect on
        idp.register(client_id, secret, [redirect_uri]); idp.add_user("bob", "bob@acme.test")
        callback = idp.sign_in(authorize_url, "bob")      # our callback URL with code and state
    with SamlProvider(tmp) as idp:          # pysaml2
        idp.register(sp_metadata_xml); idp.add_user("bob", "bob@acme.test")
        acs_url, fields = idp.sign_in(sso_redirect_url, "bob")   # the HTTP-POST form's action and fields
"""

from __future__ import annotations

import datetime
import html
import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "idp-password-1"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def self_signed(key: rsa.RSAPrivateKey, name: str) -> str:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class _Process:
    module = ""

    def __init__(self, tmp: Path) -> None:
        self.tmp = Path(tmp)
        self.token = secrets.token_hex(16)
        self.env = dict(os.environ, IDP_ADMIN_TOKEN=self.token, PYTHONPATH=str(ROOT))
        # The IdP must not inherit the suite's settings (DJANGO_SETTINGS_MODULE is its own).
        self.env.pop("DJANGO_SETTINGS_MODULE", None)
        self.base = ""
        self.process: subprocess.Popen[str] | None = None

    def __enter__(self) -> _Process:
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module], cwd=ROOT, env=self.env, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        line = self.process.stdout.readline()
        if not line.startswith("READY "):
            self.process.kill()
            raise RuntimeError(f"{self.module} did not start: {line}{self.process.stderr.read()}")
        self.base = line.split()[1]
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        for stream in (self.process.stdout, self.process.stderr):
            stream.close()

    def admin(self, data: dict[str, Any]) -> None:
        response = requests.post(
            f"{self.base}/_test/admin/", data=json.dumps(data), headers={"X-Test-Token": self.token}, timeout=10
        )
        response.raise_for_status()

    def add_user(self, username: str, email: str, name: str = "") -> None:
        self.admin({"users": [{"username": username, "email": email, "name": name or username, "password": PASSWORD}]})


def _form(page: str) -> tuple[str, dict[str, str]]:
    """The first form of a page: its action and its named inputs (hidden ones included)."""
    action = html.unescape(re.search(r'<form[^>]*action="([^"]*)"', page).group(1))
    fields = {
        html.unescape(name): html.unescape(value)
        for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page)
    }
    return action, fields


class OidcProvider(_Process):
    """django-oauth-toolkit with OpenID Connect on, its RSA signing key generated here."""

    module = "tests.idp.oidc_server"

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        self.env.update(IDP_RSA_KEY=pem(rsa_key()), IDP_DB=str(self.tmp / "oidc-idp.sqlite3"))

    @property
    def issuer(self) -> str:
        return f"{self.base}/o"

    def register(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> None:
        self.admin({"apps": [{"client_id": client_id, "client_secret": client_secret, "redirect_uris": redirect_uris}]})

    def sign_in(self, authorize_url: str, username: str) -> str:
        """The person at the IdP: log in, and come back. Returns the redirect to our callback."""
        session = requests.Session()
        response = session.get(authorize_url, allow_redirects=True, timeout=10)
        assert "idp-login" in response.text, response.text[:500]
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text).group(1)
        data = {"csrfmiddlewaretoken": csrf, "username": username, "password": PASSWORD,
                "next": html.unescape(re.search(r'name="next" value="([^"]*)"', response.text).group(1))}  # fmt: skip
        response = session.post(response.url, data=data, allow_redirects=False, timeout=10)
        while response.status_code in (301, 302) and response.headers["Location"].startswith(("/", self.base)):
            response = session.get(urljoin(self.base, response.headers["Location"]), allow_redirects=False, timeout=10)
        assert response.status_code == 302, (response.status_code, response.text[:500])
        return response.headers["Location"]


class SamlProvider(_Process):
    """pysaml2's IdP, with a key and a self-signed certificate made here."""

    module = "tests.idp.saml_server"

    def __init__(self, tmp: Path) -> None:
        super().__init__(tmp)
        key = rsa_key()
        key_file, cert_file = self.tmp / "saml-idp.key", self.tmp / "saml-idp.crt"
        key_file.write_text(pem(key))
        cert_file.write_text(self_signed(key, "Test SAML IdP"))
        self.env.update(IDP_KEY_FILE=str(key_file), IDP_CERT_FILE=str(cert_file))

    @property
    def metadata_url(self) -> str:
        return f"{self.base}/metadata"

    def register(self, sp_metadata: str) -> None:
        self.admin({"sp_metadata": [sp_metadata]})

    def add_user(self, username: str, email: str, name: str = "") -> None:
        self.admin({"users": [{"username": username, "email": email, "name": name or username, "password": PASSWORD}]})

    def sign_in(self, sso_url: str, username: str) -> tuple[str, dict[str, str]]:
        """The person at the IdP: log in. Returns where the signed response is posted, and its fields."""
        page = requests.get(sso_url, timeout=10)
        assert page.status_code == 200, page.text[:500]
        action, fields = _form(page.text)
        fields.update(username=username, password=PASSWORD)
        answer = requests.post(action, data=fields, timeout=30)
        assert answer.status_code == 200, answer.text[:500]
        return _form(answer.text)
