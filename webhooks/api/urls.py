"""Webhook routes: every method on /webhooks/ (Capgo passes ids as parameters), actions beside it."""

from __future__ import annotations

from organizations.api.routers import CollectionRouter
from webhooks.api.viewsets import WebhookViewSet

router = CollectionRouter()
router.register("webhooks", WebhookViewSet, basename="api-webhooks")
urlpatterns = router.urls
