"""`manage.py worker`: the background workers of the configured task backend, and the periodic tasks.

It starts the backend's own worker processes (`db_worker` for the database backend, RQ's
`rqworker` for Redis) and, every so often, enqueues the periodic tasks of settings.PERIODIC_TASKS
(the sweeps that re-queue lost work, the cleanup). Neither django-tasks' database backend nor its
API has periodic tasks, so this loop is their scheduler. It keeps no state: a restart runs each
periodic task at once and goes on from there, and several workers scheduling them only sweep
more often. When a worker process ends, the command stops the others and exits with its code,
for the process manager (systemd, Kubernetes, `make run`) to restart.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.module_loading import import_string
from django_tasks import task_backends
from django_tasks_db import DatabaseBackend

from organizations import queue

STOP_GRACE_SECONDS = 30  # a delivery in progress may take WEBHOOK_TIMEOUT_SECONDS (20) to finish


def worker_command(processes_queue: str = "*") -> list[str]:
    """The command line of one worker process for the default backend."""
    backend = task_backends["default"]
    manage = str(Path(settings.BASE_DIR) / "manage.py")
    if isinstance(backend, DatabaseBackend):
        return [sys.executable, manage, "db_worker", "--queue-name", processes_queue, "--no-reload", "--interval", "1"]
    if type(backend).__name__ == "RQBackend":
        return [sys.executable, manage, "rqworker", *sorted(backend.queues), "--with-scheduler"]
    raise CommandError(
        f"TASKS_BACKEND={settings.TASKS_BACKEND} runs tasks inside the caller: there is nothing for a worker to do."
    )


class Command(BaseCommand):
    help = "Run the task workers of the configured backend, and schedule the periodic tasks."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--processes", type=int, default=1, help="Worker processes to run (default 1).")
        parser.add_argument(
            "--no-periodic", action="store_true", help="Do not schedule the periodic tasks (another worker does)."
        )

    def handle(self, *args: Any, processes: int, no_periodic: bool, **options: Any) -> None:
        command = worker_command()
        periodic = (
            {} if no_periodic else {import_string(path): seconds for path, seconds in settings.PERIODIC_TASKS.items()}
        )
        stopping: list[int] = []

        def stop(signum: int, frame: FrameType | None) -> None:
            stopping.append(signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        children = [subprocess.Popen(command) for _ in range(max(1, processes))]  # noqa: S603
        self.stdout.write(f"Worker: {len(children)} × {' '.join(command[2:])}; periodic: {len(periodic)} tasks")
        next_run = dict.fromkeys(periodic, 0.0)
        code = 0
        while not stopping:
            now = time.monotonic()
            for task, seconds in periodic.items():
                if now >= next_run[task]:
                    queue.enqueue(task)
                    next_run[task] = now + seconds
            ended = [child for child in children if child.poll() is not None]
            if ended:
                code = ended[0].returncode or 1
                self.stderr.write(f"A worker process exited ({ended[0].returncode}); stopping the others.")
                break
            time.sleep(0.5)
        for child in children:
            if child.poll() is None:
                child.send_signal(stopping[0] if stopping else signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children:
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        if code:
            sys.exit(code)
