"""Small helpers for the page templates."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.utils.html import format_html

from organizations.models import Organization
from organizations.roles import Role, parse_role

register = template.Library()


@register.filter
def role_label(value: str) -> str:
    """The translated label of a role; `invite_write` reads as Write."""
    role = parse_role(value or "")
    return Role(role).label if role else value


@register.filter
def logo_src(org: Organization) -> str:
    """An uploaded logo wins over an https URL set through the API."""
    if org.logo_file:
        return org.logo_file.url
    return org.logo_url or ""


@register.filter
def as_json(value: Any) -> str:
    """A readable JSON rendering of an audit record (escaped by the template as usual)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@register.filter
def bdi(value: Any) -> str:
    """`value` escaped, in its own bidirectional isolate: for people's text inside our sentences."""
    return format_html("<bdi>{}</bdi>", value)
