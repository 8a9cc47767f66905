"""N writes to one SQLite file at the same moment: how many waited, for how long, and how many failed.

    .venv/bin/python bench/sqlite_writes.py [--writers 32] [--rounds 3] [--defaults | --options JSON]

Each writer is its own process (as gunicorn's workers are) with the production settings on a
fresh SQLite file. All of them rename the same organization through the service the API uses
(`organization_update`: it reads the organization under its lock, writes it and its audit
event in one transaction), released together by a barrier. A writer "waited" when beginning
its transaction took more than 1 ms: with `transaction_mode=IMMEDIATE` that is the time spent
queueing for SQLite's write lock. `--defaults` runs the same writes with Django's SQLite
defaults (deferred transactions, 5 s timeout, rollback journal), as before this setting;
`--options '{"timeout": 20, "init_command": "PRAGMA journal_mode=WAL"}'` tries other OPTIONS.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import prepare_database, server_env  # noqa: E402

WAITED = 0.001  # seconds


def _setup(database_url: str, options: dict[str, Any] | None) -> None:
    """Django on `database_url` with the project's settings, or with `options` as the SQLite OPTIONS."""
    os.environ.update(server_env(database_url))
    os.environ["DJANGO_SETTINGS_MODULE"] = "capgo_org.settings"
    import django
    from django.conf import settings

    if options is not None:
        settings.DATABASES["default"]["OPTIONS"] = options
    django.setup()


def _writer(n: int, database_url: str, options: dict[str, Any] | None, org_id: str, barrier: Any, results: Any) -> None:
    _setup(database_url, options)
    from django.db import connection

    from organizations import services
    from organizations.models import Organization, User
    from organizations.roles import Principal

    user = User.objects.get(email="writer@example.org")
    org = Organization.objects.get(pk=org_id)
    began: list[float] = []

    def timed(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        started = time.monotonic()
        try:
            return execute(sql, params, many, context)
        finally:
            if sql.startswith("BEGIN"):
                began.append(time.monotonic() - started)

    barrier.wait()
    started = time.monotonic()
    error = ""
    try:
        with connection.execute_wrapper(timed):
            services.organization_update(actor=Principal(user), org=org, changes={"name": f"Writer {n}"})
    except Exception as exc:  # reported, not raised: the point is to count them
        error = f"{exc.__class__.__name__}: {exc}"
    results.put({"wait": began[0] if began else 0.0, "duration": time.monotonic() - started, "error": error})


def prepare(options: dict[str, Any] | None) -> str:
    """A fresh, migrated SQLite file with the writers' user; Django set up on it in this process."""
    path = Path(tempfile.mkdtemp(prefix="capgo-sqlite-writes-")) / "db.sqlite3"
    database_url = f"sqlite:///{path}"
    prepare_database(database_url)
    _setup(database_url, options)
    from django.db import connection

    from organizations.models import User

    if options is not None and "WAL" not in options.get("init_command", ""):
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode=DELETE")  # the file was created in WAL mode
    User.objects.create_user("writer@example.org", "writer-pass-123")
    return database_url


def round_of(database_url: str, writers: int, options: dict[str, Any] | None) -> list[dict[str, Any]]:
    from django.db import connections

    from organizations import services
    from organizations.models import User
    from organizations.roles import Principal

    org = services.organization_create(actor=Principal(User.objects.get(email="writer@example.org")), name="Contended")
    connections.close_all()  # each process opens its own connection

    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(writers), context.Queue()
    processes = [
        context.Process(target=_writer, args=(n, database_url, options, org.id, barrier, results))
        for n in range(writers)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join()
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--defaults", action="store_true", help="Django's SQLite defaults instead of the project's")
    parser.add_argument("--options", type=json.loads, default=None, help="SQLite OPTIONS to try, as JSON")
    args = parser.parse_args()
    options = {} if args.defaults else args.options
    label = "the project's settings" if options is None else f"OPTIONS {json.dumps(options)}"
    print(f"{args.writers} concurrent writers, {args.rounds} rounds, {label}")
    database_url = prepare(options)
    for number in range(1, args.rounds + 1):
        outcomes = round_of(database_url, args.writers, options)
        failed = [o["error"] for o in outcomes if o["error"]]
        waited = [o["wait"] for o in outcomes if not o["error"] and o["wait"] > WAITED]
        print(
            f"round {number}: {len(outcomes) - len(failed)} succeeded, {len(failed)} failed; "
            f"{len(waited)} waited for the lock, the longest {max(waited, default=0) * 1000:.0f} ms; "
            f"slowest write {max(o['duration'] for o in outcomes) * 1000:.0f} ms"
        )
        for error in sorted(set(failed)):
            print(f"  {failed.count(error)} x {error}")


if __name__ == "__main__":
    main()
