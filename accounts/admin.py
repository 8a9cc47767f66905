"""allauth's models in the admin, behind the rule that staff cannot vouch for or act as someone.

An email address marked verified hands over every invitation to it; a two-factor secret in a
page lets its reader pass the second factor; a session key is a login. So: only superusers
change addresses, authenticators show no secret and only superusers remove one (when a person
lost their device), and sessions are listed without their keys.
"""

from __future__ import annotations

from typing import Any

from allauth.account.admin import EmailAddressAdmin as AllauthEmailAddressAdmin
from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.contrib import admin
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from accounts.models import SecondFactor, Session

for model in (EmailAddress, Authenticator, UserSession):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


def _superuser(request: HttpRequest) -> bool:
    return bool(request.user.is_active and request.user.is_superuser)


@admin.register(EmailAddress)
class EmailAddressAdmin(AllauthEmailAddressAdmin):
    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # allauth's "mark verified" action names no permission, so Django offers it to every viewer.
        actions = super().get_actions(request)
        if not _superuser(request):
            actions.pop("make_verified", None)
        return actions

    def has_add_permission(self, request: HttpRequest) -> bool:
        return _superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _superuser(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _superuser(request)


class ListedNotEdited(admin.ModelAdmin):
    """Staff see the rows (never the secret columns: only `fields` are shown); superusers may delete one."""

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _superuser(request)

    # The models are proxies (for their translated names): staff need the permissions of allauth's
    # own models, as before, not new ones.
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        opts = self.model._meta.concrete_model._meta
        return any(
            request.user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}") for action in ("view", "change")
        )

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.has_module_perms(self.model._meta.concrete_model._meta.app_label)


# allauth's fields have no verbose names: each column is a display with a translated one.


class KindFilter(admin.SimpleListFilter):
    title = _("kind")
    parameter_name = "type"

    def lookups(self, request: HttpRequest, model_admin: Any) -> Any:
        return Authenticator.Type.choices

    def queryset(self, request: HttpRequest, queryset: Any) -> Any:
        return queryset.filter(type=self.value()) if self.value() else queryset


@admin.register(SecondFactor)
class AuthenticatorAdmin(ListedNotEdited):
    list_display = fields = ("person", "kind", "created", "last_used")
    list_filter = (KindFilter,)
    search_fields = ("user__email",)

    @admin.display(description=_("person"), ordering="user__email")
    def person(self, authenticator: Authenticator) -> str:
        return authenticator.user.email

    @admin.display(description=_("kind"), ordering="type")
    def kind(self, authenticator: Authenticator) -> str:
        return authenticator.get_type_display()

    @admin.display(description=_("created at"), ordering="created_at")
    def created(self, authenticator: Authenticator) -> Any:
        return authenticator.created_at

    @admin.display(description=_("last used at"), ordering="last_used_at")
    def last_used(self, authenticator: Authenticator) -> Any:
        return authenticator.last_used_at


@admin.register(Session)
class UserSessionAdmin(ListedNotEdited):
    list_display = fields = ("person", "address", "browser", "created", "last_seen")
    search_fields = ("user__email", "ip")

    @admin.display(description=_("person"), ordering="user__email")
    def person(self, session: UserSession) -> str:
        return session.user.email

    @admin.display(description=_("IP address"), ordering="ip")
    def address(self, session: UserSession) -> str:
        return session.ip

    @admin.display(description=_("browser"))
    def browser(self, session: UserSession) -> str:
        return session.user_agent

    @admin.display(description=_("logged in at"), ordering="created_at")
    def created(self, session: UserSession) -> Any:
        return session.created_at

    @admin.display(description=_("last seen at"), ordering="last_seen_at")
    def last_seen(self, session: UserSession) -> Any:
        return session.last_seen_at
