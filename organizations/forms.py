"""Forms validate one action's input; the rules stay in services and roles."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django import forms
from django.core.files.base import ContentFile
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError as DrfValidationError

from organizations import images
from organizations.api.serializers import is_https_without_credentials, normalise_website
from organizations.models import ApiKey, Organization
from organizations.roles import Role
from organizations.security import MIN_LENGTH_RANGE


def _role_choices(roles: Iterable[str]) -> list[tuple[str, str]]:
    labels = dict(Role.choices)
    return [(role, labels[role]) for role in roles]


class ImageField(forms.FileField):
    """An uploaded image, checked and re-encoded by `images.clean_image`: cleans to a ContentFile."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("widget", forms.FileInput(attrs={"accept": images.ACCEPT}))
        super().__init__(**kwargs)

    def clean(self, data: Any, initial: Any = None) -> ContentFile | None:
        upload = super().clean(data, initial)
        if not upload or upload is initial:
            return None
        return images.clean_image(upload)


class WebsiteField(forms.CharField):
    """The API's website rule (http(s), no credentials, normalised), with a page's error message."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=2000, required=False, **kwargs)

    def clean(self, value: Any) -> str | None:
        value = super().clean(value)
        if not value:
            return None
        try:
            return normalise_website(value)
        except DrfValidationError:
            raise forms.ValidationError(
                _("Enter an http or https website address without a user name or password."), code="invalid"
            ) from None


class HttpsUrlField(forms.URLField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=2000, required=False, assume_scheme="https", **kwargs)

    def clean(self, value: Any) -> str | None:
        value = super().clean(value)
        if not value:
            return None
        if not is_https_without_credentials(value):
            raise forms.ValidationError(_("The logo address must be an https URL."), code="invalid")
        return value


# Organizations ---------------------------------------------------------------------------


class OrganizationCreateForm(forms.Form):
    name = forms.CharField(label=_("Name"), min_length=3, max_length=100)
    management_email = forms.EmailField(
        label=_("Management email"), required=False, help_text=_("Leave empty to use your own email address.")
    )
    website = WebsiteField(label=_("Website"))


class OrganizationSettingsForm(forms.Form):
    name = forms.CharField(label=_("Name"), min_length=3, max_length=100)
    management_email = forms.EmailField(label=_("Management email"), max_length=254)
    website = WebsiteField(label=_("Website"))
    logo = ImageField(label=_("Upload a logo"), help_text=_("PNG, JPEG or WebP, up to 2 MB and 1024×1024 pixels."))
    logo_url = HttpsUrlField(label=_("Or a logo URL"), help_text=_("An https address of an image."))
    remove_logo = forms.BooleanField(label=_("Remove the logo"), required=False)
    require_apikey_expiration = forms.BooleanField(
        label=_("Require API keys to have an expiration date"), required=False
    )
    max_apikey_expiration_days = forms.IntegerField(
        label=_("Maximum API key lifetime (days)"),
        required=False,
        min_value=1,
        max_value=365,
        help_text=_("From 1 to 365; empty for no limit."),
    )

    FIELDS = (
        "name",
        "management_email",
        "website",
        "logo_url",
        "require_apikey_expiration",
        "max_apikey_expiration_days",
    )

    @classmethod
    def initial_for(cls, org: Organization) -> dict[str, Any]:
        return {field: getattr(org, field) for field in cls.FIELDS}

    def changes(self, org: Organization) -> dict[str, Any]:
        """The fields whose submitted value differs from the organization's (for organization_update)."""
        data = self.cleaned_data
        changes = {field: data[field] for field in self.FIELDS if data[field] != getattr(org, field)}
        if data["remove_logo"]:
            # Clearing logo_url also removes an uploaded file (services.organization_update).
            changes["logo_url"] = None
        return changes


class OrganizationDeleteForm(forms.Form):
    name = forms.CharField(label=_("Organization name"), strip=False)

    def __init__(self, *args: Any, org: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.org = org

    def clean_name(self) -> str:
        name = self.cleaned_data["name"]
        if name != self.org.name:
            raise forms.ValidationError(_("The name does not match. Nothing was deleted."), code="mismatch")
        return name


# Members ---------------------------------------------------------------------------------


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Email"), max_length=254)
    role = forms.ChoiceField(label=_("Role"))

    def __init__(self, *args: Any, roles: Iterable[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["role"].choices = _role_choices(roles)

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


# API keys --------------------------------------------------------------------------------


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    mode = forms.ChoiceField(label=_("Mode"), choices=ApiKey.Mode.choices, initial=ApiKey.Mode.ALL)
    limited_to_orgs = forms.MultipleChoiceField(
        label=_("Limit to organizations"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None checked: the key reaches all your organizations."),
    )
    expires_in_days = forms.IntegerField(
        label=_("Expires in (days)"),
        required=False,
        min_value=1,
        max_value=3650,
        help_text=_("Empty: the key never expires."),
    )

    def __init__(self, *args: Any, orgs: Iterable[Organization], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["limited_to_orgs"].choices = [(org.id, org.name) for org in orgs]


# Security policies -------------------------------------------------------------------------


class SecurityForm(forms.Form):
    """Both policies of the settings page's Security section, as the API's two fields."""

    enforcing_2fa = forms.BooleanField(label=_("Require two-factor authentication from every member"), required=False)
    policy_enabled = forms.BooleanField(label=_("Require a password policy"), required=False)
    min_length = forms.IntegerField(
        label=_("Minimum length"), min_value=MIN_LENGTH_RANGE[0], max_value=MIN_LENGTH_RANGE[1], initial=10
    )
    require_uppercase = forms.BooleanField(label=_("An uppercase letter"), required=False, initial=True)
    require_number = forms.BooleanField(label=_("A digit"), required=False, initial=True)
    require_special = forms.BooleanField(label=_("A special character"), required=False)
    password = forms.CharField(
        label=_("Your password"),
        required=False,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        help_text=_("Needed to turn on or change the password policy: it must meet the new policy itself."),
    )
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    @classmethod
    def initial_for(cls, org: Organization) -> dict[str, Any]:
        config = org.password_policy_config or {}
        initial = {"enforcing_2fa": org.enforcing_2fa, "policy_enabled": bool(config.get("enabled"))}
        for field in ("min_length", "require_uppercase", "require_number", "require_special"):
            if field in config:
                initial[field] = config[field]
        return initial

    def changes(self, org: Organization) -> dict[str, Any]:
        """The API fields whose value differs from the organization's."""
        data = self.cleaned_data
        config = {
            "enabled": data["policy_enabled"],
            "min_length": data["min_length"],
            "require_uppercase": data["require_uppercase"],
            "require_number": data["require_number"],
            "require_special": data["require_special"],
        }
        if not config["enabled"] and org.password_policy_config is None:
            config = None  # nothing was ever set: keep it that way
        changes: dict[str, Any] = {}
        if data["enforcing_2fa"] != org.enforcing_2fa:
            changes["enforcing_2fa"] = data["enforcing_2fa"]
        if config != org.password_policy_config:
            changes["password_policy_config"] = config
        return changes


class PasswordConfirmForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
