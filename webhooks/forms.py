"""The webhook form of the pages. The URL and events rules stay in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from organizations.text import validate_name
from webhooks.models import Webhook

EVENT_LABELS = {
    "orgs": _("Organization changes (orgs)"),
    "org_users": _("Members and invitations (org_users)"),
    "apikeys": _("API keys limited to this organization (apikeys)"),
}


class WebhookForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100, validators=[validate_name])
    url = forms.CharField(
        label=_("URL"), max_length=2000, widget=forms.URLInput(attrs={"placeholder": "https://hooks.example.com/capgo"})
    )
    events = forms.MultipleChoiceField(
        label=_("Events"),
        choices=[(table, EVENT_LABELS[table]) for table in Webhook.EVENT_TABLES],
        widget=forms.CheckboxSelectMultiple,
    )
    enabled = forms.BooleanField(label=_("Enabled"), required=False, initial=True)

    @staticmethod
    def initial_for(webhook: Webhook) -> dict[str, Any]:
        return {"name": webhook.name, "url": webhook.url, "events": webhook.events, "enabled": webhook.enabled}
