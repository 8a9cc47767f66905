"""gunicorn settings for the race tests: each worker pauses inside the last-super_admin check.

The pause (RACE_WINDOW seconds, after the check and before the write, inside the transaction)
makes the race certain, as tests/test_concurrency.py does in-process: without the write lock
taken when the transaction begins, both requests pass the check and the organization is left
without a super_admin, or SQLite refuses one of them (503). The project's own gunicorn
settings (gunicorn.conf.py, when there is one) still apply.
"""

from __future__ import annotations

import os
import runpy
import time
from pathlib import Path
from typing import Any

_PROJECT = Path(__file__).resolve().parent.parent / "gunicorn.conf.py"
if _PROJECT.exists():
    globals().update({k: v for k, v in runpy.run_path(str(_PROJECT)).items() if not k.startswith("__")})


def post_worker_init(worker: Any) -> None:
    from organizations import services

    guard = services._last_super_admin_guard
    window = float(os.environ.get("RACE_WINDOW", "0.3"))

    def slow(org: Any, membership: Any) -> None:
        guard(org, membership)
        time.sleep(window)

    services._last_super_admin_guard = slow
