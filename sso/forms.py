"""The single sign-on forms of the pages. The rules stay in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from organizations.roles import Role
from sso.models import JOIN_ROLES, Connection


class ConnectionForm(forms.Form):
    protocol = forms.ChoiceField(label=_("Protocol"), choices=Connection.Protocol.choices, widget=forms.RadioSelect)
    issuer_url = forms.URLField(
        label=_("Issuer URL"), required=False, max_length=500, assume_scheme="https",
        help_text=_("OpenID Connect: e.g. https://example.okta.com or https://login.microsoftonline.com/<tenant>/v2.0"),
    )  # fmt: skip
    client_id = forms.CharField(label=_("Client ID"), required=False, max_length=255)
    client_secret = forms.CharField(
        label=_("Client secret"), required=False, max_length=1000,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Stored encrypted and never shown again. Leave empty to keep the current one."),
    )  # fmt: skip
    idp_metadata_url = forms.URLField(
        label=_("IdP metadata URL"), required=False, max_length=500, assume_scheme="https",
        help_text=_("SAML: the identity provider's metadata URL, or paste its XML below."),
    )  # fmt: skip
    idp_metadata_xml = forms.CharField(
        label=_("IdP metadata XML"), required=False, max_length=200_000, widget=forms.Textarea(attrs={"rows": 4})
    )
    default_role = forms.ChoiceField(
        label=_("Role of new members"),
        choices=[(role, Role(role).label) for role in JOIN_ROLES],
        initial=Role.READ,
        help_text=_("People who sign in for the first time join with this role (never super admin)."),
    )

    @staticmethod
    def initial_for(connection: Connection | None) -> dict[str, Any]:
        if connection is None:
            return {"protocol": Connection.Protocol.OIDC, "default_role": Role.READ}
        return {
            "protocol": connection.protocol,
            "issuer_url": connection.issuer_url,
            "client_id": connection.client_id,
            "idp_metadata_url": connection.idp_metadata_url,
            "idp_metadata_xml": connection.idp_metadata_xml,
            "default_role": connection.default_role,
        }


class DomainForm(forms.Form):
    domain = forms.CharField(
        label=_("Email domain"), max_length=253, widget=forms.TextInput(attrs={"placeholder": "example.com"})
    )


class SsoLoginForm(forms.Form):
    email = forms.EmailField(
        label=_("Work email"),
        max_length=254,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
