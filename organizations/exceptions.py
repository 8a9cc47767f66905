"""The errors that rules raise. Each knows its HTTP status and stable code.

Services and the role function raise these; the API's one exception handler turns them into
the error envelope, and the pages turn them into a message, a 403 or a 404.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _


class ServiceError(Exception):
    status = 400
    code = "invalid_body"
    message: Any = _("Invalid request")

    def __init__(self, message: Any = None, *, code: str | None = None, details: dict[str, Any] | None = None):
        if message is not None:
            self.message = message
        if code is not None:
            self.code = code
        self.details = details
        super().__init__(str(self.message))


class Invalid(ServiceError):
    status = 400
    code = "invalid_body"


class NotAuthenticated(ServiceError):
    status = 401
    code = "no_key_provided"
    message = _("No API key provided")


class InvalidApiKey(ServiceError):
    status = 401
    code = "invalid_apikey"
    message = _("Invalid API key")


class ApiKeyExpired(ServiceError):
    status = 401
    code = "apikey_expired"
    message = _("API key has expired")


class OrgRequiresExpiringKey(ServiceError):
    status = 401
    code = "org_requires_expiring_key"
    message = _("This organization requires API keys with an expiration date")


class InsufficientRole(ServiceError):
    status = 403
    code = "insufficient_role"
    message = _("Admin role required")


class KeyModeForbidden(ServiceError):
    status = 403
    code = "key_mode_forbidden"
    message = _("This API key's mode does not allow this action")


class NotFound(ServiceError):
    status = 404
    code = "not_found"
    message = _("Not found")


class OrgNotFound(NotFound):
    code = "org_not_found"
    message = _("Organization not found")


class MemberNotFound(NotFound):
    code = "member_not_found"
    message = _("Member not found")


class InvitationNotFound(NotFound):
    code = "invitation_not_found"
    message = _("Invitation not found")


class ApiKeyNotFound(NotFound):
    code = "apikey_not_found"
    message = _("API key not found")


class Conflict(ServiceError):
    status = 409
    code = "conflict"
    message = _("Conflict")


class LastSuperAdmin(Conflict):
    code = "last_super_admin"
    message = _("Cannot remove the last super admin")


class ApiKeyLimitReached(Conflict):
    code = "apikey_limit_reached"
    message = _("API key limit reached: delete a key before creating another")
