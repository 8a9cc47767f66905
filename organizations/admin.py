"""The Django admin: a second write path, so every write with a rule goes through the services.

Staff are usually not members of the organizations they look after, so member changes pass
`as_staff=True`: only the caller's role check is skipped; the last-super_admin rule and the
audit log (with the staff user as actor) hold. Forms ask the service in a dry run while they
validate, so a refusal shows as a form error and nothing is saved. No page shows or edits key
material, invitation tokens or password hashes.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import model_ngettext
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm
from django.contrib.auth.forms import UserChangeForm as DjangoUserChangeForm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, IntegerField, Model, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_tasks_db.admin import DBTaskResultAdmin
from django_tasks_db.models import DBTaskResult

from accounts.verification import mark_verified
from organizations import api_keys, audit_sentences, emails, services
from organizations.exceptions import InsufficientRole, InvitationNotFound, ServiceError
from organizations.forms import HttpsUrlField, WebsiteField
from organizations.models import ApiKey, AuditEvent, Email, Invitation, Membership, Organization, User
from organizations.roles import Principal, Role
from organizations.security import policy_errors
from organizations.text import validate_name

# The site's own name, not Django's, on every admin page (translated where it has words).
admin.site.site_header = "capgo-org"
admin.site.site_title = "capgo-org"
admin.site.index_title = _("Administration")
# The navigation sidebar took a fifth of a 1280-pixel screen from every list; the index and the
# breadcrumbs lead everywhere it did.
admin.site.enable_nav_sidebar = False

# Dry runs ---------------------------------------------------------------------------------


class _DryRun(Exception):
    """Rolls back a service call that only had to say whether it would succeed."""


def dry_run(call: Callable[[], object]) -> None:
    """Run a service in a savepoint that is always rolled back; raises its ServiceError if it refuses.

    The service's own rules answer (one source of truth); the real call at save time checks
    them again under the organization lock.
    """
    try:
        with transaction.atomic():
            call()
            raise _DryRun
    except _DryRun:
        pass


def not_saved(error: ServiceError) -> str:
    return _("Not saved: %(reason)s") % {"reason": error.message}


class ServiceForm(forms.ModelForm):
    """A ModelForm saved through a service. Validation runs that service in a dry run.

    A `name` field follows the names rule of every surface (organizations.text).
    """

    actor: Principal  # set per request by ServiceAdminMixin.get_form

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "name" in self.fields:
            self.fields["name"].validators.append(validate_name)

    def apply(self) -> Model | None:
        """Make the change through the service; returns the saved object."""
        raise NotImplementedError

    def _post_clean(self) -> None:
        super()._post_clean()
        if not self._errors:
            try:
                dry_run(self.apply)
            except ServiceError as error:
                self.add_error(None, not_saved(error))


class Refused(Exception):
    """A service refused at save time; the admin view's transaction rolls back and says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ServiceAdminMixin:
    """Saves through `form.apply()` and deletes through `remove()`; says so when a service refuses.

    A refusal at save time (the form's dry run passed, so a concurrent change got in between)
    unwinds the admin view's transaction: nothing is saved, no admin history entry is written,
    and the page says "Not saved" instead of "… successfully". Deletions are logged to the
    admin history only once the service has actually deleted.
    """

    def remove(self, request: HttpRequest, obj: Any) -> None:
        raise NotImplementedError

    def describe(self, obj: Any) -> str:
        return str(obj)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)  # type: ignore[misc]
        if issubclass(form, ServiceForm):
            form.actor = staff_actor(request)  # the class is built per request
        return form

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().changeform_view(request, *args, **kwargs)  # type: ignore[misc]
        except Refused as refused:
            messages.error(request, refused.message)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request: HttpRequest, object_id: str, extra_context: Any = None) -> HttpResponse:
        try:
            return super().delete_view(request, object_id, extra_context)  # type: ignore[misc]
        except Refused as refused:
            messages.error(request, refused.message)
            opts = self.model._meta  # type: ignore[attr-defined]
            return HttpResponseRedirect(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id]))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not isinstance(form, ServiceForm):
            super().save_model(request, obj, form, change)  # type: ignore[misc]
            return
        try:
            saved = form.apply()
        except ServiceError as error:
            raise Refused(not_saved(error)) from error
        if saved is not None and saved.pk != obj.pk:
            obj.pk = saved.pk  # a create service built its own instance
        obj._state.adding = False

    def log_deletions(self, request: HttpRequest, queryset: Any) -> list[Any]:
        return []  # logged below, once the service has deleted

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        try:
            self.remove(request, obj)
        except ServiceError as error:
            raise Refused(_("Not deleted: %(reason)s") % {"reason": error.message}) from error
        super().log_deletions(request, [obj])  # type: ignore[misc]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        # Each removal is its own transaction: the others go ahead when one is refused.
        deleted = []
        refused = []
        for obj in list(queryset):
            try:
                self.remove(request, obj)
            except ServiceError as error:
                refused.append(
                    _("%(object)s was not deleted: %(reason)s")
                    % {"object": self.describe(obj), "reason": error.message}
                )
            else:
                deleted.append(obj)
        if deleted:
            super().log_deletions(request, deleted)  # type: ignore[misc]
        if refused:
            request._deletions_refused = True  # type: ignore[attr-defined]
            if deleted:
                items = model_ngettext(self.model._meta, len(deleted))  # type: ignore[attr-defined]
                messages.success(request, _("Deleted %(count)d %(items)s.") % {"count": len(deleted), "items": items})
            for message in refused:
                messages.error(request, message)

    def message_user(
        self, request: HttpRequest, message: str, level: Any = messages.INFO, *args: Any, **kw: Any
    ) -> None:
        # The delete action's "Successfully deleted <all selected>" would hide the refusals.
        if getattr(request, "_deletions_refused", False) and level in (messages.SUCCESS, "success"):
            return
        super().message_user(request, message, level, *args, **kw)  # type: ignore[misc]


