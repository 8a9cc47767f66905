"""A real SAML 2.0 identity provider for the single sign-on tests: pysaml2's `saml2.server.Server`
behind a tiny WSGI app on 127.0.0.1, signing with xmlsec1 and a key and certificate the test made.

    python -m tests.idp.saml_server   (env: IDP_KEY_FILE, IDP_CERT_FILE, IDP_ADMIN_TOKEN)

Prints `READY <base url>`. Its metadata is at /metadata; AuthnRequests arrive at /sso/redirect
(HTTP-Redirect), a login form picks the user, and the signed response goes back by HTTP-POST.
`POST /_test/admin/` (the admin token in X-Test-Token) registers an SP's metadata and users, as an
operator would in the IdP's console; each SP is also registered under a second entity ID,
https://other-sp.example/saml, so that a test can get an assertion meant for someone else.

Ways to go wrong, by the user's name: `wrongaud-…` (the assertion's audience is the other SP),
`expired-…` (issued two hours ago), `unsigned-…` (no signature at all).
"""

from __future__ import annotations

import html
import json
import os
import sys
from datetime import timedelta
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

import time_machine
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server
from saml2.xmldsig import DIGEST_SHA256, SIG_RSA_SHA256

OTHER_SP = "https://other-sp.example/saml"
PASSWORD_CONTEXT = "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


class Idp:
    def __init__(self, base: str) -> None:
        self.base = base
        config = IdPConfig()
        config.load(
            {
                "entityid": f"{base}/metadata",
                "service": {
                    "idp": {
                        "endpoints": {"single_sign_on_service": [(f"{base}/sso/redirect", BINDING_HTTP_REDIRECT)]},
                        "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                        "policy": {"default": {"lifetime": {"minutes": 15}, "name_form": NAME_FORMAT_BASIC}},
                        "want_authn_requests_signed": False,
                    }
                },
                "key_file": os.environ["IDP_KEY_FILE"],
                "cert_file": os.environ["IDP_CERT_FILE"],
                "xmlsec_binary": "/usr/bin/xmlsec1",
                "metadata": {},
            }
        )
        self.config = config
        self.server = Server(config=config)
        self.users: dict[str, dict[str, str]] = {}

    def metadata(self) -> str:
        return create_metadata_string(None, config=self.config, valid=24).decode()

    def register(self, data: dict[str, Any]) -> None:
        for xml in data.get("sp_metadata", []):
            self.server.metadata.load("inline", xml)
            entity = xml.split('entityID="', 1)[1].split('"', 1)[0]
            self.server.metadata.load("inline", xml.replace(entity, OTHER_SP, 1))
        for user in data.get("users", []):
            self.users[user["username"]] = user

    def login_form(self, saml_request: str, relay_state: str) -> str:
        request = self.server.parse_authn_request(saml_request, BINDING_HTTP_REDIRECT)
        issuer = request.message.issuer.text
        return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test SAML IdP</title></head>
<body><h1 id="idp-title">Test SAML identity provider</h1><p id="idp-sp">Signing in to {html.escape(issuer)}</p>
<form method="post" action="{self.base}/sso/login" id="idp-login">
<input type="hidden" name="SAMLRequest" value="{html.escape(saml_request)}">
<input type="hidden" name="RelayState" value="{html.escape(relay_state)}">
<label for="id_username">Username</label> <input id="id_username" name="username">
<label for="id_password">Password</label> <input id="id_password" name="password" type="password">
<button type="submit" id="idp-submit">Sign in</button></form></body></html>"""

    def respond(self, saml_request: str, relay_state: str, username: str, password: str) -> str | None:
        user = self.users.get(username)
        if user is None or user["password"] != password:
            return None
        request = self.server.parse_authn_request(saml_request, BINDING_HTTP_REDIRECT)
        args = self.server.response_args(request.message, [BINDING_HTTP_POST])
        mode = username.partition("-")[0]
        identity = {"email": [user["email"]], "displayName": [user.get("name", username)]}
        name_id = NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=user["email"])
        signed = mode != "unsigned"
        audience = OTHER_SP if mode == "wrongaud" else args["sp_entity_id"]
        when = time_machine.travel(timedelta(hours=-2), tick=True) if mode == "expired" else None
        if when is not None:
            when.start()
        try:
            response = self.server.create_authn_response(
                identity, in_response_to=args["in_response_to"], destination=args["destination"],
                sp_entity_id=audience, name_id=name_id, authn={"class_ref": PASSWORD_CONTEXT},
                sign_assertion=signed, sign_response=signed, sign_alg=SIG_RSA_SHA256, digest_alg=DIGEST_SHA256,
            )  # fmt: skip
        finally:
            if when is not None:
                when.stop()
        http_args = self.server.apply_binding(
            BINDING_HTTP_POST, str(response), args["destination"], relay_state, response=True
        )
        return http_args["data"]


def _app(idp: Idp):  # noqa: ANN202 - a WSGI application
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        path, method = environ["PATH_INFO"], environ["REQUEST_METHOD"]
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        body = b""
        if method == "POST":
            body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        status, content_type, content = "404 Not Found", "text/plain", "not found"
        try:
            if path == "/metadata":
                status, content_type, content = "200 OK", "application/samlmetadata+xml", idp.metadata()
            elif path == "/sso/redirect":
                content = idp.login_form(query["SAMLRequest"], query.get("RelayState", ""))
                status, content_type = "200 OK", "text/html; charset=utf-8"
            elif path == "/sso/login" and method == "POST":
                form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
                page = idp.respond(form["SAMLRequest"], form.get("RelayState", ""), form.get("username", ""),
                                   form.get("password", ""))  # fmt: skip
                if page is None:
                    status, content = "403 Forbidden", "wrong username or password"
                else:
                    status, content_type, content = "200 OK", "text/html; charset=utf-8", page
            elif path == "/_test/admin/" and method == "POST":
                if environ.get("HTTP_X_TEST_TOKEN") != os.environ["IDP_ADMIN_TOKEN"]:
                    status, content = "403 Forbidden", "no"
                else:
                    idp.register(json.loads(body))
                    status, content = "200 OK", "ok"
        except Exception as exc:  # the test reads it in the IdP's answer
            status, content_type, content = "500 Internal Server Error", "text/plain", f"{type(exc).__name__}: {exc}"
        start_response(status, [("Content-Type", content_type)])
        return [content.encode()]

    return app


def main() -> None:
    server = _Server(("127.0.0.1", 0), _QuietHandler)
    server.set_app(_app(Idp(f"http://127.0.0.1:{server.server_address[1]}")))
    print(f"READY http://127.0.0.1:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
