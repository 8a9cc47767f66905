"""The settings page's Single sign-on section, rendered from the page's own context (org, request)."""

from __future__ import annotations

from typing import Any

from django import template

from organizations.roles import Action, Principal, can
from sso.forms import DomainForm
from sso.models import Connection, Domain

register = template.Library()


@register.inclusion_tag("sso/_section.html", takes_context=True)
def sso_settings(context: template.Context) -> dict[str, Any]:
    org, request = context.get("org"), context.get("request")
    role = context.get("my_role") or getattr(org, "my_role", None)
    if org is None or request is None or not can(Principal(request.user), Action.MANAGE_SSO, role):
        return {"show": False}
    connection = Connection.objects.filter(organization=org).first()
    return {
        "show": True,
        "org": org,
        "connection": connection,
        "urls": connection.urls() if connection else {},
        "domains": list(Domain.objects.filter(organization=org)),
        "domain_form": DomainForm(),
        "csrf_token": context.get("csrf_token"),
        "Status": Domain.Status,
    }
