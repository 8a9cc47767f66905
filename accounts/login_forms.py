"""allauth's login and password-reset forms (ACCOUNT_FORMS), refusing passwords where single sign-on is required.

Apart from accounts/forms.py: allauth's forms module imports that one (the sign-up form's base class).
"""

from __future__ import annotations

from typing import Any

from allauth.account import forms as allauth_forms
from django import forms

from accounts.forms import sso_required
from sso import policy as sso_policy


class LoginForm(allauth_forms.LoginForm):
    """allauth's login form (ACCOUNT_FORMS). At a domain that requires single sign-on, a password gets the
    same answer whether or not it was right, unless it is a break-glass super_admin's: pointing to SSO."""

    def _clean_with_password(self, credentials: dict[str, Any]) -> dict[str, Any]:
        email = credentials.get("email")
        if sso_policy.enforced_domain_for(email) is None:
            return super()._clean_with_password(credentials)
        try:
            cleaned_data = super()._clean_with_password(credentials)
        except forms.ValidationError:
            raise sso_required() from None
        if sso_policy.password_refused(getattr(self, "user", None), email) is not None:
            self.user = None
            raise sso_required()
        return cleaned_data


class ResetPasswordForm(allauth_forms.ResetPasswordForm):
    """No password reset at a domain that requires single sign-on: the identity provider owns those sign-ins."""

    def clean_email(self) -> str:
        email = super().clean_email()
        if sso_policy.enforced_domain_for(email) is not None:
            raise sso_required()
        return email
