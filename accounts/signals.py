"""Receivers for allauth's account events."""

from __future__ import annotations

from typing import Any

from allauth.account.signals import password_reset
from django.dispatch import receiver

from accounts.adapter import REVIEW_KEYS


@receiver(password_reset)
def review_keys_after_a_reset(sender: Any, request: Any, **kwargs: Any) -> None:
    """Whoever held the account before the reset may have made keys: show them at the next login."""
    request.session[REVIEW_KEYS] = True
