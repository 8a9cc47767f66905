"""The errors of the webhook rules, in the API's one envelope (organizations.exceptions)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from organizations.exceptions import Conflict, Invalid, NotFound


class WebhookNotFound(NotFound):
    code = "webhook_not_found"
    message = _("Webhook not found")


class DeliveryNotFound(NotFound):
    code = "delivery_not_found"
    message = _("Delivery not found")


class InvalidUrl(Invalid):
    code = "invalid_url"
    message = _("The webhook URL is not valid.")


class InvalidEvents(Invalid):
    code = "invalid_events"
    message = _("Events must be a non-empty list of: orgs, org_users, apikeys")


class DeliveryNotFailed(Conflict):
    code = "delivery_not_failed"
    message = _("Only failed deliveries can be retried")


class WebhookDisabled(Conflict):
    code = "webhook_disabled"
    message = _("The webhook is disabled; enable it before retrying")
