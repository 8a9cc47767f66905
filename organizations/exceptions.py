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


class EmailNotVerified(ServiceError):
    status = 403
    code = "email_not_verified"
    message = _("Verify your email address first: follow the link in the email we sent you")


class PolicyNotMet(ServiceError):
    """A member does not comply with an organization's security policy. `org` says which (for the page)."""

    status = 403

    def __init__(self, *args: Any, org: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.org = org


class OrgRequires2FA(PolicyNotMet):
    code = "org_requires_2fa"
    message = _("This organization requires two-factor authentication")


class OrgRequiresPasswordPolicy(PolicyNotMet):
    code = "org_requires_password_policy"
    message = _("This organization requires a password that meets its policy")


class Requires2FAToEnforce2FA(ServiceError):
    status = 400
    code = "requires_2fa_to_enforce_2fa"
    message = _("You must enable 2FA before enforcing it for your organization")


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


class RateLimited(ServiceError):
    """A cap on something that costs others (emails sent on the caller's behalf). `retry_after` in seconds."""

    status = 429
    code = "rate_limited"
    message = _("Too many requests")

    def __init__(self, message: Any = None, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after
