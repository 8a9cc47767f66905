from __future__ import annotations

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from organizations import health
from organizations import views as page_views
from organizations.api.errors import not_found_view

urlpatterns = [
    # Probes first: a load balancer calls them constantly, and they should resolve in one step.
    re_path(r"^healthz/?$", health.healthz, name="healthz"),
    re_path(r"^readyz/?$", health.readyz, name="readyz"),
    path("", include("organizations.api.urls")),
    path("", include("webhooks.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="api-docs"),
    # Staff log in through the site's login (with its two-factor step and rate limits).
    path("admin/login/", secure_admin_login(admin.site.login)),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("accounts/", include("allauth.urls")),
    # Django's set_language, which also saves a logged-in user's choice (User.language).
    path("i18n/setlang/", page_views.set_language, name="set_language"),
    path("", include("organizations.urls")),
    path("", include("webhooks.urls")),
    path("", include("sso.urls")),
    # Anything else under the API prefixes is a JSON 404, not a page.
    re_path(r"^(?:organization|apikey|webhooks)(?:/.*)?$", not_found_view),
]

handler404 = "organizations.views.not_found"
handler500 = "organizations.views.server_error"
