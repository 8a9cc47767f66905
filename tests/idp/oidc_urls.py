"""The test OpenID provider's URLs: DOT under /o/, a login page, and the test's own admin endpoint."""

from __future__ import annotations

import json
import os

from django.contrib.auth import get_user_model
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.models import get_application_model


@csrf_exempt
def admin(request: HttpRequest) -> HttpResponse:
    """What an operator does in the IdP's console: register a client (with its redirect URI), add a user."""
    if request.headers.get("X-Test-Token") != os.environ["IDP_ADMIN_TOKEN"]:
        return HttpResponseForbidden()
    data = json.loads(request.body)
    for app in data.get("apps", []):
        application = get_application_model().objects.filter(client_id=app["client_id"]).first()
        if application is None:
            application = get_application_model()(client_id=app["client_id"])
        application.name = app["client_id"]
        application.client_secret = app["client_secret"]
        application.client_type = "confidential"
        application.authorization_grant_type = "authorization-code"
        application.redirect_uris = " ".join(app["redirect_uris"])
        application.algorithm = "RS256"
        application.skip_authorization = True
        application.save()
    for user in data.get("users", []):
        model = get_user_model()
        account = model.objects.filter(username=user["username"]).first() or model(username=user["username"])
        account.email, account.first_name = user["email"], user.get("name", "")
        account.set_password(user["password"])
        account.save()
    return HttpResponse("ok")


urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("login/", LoginView.as_view(template_name="registration/login.html"), name="login"),
    path("_test/admin/", admin),
]
