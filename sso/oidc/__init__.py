"""allauth's OpenID Connect provider, with the ID token's signature always checked.

allauth skips the signature of an ID token that came straight from the token endpoint (OpenID
Connect allows that over TLS). Here it is always checked, against the IdP's JWKS, with an
asymmetric algorithm only: a token endpoint that is misconfigured, or not the IdP, cannot sign
someone in. The settings swap it in (SOCIALACCOUNT_PROVIDERS["openid_connect"]["provider_class"]);
the URLs and their names stay allauth's.
"""
