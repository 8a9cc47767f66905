"""API routes. Each answers with and without the trailing slash, without a redirect."""

from __future__ import annotations

from django.urls import re_path

from organizations.api import views

urlpatterns = [
    re_path(r"^organization/?$", views.OrganizationView.as_view(), name="api-organization"),
    re_path(r"^organization/members/?$", views.MembersView.as_view(), name="api-members"),
    re_path(r"^organization/members/accept/?$", views.MemberAcceptView.as_view(), name="api-members-accept"),
    re_path(r"^organization/audit/?$", views.AuditView.as_view(), name="api-audit"),
    re_path(r"^organization/security/?$", views.SecurityView.as_view(), name="api-security"),
    re_path(r"^apikey/?$", views.ApiKeyListView.as_view(), name="api-apikeys"),
    re_path(r"^apikey/(?P<key_id>[^/]+)/?$", views.ApiKeyDetailView.as_view(), name="api-apikey"),
]
