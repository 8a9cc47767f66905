"""Running queued tasks inside a test, on the database backend or on RQ, with the backends' own code.

`BACKENDS` are the TASKS settings of the two real backends; `run_tasks(name)` runs whatever is
ready in that backend the way its worker does (db_worker's claim and run; RQ's scheduler moving
due jobs, then a burst worker), in this process, so TestCase data and time-machine apply.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import transaction
from django.test import TestCase

DATABASE = "database"
RQ = "rq"
BACKENDS: dict[str, dict[str, Any]] = {
    DATABASE: {"default": {"BACKEND": "organizations.queue.RowDatabaseBackend", "QUEUES": ["default"]}},
    RQ: {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}},
}


def redis_or_skip() -> str:
    from tests.test_ratelimit import redis_url_or_skip

    return redis_url_or_skip()


def rq_queue() -> Any:
    import django_rq
    from django_tasks_rq import Job

    return django_rq.get_queue("default", job_class=Job)


def reset(backend: str) -> None:
    """An empty queue (the database one is emptied with the test's own rollback)."""
    if backend == RQ:
        rq_queue().connection.flushdb()


def run_tasks(backend: str) -> int:
    """Run every task that is ready now, and those they queue; returns how many ran.

    Inside a TestCase nothing commits, so what a task hands on after its commit (a retry, an
    email) is run the way a commit would run it.
    """
    total = 0
    while True:
        with TestCase.captureOnCommitCallbacks(execute=True):
            ran = _run_database_tasks() if backend == DATABASE else _run_rq_tasks()
        if not ran:
            return total
        total += ran


def _run_database_tasks() -> int:
    from django_tasks_db.management.commands.db_worker import Worker
    from django_tasks_db.models import DBTaskResult

    worker = Worker(
        queue_names=["*"], interval=0, batch=True, backend_name="default", startup_delay=False, max_tasks=None,
        worker_id="test-worker", excluded_queue_names=[],
    )  # fmt: skip
    ran = 0
    while True:
        with transaction.atomic():
            result = DBTaskResult.objects.ready().get_locked()
            if result is None:
                return ran
            result.claim(worker.worker_id)
        worker.run_task(result)
        ran += 1


def _run_rq_tasks() -> int:
    from rq import SimpleWorker
    from rq.utils import current_timestamp

    queue = rq_queue()
    registry = queue.scheduled_job_registry
    for job_id in registry.get_jobs_to_schedule(current_timestamp()):
        registry.remove(job_id)
        queue.enqueue_job(queue.job_class.fetch(job_id, connection=queue.connection))
    before = queue.count
    if before:
        SimpleWorker([queue], connection=queue.connection, job_class=queue.job_class).work(burst=True)
    return before


def backend_params() -> list[Any]:
    return [pytest.param(DATABASE, id="database"), pytest.param(RQ, id="rq")]
