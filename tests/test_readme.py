"""The README works as printed: its examples, run verbatim against a fresh `make run` in a fresh clone.

The clone is this checkout as it stands: `git clone`, then the uncommitted changes on top, so
that the test sees what a reader of this tree would. `make run` is the real one, in a fresh
environment (`env -i HOME=… PATH=…`), on a free port. Only the installation is shortened:
`.venv` is the outer one through a symlink, and the clone's `pyproject.toml` is dated before it
was installed, so `make run` finds it up to date instead of installing the same packages again.

The README's `sh` blocks under "## The API" are extracted from README.md at test time and run
in one fresh `bash`, in order, as a reader pastes them into one shell. A `curl` function wraps
the real curl to record each HTTP status: every command must succeed and every answer must be
below 400. The other `sh` blocks start `make run` (this test does), the test suite itself, or
the benchmark (minutes on PostgreSQL: `make bench`); the test checks that those are all.

Marked `readme` (`pytest -m readme`); `make test` runs it in the SQLite pass only.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.load import ROOT, call, free_port

pytestmark = pytest.mark.readme

OUTER_VENV = Path(sys.prefix)
RUN_SECTION = "The API"
# Sections whose blocks this test does not paste into a shell, and why (see the docstring).
NOT_PASTED = {"The two commands": "make run (started here) and make test", "Performance": "make bench"}


@dataclass
class Block:
    section: str
    text: str


def readme_blocks() -> list[Block]:
    """Every ```sh block of README.md with the `## ` section it is in."""
    blocks, section = [], ""
    for match in re.finditer(r"^## ([^\n]+)$|^```sh\n(.*?)^```$", (ROOT / "README.md").read_text(), re.M | re.S):
        if match.group(1):
            section = match.group(1).strip()
        else:
            blocks.append(Block(section, match.group(2)))
    return blocks


def fresh_env(**extra: str) -> dict[str, str]:
    """What `env -i HOME=$HOME PATH=$PATH` leaves: no variable of the test run (DATABASE_URL, REDIS_URL, …)."""
    venv_bin = str(OUTER_VENV / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "/usr/bin:/bin").split(os.pathsep) if p != venv_bin)
    return {"HOME": os.environ.get("HOME", "/root"), "PATH": path, **extra}


