"""The API's routers: every route with or without the trailing slash, and never a redirect."""

from __future__ import annotations

from rest_framework.routers import DynamicRoute, Route, SimpleRouter


class SlashOptionalRouter(SimpleRouter):
    """DRF's router, each route matching with or without the trailing slash: no redirect, so a POST works."""

    def __init__(self) -> None:
        super().__init__()
        self.trailing_slash = "/?"  # SimpleRouter(trailing_slash=...) only knows "/" or ""


class CollectionRouter(SlashOptionalRouter):
    """Resources named by parameters, not by path: the collection URL takes every method, plus @actions."""

    routes = [
        Route(
            url=r"^{prefix}{trailing_slash}$",
            mapping={"get": "list", "post": "create", "put": "update", "delete": "destroy"},
            name="{basename}",
            detail=False,
            initkwargs={},
        ),
        DynamicRoute(
            url=r"^{prefix}/{url_path}{trailing_slash}$", name="{basename}-{url_name}", detail=False, initkwargs={}
        ),
    ]
