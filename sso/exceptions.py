"""The errors of the single sign-on rules (the pages show their message; the admin too)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from organizations.exceptions import Conflict, Invalid, NotFound


class InvalidIdpUrl(Invalid):
    code = "invalid_idp_url"


class ConnectionTestFailed(Invalid):
    code = "sso_connection_test_failed"
    message = _("The connection test failed")


class ConnectionNotTested(Conflict):
    code = "sso_connection_not_tested"
    message = _("Test the connection successfully before turning it on.")


class InvalidDomain(Invalid):
    code = "invalid_domain"
    message = _("Enter a domain name such as example.com.")


class DomainTaken(Conflict):
    code = "domain_taken"
    message = _("This domain belongs to another organization.")


class DomainNotVerified(Invalid):
    code = "domain_not_verified"


class WrongDomainStatus(Conflict):
    code = "wrong_domain_status"


class DomainNotFound(NotFound):
    code = "domain_not_found"
    message = _("Domain not found")


class NoLiveConnection(Conflict):
    code = "sso_connection_not_live"
    message = _("Turn the single sign-on connection on first.")


class Requires2FAToEnforceSso(Invalid):
    code = "requires_2fa_to_enforce_sso"
    message = _(
        "Set up two-factor authentication for yourself first: with single sign-on required, the "
        "organization's super admins sign in with their password and second factor when the identity "
        "provider is down."
    )
