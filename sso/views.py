"""Single sign-on pages: "Sign in with SSO", and the connection and domains of an organization (super_admins).

Thin: forms parse, services apply the rules; the organization comes through `access.org_for`.
The settings page shows the section (templates/sso/_settings_section.html); its buttons post here.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

import requests
from allauth.core import ratelimit
from allauth.socialaccount.providers.base import AuthProcess
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.sso_adapter import social_app
from organizations.access import org_for
from organizations.exceptions import ServiceError
from organizations.models import Organization
from organizations.roles import Action, Principal
from organizations.views import _org_context, page
from sso import policy, services
from sso.forms import ConnectionForm, DomainForm, SsoLoginForm
from sso.models import Connection

logger = logging.getLogger("sso")


def sso_login(request: HttpRequest) -> HttpResponse:
    """An address at an active domain goes to its organization's identity provider."""
    form = SsoLoginForm(request.POST or None, initial={"email": request.GET.get("email", "")})
    # Which domains sign in through SSO is no secret (DNS says it), but asking costs queries: allauth's login limit.
    if request.method == "POST" and (response := ratelimit.consume_or_429(request, action="login")):
        return response
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"].lower()
        domain = policy.active_domain_for(email)
        if domain is None:
            form.add_error("email", _("Single sign-on is not set up for this address. Log in with your password."))
        else:
            connection = domain.organization.sso_connection
            provider = social_app(connection).get_provider(request)
            next_url = request.GET.get("next")
            if not (next_url and url_has_allowed_host_and_scheme(next_url, {request.get_host()})):
                next_url = None
            extra = {"auth_params": {"login_hint": email}} if connection.protocol == Connection.Protocol.OIDC else {}
            try:
                redirect_to_idp = provider.redirect(request, AuthProcess.LOGIN, next_url=next_url, **extra)
            except (requests.RequestException, KeyError, ValueError) as exc:
                logger.warning("SSO login through %s could not start: %s", connection.pk, type(exc).__name__)
                form.add_error(None, _("Your identity provider does not answer. Try again in a few minutes."))
            else:
                # Not a redirect: the CSP's form-action 'self' would stop a form's redirect to another origin.
                # A page that moves on by itself (meta refresh) is a navigation, which it does not govern.
                context = {"idp_url": redirect_to_idp["Location"], "org": domain.organization}
                return render(request, "sso/redirect.html", context)
    return render(request, "sso/login.html", {"form": form}, status=400 if form.errors else 200)


# The organization's section ---------------------------------------------------------------


def _back(org: Organization) -> HttpResponse:
    return redirect(reverse("org-settings", kwargs={"org_id": org.id}) + "#sso")


def _org(request: HttpRequest, org_id: str) -> tuple[Principal, Organization, str]:
    principal = Principal(request.user)
    org, role = org_for(principal, org_id, Action.MANAGE_SSO)
    return principal, org, role


def _say(request: HttpRequest, exc: ServiceError) -> None:
    if exc.status in (401, 403, 404):
        raise exc
    messages.error(request, str(exc.message))


@page
def connection_edit(request: HttpRequest, org_id: str) -> HttpResponse:
    principal, org, role = _org(request, org_id)
    connection = Connection.objects.filter(organization=org).first()
    form = ConnectionForm(request.POST or None, initial=ConnectionForm.initial_for(connection))
    if request.method == "POST" and form.is_valid():
        try:
            services.connection_save(actor=principal, org=org, **form.cleaned_data)
        except ServiceError as exc:
            if exc.status >= 403:
                raise
            form.add_error(None, str(exc.message))
        else:
            messages.success(request, _("The connection was saved. Test it, then turn it on."))
            return _back(org)
    context = _org_context(principal, org, role, form=form, connection=connection)
    return render(request, "sso/connection.html", context, status=400 if form.errors else 200)


@page
@require_POST
def connection_test(request: HttpRequest, org_id: str) -> HttpResponse:
    principal, org, _role = _org(request, org_id)
    try:
        connection = services.connection_test(actor=principal, org=org)
    except ServiceError as exc:
        _say(request, exc)
    else:
        if connection.last_error:
            messages.error(request, _("The test failed: %(error)s") % {"error": connection.last_error})
        else:
            messages.success(request, _("The identity provider answered as expected. You can turn the connection on."))
    return _back(org)


@page
@require_POST
def connection_live(request: HttpRequest, org_id: str) -> HttpResponse:
    principal, org, _role = _org(request, org_id)
    live = request.POST.get("live") == "on"
    try:
        services.connection_set_live(actor=principal, org=org, live=live)
    except ServiceError as exc:
        _say(request, exc)
    else:
        messages.success(request, _("Single sign-on is on.") if live else _("Single sign-on is off."))
    return _back(org)


@page
@require_POST
def connection_delete(request: HttpRequest, org_id: str) -> HttpResponse:
    principal, org, _role = _org(request, org_id)
    services.connection_delete(actor=principal, org=org)
    messages.success(request, _("The single sign-on connection was removed."))
    return _back(org)


@page
@require_POST
def domain_claim(request: HttpRequest, org_id: str) -> HttpResponse:
    principal, org, _role = _org(request, org_id)
    form = DomainForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Enter a domain name such as example.com."))
        return _back(org)
    try:
        domain = services.domain_claim(actor=principal, org=org, domain=form.cleaned_data["domain"])
    except ServiceError as exc:
        _say(request, exc)
    else:
        messages.success(request, _("Add the TXT record below to %(domain)s, then verify it.") % {"domain": domain})
    return _back(org)


DOMAIN_ACTIONS: dict[str, Any] = {
    "verify": (services.domain_verify, {}, gettext_lazy("%(domain)s is verified.")),
    "activate": (services.domain_activate, {}, gettext_lazy("People at %(domain)s now sign in with single sign-on.")),
    "disable": (services.domain_disable, {}, gettext_lazy("Single sign-on is disabled for %(domain)s.")),
    "enforce": (
        services.domain_set_enforced,
        {"enforce": True},
        gettext_lazy("%(domain)s now requires single sign-on."),
    ),
    "relax": (
        services.domain_set_enforced,
        {"enforce": False},
        gettext_lazy("%(domain)s no longer requires single sign-on."),
    ),
    "delete": (services.domain_delete, {}, gettext_lazy("%(domain)s was removed.")),
}


@page
@require_POST
def domain_action(request: HttpRequest, org_id: str, domain_id: UUID, action: str) -> HttpResponse:
    principal, org, _role = _org(request, org_id)
    if action not in DOMAIN_ACTIONS:
        raise Http404
    domain = services.domain_for(org, domain_id)
    service, kwargs, done = DOMAIN_ACTIONS[action]
    try:
        service(actor=principal, org=org, domain=domain, **kwargs)
    except ServiceError as exc:
        _say(request, exc)
    else:
        messages.success(request, done % {"domain": domain.domain})
    return _back(org)
