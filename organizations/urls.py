"""Page routes (server-rendered)."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from organizations import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/signup/", views.signup, name="signup"),
    path("orgs/", views.org_list, name="org-list"),
    path("invitations/<str:token>/", views.invitation_accept, name="invitation-accept"),
]
