"""Template helpers for the account pages."""

from __future__ import annotations

import re
from typing import Any

from django import template

from organizations.models import Membership
from organizations.security import password_policy

register = template.Library()


@register.simple_tag
def password_policies(user: Any) -> list[tuple[str, list[str]]]:
    """What the person's organizations ask of a password (name, rules), for the password forms."""
    if not user.is_authenticated:
        return []
    rows = (
        Membership.objects.filter(user=user, organization__password_policy_config__isnull=False)
        .order_by("organization__name")
        .values_list("organization__name", "organization__password_policy_config")
    )
    return [(name, policy.describe()) for name, config in rows if (policy := password_policy(config))]


# First match wins: Edge and Opera announce Chrome too, Chrome announces Safari.
_BROWSERS = (
    ("Edge", r"Edg(?:e|A|iOS)?/"),
    ("Opera", r"OPR/|Opera"),
    ("Firefox", r"Firefox/|FxiOS/"),
    ("Chromium", r"Chromium/"),
    ("Chrome", r"Chrome/|CriOS/|HeadlessChrome/"),
    ("Safari", r"Safari/"),
    ("curl", r"^curl/"),
)
_SYSTEMS = (
    ("Android", r"Android"),
    ("iOS", r"iPhone|iPad|iPod"),
    ("Windows", r"Windows"),
    ("macOS", r"Mac OS X|Macintosh"),
    ("ChromeOS", r"CrOS"),
    ("Linux", r"Linux|X11"),
)


@register.filter
def device(user_agent: str) -> str:
    """ "Firefox on Windows" from a User-Agent header; the header itself when it says neither."""
    browser = next((name for name, pattern in _BROWSERS if re.search(pattern, user_agent or "")), None)
    system = next((name for name, pattern in _SYSTEMS if re.search(pattern, user_agent or "")), None)
    if browser and system:
        return f"{browser} · {system}"
    return browser or system or (user_agent or "?")[:80]
