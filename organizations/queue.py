"""Handing work to the task queue.

Work that must not be lost is a row of its own that says when it is due (an email, a webhook
delivery). A task only wakes a worker for that row, so queueing may fail (Redis is down) or a
queued task may be lost (its worker was killed) without losing the work: the periodic sweep
finds due rows and queues them again, and each task first claims its row, so a row queued
twice is still sent once at a time.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.db import connection, transaction
from django.db.models.signals import post_save, pre_save
from django.utils import timezone
from django_tasks.base import Task
from django_tasks_db import DatabaseBackend
from django_tasks_db.compat import normalize_json

from organizations import rows

logger = logging.getLogger("organizations.queue")


class RowDatabaseBackend(DatabaseBackend):
    """django-tasks-db's backend (TASKS_BACKEND=database), writing a task's row with `rows.insert`:
    the INSERT written once, not compiled by the ORM on every task queued, which on an invitation
    cost more CPU than any other statement of the request (bench/README.md). The row is the one
    `DBTaskResult.objects.create` writes (tests/test_email_outbox.py compares them), with the
    save signals it sends: django-tasks-db's own pre_save receiver fills in `run_after`."""

    def _task_to_db_task(self, task: Task, args: Any, kwargs: Any) -> Any:
        from django_tasks_db.models import DBTaskResult

        result = DBTaskResult(
            id=self._get_id(),
            args_kwargs=normalize_json({"args": args, "kwargs": kwargs}),
            priority=task.priority,
            task_path=task.module_path,
            queue_name=task.queue_name,
            run_after=task.run_after,
            backend_name=self.alias,
        )
        using = connection.alias
        pre_save.send(sender=DBTaskResult, instance=result, raw=False, using=using, update_fields=None)
        rows.insert(result)
        post_save.send(sender=DBTaskResult, instance=result, created=True, raw=False, using=using, update_fields=None)
        return result


def _deferred(task: Task, at: datetime | None) -> Task | None:
    """`task`, to run not before `at`; None when it is not due yet and its backend cannot wait
    (the immediate one: the sweep queues it once it is due)."""
    if at is None or at <= timezone.now():
        return task
    return task.using(run_after=at) if task.get_backend().supports_defer else None


def enqueue(task: Task, *args: Any, at: datetime | None = None) -> None:
    """Queue `task(*args)`, not before `at` when given. Never raises: a failure is logged, the sweep catches up."""
    task = _deferred(task, at)
    if task is None:
        return
    try:
        task.enqueue(*args)
    except Exception:
        logger.exception("Could not queue %s; the periodic sweep will queue it again", task.name)


def enqueue_on_commit(task: Task, *args: Any, at: datetime | None = None) -> None:
    """Queue with the current transaction: nothing if it rolls back (at once outside one).

    On the database backend the task's row is written in the transaction itself, so it commits
    with the work it is for, in the same commit: one statement and one commit fewer than queueing
    after it, and no moment when the work is committed and its task not yet. A failure to write
    it fails the transaction, as any of its statements would. Other backends (Redis, the immediate
    one that runs the task at once) queue after the commit.
    """
    if connection.in_atomic_block and isinstance(task.get_backend(), DatabaseBackend):
        _deferred(task, at).enqueue(*args)  # the database backend can always wait
        return
    transaction.on_commit(lambda: enqueue(task, *args, at=at))
