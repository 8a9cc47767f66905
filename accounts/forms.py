"""Account forms: the fields allauth's sign-up adds from us, and the profile."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.http import HttpRequest
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from organizations.forms import ImageField
from organizations.text import validate_name
from sso import policy as sso_policy


def sso_required() -> forms.ValidationError:
    from accounts.adapter import sso_required_message

    return forms.ValidationError(sso_required_message(), code="sso_required")


class SignupForm(forms.Form):
    """allauth's sign-up form is built on this one (ACCOUNT_SIGNUP_FORM_CLASS): a name, and the language."""

    name = forms.CharField(
        label=_("Name"),
        max_length=150,
        validators=[validate_name],
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    field_order = ["email", "name", "password1", "password2"]

    def clean(self) -> dict[str, Any]:
        cleaned_data = super().clean()
        # An address at a domain that requires single sign-on gets its account from the identity provider.
        if sso_policy.enforced_domain_for(cleaned_data.get("email")) is not None:
            raise sso_required()
        return cleaned_data

    def signup(self, request: HttpRequest, user: Any) -> None:
        user.name = self.cleaned_data["name"]
        user.language = translation.get_language() or ""
        user.save(update_fields=["name", "language"])


class ProfileForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=150, validators=[validate_name])
    avatar = ImageField(label=_("Avatar"), help_text=_("PNG, JPEG or WebP, up to 2 MB and 1024×1024 pixels."))
    remove_avatar = forms.BooleanField(label=_("Remove my avatar"), required=False)
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)

    def __init__(self, *args: Any, has_avatar: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not has_avatar:
            # Nothing to remove: no checkbox that would do nothing.
            del self.fields["remove_avatar"]