def staff_actor(request: HttpRequest) -> Principal:
    return Principal(request.user)  # type: ignore[arg-type]


def pretty_json(value: Any) -> str:
    if value is None:
        return "-"
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False))


# Organizations ----------------------------------------------------------------------------


class OrganizationForm(ServiceForm):
    # The same fields as the settings page, so the same website and logo rules as the API.
    website = WebsiteField(label=_("website"))
    logo_url = HttpsUrlField(label=_("logo URL"))

    class Meta:
        model = Organization
        fields = (
            "name", "management_email", "website", "logo_url", "require_apikey_expiration",
            "max_apikey_expiration_days", "enforcing_2fa", "password_policy_config",
        )  # fmt: skip

    def clean_password_policy_config(self) -> Any:
        # The API's rule (security.policy_errors): five fields, strict JSON types, or empty for none.
        config = self.cleaned_data.get("password_policy_config")
        if config in (None, "", {}):
            return None
        errors = policy_errors(config)
        if errors:
            raise ValidationError("; ".join(f"{field}: {' '.join(map(str, e))}" for field, e in errors.items()))
        return config

    def apply(self) -> Organization:
        data = self.cleaned_data
        if self.instance._state.adding:
            return services.organization_create(
                actor=self.actor,
                name=data["name"],
                management_email=data.get("management_email"),
                website=data.get("website") or None,
                logo_url=data.get("logo_url"),
            )
        changes = {field: data[field] for field in self.changed_data if field in services.ORG_EDITABLE_FIELDS}
        return services.organization_update(actor=self.actor, org=self.instance, changes=changes)


