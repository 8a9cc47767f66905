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
from django.utils import timezone
from django_tasks.base import Task
from django_tasks_db import DatabaseBackend

logger = logging.getLogger("organizations.queue")


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
