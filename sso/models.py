"""Single sign-on: an organization's connection to its identity provider, and the email domains it proved.

A person whose address is at an organization's *active* domain may sign in through that
organization's connection (OpenID Connect or SAML) and joins it just in time. With
`enforce_sso`, passwords stop working for that domain, except for the organization's
super_admins (the break-glass, with their second factor).
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from organizations.models import Organization
from organizations.roles import Role

# The roles a connection may give new members: anything but super_admin.
JOIN_ROLES = tuple(role for role in Role.values if role != Role.SUPER_ADMIN)
TXT_PREFIX = "_capgo-sso"
TXT_VALUE_PREFIX = "capgo-sso-verification="


def new_slug() -> str:
    # Public: it is in the callback, ACS and metadata URLs the identity provider's admin copies.
    return secrets.token_hex(6)


def new_token() -> str:
    return secrets.token_urlsafe(24)


class Connection(models.Model):
    """An organization's identity provider. One per organization; live only once tested and turned on."""

    class Protocol(models.TextChoices):
        OIDC = "oidc", _("OpenID Connect")
        SAML = "saml", _("SAML 2.0")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.OneToOneField(Organization, on_delete=models.CASCADE, related_name="sso_connection")
    slug = models.CharField(max_length=32, unique=True, default=new_slug, editable=False)
    protocol = models.CharField(_("protocol"), max_length=8, choices=Protocol.choices)
    # OpenID Connect: the issuer (its discovery document is at <issuer>/.well-known/openid-configuration).
    issuer_url = models.URLField(_("issuer URL"), max_length=500, blank=True)
    client_id = models.CharField(_("client ID"), max_length=255, blank=True)
    # Fernet-encrypted (sso.crypto); never shown or logged once entered.
    client_secret_encrypted = models.TextField(blank=True, editable=False)
    # SAML: the IdP's metadata, from a URL or pasted; what the last test parsed out of it is what logins use.
    idp_metadata_url = models.URLField(_("IdP metadata URL"), max_length=500, blank=True)
    idp_metadata_xml = models.TextField(_("IdP metadata XML"), blank=True)
    idp_entity_id = models.CharField(max_length=500, blank=True, editable=False)
    idp_sso_url = models.URLField(max_length=500, blank=True, editable=False)
    idp_x509cert = models.TextField(blank=True, editable=False)
    default_role = models.CharField(_("role of new members"), max_length=20, choices=Role.choices, default=Role.READ)
    enabled = models.BooleanField(_("live"), default=False)
    tested_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.CharField(max_length=500, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("single sign-on connection")
        verbose_name_plural = _("single sign-on connections")
        constraints = [
            models.CheckConstraint(condition=Q(default_role__in=JOIN_ROLES), name="sso_default_role_not_super_admin"),
            models.CheckConstraint(
                condition=Q(enabled=False) | Q(tested_at__isnull=False), name="sso_live_only_tested"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_protocol_display()} · {self.organization_id}"

    @property
    def provider_id(self) -> str:
        """allauth's provider id (OpenID Connect) and organization slug (SAML) of this connection."""
        return f"sso-{self.slug}"

    @property
    def has_secret(self) -> bool:
        return bool(self.client_secret_encrypted)

    def urls(self) -> dict[str, str]:
        """What the identity provider's admin copies into it, absolute from SITE_URL."""
        site = settings.SITE_URL
        if self.protocol == self.Protocol.OIDC:
            return {
                "redirect_uri": site + reverse("openid_connect_callback", kwargs={"provider_id": self.provider_id}),
                "login_uri": site + reverse("sso-login"),
            }
        return {
            "entity_id": site + reverse("saml_metadata", kwargs={"organization_slug": self.provider_id}),
            "metadata_url": site + reverse("saml_metadata", kwargs={"organization_slug": self.provider_id}),
            "acs_url": site + reverse("saml_acs", kwargs={"organization_slug": self.provider_id}),
            "login_uri": site + reverse("sso-login"),
        }

    def snapshot(self) -> dict[str, Any]:
        """What the audit log keeps: the configuration, never the secret (only whether one is set)."""
        return {
            "kind": "connection",
            "id": str(self.pk),
            "protocol": self.protocol,
            "issuer_url": self.issuer_url or None,
            "client_id": self.client_id or None,
            "client_secret_set": self.has_secret,
            "idp_metadata_url": self.idp_metadata_url or None,
            "idp_metadata_xml_set": bool(self.idp_metadata_xml),
            "idp_entity_id": self.idp_entity_id or None,
            "idp_sso_url": self.idp_sso_url or None,
            "default_role": self.default_role,
            "enabled": self.enabled,
            "tested": self.tested_at is not None,
        }


class Domain(models.Model):
    """An email domain an organization claims, proved by a DNS TXT record.

    pending → verified (the TXT record was found) → active (its people sign in through the
    connection) ⇄ disabled. Claims may overlap while pending; once one organization proves the
    domain, nobody else can.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending verification")
        VERIFIED = "verified", _("Verified")
        ACTIVE = "active", _("Active")
        DISABLED = "disabled", _("Disabled")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="sso_domains")
    domain = models.CharField(_("domain"), max_length=253)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    enforce_sso = models.BooleanField(_("require single sign-on"), default=False)
    verification_token = models.CharField(max_length=64, default=new_token, editable=False)
    verified_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("single sign-on domain")
        verbose_name_plural = _("single sign-on domains")
        ordering = ["domain"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "domain"], name="sso_domain_once_per_org"),
            # One organization per domain: whoever proved it first. Pending claims may overlap.
            models.UniqueConstraint(
                fields=["domain"], condition=~Q(status="pending"), name="sso_domain_one_proven_owner"
            ),
            models.CheckConstraint(condition=Q(enforce_sso=False) | Q(status="active"), name="sso_enforce_only_active"),
        ]

    def __str__(self) -> str:
        return self.domain

    @property
    def txt_name(self) -> str:
        return f"{TXT_PREFIX}.{self.domain}"

    @property
    def txt_value(self) -> str:
        return TXT_VALUE_PREFIX + self.verification_token

    def snapshot(self) -> dict[str, Any]:
        return {
            "kind": "domain",
            "id": str(self.pk),
            "domain": self.domain,
            "status": self.status,
            "enforce_sso": self.enforce_sso,
        }
