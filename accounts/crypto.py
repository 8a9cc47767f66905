"""Secrets kept in the database but needed back in clear: encrypted, with a key per purpose.

Fernet (AES-128-CBC with HMAC-SHA256). Each purpose derives its own key (HKDF) from a secret
setting, so no two kinds of ciphertext, nor Django's signing, share a key. Older keys in the list
still decrypt, so a key can be rotated the way Django rotates SECRET_KEY.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

MFA_PREFIX = "fernet:"


@cache
def _fernet(secret_key: str, purpose: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=f"capgo-org {purpose}".encode()).derive(
        secret_key.encode()
    )
    return Fernet(base64.urlsafe_b64encode(derived))


def fernet_for(purpose: str, secret_keys: Sequence[str]) -> MultiFernet:
    """Encrypts with the first key; decrypts with any of them."""
    return MultiFernet([_fernet(key, purpose) for key in secret_keys])


# allauth.mfa's secrets (TOTP keys, recovery-code seeds), through accounts.adapter.MFAAdapter.


def _mfa() -> MultiFernet:
    return fernet_for("second-factor secrets", [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS])


def encrypt(text: str) -> str:
    return MFA_PREFIX + _mfa().encrypt(text.encode()).decode()


def decrypt(stored: str) -> str:
    """The clear text; a value stored before encryption (no prefix) comes back as it is."""
    if not stored.startswith(MFA_PREFIX):
        return stored
    try:
        return _mfa().decrypt(stored[len(MFA_PREFIX) :].encode()).decode()
    except InvalidToken:
        raise ValueError("A stored secret cannot be decrypted with SECRET_KEY or SECRET_KEY_FALLBACKS") from None
