"""A real HTTP(S) receiver of webhooks on loopback, answering from a script and keeping what it got.

    with Receiver() as receiver:                  # http://127.0.0.1:<port>/hook
        receiver.answer(500, 200)                 # the first request gets 500, the next 200
        ...
        [first, second] = receiver.requests       # each with .headers, .body, .path, .host

With `tls=(cert, key)` it serves https (a trustme certificate for a host name).
"""

from __future__ import annotations

import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Answer:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    hang: float = 0.0  # seconds to wait before answering


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def host(self) -> str:
        return self.headers.get("host", "")

    def text(self) -> str:
        return self.body.decode()


class Receiver:
    def __init__(self, tls: tuple[str, str] | None = None, address: str = "127.0.0.1") -> None:
        self.requests: list[Received] = []
        self._script: list[Answer] = []
        self._default = Answer()
        self._lock = threading.Lock()
        self.arrived = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = receiver._take(
                    Received("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                )
                if answer.hang:
                    threading.Event().wait(answer.hang)
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, host: str = "127.0.0.1", path: str = "/hook") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def answer(self, *answers: int | Answer) -> None:
        """Answer the next requests in this order (a status, or an Answer); then the default (200)."""
        with self._lock:
            self._script = [a if isinstance(a, Answer) else Answer(status=a) for a in answers]

    def _take(self, received: Received) -> Answer:
        with self._lock:
            self.requests.append(received)
            answer = self._script.pop(0) if self._script else self._default
        self.arrived.set()
        return answer

    def __enter__(self) -> Receiver:
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
