"""Forms validate one action's input; the rules stay in services and roles."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django import forms
from django.core.files.base import ContentFile
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import ValidationError as DrfValidationError

from organizations import images, services
from organizations.api.serializers import is_https_without_credentials, normalise_website
from organizations.models import ApiKey, Organization, User
from organizations.roles import DEFAULT_KEY_MODE, KEY_MODE_DESCRIPTIONS, ROLE_DESCRIPTIONS, Role
from organizations.security import MIN_LENGTH_RANGE
from organizations.text import validate_name


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
    name = forms.CharField(label=_("Name"), min_length=3, max_length=100, validators=[validate_name])
    management_email = forms.EmailField(
        label=_("Management email"), required=False, help_text=_("Leave empty to use your own email address.")
    )
    website = WebsiteField(label=_("Website"))


class SettingsSectionForm(forms.Form):
    """One section of the settings page: its own form, saved on its own, naming what it saved.

    `FIELDS` are organization fields the section edits (services.ORG_EDITABLE_FIELDS).
    """

    section: ClassVar[str]
    FIELDS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, org: Organization, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {field: getattr(org, field) for field in self.FIELDS})
        super().__init__(*args, **kwargs)
        self.org = org

    def changes(self) -> dict[str, Any]:
        """The fields whose submitted value differs from the organization's (for organization_update)."""
        return {
            field: self.cleaned_data[field]
            for field in self.FIELDS
            if self.cleaned_data[field] != getattr(self.org, field)
        }

    @property
    def logo_file(self) -> ContentFile | None:
        return None

    def saved_message(self) -> str:
        raise NotImplementedError


class GeneralSettingsForm(SettingsSectionForm):
    section = "general"
    FIELDS = ("name", "management_email", "website")

    name = forms.CharField(label=_("Name"), min_length=3, max_length=100, validators=[validate_name])
    management_email = forms.EmailField(
        label=_("Management email"), max_length=254, help_text=_("Where billing and security notices go.")
    )
    website = WebsiteField(label=_("Website"))

    def saved_message(self) -> str:
        return _("The general settings were saved.")


class LogoForm(SettingsSectionForm):
    section = "logo"
    FIELDS = ("logo_url",)

    logo = ImageField(label=_("Upload a logo"), help_text=_("PNG, JPEG or WebP, up to 2 MB and 1024×1024 pixels."))
    logo_url = HttpsUrlField(label=_("Or a logo URL"), help_text=_("An https address of an image."))
    # Sent by the section's "Remove the logo" button, which is there only while there is a logo.
    remove_logo = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def changes(self) -> dict[str, Any]:
        if self.cleaned_data["remove_logo"]:
            # Clearing logo_url also removes an uploaded file (services.organization_update).
            return {"logo_url": None} if (self.org.logo_url or self.org.logo_file) else {}
        return super().changes()

    @property
    def logo_file(self) -> ContentFile | None:
        return None if self.cleaned_data["remove_logo"] else self.cleaned_data["logo"]

    def saved_message(self) -> str:
        return _("The logo was removed.") if self.cleaned_data["remove_logo"] else _("The logo was saved.")


class ApiKeyPolicyForm(SettingsSectionForm):
    section = "api_keys"
    FIELDS = ("require_apikey_expiration", "max_apikey_expiration_days")

    require_apikey_expiration = forms.BooleanField(
        label=_("Require API keys to have an expiration date"),
        required=False,
        help_text=_("Keys that never expire are then refused in this organization."),
    )
    max_apikey_expiration_days = forms.IntegerField(
        label=_("Maximum API key lifetime (days)"),
        required=False,
        min_value=1,
        max_value=365,
        help_text=_("From 1 to 365; empty for no limit. Applies to keys limited to this organization."),
    )

    def saved_message(self) -> str:
        return _("The API key policy was saved.")


SETTINGS_SECTIONS: dict[str, type[SettingsSectionForm]] = {
    form.section: form for form in (GeneralSettingsForm, LogoForm, ApiKeyPolicyForm)
}


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


