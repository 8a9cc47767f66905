"""Sending deliveries: the payload, one signed attempt, the retry schedule, and what failure does.

A delivery is a row (the outbox). A task (`webhooks.tasks.deliver`) calls `attempt`, which
first claims the row for a while, so the same delivery queued twice (by the sweep, say) is
never sent twice at once; a worker that dies mid-attempt lets the claim lapse and the sweep
queues the delivery again. Every attempt reads the webhook afresh: its current URL, its
current secrets, and whether it is still enabled.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from organizations import audit, emails, queue
from organizations.models import AuditEvent
from organizations.roles import Principal
from webhooks import signing, transport
from webhooks.models import Delivery, Webhook

logger = logging.getLogger("webhooks.delivery")

# The wait after the 1st, 2nd, ... failed attempt; 10 attempts in all.
RETRY_DELAYS = tuple(
    timedelta(seconds=s) for s in (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600, 20 * 3600, 24 * 3600)
)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
MAX_RETRY_AFTER = timedelta(hours=24)
TEST_PREVIEW_CHARS = 500


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def event_payload(event: AuditEvent, event_id: str) -> dict[str, Any]:
    """The body of an event's deliveries: the audit event's own fields (never a secret)."""
    name = f"{event.table_name}.{event.operation}"
    return {
        "type": name,
        "event": name,
        "event_id": event_id,
        "timestamp": _iso(event.created_at),
        "org_id": event.org_id,
        "data": {
            "table": event.table_name,
            "operation": event.operation,
            "record_id": event.record_id,
            "old_record": event.old_record,
            "new_record": event.new_record,
            "changed_fields": event.changed_fields,
            "actor_type": event.actor_type,
            "actor_user_id": event.actor_user_id,
            "actor_user_email": event.actor_user_email,
            "actor_apikey_id": event.actor_apikey_id,
            "actor_apikey_name": event.actor_apikey_name,
        },
    }


def ping_payload(actor: Principal | None, org_id: str, event_id: str) -> dict[str, Any]:
    """A `test.ping` body: the shape of an event (the caller as its actor), about nothing."""
    now = _iso(timezone.now())
    ping = audit.event(
        actor, org_id=org_id, table="test", record_id="test-record-id", operation="TEST",
        new={"message": "This is a test delivery from capgo-org.", "timestamp": now},
    )  # fmt: skip
    return {**event_payload(ping, event_id), "type": "test.ping", "event": "test.ping"}


def new_event_id() -> str:
    return str(uuid.uuid4())


def _send(webhook: Webhook, delivery: Delivery) -> transport.Result:
    body = json.dumps(delivery.payload, separators=(",", ":"))
    now = timezone.now()
    headers = signing.headers(
        webhook.signing_secrets(now), msg_id=delivery.event_id, timestamp=now, body=body, event=delivery.event_type
    )
    return transport.post(webhook.url, body.encode(), headers)


def _record(delivery: Delivery, result: transport.Result) -> None:
    delivery.attempt_count += 1
    delivery.response_status = result.status
    delivery.response_preview = result.preview
    delivery.duration_ms = result.duration_ms
    delivery.completed_at = timezone.now()
    delivery.locked_until = None


def _claim(delivery_id: str) -> bool:
    """Take a due pending delivery that nobody holds: one conditional UPDATE, safe between workers."""
    now = timezone.now()
    return bool(
        Delivery.objects.filter(pk=delivery_id, status=Delivery.Status.PENDING, next_retry_at__lte=now)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=now + timedelta(seconds=settings.WEBHOOK_CLAIM_SECONDS))
    )


def next_delay(attempts: int, retry_after: float | None) -> timedelta:
    """The wait after `attempts` failed attempts: the schedule, or longer when Retry-After asks (up to 24 h)."""
    delay = RETRY_DELAYS[attempts - 1]
    if retry_after is not None:
        delay = max(delay, min(timedelta(seconds=retry_after), MAX_RETRY_AFTER))
    return delay


def attempt(delivery_id: str) -> Delivery | None:
    """One attempt at a due delivery (the task). None when it was not due, or another worker has it."""
    if not _claim(delivery_id):
        return None
    delivery = Delivery.objects.select_related("webhook__organization").get(pk=delivery_id)
    webhook = delivery.webhook
    if not webhook.enabled:
        delivery.status, delivery.completed_at, delivery.locked_until = Delivery.Status.FAILED, timezone.now(), None
        delivery.response_preview = _("Not sent: the webhook is disabled.")
        delivery.save()
        return delivery
    result = _send(webhook, delivery)
    _record(delivery, result)
    with transaction.atomic():
        if result.ok:
            delivery.status, delivery.next_retry_at = Delivery.Status.SUCCESS, None
        elif result.status == 410:
            delivery.status, delivery.next_retry_at = Delivery.Status.FAILED, None
            disable(webhook, _("The receiver answered 410 Gone."))
        elif delivery.attempt_count >= MAX_ATTEMPTS:
            delivery.status, delivery.next_retry_at = Delivery.Status.FAILED, None
            disable(webhook, _("%(count)s delivery attempts failed in a row.") % {"count": MAX_ATTEMPTS})
        else:
            delivery.next_retry_at = timezone.now() + next_delay(delivery.attempt_count, result.retry_after)
            queue.enqueue_on_commit(deliver_task(), str(delivery.pk), at=delivery.next_retry_at)
        delivery.save()
    return delivery


def attempt_test(delivery: Delivery) -> transport.Result:
    """Send a test ping now, once: never retried, never disabling the webhook."""
    result = _send(delivery.webhook, delivery)
    _record(delivery, result)
    delivery.status = Delivery.Status.SUCCESS if result.ok else Delivery.Status.FAILED
    delivery.save()
    return result


def disable(webhook: Webhook, reason: str) -> None:
    """Turn a failing webhook off, say why (audited, actor: system), and tell the organization."""
    with transaction.atomic():
        # Only the webhook row is locked: PostgreSQL cannot lock the nullable side of the joins.
        webhook = (
            Webhook.objects.select_for_update(of=("self",))
            .select_related("organization", "created_by")
            .get(pk=webhook.pk)
        )
        if not webhook.enabled:
            return
        before = webhook.snapshot()
        webhook.enabled, webhook.disabled_reason = False, reason
        webhook.save(update_fields=["enabled", "disabled_reason", "updated_at"])
        org = webhook.organization
        if org is None:
            return  # its organization is gone: nobody to tell
        audit.record(
            None, org_id=org.id, table=AuditEvent.Table.WEBHOOKS, record_id=webhook.pk, operation="UPDATE",
            old=before, new=webhook.snapshot(),
        )  # fmt: skip
        _notify_disabled(webhook, reason)


def _notify_disabled(webhook: Webhook, reason: str) -> None:
    org = webhook.organization
    language = (webhook.created_by.language if webhook.created_by else "") or settings.LANGUAGE_CODE
    with translation.override(language):
        context = {"webhook": webhook, "organization": org, "reason": reason, "host": transport.host_of(webhook.url)}
        subject = " ".join(render_to_string("emails/webhook_disabled_subject.txt", context).split())
        body = render_to_string("emails/webhook_disabled.txt", context)
    emails.queue_email(subject=subject, body=body, to=[org.management_email])


def due_delivery_ids(limit: int = 1000) -> list[str]:
    """Pending deliveries that are due and held by nobody: what the sweep queues again."""
    now = timezone.now()
    rows = (
        Delivery.objects.filter(status=Delivery.Status.PENDING, next_retry_at__lte=now)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .order_by("next_retry_at")
        .values_list("pk", flat=True)[:limit]
    )
    return [str(pk) for pk in rows]


def cleanup() -> dict[str, int]:
    """Deliveries past the retention period go; so do detached webhooks with nothing left to send."""
    cutoff = timezone.now() - timedelta(days=settings.WEBHOOK_RETENTION_DAYS)
    old, _by_model = Delivery.objects.filter(created_at__lt=cutoff).delete()
    detached = Webhook.objects.filter(organization__isnull=True).exclude(deliveries__status=Delivery.Status.PENDING)
    _total, by_model = detached.delete()
    return {"deliveries": old, "webhooks": by_model.get(Webhook._meta.label, 0)}


def deliver_task():  # noqa: ANN201 - the task; imported late, as webhooks.tasks imports this module
    from webhooks.tasks import deliver

    return deliver
