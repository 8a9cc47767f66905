"""Single sign-on pages: the login by address, and an organization's connection and domains."""

from __future__ import annotations

from django.urls import path

from sso import views

urlpatterns = [
    path("sso/", views.sso_login, name="sso-login"),
    path("orgs/<str:org_id>/sso/connection/", views.connection_edit, name="sso-connection"),
    path("orgs/<str:org_id>/sso/test/", views.connection_test, name="sso-test"),
    path("orgs/<str:org_id>/sso/live/", views.connection_live, name="sso-live"),
    path("orgs/<str:org_id>/sso/delete/", views.connection_delete, name="sso-delete"),
    path("orgs/<str:org_id>/sso/domains/", views.domain_claim, name="sso-domain-claim"),
    path("orgs/<str:org_id>/sso/domains/<uuid:domain_id>/<slug:action>/", views.domain_action, name="sso-domain"),
]
