"""API key material: generate, hash, verify. Plain Python, no Django.

A key is `capgo_` + 8 lookup characters + `_` + 43 secret characters (token_urlsafe(32),
256 bits). The prefix makes leaked keys easy to spot; the lookup part finds the row through
an index; only the SHA-256 of the whole key is stored. A fast hash is right here because the
secret has far too much entropy to brute-force, and a key check must cost microseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from typing import NamedTuple

KEY_PREFIX = "capgo_"
LOOKUP_LENGTH = 8
_LOOKUP_ALPHABET = string.ascii_lowercase + string.digits
_KEY_RE = re.compile(r"^capgo_([a-z0-9]{8})_[A-Za-z0-9_-]{43}$")


class NewKey(NamedTuple):
    plaintext: str
    lookup: str  # the non-secret part that identifies the key (shown as key_preview)
    digest: str


def hash_key(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


def generate_key() -> NewKey:
    lookup = "".join(secrets.choice(_LOOKUP_ALPHABET) for _ in range(LOOKUP_LENGTH))
    plaintext = f"{KEY_PREFIX}{lookup}_{secrets.token_urlsafe(32)}"
    return NewKey(plaintext, lookup, hash_key(plaintext))


def parse_lookup(presented: str) -> str | None:
    """The lookup part of a well-formed key, or None for anything that cannot be a key."""
    match = _KEY_RE.fullmatch(presented)  # not match(): its `$` would accept a trailing newline
    return match.group(1) if match else None


def preview(lookup: str) -> str:
    return f"{KEY_PREFIX}{lookup}…"


def verify(presented: str, stored_digest: str) -> bool:
    """Constant-time comparison of the presented key's digest with the stored one."""
    return hmac.compare_digest(hash_key(presented), stored_digest)
