"""Connection secrets at rest, encrypted under SSO_SECRET_KEY (accounts.crypto: a key of their own)."""

from __future__ import annotations

from cryptography.fernet import InvalidToken
from django.conf import settings

from accounts.crypto import fernet_for


def _vault():  # noqa: ANN202 - a MultiFernet
    return fernet_for("sso connection secrets", [settings.SSO_SECRET_KEY])


def encrypt(plaintext: str) -> str:
    return _vault().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    """The plaintext; empty when there is none or the key changed since it was stored."""
    if not ciphertext:
        return ""
    try:
        return _vault().decrypt(ciphertext.encode()).decode()
    except InvalidToken:
        return ""
