from __future__ import annotations

from allauth.socialaccount.providers.openid_connect.provider import OpenIDConnectProvider

from sso.oidc.views import SsoOpenIDConnectAdapter


class SsoOpenIDConnectProvider(OpenIDConnectProvider):
    oauth2_adapter_class = SsoOpenIDConnectAdapter
    package = "sso.oidc"  # allauth includes this package's urls.py


provider_classes = [SsoOpenIDConnectProvider]
