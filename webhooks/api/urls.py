"""Webhook routes: a router whose collection path takes every method (Capgo passes ids as parameters)."""

from __future__ import annotations

from rest_framework.routers import DynamicRoute, Route, SimpleRouter

from webhooks.api.viewsets import WebhookViewSet


class CollectionRouter(SimpleRouter):
    """GET, POST, PUT and DELETE on `/<prefix>/`, extra actions beside it; every path with or without
    the trailing slash, without a redirect (a POST to `/webhooks` must work)."""

    routes = [
        Route(
            url=r"^{prefix}{trailing_slash}$",
            mapping={"get": "read", "post": "create", "put": "update", "delete": "destroy"},
            name="{basename}",
            detail=False,
            initkwargs={},
        ),
        DynamicRoute(
            url=r"^{prefix}/{url_path}{trailing_slash}$", name="{basename}-{url_name}", detail=False, initkwargs={}
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"


router = CollectionRouter()
router.register("webhooks", WebhookViewSet, basename="api-webhooks")
urlpatterns = router.urls
