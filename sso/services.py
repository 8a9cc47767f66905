"""Every write about single sign-on that has a rule. Each runs in one transaction with its `sso`
audit event (never a secret: only whether one is set). Network work (testing the connection,
the DNS proof) happens before the transaction: a slow identity provider or DNS holds no lock.

Callers have already checked that the actor may (Action.MANAGE_SSO, or staff in the admin).
"""

from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from allauth.socialaccount.models import SocialAccount
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.mfa import has_second_factor
from organizations import audit
from organizations.exceptions import Invalid
from organizations.models import AuditEvent, Membership, Organization, User
from organizations.roles import Principal, Role
from sso import crypto, dns, idp
from sso.exceptions import (
    ConnectionNotTested,
    ConnectionTestFailed,
    DomainNotFound,
    DomainNotVerified,
    DomainTaken,
    InvalidDomain,
    NoLiveConnection,
    Requires2FAToEnforceSso,
    WrongDomainStatus,
)
from sso.models import JOIN_ROLES, Connection, Domain

logger = logging.getLogger("sso")
Table = AuditEvent.Table
Op = AuditEvent.Operation


def _record(actor: Principal | None, org_id: str, obj: Connection | Domain, operation: str, old: Any, new: Any) -> None:
    audit.record(actor, org_id=org_id, table=Table.SSO, record_id=obj.pk, operation=operation, old=old, new=new)


# Connections -----------------------------------------------------------------------------

IDP_FIELDS = ("protocol", "issuer_url", "client_id", "client_secret_encrypted", "idp_metadata_url", "idp_metadata_xml")


def _idp_fingerprint(connection: Connection) -> str:
    """What a test vouches for: if any of it changes, the test no longer holds."""
    return hashlib.sha256("\x00".join(str(getattr(connection, f)) for f in IDP_FIELDS).encode()).hexdigest()


def connection_save(
    *,
    actor: Principal | None,
    org: Organization,
    protocol: str,
    issuer_url: str = "",
    client_id: str = "",
    client_secret: str | None = None,
    idp_metadata_url: str = "",
    idp_metadata_xml: str = "",
    default_role: str = Role.READ,
) -> Connection:
    """Create or change the organization's connection. A change of the identity provider takes it
    offline until it is tested again; `client_secret` None (or empty) keeps the stored one."""
    if default_role not in JOIN_ROLES:
        raise Invalid(_("New members cannot join as super admins."), details={"default_role": [default_role]})
    if protocol == Connection.Protocol.OIDC:
        if not issuer_url or not client_id:
            raise Invalid(_("Enter the issuer URL and the client ID."))
        idp.check_url(issuer_url, _("The issuer URL"), unresolved_ok=True)
        idp_metadata_url = idp_metadata_xml = ""
    elif protocol == Connection.Protocol.SAML:
        if bool(idp_metadata_url) == bool(idp_metadata_xml.strip()):
            raise Invalid(_("Enter the IdP metadata URL or paste its XML (one of them)."))
        if idp_metadata_url:
            idp.check_url(idp_metadata_url, _("The IdP metadata URL"), unresolved_ok=True)
        issuer_url = client_id = ""
        client_secret = None
    else:
        raise Invalid(_("Choose OpenID Connect or SAML."))
    with transaction.atomic():
        connection = Connection.objects.select_for_update().filter(organization=org).first()
        created = connection is None
        if created:
            if protocol == Connection.Protocol.OIDC and not client_secret:
                raise Invalid(_("Enter the client secret."), details={"client_secret": ["required"]})
            connection = Connection(organization=org, created_by=actor.user if actor else None)
        before = None if created else connection.snapshot()
        tested = None if created else _idp_fingerprint(connection)
        connection.protocol, connection.issuer_url, connection.client_id = protocol, issuer_url.strip(), client_id
        connection.idp_metadata_url, connection.idp_metadata_xml = idp_metadata_url, idp_metadata_xml.strip()
        if client_secret:
            connection.client_secret_encrypted = crypto.encrypt(client_secret)
        elif protocol == Connection.Protocol.SAML:
            connection.client_secret_encrypted = ""
        connection.default_role = default_role
        if _idp_fingerprint(connection) != tested:
            connection.enabled, connection.tested_at, connection.last_error = False, None, ""
            connection.idp_entity_id = connection.idp_sso_url = connection.idp_x509cert = ""
        connection.save()
        if before != connection.snapshot() or client_secret:
            after = connection.snapshot()
            if client_secret and not created:
                after["client_secret_changed"] = True
            _record(actor, org.id, connection, Op.INSERT if created else Op.UPDATE, before, after)
    logger.info("SSO connection %s of %s saved (%s)", connection.pk, org.id, protocol)
    return connection