class MembershipInlineFormSet(BaseInlineFormSet):
    """Role changes and removals of an organization's members, through the services."""

    actor: Principal  # set per request by MembershipInline.get_formset

    def apply(self) -> tuple[list[tuple[Membership, list[str]]], list[Membership]]:
        changed = [form for form in self.initial_forms if form.has_changed() and not self._should_delete_form(form)]
        # Promotions first, so that "promote B, demote A" in one save keeps a super_admin throughout.
        changed.sort(key=lambda form: form.cleaned_data["role"] != Role.SUPER_ADMIN)
        removed = [form.instance for form in self.initial_forms if self._should_delete_form(form)]
        for form in changed:
            services.member_change_role(
                actor=self.actor, org=self.instance, membership=form.instance, new_role=form.cleaned_data["role"],
                as_staff=True,
            )  # fmt: skip
        for membership in removed:
            services.member_remove(actor=self.actor, org=self.instance, email=membership.user.email, as_staff=True)
        return [(form.instance, form.changed_data) for form in changed], removed

    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        try:
            dry_run(self.apply)
        except ServiceError as error:
            raise ValidationError(not_saved(error)) from error


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = MembershipInlineFormSet
    fields = ("user", "role", "created_at")
    readonly_fields = ("user", "created_at")
    extra = 0
    show_change_link = True
    verbose_name_plural = _("members")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # people join through an invitation

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user", "organization").order_by("created_at", "id")

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset = super().get_formset(request, obj, **kwargs)
        formset.actor = staff_actor(request)
        return formset


class InvitationInline(admin.TabularInline):
    model = Invitation
    fields = ("email", "role", "status", "expires_at", "invited_by")
    readonly_fields = fields
    extra = 0
    show_change_link = True
    verbose_name_plural = _("invitations")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Invitation]:
        return super().get_queryset(request).select_related("invited_by", "organization").order_by("-created_at")


