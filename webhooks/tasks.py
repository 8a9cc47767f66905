"""Background tasks of the webhooks: deliver one, sweep up lost ones, clean up old ones."""

from __future__ import annotations

from django_tasks import task

from organizations import queue
from webhooks import delivery


@task()
def deliver(delivery_id: str) -> str | None:
    """One attempt at a delivery; failures schedule the next one (webhooks.delivery.attempt)."""
    done = delivery.attempt(delivery_id)
    return done.status if done is not None else None


@task()
def sweep_deliveries() -> int:
    """Queue again every due delivery no worker holds: a task lost in a crash, or never queued."""
    due = delivery.due_delivery_ids()
    for delivery_id in due:
        queue.enqueue(deliver, delivery_id)
    return len(due)


@task()
def cleanup() -> dict[str, int]:
    """Deliveries older than WEBHOOK_RETENTION_DAYS go, and detached webhooks with nothing left to send."""
    return delivery.cleanup()