def connection_test(*, actor: Principal | None, org: Organization) -> Connection:
    """Try the identity provider as a login would; the result (and what SAML metadata says) is kept.

    `last_error` says what failed; empty after a success, when the connection may go live.
    """
    connection = Connection.objects.filter(organization=org).first()
    if connection is None:
        raise NoLiveConnection(_("Set up the connection first."))
    fingerprint = _idp_fingerprint(connection)
    saml = None
    try:
        if connection.protocol == Connection.Protocol.OIDC:
            idp.test_oidc(connection.issuer_url)
            if not crypto.decrypt(connection.client_secret_encrypted):
                raise ConnectionTestFailed(_("The stored client secret cannot be read any more: enter it again."))
        else:
            xml = connection.idp_metadata_xml or idp.fetch_saml_metadata(connection.idp_metadata_url)
            saml = idp.parse_saml_metadata(xml)
        error = ""
    except Invalid as exc:  # ConnectionTestFailed, InvalidIdpUrl
        error = str(exc.message)[:500]
    with transaction.atomic():
        connection = Connection.objects.select_for_update().get(pk=connection.pk)
        if _idp_fingerprint(connection) != fingerprint:
            raise ConnectionTestFailed(_("The connection changed during the test: test it again."))
        before = connection.snapshot()
        connection.last_error = error
        connection.tested_at = None if error else timezone.now()
        if error:
            connection.enabled = False
        if saml is not None:
            connection.idp_entity_id, connection.idp_sso_url, connection.idp_x509cert = (
                saml.entity_id,
                saml.sso_url,
                saml.x509cert,
            )
        connection.save()
        if connection.snapshot() != before:
            _record(actor, org.id, connection, Op.UPDATE, before, connection.snapshot())
    logger.info("SSO connection %s of %s tested: %s", connection.pk, org.id, "failed" if error else "ok")
    return connection


def connection_set_live(*, actor: Principal | None, org: Organization, live: bool) -> Connection:
    """Turn the connection on (only once its current configuration passed a test) or off."""
    with transaction.atomic():
        connection = Connection.objects.select_for_update().filter(organization=org).first()
        if connection is None:
            raise NoLiveConnection(_("Set up the connection first."))
        if live and connection.tested_at is None:
            raise ConnectionNotTested()
        if connection.enabled == live:
            return connection
        before = connection.snapshot()
        connection.enabled = live
        connection.save(update_fields=["enabled", "updated_at"])
        _record(actor, org.id, connection, Op.UPDATE, before, connection.snapshot())
    return connection


def connection_delete(*, actor: Principal | None, org: Organization) -> None:
    """Remove the connection. Its domains stay proved (verified) but nobody signs in through them;
    the accounts linked to it keep existing, without the link."""
    with transaction.atomic():
        connection = Connection.objects.select_for_update().filter(organization=org).first()
        if connection is None:
            return
        for domain in Domain.objects.select_for_update().filter(
            organization=org, status__in=[Domain.Status.ACTIVE, Domain.Status.DISABLED]
        ):
            before = domain.snapshot()
            domain.status, domain.enforce_sso = Domain.Status.VERIFIED, False
            domain.save(update_fields=["status", "enforce_sso", "updated_at"])
            _record(actor, org.id, domain, Op.UPDATE, before, domain.snapshot())
        SocialAccount.objects.filter(provider=connection.provider_id).delete()
        _record(actor, org.id, connection, Op.DELETE, connection.snapshot(), None)
        connection.delete()


# Domains ---------------------------------------------------------------------------------

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_domain(value: str) -> str:
    """A lower-case domain name in its ASCII (IDNA) form, or InvalidDomain."""
    value = value.strip().lower().rstrip(".")
    if "@" in value:
        value = value.rpartition("@")[2]
    try:
        value = value.encode("idna").decode("ascii")
    except UnicodeError:
        raise InvalidDomain() from None
    labels = value.split(".")
    if len(value) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise InvalidDomain()
    if labels[-1].isdigit():
        raise InvalidDomain()
    return value


def domain_for(org: Organization, domain_id: Any) -> Domain:
    domain = Domain.objects.filter(organization=org, pk=domain_id).first()
    if domain is None:
        raise DomainNotFound()
    return domain


def domain_claim(*, actor: Principal | None, org: Organization, domain: str) -> Domain:
    """Claim a domain; it stays pending until its TXT record proves it. One organization owns a domain at most."""
    name = normalize_domain(domain)
    with transaction.atomic():
        if Domain.objects.filter(domain=name).exclude(status=Domain.Status.PENDING).exclude(organization=org).exists():
            raise DomainTaken()
        if Domain.objects.filter(domain=name, organization=org).exists():
            raise DomainTaken(_("This organization has claimed this domain already."))
        claimed = Domain.objects.create(organization=org, domain=name, created_by=actor.user if actor else None)
        _record(actor, org.id, claimed, Op.INSERT, None, claimed.snapshot())
    return claimed