@admin.register(Organization)
class OrganizationAdmin(ServiceAdminMixin, admin.ModelAdmin):
    form = OrganizationForm
    list_display = ("name", "id", "management_email", "member_count", "require_apikey_expiration", "created_at")
    search_fields = ("name", "id", "management_email")
    list_filter = ("require_apikey_expiration", "enforcing_2fa", "created_at")
    ordering = ("-created_at", "id")
    readonly_fields = ("id", "logo_preview", "customer_id", "created_by", "created_at", "updated_at")
    # The staff user who adds an organization becomes its first super_admin (organization_create
    # always makes the creator one, and the audit log must name who really acted). Staff then
    # invite the real owner from the site and leave once the owner has accepted.
    add_fieldsets = ((None, {"fields": ("name", "management_email", "website", "logo_url")}),)
    fieldsets = (
        (None, {"fields": ("id", "name", "management_email", "website")}),
        # Uploads go through the settings page, which checks and re-encodes images.
        (_("Logo"), {"fields": ("logo_preview", "logo_url")}),
        (_("API keys"), {"fields": ("require_apikey_expiration", "max_apikey_expiration_days")}),
        (
            _("Security"),
            {
                "fields": ("enforcing_2fa", "password_policy_config"),
                "description": _(
                    'Password policy: {"enabled": true, "min_length": 12, "require_uppercase": true, '
                    '"require_number": true, "require_special": false}, or empty for none. Turning on 2FA '
                    "enforcement needs a second factor of your own."
                ),
            },
        ),
        (_("Record"), {"fields": ("customer_id", "created_by", "created_at", "updated_at")}),
    )
    inlines = (MembershipInline, InvitationInline)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Organization]:
        # A correlated count per row: the page's rows only, and no GROUP BY in the changelist's COUNT.
        members = (
            Membership.objects.filter(organization=OuterRef("pk"))
            .order_by()
            .values("organization")
            .annotate(n=Count("pk"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(member_count=Coalesce(Subquery(members, output_field=IntegerField()), 0))
        )

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.add_fieldsets if obj is None else self.fieldsets

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.inlines if obj is not None else ()

    @admin.display(description=_("members"), ordering="member_count")
    def member_count(self, org: Organization) -> int:
        return org.member_count  # type: ignore[attr-defined]

    @admin.display(description=_("logo"))
    def logo_preview(self, org: Organization) -> str:
        url = org.logo_file.url if org.logo_file else org.logo_url
        if not url:
            return "-"
        return format_html('<img src="{}" alt="" style="max-height: 96px; max-width: 192px">', url)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        if not isinstance(formset, MembershipInlineFormSet):
            return  # the other inlines are read-only
        try:
            formset.changed_objects, formset.deleted_objects = formset.apply()
        except ServiceError as error:
            raise Refused(not_saved(error)) from error

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Invitations cannot be deleted one by one (they keep their status), but they go with
        # their organization.
        perms_needed.discard(Invitation._meta.verbose_name)
        return deleted, model_count, perms_needed, protected

    def remove(self, request: HttpRequest, obj: Organization) -> None:
        services.organization_delete(actor=staff_actor(request), org=obj)


# Memberships ------------------------------------------------------------------------------


class MembershipForm(ServiceForm):
    class Meta:
        model = Membership
        fields = ("role",)

    def apply(self) -> Membership | None:
        if "role" not in self.changed_data:
            return None
        return services.member_change_role(
            actor=self.actor, org=self.instance.organization, membership=self.instance,
            new_role=self.cleaned_data["role"], as_staff=True,
        )  # fmt: skip


@admin.register(Membership)
class MembershipAdmin(ServiceAdminMixin, admin.ModelAdmin):
    form = MembershipForm
    list_display = ("user_email", "organization", "organization_id", "role", "created_at")
    list_select_related = ("user", "organization")
    list_filter = ("role",)
    search_fields = ("user__email", "organization__name", "organization__id")
    ordering = ("organization__name", "user__email")
    fields = ("user", "organization", "role", "created_at", "updated_at")
    readonly_fields = ("user", "organization", "created_at", "updated_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # people join through an invitation

    def get_queryset(self, request: HttpRequest) -> QuerySet[Membership]:
        return super().get_queryset(request).select_related("user", "organization")

    @admin.display(description=_("user"), ordering="user__email")
    def user_email(self, membership: Membership) -> str:
        return membership.user.email

    def describe(self, membership: Membership) -> str:
        return f"{membership.user.email} in {membership.organization.name}"

    def remove(self, request: HttpRequest, obj: Membership) -> None:
        services.member_remove(actor=staff_actor(request), org=obj.organization, email=obj.user.email, as_staff=True)


# Invitations ------------------------------------------------------------------------------


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    """Read-only apart from cancelling: invitations are sent from the site, with their email."""

    list_display = ("email", "organization", "role", "status", "is_expired", "expires_at", "invited_by", "created_at")
    list_select_related = ("organization", "invited_by")
    list_filter = ("status", "role", "expires_at")
    search_fields = ("email", "organization__name", "organization__id")
    ordering = ("-created_at",)
    fields = ("id", "organization", "email", "role", "status", "expires_at", "invited_by", "created_at", "updated_at")
    readonly_fields = fields  # token_hash is never shown
    actions = ("cancel_selected",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # kept with their status, so cancelled and expired ones stay visible

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("organizations.change_invitation")

    @admin.display(description=_("expired"), boolean=True)
    def is_expired(self, invitation: Invitation) -> bool:
        return invitation.is_expired()

    @admin.action(description=_("Cancel selected invitations"), permissions=["cancel"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[Invitation]) -> None:
        cancelled = 0
        for invitation in queryset:
            try:
                services.invitation_cancel(actor=staff_actor(request), invitation=invitation)
            except InvitationNotFound:
                continue  # no longer pending
            cancelled += 1
        skipped = len(queryset) - cancelled
        messages.success(
            request, ngettext("Cancelled %d invitation.", "Cancelled %d invitations.", cancelled) % cancelled
        )
        if skipped:
            messages.warning(request, ngettext("%d was not pending.", "%d were not pending.", skipped) % skipped)


# API keys ---------------------------------------------------------------------------------


class ApiKeyForm(ServiceForm):
    class Meta:
        model = ApiKey
        fields = ("name", "mode", "expires_at")  # never lookup or digest

    def apply(self) -> ApiKey:
        changes = {field: self.cleaned_data[field] for field in self.changed_data}
        return services.api_key_update(actor=self.actor, key=self.instance, changes=changes)[0]


@admin.register(ApiKey)
class ApiKeyAdmin(ServiceAdminMixin, admin.ModelAdmin):
    """Keys are created by their owners; staff see, edit, revoke and delete them, never their secret."""

    form = ApiKeyForm
    list_display = (
        "name", "user_email", "mode", "key_preview", "is_limited", "expires_at", "last_used_at", "revoked_at",
    )  # fmt: skip
    list_select_related = ("user",)
    list_filter = ("mode", "is_limited", ("revoked_at", admin.EmptyFieldListFilter), "expires_at")
    search_fields = ("name", "user__email", "lookup")
    ordering = ("-created_at", "-id")
    fields = (
        "user", "name", "mode", "key_preview", "is_limited", "limited_to", "expires_at", "last_used_at",
        "revoked_at", "created_at", "updated_at",
    )  # fmt: skip
    readonly_fields = (
        "user", "key_preview", "is_limited", "limited_to", "last_used_at", "revoked_at", "created_at", "updated_at",
    )  # fmt: skip
    actions = ("revoke_selected",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def get_search_results(self, request: HttpRequest, queryset: QuerySet[ApiKey], search_term: str) -> Any:
        # A pasted preview ("capgo_ab12cd34…") finds its key through the lookup part.
        term = search_term.strip().removeprefix(api_keys.KEY_PREFIX).rstrip("…")
        return super().get_search_results(request, queryset, term)

    @admin.display(description=_("user"), ordering="user__email")
    def user_email(self, key: ApiKey) -> str:
        return key.user.email

    @admin.display(description=_("limited to"))
    def limited_to(self, key: ApiKey) -> str:
        if not key.is_limited:
            return _("all of the user's organizations")
        names = Organization.objects.filter(limited_api_keys=key).values_list("name", "id")
        return ", ".join(f"{name} ({org_id})" for name, org_id in names) or _("nothing (its organizations are deleted)")

    @admin.action(description=_("Revoke selected keys"), permissions=["change"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        live = [key for key in queryset if key.revoked_at is None]
        for key in live:
            services.api_key_revoke(actor=staff_actor(request), key=key)
        messages.success(request, ngettext("Revoked %d key.", "Revoked %d keys.", len(live)) % len(live))

    def remove(self, request: HttpRequest, obj: ApiKey) -> None:
        services.api_key_delete(actor=staff_actor(request), key=obj)


# Audit log --------------------------------------------------------------------------------


class AuditOrganizationFilter(admin.SimpleListFilter):
    """Every organization with events, deleted ones included: the log outlives what it describes."""

    title = _("organization")
    parameter_name = "org_id"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        org_ids = AuditEvent.objects.exclude(org_id=None).order_by().values_list("org_id", flat=True).distinct()
        names = dict(Organization.objects.filter(id__in=org_ids).values_list("id", "name"))
        existing = [(org_id, f"{name} ({org_id})") for org_id, name in names.items()]
        deleted = [(org_id, _("(deleted) %(id)s") % {"id": org_id}) for org_id in org_ids if org_id not in names]
        return sorted(existing, key=lambda item: item[1].lower()) + sorted(deleted)

    def queryset(self, request: HttpRequest, queryset: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        return queryset.filter(org_id=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Append-only: staff read it, nobody adds, changes or deletes through the admin."""

    # What happened in words first (the audit page's sentence); the raw columns are on each event's page.
    list_display = ("created_at", "summary", "org_name", "actor_user_email")
    list_filter = (AuditOrganizationFilter, "table_name", "operation", "actor_type", "created_at")
    search_fields = ("=record_id", "actor_user_email", "=org_id")
    show_full_result_count = False  # the log only grows; one COUNT is enough
    fields = (
        "created_at", "summary", "org_id", "table_name", "operation", "record_id", "actor_type", "actor_user_id",
        "actor_user_email", "actor_apikey_id", "actor_apikey_name", "changed", "old", "new",
    )  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEvent]:
        # The organization's name by a correlated lookup (one query for the page); deleted ones keep their id.
        name = Organization.objects.filter(pk=OuterRef("org_id")).values("name")[:1]
        return super().get_queryset(request).annotate(org_name=Subquery(name))

    @admin.display(description=_("organization"), ordering="org_id")
    def org_name(self, event: AuditEvent) -> str:
        return event.org_name or event.org_id or "-"

    @admin.display(description=_("what happened"))
    def summary(self, event: AuditEvent) -> str:
        # People by the address they had then: no query per row.
        return audit_sentences.describe(event, {})

    @admin.display(description=_("changed fields"))
    def changed(self, event: AuditEvent) -> str:
        return pretty_json(event.changed_fields)

    @admin.display(description=_("old record"))
    def old(self, event: AuditEvent) -> str:
        return pretty_json(event.old_record)

    @admin.display(description=_("new record"))
    def new(self, event: AuditEvent) -> str:
        return pretty_json(event.new_record)


# Users ------------------------------------------------------------------------------------


class UserCreationForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()  # stored lower-cased; checked unique that way


class UserChangeForm(DjangoUserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "name" in self.fields:
            self.fields["name"].validators.append(validate_name)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


@admin.register(User)
class UserAdmin(ServiceAdminMixin, DjangoUserAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Personal info"), {"fields": ("name", "avatar", "language")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    list_display = ("email", "name", "is_staff", "is_active", "date_joined", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active", "groups")
    search_fields = ("email", "name")
    ordering = ("email",)
    readonly_fields = ("last_login", "date_joined")
    # Rights and identity: a staff user with change_user must not raise their own rights, hand out
    # rights, or move an account to an address whose invitations it would then take.
    PRIVILEGED_FIELDS = ("email", "is_staff", "is_superuser", "groups", "user_permissions")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = tuple(super().get_readonly_fields(request, obj))
        if obj is not None and not request.user.is_superuser:
            fields += self.PRIVILEGED_FIELDS
        return fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Changing (or resetting the password of) a staff account is taking it over: superusers only.
        if obj is not None and obj.is_staff and obj.pk != request.user.pk and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_staff and not request.user.is_superuser:
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not change or "email" in form.changed_data:
            # Staff vouch for an address they set: the account counts as verified.
            mark_verified(obj)

    def remove(self, request: HttpRequest, obj: User) -> None:
        if obj.is_staff and not request.user.is_superuser:  # the bulk action asks no per-object permission
            raise InsufficientRole(_("Only a superuser can delete a staff account."))
        services.user_delete(actor=staff_actor(request), user=obj)


# Emails (issue 13) -----------------------------------------------------------------------


@admin.register(Email)
class EmailAdmin(admin.ModelAdmin):
    """The outgoing emails: read-only; a failed one can be queued again."""

    list_display = ("created_at", "subject", "recipients", "status", "attempts", "sent_at")
    list_filter = ("status", "created_at")
    search_fields = ("subject",)
    show_full_result_count = False
    fields = ("created_at", "from_email", "to", "cc", "bcc", "subject", "status", "attempts", "next_attempt_at",
              "last_error", "sent_at")  # fmt: skip
    readonly_fields = fields
    actions = ("send_again",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("to"))
    def recipients(self, email: Email) -> str:
        return ", ".join(email.to)

    @admin.action(description=_("Send the selected failed emails again"))
    def send_again(self, request: HttpRequest, queryset: QuerySet[Email]) -> None:
        failed = list(queryset.filter(status=Email.Status.FAILED))
        for email in failed:
            emails.resend(email)
        messages.success(request, _("%(count)d emails queued again.") % {"count": len(failed)})


# Background tasks (django-tasks-db) ----------------------------------------------------------

admin.site.unregister(DBTaskResult)


@admin.register(DBTaskResult)
class TaskResultAdmin(DBTaskResultAdmin):
    """The library's read-only admin, with its column names in the viewer's language."""

    list_display = ("id", "name", "status", "enqueued_at", "started_at", "finished_at", "priority", "queue_name")

    @admin.display(description=_("task"))
    def name(self, result: DBTaskResult) -> str:
        return result.task_name

    @admin.display(description=_("traceback"))
    def formatted_traceback(self, result: DBTaskResult) -> str:
        return super().formatted_traceback(result)

    @admin.display(description=_("run after"))
    def display_run_after(self, result: DBTaskResult) -> Any:
        return super().display_run_after(result)
