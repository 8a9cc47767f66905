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


@admin.register(Authenticator)
class AuthenticatorAdmin(ListedNotEdited):
    list_display = fields = ("user", "type", "created_at", "last_used_at")
    list_filter = ("type",)
    search_fields = ("user__email",)


@admin.register(UserSession)
class UserSessionAdmin(ListedNotEdited):
    list_display = fields = ("user", "ip", "user_agent", "created_at", "last_seen_at")
    search_fields = ("user__email", "ip")
