"""The pages. Thin: forms validate input, services apply the rules, roles decide buttons.

Every page that names an organization goes through `access.org_for`, like the API: a
stranger gets 404, a member whose role is too low gets 403. Service errors become a 404, a
403, or a message on the page (400 and 409).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from allauth.account.adapter import get_adapter as get_account_adapter
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import F, Prefetch, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseBase
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import i18n as i18n_views
from django.views.decorators.http import require_POST

from accounts.mfa import has_second_factor
from organizations import audit, audit_sentences, services
from organizations.access import compliance, org_for, visible_organizations
from organizations.api.errors import error_response
from organizations.exceptions import OrgRequires2FA, OrgRequiresPasswordPolicy, PolicyNotMet, ServiceError
from organizations.forms import (
    SETTINGS_SECTIONS,
    SYSTEM_ACTOR,
    ApiKeyCreateForm,
    AuditFilterForm,
    InviteForm,
    OrganizationCreateForm,
    OrganizationDeleteForm,
    PasswordConfirmForm,
    RoleForm,
    SecurityForm,
    SettingsSectionForm,
)
from organizations.middleware import is_api_path
from organizations.models import ApiKey, ApiKeyOrgLimit, AuditEvent, Invitation, Membership, Organization, User
from organizations.roles import (
    ROLE_DESCRIPTIONS,
    ROLE_ORDER,
    Action,
    Principal,
    Role,
    authorize_member_change,
    can,
    can_change_member,
    parse_role,
)
from organizations.security import password_policy
from organizations.text import sentence, with_link

View = Callable[..., HttpResponseBase]


def page(view: View) -> View:
    """Login required; a service's 404 or 403 becomes the page's 404 or 403."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        try:
            return view(request, *args, **kwargs)
        except PolicyNotMet as exc:
            return _policy_required(request, exc)
        except ServiceError as exc:
            if exc.status == 404:
                raise Http404(str(exc.message)) from exc
            if exc.status in (401, 403):
                raise PermissionDenied(str(exc.message)) from exc
            raise

    return login_required(wrapper)


def _policy_required(request: HttpRequest, exc: PolicyNotMet, form: Any = None, status: int = 403) -> HttpResponse:
    """What a member who does not comply sees on every page of the organization: what is required,
    the way to it, and the way out."""
    org = exc.org
    context = {
        "org": org,
        "needs_2fa": isinstance(exc, OrgRequires2FA),
        "policy": password_policy(org.password_policy_config),
        "password_form": form or PasswordConfirmForm(),
        "can_leave": org.my_role != Role.SUPER_ADMIN
        or Membership.objects.filter(organization=org, role=Role.SUPER_ADMIN).count() > 1,
    }
    return render(request, "organizations/policy_required.html", context, status=status)


def home(request: HttpRequest) -> HttpResponse:
    """People who are logged in go to their organizations; anyone else learns what this is first."""
    if request.user.is_authenticated:
        return redirect("org-list")
    return render(request, "home.html")


# Accounts --------------------------------------------------------------------------------


@require_POST
def set_language(request: HttpRequest) -> HttpResponseBase:
    """Django's set_language (the cookie), and the logged-in user's preference (for their emails)."""
    response = i18n_views.set_language(request)
    language = request.POST.get("language", "")
    user = request.user
    if user.is_authenticated and language in dict(settings.LANGUAGES) and user.language != language:
        user.language = language
        user.save(update_fields=["language"])
    return response


# Organizations ---------------------------------------------------------------------------


@page
def org_list(request: HttpRequest) -> HttpResponse:
    # Each organization is marked when its policies would refuse me (the list itself stays open).
    orgs = list(
        visible_organizations(Principal(request.user)).annotate(
            my_fingerprint=F("memberships__password_policy_fingerprint")
        )
    )
    if orgs:
        two_factor = has_second_factor(request.user)
        for org in orgs:
            org.my_compliance = compliance(org, has_second_factor=two_factor, password_fingerprint=org.my_fingerprint)
    invitations = Invitation.objects.filter(
        email=request.user.email, status=Invitation.Status.PENDING, expires_at__gt=timezone.now()
    ).select_related("organization", "invited_by")
    return render(request, "organizations/org_list.html", {"orgs": orgs, "invitations": invitations})


