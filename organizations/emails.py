"""Outgoing emails. Sent after the transaction that caused them has committed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

if TYPE_CHECKING:
    from organizations.models import Invitation, User


def invitation_url(token: str) -> str:
    return settings.SITE_URL + reverse("invitation-link", args=[token])


def send_invitation(invitation: Invitation, token: str, *, inviter: User) -> None:
    """Email the invitation link, in the inviter's language, naming the organization and the inviter."""
    language = inviter.language or translation.get_language() or settings.LANGUAGE_CODE
    with translation.override(language):
        context = {
            "invitation": invitation,
            "organization": invitation.organization,
            "inviter": inviter,
            "url": invitation_url(token),
            "expires_at": invitation.expires_at,
        }
        # One line whatever the organization's name holds: a newline in a header is refused.
        subject = " ".join(render_to_string("emails/invitation_subject.txt", context).split())
        text = render_to_string("emails/invitation.txt", context)
        html = render_to_string("emails/invitation.html", context)
    message = EmailMultiAlternatives(subject, text, settings.DEFAULT_FROM_EMAIL, [invitation.email])
    message.attach_alternative(html, "text/html")
    message.send()
