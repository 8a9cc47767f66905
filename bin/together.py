"""Run commands side by side in the foreground; when one ends, or on Ctrl-C, stop them all.

    python bin/together.py -- gunicorn capgo_org.wsgi -- python manage.py worker

`make run` uses it for the web server and the worker. The exit code is the first ending command's.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from types import FrameType


def split(argv: list[str]) -> list[list[str]]:
    commands: list[list[str]] = []
    for arg in argv:
        if arg == "--":
            commands.append([])
        elif commands:
            commands[-1].append(arg)
    return [c for c in commands if c]


def main(argv: list[str]) -> int:
    commands = split(argv)
    if not commands:
        print(__doc__, file=sys.stderr)
        return 2
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    children = [subprocess.Popen(command) for command in commands]  # noqa: S603
    code = 0
    while not received:
        ended = [child for child in children if child.poll() is not None]
        if ended:
            code = ended[0].returncode
            break
        time.sleep(0.2)
    for child in children:
        if child.poll() is None:
            child.terminate()
    deadline = time.monotonic() + 40
    for child in children:
        try:
            child.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
