"""Account pages of ours beside allauth's: the profile and the API-key review."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from accounts.adapter import set_language_cookie
from accounts.forms import ProfileForm
from organizations import services
from organizations.models import ApiKey, User
from organizations.roles import Principal


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    user: User = request.user
    initial = {"name": user.name, "language": user.language or translation.get_language()}
    form = ProfileForm(request.POST or None, request.FILES or None, initial=initial, has_avatar=bool(user.avatar))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        old_avatar = user.avatar.name or None
        user.name = data["name"]
        user.language = data["language"]
        if data["avatar"] is not None:
            user.avatar.save(data["avatar"].name, data["avatar"], save=False)
        elif data.get("remove_avatar"):
            user.avatar = ""
        user.save()
        if old_avatar and old_avatar != user.avatar.name:
            user.avatar.storage.delete(old_avatar)
        translation.activate(user.language)
        messages.success(request, _("Your profile was saved."))
        response = redirect("profile")
        set_language_cookie(response, user.language)
        return response
    return render(request, "accounts/profile.html", {"form": form})


@login_required
def key_review(request: HttpRequest) -> HttpResponse:
    """After a password change or reset: the keys that still work, and one button to revoke them all.

    A key made by someone who briefly held the account must not survive unnoticed.
    """
    keys = ApiKey.objects.filter(user=request.user, revoked_at__isnull=True).order_by("created_at", "id")
    return render(request, "account/key_review.html", {"keys": keys})


@login_required
@require_POST
def key_revoke_all(request: HttpRequest) -> HttpResponse:
    count = services.api_keys_revoke_all(actor=Principal(request.user), user=request.user)
    messages.success(
        request,
        ngettext("%(count)d API key was revoked.", "%(count)d API keys were revoked.", count) % {"count": count},
    )
    return redirect("apikey-list")
