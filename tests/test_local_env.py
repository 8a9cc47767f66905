"""make run's `.env`: what it writes, what it keeps, and how the settings read it.

The settings are read in a subprocess (they read the environment once, at import), with only
the `.env` under test and none of the variables it sets.
"""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import TestCase

from capgo_org import local_env
from organizations.management.commands.seed_demo import is_make_run_database
from organizations.models import Organization, User
from tests.test_deploy import PRODUCTION, manage

PROBE = (
    "import json; from django.conf import settings as s; print('RESULT ' + json.dumps({"
    "'SECRET_KEY': s.SECRET_KEY, 'DEBUG': s.DEBUG, 'SITE_URL': s.SITE_URL, 'ALLOWED_HOSTS': s.ALLOWED_HOSTS,"
    "'SECURE_SSL_REDIRECT': s.SECURE_SSL_REDIRECT, 'SESSION_COOKIE_SECURE': s.SESSION_COOKIE_SECURE}))"
)


def settings_with(env_file: Path, **env_changes: str | None) -> dict[str, object]:
    """The settings of a process that has only `env_file` (nothing make run's .env sets is in its environment)."""
    unset: dict[str, str | None] = dict.fromkeys((*PRODUCTION, "SITE_URL", "HTTPS"))
    result = manage("shell", "-v", "0", "-c", PROBE, **{**unset, "ENV_FILE": str(env_file), **env_changes})
    assert result.returncode == 0, result.stderr
    return json.loads(next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))[7:])


def read(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line and line[0] != "#")


def test_the_first_run_writes_production_settings_for_this_machine_over_plain_http(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    local_env.write(path, 8123)
    values = read(path)
    assert len(values.pop("SECRET_KEY")) >= 50
    assert values == {
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "SITE_URL": "http://127.0.0.1:8123",
        "HTTPS": "false",
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds the secret key


def test_later_runs_keep_the_secret_key_and_hand_made_lines_and_follow_the_port(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    local_env.write(path, 8000)
    key = read(path)["SECRET_KEY"]
    path.write_text(path.read_text() + "LOG_LEVEL=DEBUG\n")
    local_env.write(path, 8123)
    values = read(path)
    assert values["SECRET_KEY"] == key
    assert values["SITE_URL"] == "http://127.0.0.1:8123"
    assert values["LOG_LEVEL"] == "DEBUG"
    assert list(values).count("SITE_URL") == 1


def test_every_manage_py_command_runs_on_the_env_file_alone(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    local_env.write(path, 8123)
    values = settings_with(path)
    assert values == {
        "SECRET_KEY": read(path)["SECRET_KEY"],
        "DEBUG": False,
        "SITE_URL": "http://127.0.0.1:8123",
        "ALLOWED_HOSTS": ["127.0.0.1", "localhost"],
        "SECURE_SSL_REDIRECT": False,
        "SESSION_COOKIE_SECURE": False,
    }


def test_real_environment_variables_win_over_the_file(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    local_env.write(path, 8123)
    values = settings_with(path, SITE_URL="https://orgs.example.com", HTTPS="true", ALLOWED_HOSTS="orgs.example.com")
    assert values["SITE_URL"] == "https://orgs.example.com"
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["ALLOWED_HOSTS"] == ["orgs.example.com"]


def test_without_the_file_production_still_needs_a_secret_key(tmp_path: Path) -> None:
    result = manage("check", ENV_FILE=str(tmp_path / "missing.env"), SECRET_KEY=None)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


@pytest.mark.parametrize(
    ("engine", "name", "expected"),
    [
        ("django.db.backends.sqlite3", local_env.ENV_PATH.parent / "db.sqlite3", True),
        ("django.db.backends.sqlite3", "/tmp/elsewhere/db.sqlite3", False),
        ("django.db.backends.sqlite3", ":memory:", False),
        ("django.db.backends.postgresql", "db.sqlite3", False),
    ],
)
def test_only_this_checkouts_db_sqlite3_is_make_runs_database(engine: str, name: object, expected: bool) -> None:
    assert is_make_run_database({"ENGINE": engine, "NAME": name}) is expected


class SeedDemoTestCase(TestCase):
    def test_seed_demo_refuses_any_other_database_and_writes_nothing(self) -> None:
        # The test database is empty, as a fresh production database would be.
        with self.assertRaisesMessage(CommandError, "only fills make run's own database"):
            call_command("seed_demo")
        self.assertFalse(User.objects.exists())
        self.assertFalse(Organization.objects.exists())
