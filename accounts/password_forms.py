"""allauth's password forms, fitted to this site (ACCOUNT_FORMS).

A module of their own: allauth's forms module imports our sign-up form (accounts.forms) first.
"""

from __future__ import annotations

from typing import Any

from allauth.account import forms as allauth_forms
from django.utils.translation import gettext_lazy as _


class PlainPasswordFields:
    """allauth's password forms as people know them: labels in plain words, no placeholder that
    repeats the label, one "Forgot your password?" link (the page's own), the rules under the new one."""

    LABELS = {
        "oldpassword": _("Current password"),
        "password1": _("New password"),
        "password2": _("New password, again"),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        for name, field in self.fields.items():  # type: ignore[attr-defined]
            if name in self.LABELS:
                field.label = self.LABELS[name]
            field.widget.attrs.pop("placeholder", None)
        for name in ("oldpassword", "password2"):
            if name in self.fields:  # type: ignore[attr-defined]
                self.fields[name].help_text = ""  # type: ignore[attr-defined]


class ChangePasswordForm(PlainPasswordFields, allauth_forms.ChangePasswordForm):
    pass


class SetPasswordForm(PlainPasswordFields, allauth_forms.SetPasswordForm):
    pass


class ResetPasswordKeyForm(PlainPasswordFields, allauth_forms.ResetPasswordKeyForm):
    pass
