"""The test OpenID provider's claims, and the ways a provider can go wrong, chosen by the IdP user's name.

`wrongaud-…` gets an ID token for another client, `expired-…` one that expired half an hour ago,
`unsigned-…` one with `alg: none`, `forged-…` one signed by a key that is not in the JWKS. Every
other user gets a correct token, signed with the provider's RSA key.
"""

from __future__ import annotations

import base64
import json
import time

from jwcrypto import jwk, jwt
from oauth2_provider.oauth2_validators import OAuth2Validator


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


class Validator(OAuth2Validator):
    oidc_claim_scope = None  # every claim, whatever the scopes

    def get_additional_claims(self, request):  # noqa: ANN001, ANN201
        user = request.user
        return {"email": user.email, "email_verified": True, "name": user.first_name or user.username}

    def finalize_id_token(self, id_token, token, token_handler, request):  # noqa: ANN001, ANN201
        claims, expiration_time = self.get_id_token_dictionary(token, token_handler, request)
        id_token.update(**claims)
        mode = request.user.username.partition("-")[0]
        if mode == "wrongaud":
            id_token["aud"] = "another-client"
        elif mode == "expired":
            id_token["iat"], id_token["exp"] = int(time.time()) - 3600, int(time.time()) - 1800
        key = request.client.jwk_key
        header = {"typ": "JWT", "alg": "RS256", "kid": key.thumbprint()}
        if mode == "unsigned":
            serialized = f"{_b64({'typ': 'JWT', 'alg': 'none'})}.{_b64(id_token)}."
        else:
            signer = jwk.JWK.generate(kty="RSA", size=2048) if mode == "forged" else key
            token_jwt = jwt.JWT(header=json.dumps(header), claims=json.dumps(id_token, default=str))
            token_jwt.make_signed_token(signer)
            serialized = token_jwt.serialize()
        saved = self._save_id_token(id_token["jti"], request, expiration_time)
        request.access_token = request.id_token = saved
        return serialized
