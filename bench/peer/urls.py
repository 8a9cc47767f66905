from __future__ import annotations

from django.urls import path

from bench.peer.views import OrganizationList

urlpatterns = [path("peer/organizations/", OrganizationList.as_view())]
