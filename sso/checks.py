"""A deployment check: SSO_ALLOW_PRIVATE_URLS lets identity-provider URLs reach inside."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks


@checks.register(checks.Tags.security, deploy=True)
def private_idp_urls_in_production(**kwargs: Any) -> list[checks.CheckMessage]:
    if settings.SSO_ALLOW_PRIVATE_URLS:
        return [
            checks.Warning(
                "SSO_ALLOW_PRIVATE_URLS is on: identity-provider URLs may be plain http and reach private addresses.",
                hint="Leave it off in production; it is for development and tests.",
                id="sso.W001",
            )
        ]
    return []
