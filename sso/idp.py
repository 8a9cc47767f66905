"""Talking to an identity provider before anyone signs in through it: "Test the connection".

OpenID Connect: the discovery document at <issuer>/.well-known/openid-configuration must name the
same issuer and its endpoints, and its JWKS must hold a key that can check signatures. SAML: the
IdP's metadata (from its URL or as pasted) must name an entity id, a single sign-on URL for the
HTTP-Redirect binding and a signing certificate; those parsed values are what logins then use,
so no login waits for (or trusts a change of) the metadata URL.

URLs an organization enters are fetched by the server, so they must be https on public addresses
(the SSRF guard of the webhooks), unless SSO_ALLOW_PRIVATE_URLS (development and tests).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.utils.translation import gettext as _
from jwt import PyJWKSet
from jwt.exceptions import PyJWKError, PyJWKSetError
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.idp_metadata_parser import OneLogin_Saml2_IdPMetadataParser

from sso.exceptions import ConnectionTestFailed, InvalidIdpUrl
from webhooks import transport

TIMEOUT_SECONDS = 10
MAX_DOCUMENT_BYTES = 1024 * 1024


def check_url(url: str, label: str, *, unresolved_ok: bool = False) -> None:
    """Refuse a URL the server should not fetch: not https, an IP literal, or a private address.

    With `unresolved_ok` (saving), a name that does not resolve yet passes: it is fetched only by the
    test and by logins, and checked again each time the test fetches it.
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
    except ValueError:
        raise InvalidIdpUrl(_("%(label)s is not a valid URL.") % {"label": label}) from None
    if parts.scheme not in ("https", "http") or not host:
        raise InvalidIdpUrl(_("%(label)s must be an https URL.") % {"label": label})
    if settings.SSO_ALLOW_PRIVATE_URLS:
        return
    if parts.scheme != "https":
        raise InvalidIdpUrl(_("%(label)s must be an https URL.") % {"label": label})
    try:
        ipaddress.ip_address(host)
    except ValueError:
        pass
    else:
        raise InvalidIdpUrl(_("%(label)s must use a host name, not an IP address.") % {"label": label})
    try:
        addresses = transport.resolve(host)
    except transport.InvalidUrl:
        if unresolved_ok:
            return
        raise InvalidIdpUrl(_("%(label)s: its host name does not resolve.") % {"label": label}) from None
    if not all(transport.is_public(ipaddress.ip_address(a)) for a in addresses):
        raise InvalidIdpUrl(_("%(label)s must point to a public host.") % {"label": label})


def _get(url: str, label: str) -> requests.Response:
    check_url(url, label)
    try:
        # No redirects: the checked URL is the one fetched.
        response = requests.get(url, timeout=TIMEOUT_SECONDS, allow_redirects=False, stream=True)
        body = response.raw.read(MAX_DOCUMENT_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise ConnectionTestFailed(
            _("%(label)s could not be fetched: %(reason)s") % {"label": label, "reason": type(exc).__name__}
        ) from exc
    if response.status_code != 200:
        raise ConnectionTestFailed(
            _("%(label)s answered HTTP %(status)s.") % {"label": label, "status": response.status_code}
        )
    if len(body) > MAX_DOCUMENT_BYTES:
        raise ConnectionTestFailed(_("%(label)s is larger than 1 MiB.") % {"label": label})
    response._content = body
    return response


def _json(response: requests.Response, label: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ConnectionTestFailed(_("%(label)s is not a JSON object.") % {"label": label})
    return data


def discovery_url(issuer_url: str) -> str:
    return issuer_url.rstrip("/") + "/.well-known/openid-configuration"


def test_oidc(issuer_url: str) -> None:
    """Discovery, then the JWKS. Raises ConnectionTestFailed with what is wrong."""
    label = _("The discovery document")
    config = _json(_get(discovery_url(issuer_url), label), label)
    if config.get("issuer", "").rstrip("/") != issuer_url.rstrip("/"):
        raise ConnectionTestFailed(
            _("The discovery document names another issuer (%(found)s): enter exactly that issuer URL.")
            % {"found": str(config.get("issuer"))[:200]}
        )
    missing = [key for key in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not config.get(key)]
    if missing:
        raise ConnectionTestFailed(_("The discovery document has no %(fields)s.") % {"fields": ", ".join(missing)})
    label = _("The signing keys (JWKS)")
    jwks = _json(_get(config["jwks_uri"], label), label)
    try:
        keys = PyJWKSet.from_dict(jwks).keys
    except (PyJWKError, PyJWKSetError):
        keys = []
    if not any(key.key_type in ("RSA", "EC", "OKP") and key.public_key_use in (None, "sig") for key in keys):
        raise ConnectionTestFailed(_("The JWKS holds no public key for checking signatures."))


@dataclass(frozen=True)
class SamlIdp:
    entity_id: str
    sso_url: str
    x509cert: str


def fetch_saml_metadata(url: str) -> str:
    label = _("The IdP metadata URL")
    return _get(url, label).content.decode("utf-8", "replace")


def parse_saml_metadata(xml: str) -> SamlIdp:
    """The IdP's entity id, its HTTP-Redirect single sign-on URL and signing certificate."""
    try:
        parsed = OneLogin_Saml2_IdPMetadataParser.parse(
            xml.encode(), required_sso_binding=OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT
        )
    except Exception as exc:  # lxml and the parser raise many kinds for a bad document
        raise ConnectionTestFailed(_("The IdP metadata is not valid SAML metadata XML.")) from exc
    idp = parsed.get("idp") or {}
    entity_id = idp.get("entityId")
    sso_url = (idp.get("singleSignOnService") or {}).get("url")
    cert = idp.get("x509cert") or next(iter((idp.get("x509certMulti") or {}).get("signing") or []), None)
    if not entity_id:
        raise ConnectionTestFailed(_("The IdP metadata names no entity ID."))
    if not sso_url:
        raise ConnectionTestFailed(_("The IdP metadata has no single sign-on URL for the HTTP-Redirect binding."))
    if not cert:
        raise ConnectionTestFailed(_("The IdP metadata holds no signing certificate."))
    return SamlIdp(entity_id=entity_id, sso_url=sso_url, x509cert=cert)
