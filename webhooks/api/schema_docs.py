"""OpenAPI descriptions of the webhook endpoints."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, inline_serializer
from rest_framework import serializers

from organizations.api.schema_docs import ORG_EXAMPLE, ORG_ID, _errors, _json, _q
from webhooks.api import serializers as s

WEBHOOK_ID = _q("webhookId", {"type": "string", "maxLength": 64}, required=True, description="Webhook id")
WEBHOOK_EXAMPLE = {
    "id": "0b7f3c1e-8f5a-4c1d-9e0a-6b2f1d3c4a5b",
    "org_id": ORG_EXAMPLE["id"],
    "name": "CRM sync",
    "url": "https://hooks.example.com/capgo",
    "enabled": True,
    "events": ["org_users", "orgs"],
    "created_at": "2024-01-01T00:00:00Z",
    "updated_at": "2024-01-01T00:00:00Z",
    "created_by": "6aa76066-55ef-4238-ade6-0b32334a4097",
    "disabled_reason": None,
}
SECRET_EXAMPLE = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

webhooks_get = {
    "summary": "List the organization's webhooks, or get one (with its last 24 hours) with webhookId",
    "parameters": [ORG_ID, _q("webhookId", {"type": "string", "maxLength": 64})],
    "responses": {
        200: inline_serializer("WebhookGetResponse", {"data": serializers.JSONField(help_text="A Webhook or a list")}),
        **_errors(400, 403, 404),
    },
    "examples": [
        OpenApiExample("List", value={"data": [WEBHOOK_EXAMPLE]}, response_only=True),
        OpenApiExample(
            "One",
            value={"data": {**WEBHOOK_EXAMPLE, "stats_24h": {"success": 12, "failed": 1, "pending": 0}}},
            response_only=True,
        ),
    ],
}
webhooks_post = {
    "summary": "Create a webhook (admin or higher); the signing secret is in this response only",
    "request": _json(s.WebhookCreateIn),
    "responses": {
        201: inline_serializer("WebhookCreated", {"status": serializers.CharField(), "webhook": s.WebhookOut()}),
        **_errors(400, 403, 404),
    },
    "examples": [
        OpenApiExample(
            "Create",
            value={
                "orgId": ORG_EXAMPLE["id"],
                "name": "CRM sync",
                "url": WEBHOOK_EXAMPLE["url"],
                "events": ["org_users"],
            },
            request_only=True,
        ),
        OpenApiExample(
            "Created",
            value={"status": "Webhook created", "webhook": {**WEBHOOK_EXAMPLE, "secret": SECRET_EXAMPLE}},
            response_only=True,
        ),
    ],
}
webhooks_put = {
    "summary": "Change a webhook, or rotate its secret (the old one signs too for 24 hours)",
    "request": _json(s.WebhookUpdateIn),
    "responses": {
        200: inline_serializer("WebhookUpdated", {"status": serializers.CharField(), "webhook": s.WebhookOut()}),
        **_errors(400, 403, 404),
    },
}
webhooks_delete = {
    "summary": "Delete a webhook with its deliveries",
    "parameters": [ORG_ID, WEBHOOK_ID],
    "responses": {
        200: inline_serializer(
            "WebhookDeleted", {"status": serializers.CharField(), "webhookId": serializers.CharField()}
        ),
        **_errors(400, 403, 404),
    },
}
webhooks_test = {
    "summary": "Send a test.ping now; 200 with the receiver's answer even when it failed",
    "request": _json(s.WebhookIdIn),
    "responses": {
        200: inline_serializer(
            "WebhookTested",
            {
                "success": serializers.BooleanField(),
                "status": serializers.IntegerField(allow_null=True),
                "duration_ms": serializers.IntegerField(),
                "response_preview": serializers.CharField(),
                "delivery_id": serializers.CharField(),
            },
        ),
        **_errors(400, 403, 404),
    },
}
deliveries_get = {
    "summary": "A webhook's delivery log, newest first, 50 a page",
    "parameters": [
        ORG_ID,
        WEBHOOK_ID,
        _q("status", {"type": "string", "enum": ["pending", "success", "failed"]}),
        _q("page", {"type": "integer", "minimum": 0, "maximum": 1_000_000}, description="0-based page"),
    ],
    "responses": {
        200: inline_serializer(
            "DeliveryList",
            {
                "data": s.DeliveryOut(many=True),
                "page": serializers.IntegerField(),
                "limit": serializers.IntegerField(),
                "total": serializers.IntegerField(),
            },
        ),
        **_errors(400, 403, 404),
    },
}
deliveries_retry = {
    "summary": "Send a failed delivery again (its webhook must be enabled)",
    "request": _json(s.DeliveryRetryIn),
    "responses": {
        200: inline_serializer(
            "DeliveryRetried", {"status": serializers.CharField(), "deliveryId": serializers.CharField()}
        ),
        **_errors(400, 403, 404, 409),
    },
}
