"""Secrets kept in the database but needed back in clear (a TOTP key, a recovery-code seed): encrypted.

Fernet (AES-128-CBC with an HMAC) with a key derived from SECRET_KEY, so a copy of the database
alone does not hand over anyone's second factor. SECRET_KEY_FALLBACKS still decrypt, so the
secret key can be rotated the way Django rotates it.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

PREFIX = "fernet:"


def _fernet(secret_key: str) -> Fernet:
    digest = hashlib.sha256(b"capgo-org stored secrets\x00" + secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def _keys() -> MultiFernet:
    return MultiFernet([_fernet(key) for key in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]])


def encrypt(text: str) -> str:
    return PREFIX + _keys().encrypt(text.encode()).decode()


def decrypt(stored: str) -> str:
    """The clear text; a value stored before encryption (no prefix) comes back as it is."""
    if not stored.startswith(PREFIX):
        return stored
    try:
        return _keys().decrypt(stored[len(PREFIX) :].encode()).decode()
    except InvalidToken:
        raise ValueError("A stored secret cannot be decrypted with SECRET_KEY or SECRET_KEY_FALLBACKS") from None
