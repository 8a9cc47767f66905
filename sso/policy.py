"""Who signs in how: the one answer to "does single sign-on apply to this address?".

The login page, the password login, the password reset, the sign-up and the return from an
identity provider all ask here.
"""

from __future__ import annotations

from django.db.models import Q

from accounts.mfa import has_second_factor
from organizations.models import Membership, User
from organizations.roles import Role
from sso.models import Connection, Domain


def domain_of(email: str | None) -> str:
    return (email or "").rpartition("@")[2].strip().lower().rstrip(".")


def _live(qs):  # noqa: ANN001, ANN202 - a Domain queryset
    return qs.filter(status=Domain.Status.ACTIVE, organization__sso_connection__enabled=True)


def active_domain_for(email: str | None) -> Domain | None:
    """The active domain of the address, when its organization's connection is live."""
    domain = domain_of(email)
    if not domain:
        return None
    return _live(Domain.objects.filter(domain=domain)).select_related("organization__sso_connection").first()


def enforced_domain_for(email: str | None) -> Domain | None:
    """The domain whose organization requires single sign-on for this address, if any.

    Only while its connection is live: turning the connection off gives passwords back.
    """
    domain = domain_of(email)
    if not domain:
        return None
    return _live(Domain.objects.filter(domain=domain, enforce_sso=True)).select_related("organization").first()


def is_break_glass(user: User | None, domain: Domain) -> bool:
    """The organization's super_admins keep their password, with a second factor, for when the IdP is down."""
    if user is None:
        return False
    is_super_admin = Membership.objects.filter(
        organization_id=domain.organization_id, user=user, role=Role.SUPER_ADMIN
    ).exists()
    return is_super_admin and has_second_factor(user)


def password_refused(user: User | None, email: str | None) -> Domain | None:
    """The enforced domain that refuses a password login by `user` at `email`; None when it may go ahead."""
    domain = enforced_domain_for(email)
    if domain is None or is_break_glass(user, domain):
        return None
    return domain


def connection_for_provider(provider_id: str | None) -> Connection | None:
    """The connection behind an allauth provider id (`sso-<slug>`), live or not."""
    if not provider_id or not provider_id.startswith("sso-"):
        return None
    return Connection.objects.select_related("organization").filter(slug=provider_id[4:]).first()


def connections_for_apps(provider: str | None = None, client_id: str | None = None) -> list[Connection]:
    """The connections allauth asks for by provider (`openid_connect`, `saml` or `sso-<slug>`) and client id.

    Configured ones, live or not: the SAML metadata must be served before the connection goes live,
    and the return from the IdP refuses a connection that is not live (accounts.sso_adapter).
    """
    if not client_id and (provider is None or provider in PROTOCOL_OF):
        # A listing (allauth's "third-party accounts" page, a provider menu): no organization's
        # connection is offered to everyone; each is reached by its own id only.
        return []
    qs = Connection.objects.select_related("organization")
    if provider in PROTOCOL_OF:
        qs = qs.filter(protocol=PROTOCOL_OF[provider])
    elif provider:
        if not provider.startswith("sso-"):
            return []
        qs = qs.filter(slug=provider[4:])
    if client_id:
        # OpenID Connect apps are found by their client id; SAML ones by the slug in their URLs.
        qs = qs.filter(
            Q(protocol=Connection.Protocol.OIDC, client_id=client_id)
            | Q(protocol=Connection.Protocol.SAML, slug=client_id.removeprefix("sso-"))
        )
    return list(qs)


PROTOCOL_OF = {"openid_connect": Connection.Protocol.OIDC, "saml": Connection.Protocol.SAML}