@page
def org_create(request: HttpRequest) -> HttpResponse:
    principal = Principal(request.user)
    form = OrganizationCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        org = services.organization_create(actor=principal, **form.cleaned_data)
        messages.success(
            request,
            with_link(
                sentence(_("Organization %(name)s was created."), name=org.name),
                "#invite-section",
                _("Invite your team"),
            ),
        )
        return redirect("org-members", org_id=org.id)
    return render(request, "organizations/org_create.html", {"form": form})


def _org_context(principal: Principal, org: Organization, role: str, **extra: Any) -> dict[str, Any]:
    """What every organization page shows: the organization, my role, and the tabs I may open."""
    return {
        "org": org,
        "my_role": role,
        "can_update": can(principal, Action.UPDATE_ORG, role),
        "can_delete": can(principal, Action.DELETE_ORG, role),
        "can_audit": can(principal, Action.READ_AUDIT, role),
        "can_manage_members": can(principal, Action.MANAGE_MEMBERS, role),
        "can_webhooks": can(principal, Action.READ_WEBHOOKS, role),
        **extra,
    }


@page
def org_detail(request: HttpRequest, org_id: str) -> HttpResponse:
    org, _role = org_for(Principal(request.user), org_id, Action.READ_ORG)
    return redirect("org-members", org_id=org.id)


@page
def org_settings(request: HttpRequest, org_id: str) -> HttpResponse:
    """The settings page: sections that each save on their own (SETTINGS_SECTIONS), then Security."""
    principal = Principal(request.user)
    org, role = org_for(principal, org_id, Action.UPDATE_ORG)
    if request.method != "POST":
        return _settings_page(request, principal, org, role)
    form_class = SETTINGS_SECTIONS.get(request.POST.get("section", ""))
    if form_class is None:
        return HttpResponseBadRequest(_("Unknown settings section."))
    form = form_class(request.POST, request.FILES, org=org)
    if form.is_valid():
        changes = form.changes()
        if not changes and form.logo_file is None:
            messages.info(request, _("Nothing changed."))
            return redirect("org-settings", org_id=org.id)
        try:
            services.organization_update(actor=principal, org=org, changes=changes, logo_file=form.logo_file)
        except ServiceError as exc:
            if exc.status >= 403:
                raise
            form.add_error(None, str(exc.message))
        else:
            messages.success(request, form.saved_message())
            return redirect("org-settings", org_id=org.id)
    return _settings_page(request, principal, org, role, section_form=form)


def _settings_page(
    request: HttpRequest,
    principal: Principal,
    org: Organization,
    role: str,
    *,
    section_form: SettingsSectionForm | None = None,
    security_form: SecurityForm | None = None,
    locked_out: list[services.SecurityRow] | None = None,
    status: int = 200,
) -> HttpResponse:
    # Every section shows its own form; the one just submitted keeps what was typed and its errors.
    forms = {section: form_class(org=org) for section, form_class in SETTINGS_SECTIONS.items()}
    if section_form is not None:
        forms[section_form.section] = section_form
    rows = services.security_rows(org)
    context = _org_context(
        principal,
        org,
        role,
        general_form=forms["general"],
        logo_form=forms["logo"],
        api_keys_form=forms["api_keys"],
        security_form=security_form or SecurityForm(initial=SecurityForm.initial_for(org)),
        not_complying=[row for row in rows if not row.compliance.complies],
        i_have_2fa=has_second_factor(principal.user),
        locked_out=locked_out,
        webhook_count=org.webhooks.count() if can(principal, Action.READ_WEBHOOKS, role) else None,
        can_leave=can(principal, Action.LEAVE, role),
    )
    return render(request, "organizations/org_settings.html", context, status=status)


