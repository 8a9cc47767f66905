"""Whether a person has a second factor: an authenticator app or a passkey / security key (allauth.mfa).

Recovery codes alone are not one: they only stand in for a lost factor.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from allauth.mfa.models import Authenticator
from django.db.models import Exists, OuterRef

if TYPE_CHECKING:
    from organizations.models import User

SECOND_FACTOR_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


def second_factor_exists(user_ref: str = "pk") -> Exists:
    """SQL EXISTS for "the user at `user_ref` has a second factor", to annotate a query with."""
    return Exists(Authenticator.objects.filter(user_id=OuterRef(user_ref), type__in=SECOND_FACTOR_TYPES))


def has_second_factor(user: User) -> bool:
    return Authenticator.objects.filter(user_id=user.pk, type__in=SECOND_FACTOR_TYPES).exists()