class DescribedRadioSelect(forms.RadioSelect):
    """Radio buttons, each with a description under its label that screen readers read as its
    description (aria-describedby), so the name stays short: "Write", not the whole sentence."""

    option_template_name = "organizations/widgets/described_option.html"

    def __init__(self, *args: Any, descriptions: dict[str, Any], **kwargs: Any) -> None:
        kwargs.setdefault("attrs", {"class": "choices"})
        super().__init__(*args, **kwargs)
        self.descriptions = descriptions

    def create_option(self, name: str, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        option = super().create_option(name, value, *args, **kwargs)
        option["description"] = self.descriptions.get(str(value), "")
        if option["description"] and option["attrs"].get("id"):
            option["attrs"]["aria-describedby"] = f"{option['attrs']['id']}_description"
        return option


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Email"), max_length=254)
    role = forms.ChoiceField(label=_("Role"), widget=DescribedRadioSelect(descriptions=ROLE_DESCRIPTIONS))

    def __init__(self, *args: Any, roles: Iterable[str], inviter: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        roles = list(roles)
        labels = dict(Role.choices)
        self.fields["role"].choices = [(role, labels[role]) for role in roles]
        self.fields["role"].initial = Role.READ if Role.READ in roles else (roles[0] if roles else None)
        self.inviter = inviter

    def clean_email(self) -> str:
        email = self.cleaned_data["email"].strip().lower()
        if email == self.inviter.email:
            raise forms.ValidationError(
                _("This is your own address: you are a member already. Invite someone else."), code="self"
            )
        return email


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


# API keys --------------------------------------------------------------------------------

# A new key expires after this many days unless its owner says otherwise (or a policy says less).
SUGGESTED_KEY_DAYS = 90


def _policy_note(org: Organization) -> str:
    if org.require_apikey_expiration and org.max_apikey_expiration_days:
        return _("keys must expire within %(days)s days") % {"days": org.max_apikey_expiration_days}
    if org.require_apikey_expiration:
        return _("keys must expire")
    if org.max_apikey_expiration_days:
        return _("limited keys expire within %(days)s days") % {"days": org.max_apikey_expiration_days}
    return ""


class ApiKeyCreateForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, validators=[validate_name])
    mode = forms.ChoiceField(
        label=_("Mode"),
        choices=ApiKey.Mode.choices,
        initial=DEFAULT_KEY_MODE,
        widget=DescribedRadioSelect(descriptions=KEY_MODE_DESCRIPTIONS),
        help_text=_("A key never does more than your role allows in an organization."),
    )
    limited_to_orgs = forms.MultipleChoiceField(
        label=_("Limit to organizations"),
        required=False,
        widget=forms.CheckboxSelectMultiple(attrs={"class": "choices"}),
        help_text=_("None checked: the key reaches all your organizations."),
    )
    expires_in_days = forms.IntegerField(
        label=_("Expires in (days)"),
        required=False,
        min_value=1,
        max_value=3650,
        help_text=_("Empty: the key never expires."),
    )
    # Set by the "create it anyway" button, once the page has said which organizations would refuse the key.
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, orgs: Iterable[Organization], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.orgs = list(orgs)
        choices = []
        for org in self.orgs:
            note = _policy_note(org)
            note_html = format_html(' <span class="muted">({})</span>', note) if note else ""
            # One element beside the box: the name and its policy wrap together.
            choices.append((org.id, format_html("<span><bdi>{}</bdi>{}</span>", org.name, note_html)))
        self.fields["limited_to_orgs"].choices = choices
        # The suggestion fits every policy: no organization refuses a key made with the defaults.
        limits = [org.max_apikey_expiration_days for org in self.orgs if org.max_apikey_expiration_days]
        self.fields["expires_in_days"].initial = min([SUGGESTED_KEY_DAYS, *limits])
        self.refusals: list[Any] = []

    def expires_at(self) -> datetime | None:
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=days) if days else None

    def reached_orgs(self) -> list[Organization]:
        """The organizations the key would reach: the checked ones, or all of mine."""
        chosen = set(self.cleaned_data.get("limited_to_orgs") or ())
        return [org for org in self.orgs if org.id in chosen] if chosen else self.orgs

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        refusals = services.api_key_policy_refusals(self.reached_orgs(), self.expires_at())
        if data.get("limited_to_orgs"):
            # A key limited to an organization that refuses it is not created (the service says so too).
            for refusal in refusals:
                self.add_error("expires_in_days", str(refusal.message))
        else:
            # An unlimited key is created, but its calls to these organizations are refused: say so first.
            self.refusals = [r for r in refusals if r.code == "expiration_required"]
        return data

    @property
    def needs_confirmation(self) -> bool:
        return bool(self.refusals) and not self.cleaned_data.get("confirmed")


# Audit log -------------------------------------------------------------------------------

AUDIT_PAGE_LIMIT = 100  # as the API's audit endpoint
SYSTEM_ACTOR = "system"


class AuditFilterForm(forms.Form):
    """The audit page's filters: the kind of change, who made it, and the page (the API's paging)."""

    kind = forms.ChoiceField(label=_("Kind of change"), required=False)
    person = forms.ChoiceField(label=_("Made by"), required=False)
    page = forms.IntegerField(required=False, min_value=0, max_value=1_000_000)
    limit = forms.IntegerField(label=_("Per page"), required=False, min_value=1)

    def __init__(self, *args: Any, kinds: Iterable[tuple[str, Any]], people: Iterable[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["kind"].choices = [("", _("All changes")), *kinds]
        self.fields["person"].choices = [("", _("Anyone")), *people, (SYSTEM_ACTOR, _("The system"))]

    def clean_page(self) -> int:
        return self.cleaned_data["page"] or 0

    def clean_limit(self) -> int:
        return min(self.cleaned_data["limit"] or 50, AUDIT_PAGE_LIMIT)


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
