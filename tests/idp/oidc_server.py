"""Runs the test OpenID provider on 127.0.0.1 at a free port: `python -m tests.idp.oidc_server`.

Prints `READY <base url>` once it serves. The environment carries the RSA key (IDP_RSA_KEY), the
database file (IDP_DB) and the admin token (IDP_ADMIN_TOKEN); the issuer is `<base url>/o`.
"""

from __future__ import annotations

import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def main() -> None:
    # Bound first: the issuer URL (which names the port) must be in the settings before Django starts.
    server = _Server(("127.0.0.1", 0), _QuietHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    os.environ["IDP_ISSUER"] = f"{base}/o"
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.idp.oidc_settings"
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    from django.core.wsgi import get_wsgi_application

    server.set_app(get_wsgi_application())
    print(f"READY {base}", flush=True)
    try:
        server.serve_forever(poll_interval=0.05)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
