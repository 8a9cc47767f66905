"""Every write about webhooks that has a rule, and the outbox the audit log feeds.

Each change runs in one transaction with its `webhooks` audit event (never the secret). A URL is
checked (resolved, every address public) before the transaction: a slow DNS answer holds no lock.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import timedelta
from functools import cache
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from organizations import audit, queue
from organizations.models import AuditEvent, Organization
from organizations.roles import Principal
from organizations.rows import Columns
from webhooks import delivery as sending
from webhooks import signing, transport
from webhooks.exceptions import DeliveryNotFailed, DeliveryNotFound, InvalidEvents, WebhookDisabled, WebhookNotFound
from webhooks.models import Delivery, Webhook

logger = logging.getLogger("webhooks")
Table = AuditEvent.Table
Op = AuditEvent.Operation


def clean_events(events: Any) -> list[str]:
    """A non-empty list of subscribable table names, each once, in the order given."""
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise InvalidEvents(details={"allowed": list(Webhook.EVENT_TABLES)})
    invalid = [e for e in events if e not in Webhook.EVENT_TABLES]
    if invalid:
        raise InvalidEvents(details={"invalid": invalid, "allowed": list(Webhook.EVENT_TABLES)})
    return list(dict.fromkeys(events))


def webhook_for(org: Organization, webhook_id: Any) -> Webhook:
    """The organization's webhook `webhook_id`; any other id (malformed, unknown, foreign) is the same 404."""
    webhook = Webhook.objects.filter(organization=org, pk=_uuid_or_none(webhook_id)).first()
    if webhook is None:
        raise WebhookNotFound()
    return webhook


def delivery_for(org: Organization, delivery_id: Any) -> Delivery:
    found = (
        Delivery.objects.select_related("webhook")
        .filter(webhook__organization=org, pk=_uuid_or_none(delivery_id))
        .first()
    )
    if found is None:
        raise DeliveryNotFound()
    return found


def _uuid_or_none(value: Any) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def webhook_create(
    *, actor: Principal, org: Organization, name: str, url: str, events: Any, enabled: bool = True
) -> tuple[Webhook, str]:
    """Create a webhook. Returns it and its secret, which is never shown again."""
    events = clean_events(events)
    transport.check_webhook_url(url)
    with transaction.atomic():
        webhook = Webhook.objects.create(
            organization=org, name=name, url=url, events=events, enabled=enabled, secret=signing.new_secret(),
            created_by=actor.user,
        )  # fmt: skip
        audit.record(
            actor, org_id=org.id, table=Table.WEBHOOKS, record_id=webhook.pk, operation=Op.INSERT,
            new=webhook.snapshot(),
        )  # fmt: skip
    logger.info("Webhook %s created in %s, to %s", webhook.pk, org.id, transport.host_of(url))
    return webhook, webhook.secret


WEBHOOK_EDITABLE_FIELDS = frozenset({"name", "url", "events", "enabled"})


def webhook_update(
    *, actor: Principal, org: Organization, webhook: Webhook, changes: dict[str, Any], rotate_secret: bool = False
) -> tuple[Webhook, str | None]:
    """Change a webhook; with `rotate_secret`, a new secret (returned once) while the old one signs for 24 h."""
    if "events" in changes:
        changes["events"] = clean_events(changes["events"])
    if "url" in changes and changes["url"] != webhook.url:
        transport.check_webhook_url(changes["url"])
    secret = None
    with transaction.atomic():
        webhook = Webhook.objects.select_for_update().filter(pk=webhook.pk, organization=org).first()
        if webhook is None:
            raise WebhookNotFound()
        before = webhook.snapshot()
        for field in WEBHOOK_EDITABLE_FIELDS & set(changes):
            setattr(webhook, field, changes[field])
        if changes.get("enabled"):
            webhook.disabled_reason = ""
        if rotate_secret:
            webhook.previous_secret = webhook.secret
            webhook.previous_secret_expires_at = timezone.now() + timedelta(hours=settings.WEBHOOK_SECRET_GRACE_HOURS)
            webhook.secret = secret = signing.new_secret()
        after = webhook.snapshot()
        if after != before or rotate_secret:
            webhook.save()
            audit.record(
                actor, org_id=org.id, table=Table.WEBHOOKS, record_id=webhook.pk, operation=Op.UPDATE, old=before,
                new=dict(after, secret_rotated=True) if rotate_secret else after,
            )  # fmt: skip
            logger.info("Webhook %s changed%s", webhook.pk, " (secret rotated)" if rotate_secret else "")
    return webhook, secret