def domain_verify(*, actor: Principal | None, org: Organization, domain: Domain) -> Domain:
    """Look for the TXT record; found, the domain is this organization's (unless another proved it first)."""
    if domain.status != Domain.Status.PENDING:
        raise WrongDomainStatus(_("This domain is verified already."))
    try:
        values = dns.txt_values(domain.txt_name)
    except dns.LookupFailed:
        raise DomainNotVerified(_("The DNS did not answer. Try again in a few minutes.")) from None
    if domain.txt_value not in values:
        raise DomainNotVerified(
            _("No TXT record %(name)s with the value %(value)s was found yet. DNS changes can take a while to appear.")
            % {"name": domain.txt_name, "value": domain.txt_value}
        )
    try:
        with transaction.atomic():
            domain = Domain.objects.select_for_update().get(pk=domain.pk)
            if domain.status != Domain.Status.PENDING:
                return domain
            if Domain.objects.filter(domain=domain.domain).exclude(status=Domain.Status.PENDING).exists():
                raise DomainTaken()
            before = domain.snapshot()
            domain.status, domain.verified_at = Domain.Status.VERIFIED, timezone.now()
            domain.save(update_fields=["status", "verified_at", "updated_at"])
            _record(actor, org.id, domain, Op.UPDATE, before, domain.snapshot())
    except IntegrityError:
        # Another organization's proof committed between our check and our write (the unique constraint).
        raise DomainTaken() from None
    return domain


def _change_domain(actor: Principal | None, org: Organization, domain: Domain, **changes: Any) -> Domain:
    domain = Domain.objects.select_for_update().get(pk=domain.pk)
    before = domain.snapshot()
    for field, value in changes.items():
        setattr(domain, field, value)
    if domain.snapshot() != before:
        domain.save(update_fields=[*changes, "updated_at"])
        _record(actor, org.id, domain, Op.UPDATE, before, domain.snapshot())
    return domain


def domain_activate(*, actor: Principal | None, org: Organization, domain: Domain) -> Domain:
    """People at an active domain sign in through the organization's live connection."""
    with transaction.atomic():
        current = Domain.objects.select_for_update().get(pk=domain.pk)
        if current.status not in (Domain.Status.VERIFIED, Domain.Status.DISABLED):
            raise WrongDomainStatus(_("Only a verified or disabled domain can be activated."))
        if not Connection.objects.filter(organization=org, enabled=True).exists():
            raise NoLiveConnection()
        return _change_domain(actor, org, current, status=Domain.Status.ACTIVE)


def domain_disable(*, actor: Principal | None, org: Organization, domain: Domain) -> Domain:
    """Stop single sign-on for the domain (and its enforcement); it stays this organization's."""
    with transaction.atomic():
        current = Domain.objects.select_for_update().get(pk=domain.pk)
        if current.status != Domain.Status.ACTIVE:
            raise WrongDomainStatus(_("Only an active domain can be disabled."))
        return _change_domain(actor, org, current, status=Domain.Status.DISABLED, enforce_sso=False)


def domain_set_enforced(
    *, actor: Principal | None, org: Organization, domain: Domain, enforce: bool, as_staff: bool = False
) -> Domain:
    """Require single sign-on for the domain's addresses (passwords refused but for the break-glass).

    Only on an active domain, and only by a super_admin with a second factor of their own, so that
    at least one person can still get in when the identity provider is down.
    """
    if enforce and actor is not None and not as_staff and not has_second_factor(actor.user):
        raise Requires2FAToEnforceSso()
    with transaction.atomic():
        current = Domain.objects.select_for_update().get(pk=domain.pk)
        if enforce and current.status != Domain.Status.ACTIVE:
            raise WrongDomainStatus(_("Activate the domain before requiring single sign-on."))
        return _change_domain(actor, org, current, enforce_sso=enforce)


def domain_delete(*, actor: Principal | None, org: Organization, domain: Domain) -> None:
    with transaction.atomic():
        domain = Domain.objects.select_for_update().get(pk=domain.pk)
        _record(actor, org.id, domain, Op.DELETE, domain.snapshot(), None)
        domain.delete()


# Just-in-time members --------------------------------------------------------------------


def member_join(*, connection: Connection, user: User) -> Membership:
    """The person signed in through the organization's identity provider: they are a member now,
    with the connection's role (never super_admin); an existing member keeps their role."""
    role = connection.default_role if connection.default_role in JOIN_ROLES else Role.READ
    with transaction.atomic():
        org = Organization.objects.select_for_update().get(pk=connection.organization_id)
        membership, created = Membership.objects.select_related("user").get_or_create(
            organization=org, user=user, defaults={"role": role}
        )
        if created:
            audit.record(
                Principal(user), org_id=org.id, table=Table.ORG_USERS, record_id=user.pk, operation=Op.INSERT,
                new=audit.membership_snapshot(membership),
            )  # fmt: skip
            logger.info("User %s joined %s through single sign-on as %s", user.pk, org.id, role)
    return membership
