"""`make run`'s supervisor (bin/together.py): one foreground command, both processes stop together."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import CommandError, call_command
from django.test import SimpleTestCase

TOGETHER = [sys.executable, str(Path(settings.BASE_DIR) / "bin" / "together.py")]
PY = sys.executable


class TogetherTestCase(SimpleTestCase):
    def test_when_one_command_ends_the_other_is_stopped_and_its_code_is_the_exit_code(self) -> None:
        started = time.monotonic()
        done = subprocess.run(
            [
                *TOGETHER,
                "--",
                PY,
                "-c",
                "import sys, time; time.sleep(0.5); sys.exit(3)",
                "--",
                PY,
                "-c",
                "import time; time.sleep(60)",
            ],  # fmt: skip
            timeout=30,
        )
        self.assertEqual(done.returncode, 3)
        self.assertLess(time.monotonic() - started, 20)

    def test_a_signal_stops_both(self) -> None:
        marker = "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); time.sleep(60)"
        process = subprocess.Popen([*TOGETHER, "--", PY, "-c", marker, "--", PY, "-c", marker])
        time.sleep(1)
        process.send_signal(signal.SIGINT)
        self.assertEqual(process.wait(20), 0)


class WorkerCommandTestCase(SimpleTestCase):
    def test_the_immediate_backend_has_nothing_for_a_worker(self) -> None:
        with self.assertRaises(CommandError):
            call_command("worker")
