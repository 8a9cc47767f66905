"""The pages. Thin: forms validate input, services apply the rules, roles decide buttons."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from organizations import services
from organizations.access import visible_organizations
from organizations.api.errors import error_response
from organizations.exceptions import ServiceError
from organizations.forms import SignupForm
from organizations.middleware import is_api_path
from organizations.roles import Principal


def home(request: HttpRequest) -> HttpResponse:
    return redirect("org-list" if request.user.is_authenticated else "login")


def signup(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, require_https=request.is_secure()):
        next_url = ""
    form = SignupForm(request.POST or None, initial={"email": request.GET.get("email", "")})
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect(next_url or "org-list")
    return render(request, "registration/signup.html", {"form": form, "next": next_url})


@login_required
def org_list(request: HttpRequest) -> HttpResponse:
    orgs = visible_organizations(Principal(request.user))
    return render(request, "organizations/org_list.html", {"orgs": orgs})


def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation = services.invitation_by_token(token)
    if invitation is None:
        return render(
            request, "organizations/invitation.html", {"error": _("This invitation link is not valid.")}, status=404
        )
    if not request.user.is_authenticated:
        return render(request, "organizations/invitation.html", {"invitation": invitation, "login_next": request.path})
    if request.method == "POST":
        try:
            membership = services.invitation_accept(actor=Principal(request.user), invitation=invitation)
        except ServiceError as exc:
            messages.error(request, str(exc.message))
            return redirect(request.path)
        messages.success(request, _("You joined %(org)s.") % {"org": membership.organization.name})
        return redirect("org-list")
    return render(request, "organizations/invitation.html", {"invitation": invitation})


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path_info):
        return error_response(404, "not_found", "Not found")
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path_info):
        return error_response(500, "internal_error", "Internal server error")
    return render(request, "500.html", status=500)
