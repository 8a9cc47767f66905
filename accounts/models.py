"""allauth's second factors and sessions under names people read in their language.

allauth's Authenticator and UserSession have no verbose names, so the admin shows them in English
whatever the language. These proxies (no table of their own) carry translated names; the admin
registers them instead (accounts/admin.py).
"""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from django.utils.translation import gettext_lazy as _


class SecondFactor(Authenticator):
    class Meta:
        proxy = True
        verbose_name = _("second factor")
        verbose_name_plural = _("second factors")


class Session(UserSession):
    class Meta:
        proxy = True
        verbose_name = _("session")
        verbose_name_plural = _("sessions")
