"""Our account pages; allauth's (login, sign-up, email, password, two-factor, sessions) follow them."""

from __future__ import annotations

from django.urls import path

from accounts import views

urlpatterns = [
    path("profile/", views.profile, name="profile"),
    path("keys/review/", views.key_review, name="key-review"),
    path("keys/revoke-all/", views.key_revoke_all, name="key-revoke-all"),
]
