"""Whether a person's email address is verified. allauth's EmailAddress rows are the record.

An account whose address is not verified can do nothing in any organization and cannot hold
API keys: allauth refuses it a session, `authentication.key_for` refuses its keys, and
`services.invitation_accept` and `services.api_key_create` ask `is_verified`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from allauth.account.models import EmailAddress
from django.db import transaction
from django.db.models import Exists, OuterRef

if TYPE_CHECKING:
    from organizations.models import User


def verified_email_exists(user_ref: str = "pk") -> Exists:
    """SQL EXISTS for "the user at `user_ref` has a verified primary address", to annotate a query with."""
    return Exists(EmailAddress.objects.filter(user_id=OuterRef(user_ref), primary=True, verified=True))


def is_verified(user: User) -> bool:
    # The API-key lookup read the answer in its own statement this request (authentication.key_for).
    known = getattr(user, "email_verified", None)
    if known is not None:
        return known
    return EmailAddress.objects.filter(user_id=user.pk, primary=True, verified=True).exists()


def mark_verified(user: User) -> None:
    """Someone who may vouch for the address did: the operator (create_api_key, make run's demo),
    staff in the admin, or a link that only the address's owner received."""
    with transaction.atomic():
        EmailAddress.objects.filter(user_id=user.pk).exclude(email=user.email).update(primary=False)
        EmailAddress.objects.update_or_create(
            user_id=user.pk, email=user.email, defaults={"verified": True, "primary": True}
        )
