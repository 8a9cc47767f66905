"""Outgoing emails leave the request: stored with the change, sent by a task.

`queue_email` stores a message in the current transaction (so it commits or rolls back with
the change that caused it) and queues `organizations.tasks.send_email` with it (on the database
task backend in the same transaction, otherwise after the commit). The message is rendered
already, or (the project's own emails, `TEMPLATES`) rendered by the worker from a stored
context, so that an invitation costs its request no template rendering. The task sends it
through `EMAIL_DELIVERY_BACKEND`; a failure is retried on a schedule, and the periodic sweep
re-queues any email whose task was lost. An SMTP outage therefore never fails the request, and
never loses the email.

`QueuedEmailBackend` (settings.EMAIL_BACKEND) does the same for everything that calls Django's
`send_mail()` or `EmailMessage.send()`: password resets, and any library's mail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from organizations import queue
from organizations.models import Email
from organizations.roles import Role
from organizations.rows import insert

if TYPE_CHECKING:
    from organizations.models import Invitation, User

logger = logging.getLogger("organizations.emails")

# Wait after the 1st, 2nd, ... failed attempt: about three and a half days in all, then the
# email is marked failed (staff can send it again from the admin).
RETRY_DELAYS = tuple(
    timedelta(seconds=s) for s in (10, 60, 300, 900, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400, 86400, 86400)
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
# Longer than an SMTP conversation can take (EMAIL_TIMEOUT); past it, the row is free again.
LEASE = timedelta(minutes=5)


def queue_email(
    *,
    subject: str,
    body: str,
    to: Sequence[str],
    html: str | None = None,
    from_email: str | None = None,
    cc: Sequence[str] = (),
    bcc: Sequence[str] = (),
    reply_to: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
    template: str = "",
    context: Mapping[str, Any] | None = None,
) -> Email:
    """Store an email and send it once the current transaction commits, retrying until it goes.

    With `template` (a key of `TEMPLATES`), the worker renders the body and the HTML from `context`.
    """
    if template and template not in TEMPLATES:
        raise ValueError(f"unknown email template {template!r}")
    email = insert(
        Email(
            subject=subject,
            body=body,
            html=html or "",
            template=template,
            context=dict(context or {}),
            from_email=from_email or settings.DEFAULT_FROM_EMAIL,
            to=list(to),
            cc=list(cc),
            bcc=list(bcc),
            reply_to=list(reply_to),
            headers=dict(headers or {}),
        )
    )
    from organizations.tasks import send_email  # the tasks module imports this one

    queue.enqueue_on_commit(send_email, email.pk)
    return email


def queue_message(message: EmailMessage) -> Email:
    """`queue_email` for a Django EmailMessage (its first text/html alternative becomes the HTML part)."""
    alternatives = getattr(message, "alternatives", [])
    html = next((content for content, mimetype in alternatives if mimetype == "text/html"), None)
    return queue_email(
        subject=message.subject,
        body=message.body,
        html=html,
        to=message.to,
        from_email=message.from_email,
        cc=message.cc,
        bcc=message.bcc,
        reply_to=message.reply_to,
        headers=message.extra_headers,
    )


class QueuedEmailBackend(BaseEmailBackend):
    """An email backend that queues: `send_mail()` returns at once, the worker sends."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        queued = 0
        for message in email_messages:
            try:
                queue_message(message)
            except Exception:
                # mail_admins() reports errors with fail_silently: the database may be what failed.
                if not self.fail_silently:
                    raise
                logger.exception("Could not queue an email")
            else:
                queued += 1
        return queued


def _claim(email_id: int) -> Email | None:
    """Take the email if it is due and nobody holds it: one conditional UPDATE, safe between workers."""
    now = timezone.now()
    taken = (
        Email.objects.filter(pk=email_id, status=Email.Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=now + LEASE)
    )
    return Email.objects.filter(pk=email_id).first() if taken else None


