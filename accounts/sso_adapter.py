"""django-allauth's socialaccount, fitted to single sign-on per organization (the sso app).

Each organization's connection is an allauth app built at request time (`list_apps`): OpenID
Connect apps under allauth's `openid_connect` provider, SAML apps under `saml`, both with the
provider id `sso-<slug>`. On the way back (`pre_social_login`) the address must be at one of
that organization's active domains; the person is then signed in as the account with that
address (made, or linked, and verified: the organization proved the domain), and joins the
organization (accounts.signals, after the login).
"""

from __future__ import annotations

import logging
from typing import Any

from allauth.account.models import EmailAddress
from allauth.core.exceptions import ImmediateHttpResponse
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from allauth.socialaccount.models import SocialApp, SocialLogin
from allauth.socialaccount.providers.base import AuthProcess
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from organizations.models import User
from sso import crypto, policy
from sso.models import Connection

logger = logging.getLogger("sso")

# SAML attribute names for the address and the name, as Okta, Entra ID, Google and Keycloak send them.
SAML_ATTRIBUTES = {
    "uid": ["urn:oasis:names:tc:SAML:attribute:subject-id"],
    "email": [
        "email",
        "mail",
        "Email",
        "urn:oid:0.9.2342.19200300.100.1.3",
        "urn:oid:1.2.840.113549.1.9.1",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
        "urn:mace:dir:attribute-def:mail",
    ],
    "name": [
        "displayName", "name", "http://schemas.microsoft.com/identity/claims/displayname",
        "urn:oid:2.16.840.1.113730.3.1.241", "urn:mace:dir:attribute-def:displayName",
    ],
    "first_name": ["firstName", "givenName", "urn:oid:2.5.4.42", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/givenname"],
    "last_name": ["lastName", "sn", "urn:oid:2.5.4.4", "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/surname"],
}  # fmt: skip


def social_app(connection: Connection) -> SocialApp:
    """The allauth app of a connection (unsaved: allauth uses such apps as its settings-based ones)."""
    name = connection.organization.name
    if connection.protocol == Connection.Protocol.OIDC:
        return SocialApp(
            provider="openid_connect",
            provider_id=connection.provider_id,
            name=name,
            client_id=connection.client_id,
            secret=crypto.decrypt(connection.client_secret_encrypted),
            settings={
                "server_url": connection.issuer_url,
                # Who signs in is read from the signed ID token alone (sso.oidc checks its signature).
                "fetch_userinfo": False,
                "oauth_pkce_enabled": True,
            },
        )
    urls = connection.urls()
    return SocialApp(
        provider="saml",
        provider_id=connection.provider_id,
        name=name,
        client_id=connection.provider_id,
        settings={
            "idp": {
                "entity_id": connection.idp_entity_id,
                "sso_url": connection.idp_sso_url,
                "x509cert": connection.idp_x509cert,
            },
            "sp": {"entity_id": urls["entity_id"]},
            "attribute_mapping": SAML_ATTRIBUTES,
            "advanced": {
                "strict": True,
                "want_assertion_signed": True,
                "reject_idp_initiated_sso": True,
                "reject_deprecated_algorithm": True,
                # Development and tests only (SSO_ALLOW_PRIVATE_URLS): hosts such as localhost.
                "allow_single_label_domains": settings.SSO_ALLOW_PRIVATE_URLS,
            },
        },
    )


def _email_of(sociallogin: SocialLogin) -> str:
    user = sociallogin.user
    email = (getattr(user, "email", "") or "").strip().lower()
    if not email and sociallogin.email_addresses:
        email = sociallogin.email_addresses[0].email.strip().lower()
    return email


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def list_apps(self, request: HttpRequest | None, provider: str | None = None, client_id: str | None = None) -> list:
        """allauth's apps (none are configured) and one per organization's connection."""
        apps = super().list_apps(request, provider=provider, client_id=client_id)
        return apps + [social_app(c) for c in policy.connections_for_apps(provider, client_id)]

    def is_open_for_signup(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        # Reached only after pre_social_login accepted the address: the organization vouches for it.
        return True

    def is_auto_signup_allowed(self, request: HttpRequest, sociallogin: SocialLogin) -> bool:
        return True

    def populate_user(self, request: HttpRequest, sociallogin: SocialLogin, data: dict[str, Any]) -> Any:
        user = super().populate_user(request, sociallogin, data)
        name = data.get("name") or " ".join(p for p in (data.get("first_name"), data.get("last_name")) if p)
        user.name = (name or "")[:150]
        user.email = (user.email or "").lower()
        return user

    def pre_social_login(self, request: HttpRequest, sociallogin: SocialLogin) -> None:
        """Refuse an address outside the connection's organization's active domains; make or link the account."""
        connection = policy.connection_for_provider(sociallogin.provider.app.provider_id)
        if sociallogin.state.get("process", AuthProcess.LOGIN) != AuthProcess.LOGIN:
            # Only sign-ins: "connect this IdP account to the account I am logged in as" is not offered.
            logger.warning("SSO %s through %s refused: only logins", sociallogin.state.get("process"), connection)
            self._refuse(request, _("Single sign-on only signs you in."))
        email = _email_of(sociallogin)
        domain = policy.active_domain_for(email)
        if connection is None or not connection.enabled:
            logger.warning("SSO login refused: the connection %s is not live", sociallogin.provider.app.provider_id)
            self._refuse(request, _("Single sign-on is not available for this organization any more."))
        if domain is None or domain.organization_id != connection.organization_id:
            logger.warning(
                "SSO login through %s refused: the identity provider returned an address at %s",
                connection.pk,
                policy.domain_of(email) or "no domain",
            )
            self._refuse(
                request,
                _("Your identity provider signed you in as an address that is not at a domain of %(org)s.")
                % {"org": connection.organization.name},
            )
        if sociallogin.is_existing:
            # Linked before: the IdP's account still has to be the same address (it may have been renamed).
            if sociallogin.user.email != email:
                self._refuse(request, _("This identity provider account belongs to another address."))
            return
        # The organization proved the domain: its identity provider vouches for the address.
        sociallogin.email_addresses = [EmailAddress(email=email, verified=True, primary=True)]
        sociallogin.user.email = email
        existing = User.objects.filter(email=email).first()
        if existing is not None:
            _claim(existing, email)
            sociallogin.connect(request, existing)

    def on_authentication_error(
        self,
        request: HttpRequest,
        provider: Any,
        error: Any = None,
        exception: Any = None,
        extra_context: Any = None,
    ) -> None:
        """Why a return from an identity provider was refused (a bad signature, audience, expiry, state…)."""
        reason = (extra_context or {}).get("saml_last_error_reason") or (str(exception) if exception else "")
        if exception is not None and exception.__cause__ is not None:
            reason += f" ({exception.__cause__})"  # PyJWT's reason: audience, expiry, signature
        logger.warning(
            "SSO sign-in through %s refused: %s %s %s",
            getattr(provider.app, "provider_id", None) or provider.id,
            error or "error",
            type(exception).__name__ if exception else "",
            reason[:300],
        )

    def _refuse(self, request: HttpRequest, message: str) -> None:
        messages.error(request, message)
        raise ImmediateHttpResponse(redirect("sso-login"))


def _claim(user: User, email: str) -> None:
    """The account with the address becomes the SSO person's. If that address was never verified, its
    password goes: whoever chose it never proved the address (a squatter's account must not be a way in)."""
    if not EmailAddress.objects.filter(user=user, email=email, verified=True).exists():
        user.set_unusable_password()
        user.save(update_fields=["password"])
        EmailAddress.objects.filter(user=user).exclude(email=email).update(primary=False)
        EmailAddress.objects.update_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
        logger.info("SSO login claimed the unverified account %s", user.pk)