@page
@require_POST
def org_security(request: HttpRequest, org_id: str) -> HttpResponse:
    """The Security section: both policies, with a confirmation that names who would be locked out."""
    principal = Principal(request.user)
    org, role = org_for(principal, org_id, Action.UPDATE_SECURITY_POLICY)
    form = SecurityForm(request.POST)
    if not form.is_valid():
        return _settings_page(request, principal, org, role, security_form=form, status=400)
    changes = form.changes(org)
    if not changes:
        messages.info(request, _("Nothing changed."))
        return redirect("org-settings", org_id=org.id)
    password = form.cleaned_data["password"] or None
    new_policy = password_policy(changes.get("password_policy_config", org.password_policy_config))
    if "password_policy_config" in changes and new_policy is not None:
        if password is None:
            form.add_error("password", _("Enter your password: it must meet the new policy too."))
        elif not get_account_adapter(request).reauthenticate(request.user, password):
            form.add_error("password", _("This is not your password."))
        if form.errors:
            return _settings_page(request, principal, org, role, security_form=form, status=400)
    else:
        password = None
    # Who the new policies would lock out (the admin excepted when their password comes with the change).
    candidate = copy.copy(org)
    for field, value in changes.items():
        setattr(candidate, field, value)
    locked_out = [
        row
        for row in services.security_rows(candidate)
        if not row.compliance.complies
        and not (row.uid == str(request.user.pk) and password is not None and row.compliance.two_factor)
    ]
    if locked_out and not form.cleaned_data["confirmed"]:
        return _settings_page(request, principal, org, role, security_form=form, locked_out=locked_out)
    try:
        services.organization_update(actor=principal, org=org, changes=changes, password=password)
    except ServiceError as exc:
        if exc.status >= 403:
            raise
        form.add_error("password" if exc.details and "password" in exc.details else None, str(exc.message))
        return _settings_page(request, principal, org, role, security_form=form, status=400)
    messages.success(request, _("The security policies were saved."))
    return redirect("org-settings", org_id=org.id)


@page
@require_POST
def org_password_confirm(request: HttpRequest, org_id: str) -> HttpResponse:
    """A member confirms their password against the organization's policy (the page they are shown)."""
    org, _role = org_for(Principal(request.user), org_id, Action.COMPLY)
    form = PasswordConfirmForm(request.POST)
    policy = password_policy(org.password_policy_config)
    if policy is None:
        return redirect("org-members", org_id=org.id)
    if form.is_valid():
        password = form.cleaned_data["password"]
        try:
            correct = get_account_adapter(request).reauthenticate(request.user, password)
        except ValidationError as exc:  # allauth's limit on failed password checks
            form.add_error("password", exc.messages[0])
            correct = None
        if correct is False:
            form.add_error("password", _("This is not your password."))
        elif correct and policy.problems(password):
            form.add_error(
                "password",
                _("Your password does not meet the policy: it needs %(missing)s. Change it first.")
                % {"missing": ", ".join(policy.problems(password))},
            )
        elif correct:
            messages.success(request, _("Your password meets the policy of %(name)s.") % {"name": org.name})
            return redirect("org-members", org_id=org.id)
    return _policy_required(request, OrgRequiresPasswordPolicy(org=org), form=form, status=400)


@page
def org_delete(request: HttpRequest, org_id: str) -> HttpResponse:
    principal = Principal(request.user)
    org, role = org_for(principal, org_id, Action.DELETE_ORG)
    form = OrganizationDeleteForm(request.POST or None, org=org)
    if request.method == "POST" and form.is_valid():
        services.organization_delete(actor=principal, org=org)
        messages.success(request, sentence(_("Organization %(name)s was deleted."), name=org.name))
        return redirect("org-list")
    return render(request, "organizations/org_delete.html", _org_context(principal, org, role, form=form))


# Members ---------------------------------------------------------------------------------


def _grantable_roles(principal: Principal, role: str, target_role: str | None) -> list[str]:
    """The roles I may give someone who holds `target_role` now (None: a new invitation)."""
    return [
        new_role
        for new_role in ROLE_ORDER
        if can_change_member(principal, role, target_role=target_role, new_role=new_role)
    ]


