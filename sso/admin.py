"""Staff look after organizations' single sign-on here, through the same services as the pages
(checked, audited with the staff user as actor). A client secret can be entered, never read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from organizations.admin import ServiceAdminMixin, ServiceForm, staff_actor
from organizations.exceptions import ServiceError
from organizations.models import Organization
from organizations.roles import Role
from sso import services
from sso.models import JOIN_ROLES, Connection, Domain


class ConnectionForm(ServiceForm):
    organization = forms.ModelChoiceField(queryset=Organization.objects.all(), label=_("organization"))
    client_secret = forms.CharField(
        label=_("client secret"), required=False, widget=forms.PasswordInput(render_value=False),
        help_text=_("Write-only: leave empty to keep the stored one."),
    )  # fmt: skip
    default_role = forms.ChoiceField(choices=[(r, Role(r).label) for r in JOIN_ROLES], label=_("role of new members"))
    issuer_url = forms.URLField(label=_("issuer URL"), required=False, max_length=500, assume_scheme="https")
    idp_metadata_url = forms.URLField(
        label=_("IdP metadata URL"), required=False, max_length=500, assume_scheme="https"
    )

    class Meta:
        model = Connection
        fields = ("organization", "protocol", "issuer_url", "client_id", "idp_metadata_url", "idp_metadata_xml",
                  "default_role")  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not self.instance._state.adding:  # a new connection has its UUID already
            self.fields["organization"].disabled = True

    def apply(self) -> Model | None:
        data = self.cleaned_data
        return services.connection_save(
            actor=self.actor, org=data["organization"], protocol=data["protocol"], issuer_url=data["issuer_url"],
            client_id=data["client_id"], client_secret=data["client_secret"] or None,
            idp_metadata_url=data["idp_metadata_url"], idp_metadata_xml=data["idp_metadata_xml"],
            default_role=data["default_role"],
        )  # fmt: skip


def _each(call: Callable[[Any], object], done: str) -> Callable[..., None]:
    def action(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        for obj in queryset.select_related("organization"):
            try:
                call(request, obj)
            except ServiceError as error:
                modeladmin.message_user(request, f"{obj}: {error.message}", messages.ERROR)
            else:
                modeladmin.message_user(request, f"{obj}: {done}", messages.SUCCESS)

    return action


@admin.register(Connection)
class ConnectionAdmin(ServiceAdminMixin, admin.ModelAdmin):
    form = ConnectionForm
    list_display = ("organization", "protocol", "enabled", "tested_at", "default_role", "updated_at")
    list_filter = ("protocol", "enabled")
    search_fields = ("=organization__id", "organization__name", "issuer_url", "idp_entity_id")
    list_select_related = ("organization",)
    readonly_fields = ("slug", "enabled", "tested_at", "last_error", "idp_entity_id", "idp_sso_url", "created_by",
                       "created_at", "updated_at")  # fmt: skip
    actions = ("test_connections", "turn_on", "turn_off")

    def remove(self, request: HttpRequest, obj: Connection) -> None:
        services.connection_delete(actor=staff_actor(request), org=obj.organization)

    @admin.action(description=_("Test the selected connections"))
    def test_connections(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        for connection in queryset.select_related("organization"):
            tested = services.connection_test(actor=staff_actor(request), org=connection.organization)
            level = messages.ERROR if tested.last_error else messages.SUCCESS
            self.message_user(request, f"{connection}: {tested.last_error or _('the test passed')}", level)

    turn_on = admin.action(description=_("Turn the selected connections on"))(
        _each(lambda r, c: services.connection_set_live(actor=staff_actor(r), org=c.organization, live=True), "on")
    )
    turn_off = admin.action(description=_("Turn the selected connections off"))(
        _each(lambda r, c: services.connection_set_live(actor=staff_actor(r), org=c.organization, live=False), "off")
    )


class DomainForm(ServiceForm):
    organization = forms.ModelChoiceField(queryset=Organization.objects.all(), label=_("organization"))

    class Meta:
        model = Domain
        fields = ("organization", "domain")

    def apply(self) -> Model | None:
        return services.domain_claim(
            actor=self.actor, org=self.cleaned_data["organization"], domain=self.cleaned_data["domain"]
        )


def _domain_action(service: Callable[..., Domain], **kwargs: Any) -> Callable[[HttpRequest, Domain], Domain]:
    return lambda request, d: service(actor=staff_actor(request), org=d.organization, domain=d, **kwargs)


@admin.register(Domain)
class DomainAdmin(ServiceAdminMixin, admin.ModelAdmin):
    form = DomainForm
    list_display = ("domain", "organization", "status", "enforce_sso", "verified_at")
    list_filter = ("status", "enforce_sso")
    search_fields = ("domain", "=organization__id")
    list_select_related = ("organization",)
    readonly_fields = ("status", "enforce_sso", "txt_name", "txt_value", "verified_at", "created_by", "created_at")
    actions = ("verify", "activate", "disable", "enforce", "relax")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A domain is claimed (added) and moved through its statuses by the actions; its name never changes.
        return super().has_change_permission(request, obj) and obj is None

    def remove(self, request: HttpRequest, obj: Domain) -> None:
        services.domain_delete(actor=staff_actor(request), org=obj.organization, domain=obj)

    verify = admin.action(description=_("Verify the DNS record"))(
        _each(_domain_action(services.domain_verify), "verified")
    )
    activate = admin.action(description=_("Activate"))(_each(_domain_action(services.domain_activate), "active"))
    disable = admin.action(description=_("Disable"))(_each(_domain_action(services.domain_disable), "disabled"))
    enforce = admin.action(description=_("Require single sign-on"))(
        _each(_domain_action(services.domain_set_enforced, enforce=True, as_staff=True), "SSO required")
    )
    relax = admin.action(description=_("Allow passwords again"))(
        _each(_domain_action(services.domain_set_enforced, enforce=False, as_staff=True), "passwords allowed")
    )
