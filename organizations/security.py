"""An organization's security policies: the password policy's rules and fingerprint.

Who complies, and what a member who does not may still do, is decided in `access.py` with the
other access rules; this module only says what a policy is and whether a password meets it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

POLICY_FIELDS = ("enabled", "min_length", "require_uppercase", "require_number", "require_special")
MIN_LENGTH_RANGE = (6, 72)
SPECIAL = "!@#$%^&*()_+-=[]{};':\"\\|,.<>/?"
# bcrypt and Capgo's own rule stop at 72 bytes; a longer password cannot be checked the same way.
MAX_PASSWORD_BYTES = 72


def policy_errors(config: Any) -> dict[str, list[str]]:
    """Why `config` is not a valid policy object (empty: it is). JSON types are checked strictly."""
    if not isinstance(config, dict):
        return {"password_policy_config": [_("Must be an object or null.")]}
    errors: dict[str, list[str]] = {}
    for field in sorted(set(config) - set(POLICY_FIELDS)):
        errors[field] = [_("Unknown field.")]
    for field in POLICY_FIELDS:
        if field not in config:
            errors[field] = [_("This field is required.")]
        elif field == "min_length":
            value = config[field]
            low, high = MIN_LENGTH_RANGE
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                errors[field] = [_("An integer from %(low)d to %(high)d.") % {"low": low, "high": high}]
        elif not isinstance(config[field], bool):
            errors[field] = [_("Must be true or false.")]
    return errors


@dataclass(frozen=True)
class PasswordPolicy:
    min_length: int
    require_uppercase: bool
    require_number: bool
    require_special: bool
    fingerprint: str

    def problems(self, password: str) -> list[str]:
        """What `password` lacks under this policy, as sentences for the person (empty: it complies)."""
        found = []
        if len(password) < self.min_length:
            found.append(_("at least %(count)d characters") % {"count": self.min_length})
        if len(password.encode()) > MAX_PASSWORD_BYTES:
            found.append(_("at most %(count)d bytes") % {"count": MAX_PASSWORD_BYTES})
        if self.require_uppercase and not re.search(r"[A-Z]", password):
            found.append(_("an uppercase letter (A–Z)"))
        if self.require_number and not re.search(r"[0-9]", password):
            found.append(_("a digit"))
        if self.require_special and not any(char in SPECIAL for char in password):
            found.append(_("one of %(characters)s") % {"characters": SPECIAL})
        return found

    def describe(self) -> list[str]:
        """What the policy asks for, in the words `problems` uses."""
        return self.problems("")[:1] + [
            text
            for flag, text in (
                (self.require_uppercase, _("an uppercase letter (A–Z)")),
                (self.require_number, _("a digit")),
                (self.require_special, _("one of %(characters)s") % {"characters": SPECIAL}),
            )
            if flag
        ]


def policy_fingerprint(config: dict[str, Any]) -> str:
    """A digest of the policy's values: a member's stored fingerprint stops matching when any changes."""
    canonical = json.dumps({field: config[field] for field in POLICY_FIELDS}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def password_policy(config: dict[str, Any] | None) -> PasswordPolicy | None:
    """The policy in force for a stored config; None when there is none or it is switched off."""
    if not config or not config.get("enabled") or policy_errors(config):
        return None
    return PasswordPolicy(
        min_length=config["min_length"],
        require_uppercase=config["require_uppercase"],
        require_number=config["require_number"],
        require_special=config["require_special"],
        fingerprint=policy_fingerprint(config),
    )