def send_now(email_id: int) -> bool:
    """One attempt at a due email (the task). True when it was sent."""
    email = _claim(email_id)
    if email is None:
        return False  # sent already, not due yet, or another worker has it
    if email.template:
        email.body, email.html = TEMPLATES[email.template](email.context)
    message = EmailMultiAlternatives(
        email.subject,
        email.body,
        email.from_email,
        email.to,
        cc=email.cc,
        bcc=email.bcc,
        reply_to=email.reply_to,
        headers=email.headers,
        connection=get_connection(settings.EMAIL_DELIVERY_BACKEND, fail_silently=False),
    )
    if email.html:
        message.attach_alternative(email.html, "text/html")
    email.attempts += 1
    try:
        message.send()
    except Exception as exc:
        # The class and message of an SMTP error name the server's answer, never the email's content.
        email.last_error = f"{type(exc).__name__}: {exc}"[:500]
        if email.attempts >= MAX_ATTEMPTS:
            email.status = Email.Status.FAILED
            logger.error("Email %s failed %s times; giving up (%s)", email.pk, email.attempts, type(exc).__name__)
        else:
            email.next_attempt_at = timezone.now() + RETRY_DELAYS[email.attempts - 1]
            logger.warning("Email %s not sent (attempt %s, %s); retrying", email.pk, email.attempts, type(exc).__name__)
        email.locked_until = None
        email.save(update_fields=["attempts", "last_error", "status", "next_attempt_at", "locked_until"])
        if email.status == Email.Status.PENDING:
            from organizations.tasks import send_email

            queue.enqueue(send_email, email.pk, at=email.next_attempt_at)
        return False
    email.status, email.sent_at, email.locked_until, email.last_error = Email.Status.SENT, timezone.now(), None, ""
    email.body = email.html = ""
    email.context = {}
    email.save(update_fields=["attempts", "status", "sent_at", "locked_until", "last_error", "body", "html", "context"])
    return True


def due_email_ids(limit: int = 1000) -> list[int]:
    """Pending emails that are due and held by nobody: what the sweep queues again."""
    now = timezone.now()
    return list(
        Email.objects.filter(status=Email.Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def resend(email: Email) -> None:
    """Queue a failed email again (the admin's action), with a fresh set of attempts."""
    Email.objects.filter(pk=email.pk).update(
        status=Email.Status.PENDING, attempts=0, next_attempt_at=timezone.now(), locked_until=None
    )
    from organizations.tasks import send_email

    queue.enqueue_on_commit(send_email, email.pk)


# The project's own emails ----------------------------------------------------------------


def invitation_url(token: str) -> str:
    return settings.SITE_URL + reverse("invitation-link", args=[token])


def send_invitation(invitation: Invitation, token: str, *, inviter: User) -> Email:
    """Queue the invitation link, in the inviter's language, naming the organization and the inviter.

    Call inside the transaction that writes the invitation: they commit together. The subject is
    rendered here (the admin lists it); the body and its HTML by the worker, from what the
    invitation said at this moment (a resend with another role or expiry is another email).
    """
    language = inviter.language or translation.get_language() or settings.LANGUAGE_CODE
    context = {
        "language": language,
        "organization": {"name": invitation.organization.name},
        "inviter": {"name": inviter.name, "email": inviter.email},
        "role": invitation.role,
        "url": invitation_url(token),
        "expires_at": invitation.expires_at.isoformat(),
    }
    with translation.override(language):
        # One line whatever the organization's name holds: a newline in a header is refused.
        subject = " ".join(render_to_string("emails/invitation_subject.txt", context).split())
    return queue_email(subject=subject, body="", to=[invitation.email], template="invitation", context=context)


def _render_invitation(context: Mapping[str, Any]) -> tuple[str, str]:
    """The text and HTML of an invitation from `send_invitation`'s context."""
    with translation.override(context["language"]):
        values = {
            "organization": context["organization"],
            "inviter": context["inviter"],
            "invitation": {"get_role_display": str(Role(context["role"]).label)},
            "url": context["url"],
            "expires_at": datetime.fromisoformat(context["expires_at"]),
        }
        return render_to_string("emails/invitation.txt", values), render_to_string("emails/invitation.html", values)


# The messages the worker renders: Email.template → a function from its context to (text, HTML).
TEMPLATES: dict[str, Callable[[Mapping[str, Any]], tuple[str, str]]] = {"invitation": _render_invitation}
