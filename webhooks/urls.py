"""Webhook pages (server-rendered), under the organization's pages."""

from __future__ import annotations

from django.urls import path

from webhooks import views

urlpatterns = [
    path("orgs/<str:org_id>/webhooks/", views.webhook_list, name="webhook-list"),
    path("orgs/<str:org_id>/webhooks/new/", views.webhook_create, name="webhook-create"),
    path("orgs/<str:org_id>/webhooks/<uuid:webhook_id>/", views.webhook_detail, name="webhook-detail"),
    path("orgs/<str:org_id>/webhooks/<uuid:webhook_id>/toggle/", views.webhook_toggle, name="webhook-toggle"),
    path("orgs/<str:org_id>/webhooks/<uuid:webhook_id>/test/", views.webhook_test, name="webhook-test"),
    path("orgs/<str:org_id>/webhooks/<uuid:webhook_id>/rotate/", views.webhook_rotate, name="webhook-rotate"),
    path("orgs/<str:org_id>/webhooks/<uuid:webhook_id>/delete/", views.webhook_delete, name="webhook-delete"),
    path(
        "orgs/<str:org_id>/webhooks/<uuid:webhook_id>/deliveries/<uuid:delivery_id>/retry/",
        views.delivery_retry,
        name="delivery-retry",
    ),
]