def clone_of_this_checkout(target: Path) -> None:
    """`git clone` of this checkout, with its uncommitted changes and new files on top."""
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    diff = subprocess.run(["git", "diff", "HEAD", "--binary"], cwd=ROOT, check=True, capture_output=True).stdout
    if diff:
        subprocess.run(["git", "apply", "--whitespace=nowarn"], cwd=target, input=diff, check=True)
    untracked = subprocess.run(
        ["git", "ls-files", "--others", "--exclude-standard", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout
    for name in filter(None, untracked.decode().split("\0")):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)


class Server:
    """A `make …` target serving on `port`, in its own process group so that it can be stopped whole."""

    def __init__(self, clone: Path, target: str, port: int) -> None:
        self.port = port
        self.log = clone.parent / f"make-{target}.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                ["make", target, f"PORT={port}"],
                cwd=clone, env=fresh_env(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_until_serving(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"make exited with {self.process.returncode}:\n{self.output()}")
            try:
                if call(self.port, "GET", "/healthz", timeout=5).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise AssertionError(f"nothing served on port {self.port} within {timeout} s:\n{self.output()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


@dataclass
class Checkout:
    path: Path
    server: Server

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`.venv/bin/python manage.py …` as the README prints it, in a fresh shell."""
        return subprocess.run(
            [".venv/bin/python", "manage.py", *args],
            cwd=self.path, env=fresh_env(), capture_output=True, text=True, timeout=60,
        )  # fmt: skip


@pytest.fixture(scope="module")
def checkout() -> Iterator[Checkout]:
    installed = OUTER_VENV / ".installed"
    if not installed.exists():
        pytest.fail(f"{installed} is missing: run the tests through make (make test), which installs the project")
    tmp = Path(tempfile.mkdtemp(prefix="capgo-readme-"))
    clone = tmp / "capgo-org"
    try:
        clone_of_this_checkout(clone)
        (clone / ".venv").symlink_to(OUTER_VENV)
        stamp = installed.stat().st_mtime - 60
        os.utime(clone / "pyproject.toml", (stamp, stamp))
        server = Server(clone, "run", free_port())
        try:
            server.wait_until_serving(timeout=300)
            yield Checkout(clone, server)
        finally:
            server.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


CURL_RECORDER = r"""
set -euo pipefail
trap 'echo "README command failed: $BASH_COMMAND" >&2' ERR
CURL_LOG=$(mktemp) CURL_BODY=$(mktemp)
# The real curl, recording each answer's status; an answer of 400 or more fails the command.
curl() {
    local status
    status=$(command curl --silent --show-error --output "$CURL_BODY" --write-out '%{http_code}' "$@")
    cat "$CURL_BODY"
    echo
    echo "$status" >> "$CURL_LOG"
    if [ "$status" -ge 400 ]; then echo "HTTP $status from: curl $*" >&2; return 22; fi
}
"""


def test_the_readme_has_no_other_kind_of_block() -> None:
    sections = {block.section for block in readme_blocks()}
    assert RUN_SECTION in sections
    assert sections - {RUN_SECTION} == set(NOT_PASTED), "a new README block: run it here, or say why not"
    [commands] = [block.text for block in readme_blocks() if block.section == "The two commands"]
    assert commands.startswith("make run ") and "make run PORT=" in commands  # what the fixture starts


def test_every_example_runs_as_printed_and_every_answer_succeeds(checkout: Checkout) -> None:
    blocks = [block.text for block in readme_blocks() if block.section == RUN_SECTION]
    script = CURL_RECORDER + "\n".join(f'echo "### block {n}"\n{text}' for n, text in enumerate(blocks))
    script += '\necho "### statuses: $(tr "\\n" " " < "$CURL_LOG")"\n'
    result = subprocess.run(
        ["bash", "-c", script], cwd=checkout.path, env=fresh_env(), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\nserver:\n{checkout.server.output()[-5000:]}"
    statuses = result.stdout.rsplit("### statuses: ", 1)[1].split()
    printed_calls = sum(len(re.findall(r"(?<![\w-])curl ", text)) for text in blocks)
    assert len(statuses) == printed_calls, (statuses, result.stdout)  # every curl of the README answered
    assert all(int(status) < 400 for status in statuses), statuses
    assert "201" in statuses  # the creations did happen


def test_make_run_serves_without_debug_pages(checkout: Checkout) -> None:
    page = call(checkout.server.port, "GET", "/no-such-page/")
    assert page.status == 404
    assert b"Not found \xc2\xb7 capgo-org" in page.body  # the site's own 404 page
    assert b"URLconf" not in page.body  # not Django's debug page listing every pattern
    api = call(checkout.server.port, "GET", "/organization/no-such-thing/")
    assert (api.status, api.json()["code"]) == (404, "not_found")


def test_the_demo_password_is_random_and_shown_once(checkout: Checkout) -> None:
    found = re.search(r"as demo@example\.com / (\S+) ", checkout.server.output())
    assert found, checkout.server.output()
    password = found.group(1)
    assert len(password) >= 16
    assert password != "demo-password-123"  # the fixed one it used to publish
    probe = (
        "from organizations.models import User; "
        f"print(User.objects.get(email='demo@example.com').check_password({password!r}))"
    )
    check = checkout.manage("shell", "-v", "0", "-c", probe)
    assert check.stdout.strip() == "True", check.stderr
    again = checkout.manage("seed_demo")  # what every later make run does
    assert again.returncode == 0, again.stderr
    assert password not in again.stdout
    assert "capgo_" not in again.stdout


def test_make_runs_settings_are_in_a_git_ignored_env_file(checkout: Checkout) -> None:
    env_file = (checkout.path / ".env").read_text()
    assert re.search(r"^SECRET_KEY=\S{50,}$", env_file, re.M)
    assert re.search(r"^DEBUG=false$", env_file, re.M)
    assert re.search(r"^HTTPS=false$", env_file, re.M)  # the explicit plain-HTTP choice
    assert f"SITE_URL=http://127.0.0.1:{checkout.server.port}\n" in env_file
    for name in (".env", "db.sqlite3"):
        ignored = subprocess.run(["git", "check-ignore", "-q", name], cwd=checkout.path)
        assert ignored.returncode == 0, f"{name} is not git-ignored"


def test_make_dev_serves_the_same_database_with_debug_on(checkout: Checkout) -> None:
    # Last: make dev points .env's SITE_URL at its own port, as it should.
    dev = Server(checkout.path, "dev", free_port())
    try:
        dev.wait_until_serving(timeout=120)
        page = call(dev.port, "GET", "/no-such-page/")
        assert page.status == 404
        assert b"URLconf" in page.body  # Django's debug page
    finally:
        dev.stop()
