"""API routes: a router per kind of resource. Every path answers with and without the trailing slash.

    ViewSet               path                              GET       POST     PUT      DELETE
    OrganizationViewSet   /organization/                    list      create   update   destroy
    MemberViewSet         /organization/members/            list      create   -        destroy
                          /organization/members/accept/     -         accept   -        -
    AuditViewSet          /organization/audit/              list      -        -        -
    SecurityViewSet       /organization/security/           list      -        -        -
    ApiKeyViewSet         /apikey/                          list      create   -        -
                          /apikey/<key_id>/                 retrieve  -        update   destroy

Any other method is 405 `method_not_allowed`. The first three are named by parameters (orgId in
the query string or the body), so their one collection URL takes every method; API keys are
named by their path, as DRF routes a resource by default.
"""

from __future__ import annotations

from organizations.api import views
from organizations.api.routers import CollectionRouter, SlashOptionalRouter

collections = CollectionRouter()
collections.register("organization", views.OrganizationViewSet, basename="api-organization")
collections.register("organization/members", views.MemberViewSet, basename="api-members")
collections.register("organization/audit", views.AuditViewSet, basename="api-audit")
collections.register("organization/security", views.SecurityViewSet, basename="api-security")

resources = SlashOptionalRouter()
resources.register("apikey", views.ApiKeyViewSet, basename="api-apikey")

urlpatterns = collections.urls + resources.urls
