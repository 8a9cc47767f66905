from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = _("Webhooks")

    def ready(self) -> None:
        from organizations import audit
        from webhooks import checks, services  # noqa: F401  (checks registers itself)

        # Every audit event of an organization becomes deliveries, in the event's own transaction.
        audit.subscribe(services.deliveries_for_events)
