"""A deployment check: WEBHOOK_ALLOW_PRIVATE_URLS turns the SSRF guard off."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def private_urls_in_production(**kwargs: Any) -> list[checks.CheckMessage]:
    if settings.WEBHOOK_ALLOW_PRIVATE_URLS:
        return [
            checks.Warning(
                "WEBHOOK_ALLOW_PRIVATE_URLS is on: webhooks may reach loopback and private addresses.",
                hint="Leave it off in production; it is for development and tests.",
                id="webhooks.W001",
            )
        ]
    return []
