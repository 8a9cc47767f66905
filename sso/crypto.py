"""Connection secrets at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a key derived from SSO_SECRET_KEY."""

from __future__ import annotations

import base64
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


@cache
def _fernet(secret_key: str) -> Fernet:
    # A key of its own (HKDF), so this ciphertext never shares a key with Django's signing.
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"capgo-org sso connection secrets").derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def encrypt(plaintext: str) -> str:
    return _fernet(settings.SSO_SECRET_KEY).encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    """The plaintext; empty when there is none or the key changed since it was stored."""
    if not ciphertext:
        return ""
    try:
        return _fernet(settings.SSO_SECRET_KEY).decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        return ""
