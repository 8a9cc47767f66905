"""Template helpers for the account pages."""

from __future__ import annotations

import re

from django import template

register = template.Library()

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