def _members_page(
    request: HttpRequest,
    principal: Principal,
    org: Organization,
    role: str,
    invite_form: InviteForm | None = None,
    status: int = 200,
) -> HttpResponse:
    members, invitations = [], []
    rows = services.member_rows(org)
    # The last-super_admin rule (services) would refuse these anyway: do not offer them.
    super_admins = [r.uid for r in rows if not r.invitation_id and r.role == Role.SUPER_ADMIN]
    last_super_admin = super_admins[0] if len(super_admins) == 1 else None
    for row in rows:
        if row.invitation_id:
            invited_role = parse_role(row.role) or Role.READ
            invitations.append(
                {
                    "row": row,
                    "role": invited_role,
                    "can_manage": can_change_member(principal, role, target_role=None, new_role=invited_role),
                }
            )
            continue
        is_me = row.uid == str(principal.user.pk)
        is_last = row.uid == last_super_admin
        # My own role is changed by another admin: a picker that saves on change would lock me out in one slip.
        roles = [] if is_me or is_last else _grantable_roles(principal, role, row.role)
        members.append(
            {
                "row": row,
                "is_me": is_me,
                "role_choices": [(r, Role(r).label) for r in roles] if len(roles) > 1 else [],
                "can_remove": not is_me and not is_last and can_change_member(principal, role, target_role=row.role),
            }
        )
    context = _org_context(
        principal,
        org,
        role,
        members=members,
        invitations=invitations,
        # Columns only for those who have something in them.
        show_member_actions=any(m["can_remove"] for m in members),
        show_invitation_actions=any(i["can_manage"] for i in invitations),
        can_leave=can(principal, Action.LEAVE, role) and last_super_admin != str(principal.user.pk),
        is_last_super_admin=last_super_admin == str(principal.user.pk),
        invitation_days=settings.INVITATION_TTL_DAYS,
        role_descriptions=[(value, label, ROLE_DESCRIPTIONS[value]) for value, label in Role.choices],
    )
    if context["can_manage_members"]:
        grantable = _grantable_roles(principal, role, None)
        # "Invite again" links from a removal or cancellation fill the form in.
        initial = {"email": request.GET.get("invite", "")}
        if request.GET.get("role") in grantable:
            initial["role"] = request.GET["role"]
        context["invite_form"] = invite_form or InviteForm(roles=grantable, inviter=principal.user, initial=initial)
    return render(request, "organizations/members.html", context, status=status)


def _invite_again(org: Organization, email: str, role: str) -> str:
    return reverse("org-members", args=[org.id]) + "?" + urlencode({"invite": email, "role": role}) + "#invite-section"


