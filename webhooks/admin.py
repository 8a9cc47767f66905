"""Staff see every webhook and delivery. Changes to a webhook go through its services (checked,
audited); a webhook is added from its organization's pages, which show the secret once; the
secret is never shown here. Deliveries are read-only."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from organizations.admin import ServiceAdminMixin, ServiceForm, pretty_json, staff_actor
from webhooks import services, transport
from webhooks.models import Delivery, Webhook

EDITABLE = ("name", "url", "events", "enabled")


class WebhookForm(ServiceForm):
    url = forms.CharField(label=_("URL"), max_length=2000)  # checked by the service (the SSRF guard)
    events = forms.MultipleChoiceField(
        choices=[(t, t) for t in Webhook.EVENT_TABLES], widget=forms.CheckboxSelectMultiple, label=_("events")
    )

    class Meta:
        model = Webhook
        fields = EDITABLE

    def apply(self) -> Model | None:
        webhook = Webhook.objects.get(pk=self.instance.pk)
        changes = {field: self.cleaned_data[field] for field in EDITABLE}
        saved, _secret = services.webhook_update(
            actor=self.actor, org=webhook.organization, webhook=webhook, changes=changes
        )
        return saved


@admin.register(Webhook)
class WebhookAdmin(ServiceAdminMixin, admin.ModelAdmin):
    form = WebhookForm
    list_display = ("name", "organization", "host", "enabled", "created_at")
    list_filter = ("enabled", "created_at")
    search_fields = ("name", "=organization__id", "url")
    readonly_fields = ("id", "organization", "disabled_reason", "created_by", "created_at", "updated_at")
    fields = ("id", "organization", "name", "url", "events", "enabled", "disabled_reason", "created_by",
              "created_at", "updated_at")  # fmt: skip
    list_select_related = ("organization",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # A detached webhook (its organization deleted) only finishes its last deliveries.
        return super().has_change_permission(request, obj) and (obj is None or obj.organization_id is not None)

    def remove(self, request: HttpRequest, obj: Webhook) -> None:
        if obj.organization is None:
            obj.delete()
            return
        services.webhook_delete(actor=staff_actor(request), org=obj.organization, webhook=obj)

    @admin.display(description=_("host"))
    def host(self, webhook: Webhook) -> str:
        return transport.host_of(webhook.url)


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ("created_at", "event_type", "webhook", "status", "attempt_count", "response_status")
    list_filter = ("status", "event_type", "created_at")
    search_fields = ("=id", "=event_id", "=webhook__id")
    list_select_related = ("webhook",)
    show_full_result_count = False
    fields = ("id", "webhook", "event_type", "event_id", "audit_event_id", "status", "attempt_count",
              "next_retry_at", "response_status", "duration_ms", "response_preview", "body", "created_at",
              "completed_at")  # fmt: skip
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description=_("body"))
    def body(self, delivery: Delivery) -> str:
        return pretty_json(delivery.payload)
