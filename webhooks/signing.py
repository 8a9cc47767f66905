"""Standard Webhooks signatures (https://www.standardwebhooks.com), made by the `standardwebhooks` library."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Sequence
from datetime import datetime

from standardwebhooks.webhooks import Webhook as StandardWebhook

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes, the format the Standard Webhooks libraries read."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def signature_header(secrets_: Sequence[str], msg_id: str, timestamp: datetime, body: str) -> str:
    """`webhook-signature`: one `v1,<base64>` per secret, space-separated (two during a rotation)."""
    return " ".join(StandardWebhook(secret).sign(msg_id, timestamp, body) for secret in secrets_)


def headers(secrets_: Sequence[str], *, msg_id: str, timestamp: datetime, body: str, event: str) -> dict[str, str]:
    """Every header of a delivery but the transport's own."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "capgo-org-webhooks/1.0",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature_header(secrets_, msg_id, timestamp, body),
        "X-Capgo-Event": event,
        "X-Capgo-Event-ID": msg_id,
    }