def webhook_delete(*, actor: Principal, org: Organization, webhook: Webhook) -> None:
    """Delete a webhook with its deliveries (pending ones are not sent)."""
    with transaction.atomic():
        audit.record(
            actor, org_id=org.id, table=Table.WEBHOOKS, record_id=webhook.pk, operation=Op.DELETE,
            old=webhook.snapshot(),
        )  # fmt: skip
        webhook.delete()


def webhook_test(*, actor: Principal, org: Organization, webhook: Webhook) -> tuple[Delivery, transport.Result]:
    """Send a `test.ping` now and wait for the answer; it is logged like any delivery, never retried."""
    ping = Delivery.objects.create(
        webhook=webhook, event_type="test.ping", event_id=(event_id := sending.new_event_id()),
        payload=sending.ping_payload(actor, org.id, event_id),
    )  # fmt: skip
    ping.webhook = webhook
    return ping, sending.attempt_test(ping)


def delivery_retry(*, actor: Principal, org: Organization, delivery: Delivery) -> Delivery:
    """Send a failed delivery again, from a fresh set of attempts, to the webhook's current URL."""
    with transaction.atomic():
        delivery = Delivery.objects.select_for_update().select_related("webhook").get(pk=delivery.pk)
        if delivery.status != Delivery.Status.FAILED:
            raise DeliveryNotFailed(details={"status": delivery.status})
        if not delivery.webhook.enabled:
            raise WebhookDisabled()
        delivery.status, delivery.attempt_count, delivery.next_retry_at = Delivery.Status.PENDING, 0, timezone.now()
        delivery.response_status = delivery.duration_ms = delivery.completed_at = delivery.locked_until = None
        delivery.response_preview = ""
        delivery.save()
        queue.enqueue_on_commit(sending.deliver_task(), str(delivery.pk))
    return delivery


def stats_24h(webhook: Webhook) -> dict[str, int]:
    """Deliveries created in the last 24 hours, by status."""
    since = timezone.now() - timedelta(hours=24)
    counts = Delivery.objects.filter(webhook=webhook, created_at__gte=since).aggregate(
        **{status: Count("pk", filter=Q(status=status)) for status in Delivery.Status.values}
    )
    return {status: counts[status] for status in Delivery.Status.values}


# The outbox ------------------------------------------------------------------------------


_SUBSCRIBED = Columns(Webhook, "w", ["id", "organization_id", "events"])


@cache
def _enabled_webhooks_sql(organizations: int) -> str:
    """The enabled webhooks of `organizations` organizations (their ids, then True): written once per
    count rather than compiled by the ORM in every write's transaction."""
    qn = connection.ops.quote_name
    ids = ", ".join(["%s"] * organizations)
    return (
        f"SELECT {_SUBSCRIBED.select()} FROM {qn(Webhook._meta.db_table)} w "  # noqa: S608 - identifiers only
        f"WHERE w.{qn('organization_id')} IN ({ids}) AND w.{qn('enabled')} = %s"
    )


def deliveries_for_events(events: Sequence[AuditEvent]) -> None:
    """The audit log's subscriber: a delivery per event and matching enabled webhook, in the event's
    transaction; queued after it commits. A rolled-back change leaves none; a committed one is never lost.

    One query for an organization without webhooks; none for events outside any organization.
    """
    relevant = [e for e in events if e.org_id and e.table_name in Webhook.EVENT_TABLES]
    if not relevant:
        return
    org_ids = sorted({e.org_id for e in relevant})
    with connection.cursor() as cursor:
        cursor.execute(_enabled_webhooks_sql(len(org_ids)), [*org_ids, True])
        webhooks = [_SUBSCRIBED.values(row) for row in cursor.fetchall()]
    if not webhooks:
        return
    now, rows = timezone.now(), []
    for event in relevant:
        event_id = sending.new_event_id()
        payload = sending.event_payload(event, event_id)
        rows += [
            Delivery(
                webhook_id=pk, audit_event_id=event.pk, event_type=payload["event"], event_id=event_id,
                payload=payload, next_retry_at=now,
            )
            for pk, org_id, tables in webhooks
            if org_id == event.org_id and event.table_name in tables
        ]  # fmt: skip
    if rows:
        Delivery.objects.bulk_create(rows)
        deliver, ids = sending.deliver_task(), [str(row.pk) for row in rows]

        def queue_them() -> None:
            for pk in ids:
                queue.enqueue(deliver, pk)

        transaction.on_commit(queue_them)
