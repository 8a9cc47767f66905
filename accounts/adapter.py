"""django-allauth, fitted to this site: one client address, links from SITE_URL, the key review."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.internal.stagekit import clear_login
from allauth.mfa.adapter import DefaultMFAAdapter
from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _

from accounts import crypto
from organizations import ratelimit, services
from sso import policy as sso_policy

# Set when a password was reset: the next page after logging in is the API-key review.
REVIEW_KEYS = "accounts_review_keys"


def on_site(url: str) -> str:
    """`url` with SITE_URL's scheme and host: a link in an email never trusts the request's Host header."""
    parts = urlsplit(url)
    return settings.SITE_URL + urlunsplit(("", "", parts.path, parts.query, parts.fragment))


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request: HttpRequest) -> str:
        return ratelimit.client_address(request)

    def _get_login_attempts_cache_key(self, request: HttpRequest, **credentials: Any) -> str:
        # allauth counts failed logins per account; per account *and* address, a stranger who
        # fails on purpose slows their own address only, and never locks the owner out.
        return f"{ratelimit.client_address(request)}|{super()._get_login_attempts_cache_key(request, **credentials)}"

    def authenticate(self, request: HttpRequest, **credentials: Any) -> Any:
        """allauth's password check (logins, re-authentication): the password is also checked
        against the person's organizations' password policies, and the outcome remembered."""
        user = super().authenticate(request, **credentials)
        if user is not None and credentials.get("password"):
            services.password_checked(user=user, password=credentials["password"])
        return user

    def set_password(self, user: Any, password: str) -> None:
        """A new password (change, reset, first one) is checked against the policies the same way."""
        super().set_password(user, password)
        services.password_checked(user=user, password=password)

    def send_mail(self, template_prefix: str, email: str, context: dict[str, Any]) -> None:
        site = SimpleNamespace(name="capgo-org", domain=urlsplit(settings.SITE_URL).netloc)
        links = {name: on_site(value) for name, value in context.items() if name.endswith("_url") and value}
        super().send_mail(template_prefix, email, {**context, **links, "current_site": site})

    def send_notification_mail(self, template_prefix: str, user: Any, context: Any = None, email: Any = None) -> None:
        # The password notices point to the key review: a session ends, a key does not.
        context = {**(context or {}), "keys_url": settings.SITE_URL + reverse("key-review")}
        super().send_notification_mail(template_prefix, user, context, email)

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        if request.session.pop(REVIEW_KEYS, False):
            return reverse("key-review")
        return super().get_login_redirect_url(request)

    def get_password_change_redirect_url(self, request: HttpRequest) -> str:
        return reverse("key-review")

    def pre_login(self, request: HttpRequest, user: Any, **kwargs: Any) -> HttpResponse | None:
        """Single sign-on required for the address: any way in but the organization's identity provider
        (a passkey, a confirmation or reset link, a password) is refused, except for the break-glass."""
        sociallogin = (kwargs.get("signal_kwargs") or {}).get("sociallogin")
        if sociallogin is None and sso_policy.password_refused(user, user.email) is not None:
            clear_login(request)
            messages.error(request, sso_required_message())
            return redirect("sso-login")
        return super().pre_login(request, user, **kwargs)

    def post_login(self, request: HttpRequest, user: Any, **kwargs: Any) -> HttpResponse:
        """A login applies the language the person chose last time (the cookie LocaleMiddleware reads)."""
        response = super().post_login(request, user, **kwargs)
        if user.language in dict(settings.LANGUAGES):
            set_language_cookie(response, user.language)
        return response


def sso_required_message() -> str:
    return _("Your organization signs you in with single sign-on: use “Sign in with SSO”.")


def set_language_cookie(response: Any, language: str) -> None:
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        path=settings.LANGUAGE_COOKIE_PATH,
        domain=settings.LANGUAGE_COOKIE_DOMAIN,
        secure=settings.LANGUAGE_COOKIE_SECURE,
        httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
        samesite=settings.LANGUAGE_COOKIE_SAMESITE,
    )


def user_display(user: Any) -> str:
    """How allauth names a person in messages and emails (ACCOUNT_USER_DISPLAY)."""
    return user.name or user.email


class MFAAdapter(DefaultMFAAdapter):
    """allauth.mfa's secrets (TOTP keys, recovery-code seeds) are stored encrypted (accounts.crypto)."""

    def encrypt(self, text: str) -> str:
        return crypto.encrypt(text)

    def decrypt(self, encrypted_text: str) -> str:
        return crypto.decrypt(encrypted_text)
