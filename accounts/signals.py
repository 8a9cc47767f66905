"""Receivers for allauth's account events."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import password_reset, user_logged_in
from django.dispatch import receiver

from accounts.adapter import REVIEW_KEYS
from sso import policy
from sso import services as sso_services


@receiver(password_reset)
def review_keys_after_a_reset(sender: Any, request: Any, **kwargs: Any) -> None:
    """Whoever held the account before the reset may have made keys: show them at the next login."""
    request.session[REVIEW_KEYS] = True


@receiver(user_logged_in)
def join_through_single_sign_on(sender: Any, request: Any, user: Any, sociallogin: Any = None, **kwargs: Any) -> None:
    """Signed in through an organization's identity provider: a member of it from now on (just in time)."""
    if sociallogin is None:
        return
    connection = policy.connection_for_provider(sociallogin.provider.app.provider_id)
    if connection is not None and connection.enabled:
        sso_services.member_join(connection=connection, user=user)
