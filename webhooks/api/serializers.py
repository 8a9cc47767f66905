"""Webhook API input (strict serializers, as the rest of the API) and output dicts."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from organizations.api.serializers import OrgIdField, StrictSerializer
from organizations.text import validate_name
from webhooks.models import Delivery, Webhook


class NameField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        # The names rule of every surface (organizations.text): no control or bidi characters.
        super().__init__(min_length=1, max_length=100, validators=[validate_name], **kwargs)


@extend_schema_field({"type": "array", "minItems": 1, "items": {"type": "string", "enum": list(Webhook.EVENT_TABLES)}})
class EventsField(serializers.JSONField):
    """Checked by the service, so that any bad value is 400 `invalid_events`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(allow_null=True, **kwargs)


class IdField(serializers.CharField):
    """A webhook or delivery id: any string; one that is not an id is simply not found (404)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=64, **kwargs)


class UrlField(serializers.CharField):
    """Checked by the service (resolved, every address public), so a bad one is 400 `invalid_url`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=2000, allow_blank=True, trim_whitespace=True, **kwargs)


class WebhookGetIn(StrictSerializer):
    orgId = OrgIdField()
    webhookId = IdField(required=False)


class WebhookCreateIn(StrictSerializer):
    orgId = OrgIdField()
    name = NameField()
    url = UrlField()
    events = EventsField()
    enabled = serializers.BooleanField(required=False, default=True)


class WebhookUpdateIn(StrictSerializer):
    orgId = OrgIdField()
    webhookId = IdField()
    name = NameField(required=False)
    url = UrlField(required=False)
    events = EventsField(required=False)
    enabled = serializers.BooleanField(required=False)
    rotate_secret = serializers.BooleanField(required=False, default=False)


class WebhookIdIn(StrictSerializer):
    orgId = OrgIdField()
    webhookId = IdField()


class DeliveryListIn(serializers.Serializer):
    """Query-string parameters: strings, as for every list (page arrives as "1")."""

    orgId = OrgIdField()
    webhookId = IdField()
    status = serializers.ChoiceField(required=False, choices=Delivery.Status.values)
    page = serializers.IntegerField(required=False, default=0, min_value=0, max_value=1_000_000)


class DeliveryRetryIn(StrictSerializer):
    orgId = OrgIdField()
    deliveryId = IdField()


# Output ----------------------------------------------------------------------------------
# Datetimes stay objects: the API's renderer writes them as DRF's encoder does.


def webhook_json(webhook: Webhook, *, secret: str | None = None, stats: dict[str, int] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(webhook.pk),
        "org_id": webhook.organization_id,
        "name": webhook.name,
        "url": webhook.url,
        "enabled": webhook.enabled,
        "events": list(webhook.events),
        "created_at": webhook.created_at,
        "updated_at": webhook.updated_at,
        "created_by": str(webhook.created_by_id) if webhook.created_by_id else None,
        "disabled_reason": webhook.disabled_reason or None,
    }
    if secret is not None:
        data["secret"] = secret
    if stats is not None:
        data["stats_24h"] = stats
    return data


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": str(delivery.pk),
        "webhook_id": str(delivery.webhook_id),
        "event_type": delivery.event_type,
        "event_id": delivery.event_id,
        "status": delivery.status,
        "attempt_count": delivery.attempt_count,
        "response_status": delivery.response_status,
        "response_preview": delivery.response_preview or None,
        "created_at": delivery.created_at,
        "completed_at": delivery.completed_at,
        "next_retry_at": delivery.next_retry_at if delivery.status == Delivery.Status.PENDING else None,
        "duration_ms": delivery.duration_ms,
    }


# Output shapes, for the schema -----------------------------------------------------------


class Stats24hOut(serializers.Serializer):
    success = serializers.IntegerField()
    failed = serializers.IntegerField()
    pending = serializers.IntegerField()


class WebhookOut(serializers.Serializer):
    id = serializers.CharField()
    org_id = serializers.CharField()
    name = serializers.CharField()
    url = serializers.CharField()
    enabled = serializers.BooleanField()
    events = serializers.ListField(child=serializers.ChoiceField(choices=list(Webhook.EVENT_TABLES)))
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    created_by = serializers.CharField(allow_null=True)
    disabled_reason = serializers.CharField(allow_null=True)
    secret = serializers.CharField(required=False, help_text="Only when the webhook is created or its secret rotated")
    stats_24h = Stats24hOut(required=False)


class DeliveryOut(serializers.Serializer):
    id = serializers.CharField()
    webhook_id = serializers.CharField()
    event_type = serializers.CharField()
    event_id = serializers.CharField()
    status = serializers.ChoiceField(choices=Delivery.Status.values)
    attempt_count = serializers.IntegerField()
    response_status = serializers.IntegerField(allow_null=True)
    response_preview = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    next_retry_at = serializers.DateTimeField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
