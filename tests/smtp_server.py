"""A real SMTP server on loopback (aiosmtpd) that refuses the first messages, then takes them."""

from __future__ import annotations

import socket
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self, owner: SmtpServer) -> None:
        self.owner = owner

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        if self.owner.refuse > 0:
            self.owner.refuse -= 1
            self.owner.refused += 1
            return "451 4.3.0 Try again later"
        self.owner.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


class SmtpServer:
    """`refuse` messages get a temporary failure (451); the later ones land in `messages`."""

    def __init__(self, refuse: int = 0) -> None:
        self.refuse, self.refused = refuse, 0
        self.messages: list[Message] = []
        self.port = free_port()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    def settings(self) -> dict[str, Any]:
        return {
            "EMAIL_DELIVERY_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "EMAIL_HOST": "127.0.0.1",
            "EMAIL_PORT": self.port,
            "EMAIL_USE_TLS": False,
            "EMAIL_USE_SSL": False,
            "EMAIL_HOST_USER": "",
            "EMAIL_HOST_PASSWORD": "",
        }

    def __enter__(self) -> SmtpServer:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()