def _confirm_page(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    """A destructive action asks first: this page, or (with htmx) its #confirm part in a dialog."""
    return render(request, "organizations/confirm.html", context)


def _after_member_action(request: HttpRequest, org: Organization) -> HttpResponse:
    """htmx swaps the re-rendered page in place (no reload); a plain form post redirects."""
    if request.htmx:
        principal = Principal(request.user)
        org, role = org_for(principal, org.id, Action.LIST_MEMBERS)
        return _members_page(request, principal, org, role)
    return redirect("org-members", org_id=org.id)


def _member_or_404(org: Organization, user_id: Any) -> Membership:
    membership = Membership.objects.select_related("user").filter(organization=org, user_id=user_id).first()
    if membership is None:
        raise Http404(_("Member not found"))
    return membership


def _invitation_or_404(org: Organization, invitation_id: Any) -> Invitation:
    invitation = Invitation.objects.filter(
        organization=org, pk=invitation_id, status=Invitation.Status.PENDING, expires_at__gt=timezone.now()
    ).first()
    if invitation is None:
        raise Http404(_("Invitation not found"))
    return invitation


def _message_for(request: HttpRequest, exc: ServiceError) -> None:
    """400, 409 and 429 answers from a service become a message; 403 and 404 propagate to `page`."""
    if exc.status in (400, 409, 429):
        messages.error(request, str(exc.message))
        return
    raise exc


@page
def org_members(request: HttpRequest, org_id: str) -> HttpResponse:
    principal = Principal(request.user)
    org, role = org_for(principal, org_id, Action.LIST_MEMBERS)
    return _members_page(request, principal, org, role)


@page
@require_POST
def member_invite(request: HttpRequest, org_id: str) -> HttpResponse:
    principal = Principal(request.user)
    org, role = org_for(principal, org_id, Action.MANAGE_MEMBERS)
    form = InviteForm(request.POST, roles=_grantable_roles(principal, role, None), inviter=principal.user)
    if not form.is_valid():
        return _members_page(request, principal, org, role, invite_form=form)
    email, new_role = form.cleaned_data["email"], form.cleaned_data["role"]
    try:
        row = services.member_invite(actor=principal, org=org, email=email, role=new_role)
    except ServiceError as exc:
        if exc.status not in (400, 409, 429):
            raise
        # Said at the field, with what was typed still in it.
        form.add_error("email", str(exc.message))
        return _members_page(request, principal, org, role, invite_form=form)
    if row.invitation_id:
        messages.success(request, sentence(_("Invitation sent to %(email)s."), email=email))
    else:
        messages.success(request, sentence(_("%(email)s is now %(role)s."), email=email, role=Role(row.role).label))
    return _after_member_action(request, org)


@page
@require_POST
def member_change_role(request: HttpRequest, org_id: str, user_id: Any) -> HttpResponse:
    principal = Principal(request.user)
    org, _role = org_for(principal, org_id, Action.MANAGE_MEMBERS)
    membership = _member_or_404(org, user_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a valid role."))
        return _after_member_action(request, org)
    try:
        membership = services.member_change_role(
            actor=principal, org=org, membership=membership, new_role=form.cleaned_data["role"]
        )
    except ServiceError as exc:
        _message_for(request, exc)
    else:
        messages.success(
            request,
            sentence(_("%(email)s is now %(role)s."), email=membership.user.email, role=Role(membership.role).label),
        )
    return _after_member_action(request, org)


@page
def member_remove(request: HttpRequest, org_id: str, user_id: Any) -> HttpResponse:
    principal = Principal(request.user)
    org, role = org_for(principal, org_id, Action.MANAGE_MEMBERS)
    membership = _member_or_404(org, user_id)
    if request.method != "POST":
        authorize_member_change(principal, role, target_role=membership.role)
        return _confirm_page(request, _org_context(principal, org, role, action="remove", membership=membership))
    try:
        services.member_remove(actor=principal, org=org, email=membership.user.email)
    except ServiceError as exc:
        _message_for(request, exc)
    else:
        email = membership.user.email
        messages.success(
            request,
            with_link(
                sentence(_("%(email)s was removed."), email=email),
                _invite_again(org, email, membership.role),
                _("Invite them again"),
            ),
        )
    return _after_member_action(request, org)


@page
def org_leave(request: HttpRequest, org_id: str) -> HttpResponse:
    principal = Principal(request.user)
    org, role = org_for(principal, org_id, Action.LEAVE)
    if request.method != "POST":
        return _confirm_page(request, _org_context(principal, org, role, action="leave"))
    try:
        services.member_remove(actor=principal, org=org, email=principal.user.email)
    except ServiceError as exc:
        _message_for(request, exc)
        return redirect("org-members", org_id=org.id)
    messages.success(request, sentence(_("You left %(name)s."), name=org.name))
    return redirect("org-list")


@page
@require_POST
def invitation_resend(request: HttpRequest, org_id: str, invitation_id: Any) -> HttpResponse:
    principal = Principal(request.user)
    org, _role = org_for(principal, org_id, Action.MANAGE_MEMBERS)
    invitation = _invitation_or_404(org, invitation_id)
    try:
        services.member_invite(actor=principal, org=org, email=invitation.email, role=invitation.role)
    except ServiceError as exc:
        _message_for(request, exc)
    else:
        messages.success(request, sentence(_("Invitation sent again to %(email)s."), email=invitation.email))
    return _after_member_action(request, org)


@page
def invitation_cancel(request: HttpRequest, org_id: str, invitation_id: Any) -> HttpResponse:
    principal = Principal(request.user)
    org, role = org_for(principal, org_id, Action.MANAGE_MEMBERS)
    invitation = _invitation_or_404(org, invitation_id)
    authorize_member_change(principal, role, target_role=None, new_role=invitation.role)
    if request.method != "POST":
        return _confirm_page(request, _org_context(principal, org, role, action="cancel", invitation=invitation))
    try:
        services.invitation_cancel(actor=principal, invitation=invitation)
    except ServiceError as exc:
        _message_for(request, exc)
    else:
        messages.success(
            request,
            with_link(
                sentence(_("The invitation for %(email)s was cancelled."), email=invitation.email),
                _invite_again(org, invitation.email, invitation.role),
                _("Invite again"),
            ),
        )
    return _after_member_action(request, org)


# Invitations -----------------------------------------------------------------------------


# The link's token is kept in the session and the browser sent on to a URL without it, as
# Django's password reset does: the token stays out of the address bar, the history and the
# Referer of every later request.
INVITATION_TOKEN = "invitation_token"


def invitation_link(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link. Whoever follows it controls the invited address: a sign-up from here is verified."""
    invitation = services.invitation_by_token(token)
    if invitation is None:
        return render(request, "organizations/invitation.html", {"problem": "invalid"}, status=404)
    request.session[INVITATION_TOKEN] = token
    if invitation.status == Invitation.Status.PENDING and not invitation.is_expired():
        get_account_adapter(request).stash_verified_email(request, invitation.email)
    return redirect("invitation-accept")


def invitation_accept(request: HttpRequest) -> HttpResponse:
    """Accept the invitation whose link was followed, or log in / sign up first and come back."""
    token = request.session.get(INVITATION_TOKEN)
    invitation = services.invitation_by_token(token) if token else None
    if invitation is None:
        return render(request, "organizations/invitation.html", {"problem": "invalid"}, status=404)
    problem = None
    if invitation.status == Invitation.Status.ACCEPTED:
        problem = "accepted"
    elif invitation.status == Invitation.Status.CANCELLED:
        problem = "cancelled"
    elif invitation.is_expired():
        problem = "expired"
    context: dict[str, Any] = {"invitation": invitation, "problem": problem}
    if problem is not None:
        return render(request, "organizations/invitation.html", context)
    if not request.user.is_authenticated:
        context["has_account"] = User.objects.filter(email=invitation.email).exists()
        return render(request, "organizations/invitation.html", context)
    if request.user.email != invitation.email:
        context["problem"] = "other_email"
        return render(request, "organizations/invitation.html", context, status=403)
    if request.method == "POST":
        try:
            membership = services.invitation_accept(actor=Principal(request.user), invitation=invitation)
        except ServiceError as exc:
            messages.error(request, str(exc.message))
            return redirect("invitation-accept")
        del request.session[INVITATION_TOKEN]
        messages.success(request, sentence(_("You joined %(org)s."), org=membership.organization.name))
        return redirect("org-members", org_id=membership.organization_id)
    return render(request, "organizations/invitation.html", context)


@page
@require_POST
def org_join(request: HttpRequest, org_id: str) -> HttpResponse:
    """Accept my pending invitation from the organization list (like the API's members/accept)."""
    invitation = services.pending_invitation_for(request.user, org_id)
    try:
        membership = services.invitation_accept(actor=Principal(request.user), invitation=invitation)
    except ServiceError as exc:
        messages.error(request, str(exc.message))
        return redirect("org-list")
    messages.success(request, sentence(_("You joined %(org)s."), org=membership.organization.name))
    return redirect("org-members", org_id=membership.organization_id)


@page
def org_decline(request: HttpRequest, org_id: str) -> HttpResponse:
    """Decline my pending invitation from the organization list, after saying what that means."""
    invitation = services.pending_invitation_for(request.user, org_id)
    if invitation is None or invitation.is_expired():
        raise Http404(_("Invitation not found"))
    if request.method != "POST":
        return _confirm_page(request, {"action": "decline", "invitation": invitation})
    services.invitation_decline(actor=Principal(request.user), invitation=invitation)
    messages.success(request, sentence(_("You declined the invitation to %(org)s."), org=invitation.organization.name))
    return redirect("org-list")


# API keys --------------------------------------------------------------------------------


def _my_keys(user: User):  # noqa: ANN202 - a queryset of the user's live keys
    limits = ApiKeyOrgLimit.objects.select_related("organization").order_by("organization__name")
    return (
        ApiKey.objects.filter(user=user, revoked_at__isnull=True)
        .prefetch_related(Prefetch("org_limits", queryset=limits))
        .order_by("created_at", "id")
    )


def _key_or_404(user: User, key_id: int) -> ApiKey:
    key = _my_keys(user).filter(pk=key_id).first()
    if key is None:
        raise Http404(_("API key not found"))
    return key


def _secret_page(request: HttpRequest, key: ApiKey, plaintext: str, *, regenerated: bool) -> HttpResponse:
    response = render(request, "apikeys/secret.html", {"key": key, "plaintext": plaintext, "regenerated": regenerated})
    response["Cache-Control"] = "no-store"
    return response


def _keys_page(request: HttpRequest, form: ApiKeyCreateForm) -> HttpResponse:
    return render(request, "apikeys/list.html", {"keys": _my_keys(request.user), "form": form})


# Where a service's refusal of a new key is said: at the field it is about.
_KEY_ERROR_FIELDS = {"expiration_required": "expires_in_days", "expiration_exceeds_max": "expires_in_days",
                     "org_not_found": "limited_to_orgs"}  # fmt: skip


@page
def apikey_list(request: HttpRequest) -> HttpResponse:
    return _keys_page(request, ApiKeyCreateForm(orgs=visible_organizations(Principal(request.user))))


@page
@require_POST
def apikey_create(request: HttpRequest) -> HttpResponse:
    principal = Principal(request.user)
    form = ApiKeyCreateForm(request.POST, orgs=visible_organizations(principal))
    if not form.is_valid():
        return _keys_page(request, form)
    if form.needs_confirmation:
        # Which organizations would refuse this key, and a button that creates it all the same.
        return _keys_page(request, form)
    data = form.cleaned_data
    try:
        key, plaintext = services.api_key_create(
            actor=principal,
            user=request.user,
            name=data["name"],
            mode=data["mode"],
            limited_to_orgs=data["limited_to_orgs"],
            expires_at=form.expires_at(),
        )
    except ServiceError as exc:
        if exc.status not in (400, 404, 409):  # invalid input, an organization not mine, the key cap
            raise
        form.add_error(_KEY_ERROR_FIELDS.get(exc.code), str(exc.message))
        return _keys_page(request, form)
    return _secret_page(request, key, plaintext, regenerated=False)


@page
def apikey_regenerate(request: HttpRequest, key_id: int) -> HttpResponse:
    key = _key_or_404(request.user, key_id)
    if request.method == "POST":
        key, plaintext = services.api_key_update(actor=Principal(request.user), key=key, changes={}, regenerate=True)
        return _secret_page(request, key, plaintext or "", regenerated=True)
    return render(request, "apikeys/confirm.html", {"key": key, "action": "regenerate"})


@page
def apikey_delete(request: HttpRequest, key_id: int) -> HttpResponse:
    key = _key_or_404(request.user, key_id)
    if request.method == "POST":
        services.api_key_delete(actor=Principal(request.user), key=key)
        messages.success(
            request,
            with_link(
                sentence(_("The API key %(name)s was deleted."), name=key.name),
                reverse("apikey-list") + "#create-key-section",
                _("Create a new key"),
            ),
        )
        return redirect("apikey-list")
    return render(request, "apikeys/confirm.html", {"key": key, "action": "delete"})


# Audit log -------------------------------------------------------------------------------


@page
def org_audit(request: HttpRequest, org_id: str) -> HttpResponse:
    principal = Principal(request.user)
    org, role = org_for(principal, org_id, Action.READ_AUDIT)
    people = [
        (str(uid), name or email)
        for uid, name, email in Membership.objects.filter(organization=org)
        .order_by("user__name", "user__email")
        .values_list("user_id", "user__name", "user__email")
    ]
    kinds = [(kind, label) for kind, (label, _where) in audit_sentences.KINDS.items()]
    form = AuditFilterForm(request.GET, kinds=kinds, people=people)
    if not form.is_valid():
        messages.error(request, _("Some filters were not valid and were ignored."))
        form = AuditFilterForm({}, kinds=kinds, people=people)
        form.is_valid()
    kind, person = form.cleaned_data["kind"], form.cleaned_data["person"]
    page_number, limit = form.cleaned_data["page"], form.cleaned_data["limit"]
    where = Q()
    if kind:
        where &= audit_sentences.KINDS[kind][1]
    if person == SYSTEM_ACTOR:
        where &= Q(actor_type=AuditEvent.ActorType.SYSTEM)
    elif person:
        where &= Q(actor_user_id=person)
    events, total = audit.events_page(org.id, where=where, page=page_number, limit=limit)
    # Everyone a page names, by their current name, in one query.
    ids = [uid for uid in audit_sentences.people_ids(events) if _is_uuid(uid)]
    names = {
        str(uid): name or email
        for uid, name, email in User.objects.filter(pk__in=ids).values_list("id", "name", "email")
    }
    rows = [
        {
            "event": event,
            "sentence": audit_sentences.describe(event, names),
            "actor": audit_sentences.actor_name(event, names),
        }
        for event in events
    ]
    start = page_number * limit

    def page_url(number: int) -> str:
        query = {"kind": kind, "person": person, "page": number, "limit": limit}
        return "?" + urlencode({k: v for k, v in query.items() if v != ""})

    context = _org_context(
        principal,
        org,
        role,
        rows=rows,
        total=total,
        form=form,
        filtered=bool(kind or person),
        first=start + 1 if events else 0,
        last=start + len(events),
        previous_url=page_url(page_number - 1) if page_number > 0 else None,
        next_url=page_url(page_number + 1) if start + limit < total else None,
    )
    return render(request, "organizations/audit.html", context)


def _is_uuid(value: str) -> bool:
    try:
        UUID(value)
    except ValueError:
        return False
    return True


# Errors ----------------------------------------------------------------------------------


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path_info):
        return error_response(404, "not_found", "Not found")
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    if is_api_path(request.path_info):
        return error_response(500, "internal_error", "Internal server error")
    return render(request, "500.html", status=500)
