"""Page routes (server-rendered)."""

from __future__ import annotations

import re

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.urls import URLPattern, path, re_path
from django.views.static import serve

from organizations import views

urlpatterns = [
    path("", views.home, name="home"),
    # Organizations
    path("orgs/", views.org_list, name="org-list"),
    path("orgs/new/", views.org_create, name="org-create"),
    path("orgs/<str:org_id>/", views.org_detail, name="org-detail"),
    path("orgs/<str:org_id>/settings/", views.org_settings, name="org-settings"),
    path("orgs/<str:org_id>/settings/security/", views.org_security, name="org-security"),
    path("orgs/<str:org_id>/password/confirm/", views.org_password_confirm, name="org-password-confirm"),
    path("orgs/<str:org_id>/delete/", views.org_delete, name="org-delete"),
    path("orgs/<str:org_id>/audit/", views.org_audit, name="org-audit"),
    path("orgs/<str:org_id>/leave/", views.org_leave, name="org-leave"),
    path("orgs/<str:org_id>/join/", views.org_join, name="org-join"),
    path("orgs/<str:org_id>/decline/", views.org_decline, name="org-decline"),
    # Members and invitations
    path("orgs/<str:org_id>/members/", views.org_members, name="org-members"),
    path("orgs/<str:org_id>/members/invite/", views.member_invite, name="member-invite"),
    path("orgs/<str:org_id>/members/<uuid:user_id>/role/", views.member_change_role, name="member-role"),
    path("orgs/<str:org_id>/members/<uuid:user_id>/remove/", views.member_remove, name="member-remove"),
    path(
        "orgs/<str:org_id>/invitations/<uuid:invitation_id>/resend/",
        views.invitation_resend,
        name="invitation-resend",
    ),
    path(
        "orgs/<str:org_id>/invitations/<uuid:invitation_id>/cancel/",
        views.invitation_cancel,
        name="invitation-cancel",
    ),
    path("invitations/accept/", views.invitation_accept, name="invitation-accept"),
    path("invitations/<str:token>/", views.invitation_link, name="invitation-link"),
    # API keys
    path("keys/", views.apikey_list, name="apikey-list"),
    path("keys/new/", views.apikey_create, name="apikey-create"),
    path("keys/<int:key_id>/regenerate/", views.apikey_regenerate, name="apikey-regenerate"),
    path("keys/<int:key_id>/delete/", views.apikey_delete, name="apikey-delete"),
]


def _media_patterns() -> list[URLPattern]:
    """Uploaded logos and avatars, when they live in the local folder (S3 serves its own)."""
    local = settings.STORAGES["default"]["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    prefix = settings.MEDIA_URL
    if not local or not prefix.startswith("/") or prefix == "/":
        return []
    return [re_path(rf"^{re.escape(prefix.lstrip('/'))}(?P<path>.+)$", _serve_media, name="media")]


def _serve_media(request: HttpRequest, path: str) -> HttpResponseBase:
    # MEDIA_ROOT is read per request so tests can point it at a temporary folder.
    return serve(request, path, document_root=settings.MEDIA_ROOT)


urlpatterns += _media_patterns()
