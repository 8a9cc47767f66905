"""Background tasks of the organizations app: sending the queued emails (organizations.emails)."""

from __future__ import annotations

from django.core.management import call_command
from django_tasks import task, task_backends
from django_tasks_db import DatabaseBackend

from organizations import emails, queue


@task()
def send_email(email_id: int) -> bool:
    """Send one queued email (retries are scheduled by `emails.send_now`)."""
    return emails.send_now(email_id)


@task()
def sweep_emails() -> int:
    """Queue again every due email that no worker holds: the ones whose task was lost or never queued."""
    due = emails.due_email_ids()
    for email_id in due:
        queue.enqueue(send_email, email_id)
    return len(due)


@task()
def prune_task_results() -> None:
    """The database backend keeps a row per task run: drop finished ones after a day (failed: a week)."""
    if isinstance(task_backends["default"], DatabaseBackend):
        call_command("prune_db_task_results", "--min-age-days", "1", "--failed-min-age-days", "7", verbosity=0)
