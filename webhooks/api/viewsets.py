"""The webhooks API: one ViewSet on Capgo's paths (every method on /webhooks/, ids as parameters).

Thin, like the rest of the API: the key mode first, then the body, then the organization
through the tenant wall (`access.org_for`), then a service.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from organizations.access import org_for
from organizations.api.views import ApiViewSet
from organizations.exceptions import Invalid
from organizations.roles import Action, check_key_mode
from webhooks import services
from webhooks.api import schema_docs as docs
from webhooks.api.serializers import (
    DeliveryListIn,
    DeliveryRetryIn,
    WebhookCreateIn,
    WebhookGetIn,
    WebhookIdIn,
    WebhookUpdateIn,
    delivery_json,
    webhook_json,
)
from webhooks.delivery import TEST_PREVIEW_CHARS
from webhooks.models import Delivery, Webhook

DELIVERIES_PER_PAGE = 50


class WebhookViewSet(ApiViewSet):
    @extend_schema(**docs.webhooks_get)
    def list(self, request: Request) -> Response:
        """One webhook with webhookId, else the list."""
        params = self.params(request, WebhookGetIn)
        org, _role = org_for(self.principal(request), params["orgId"], Action.READ_WEBHOOKS)
        if params.get("webhookId"):
            webhook = services.webhook_for(org, params["webhookId"])
            return Response({"data": webhook_json(webhook, stats=services.stats_24h(webhook))})
        return Response({"data": [webhook_json(w) for w in Webhook.objects.filter(organization=org)]})

    @extend_schema(**docs.webhooks_post)
    def create(self, request: Request) -> Response:
        principal = self.principal(request)
        check_key_mode(principal, Action.MANAGE_WEBHOOKS)
        data = self.validated(request, WebhookCreateIn).validated_data
        org, _role = org_for(principal, data["orgId"], Action.MANAGE_WEBHOOKS)
        webhook, secret = services.webhook_create(
            actor=principal, org=org, name=data["name"], url=data["url"], events=data["events"], enabled=data["enabled"]
        )
        return Response({"status": "Webhook created", "webhook": webhook_json(webhook, secret=secret)}, status=201)

    @extend_schema(**docs.webhooks_put)
    def update(self, request: Request) -> Response:
        principal = self.principal(request)
        check_key_mode(principal, Action.MANAGE_WEBHOOKS)
        data = dict(self.validated(request, WebhookUpdateIn).validated_data)
        org, _role = org_for(principal, data.pop("orgId"), Action.MANAGE_WEBHOOKS)
        webhook = services.webhook_for(org, data.pop("webhookId"))
        rotate = data.pop("rotate_secret")
        if not data and not rotate:
            raise Invalid("No valid fields provided for update", code="no_valid_fields_provided_for_update")
        webhook, secret = services.webhook_update(
            actor=principal, org=org, webhook=webhook, changes=data, rotate_secret=rotate
        )
        return Response({"status": "Webhook updated", "webhook": webhook_json(webhook, secret=secret)})

    @extend_schema(**docs.webhooks_delete)
    def destroy(self, request: Request) -> Response:
        principal = self.principal(request)
        check_key_mode(principal, Action.MANAGE_WEBHOOKS)
        params = self.params(request, WebhookIdIn)
        org, _role = org_for(principal, params["orgId"], Action.MANAGE_WEBHOOKS)
        webhook = services.webhook_for(org, params["webhookId"])
        webhook_id = str(webhook.pk)
        services.webhook_delete(actor=principal, org=org, webhook=webhook)
        return Response({"status": "Webhook deleted", "webhookId": webhook_id})

    @extend_schema(**docs.webhooks_test)
    @action(detail=False, methods=["post"], url_path="test")
    def test(self, request: Request) -> Response:
        principal = self.principal(request)
        check_key_mode(principal, Action.MANAGE_WEBHOOKS)
        data = self.validated(request, WebhookIdIn).validated_data
        org, _role = org_for(principal, data["orgId"], Action.MANAGE_WEBHOOKS)
        webhook = services.webhook_for(org, data["webhookId"])
        ping, result = services.webhook_test(actor=principal, org=org, webhook=webhook)
        return Response(
            {
                "success": result.ok,
                "status": result.status,
                "duration_ms": result.duration_ms,
                "response_preview": result.preview[:TEST_PREVIEW_CHARS],
                "delivery_id": str(ping.pk),
            }
        )

    @extend_schema(**docs.deliveries_get)
    @action(detail=False, methods=["get"], url_path="deliveries")
    def deliveries(self, request: Request) -> Response:
        params = self.params(request, DeliveryListIn)
        org, _role = org_for(self.principal(request), params["orgId"], Action.READ_WEBHOOKS)
        webhook = services.webhook_for(org, params["webhookId"])
        rows = Delivery.objects.filter(webhook=webhook)
        if params.get("status"):
            rows = rows.filter(status=params["status"])
        page, limit = params["page"], DELIVERIES_PER_PAGE
        total = rows.count()
        found = list(rows[page * limit : (page + 1) * limit]) if page * limit < total else []
        return Response({"data": [delivery_json(d) for d in found], "page": page, "limit": limit, "total": total})

    @extend_schema(**docs.deliveries_retry)
    @action(detail=False, methods=["post"], url_path="deliveries/retry")
    def retry(self, request: Request) -> Response:
        principal = self.principal(request)
        check_key_mode(principal, Action.MANAGE_WEBHOOKS)
        data = self.validated(request, DeliveryRetryIn).validated_data
        org, _role = org_for(principal, data["orgId"], Action.MANAGE_WEBHOOKS)
        delivery = services.delivery_for(org, data["deliveryId"])
        services.delivery_retry(actor=principal, org=org, delivery=delivery)
        return Response({"status": "Delivery queued for retry", "deliveryId": str(delivery.pk)})
