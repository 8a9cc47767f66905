"""Create the demo user, organization and API key in make run's database, and say how to use them.

Only make run's own database is ever filled: the SQLite file `db.sqlite3` of this checkout. On
any other database (PostgreSQL, a test database, another file) the command refuses and writes
nothing, so a staff account can never appear in a real deployment through it. The password is
random and, like the key, printed only when it is created.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connections

from accounts.verification import mark_verified
from organizations import services
from organizations.models import User
from organizations.roles import Principal

DEMO_EMAIL = "demo@example.com"


def is_make_run_database(settings_dict: dict[str, Any]) -> bool:
    """True for the database make run serves: this checkout's `db.sqlite3`."""
    if settings_dict["ENGINE"] != "django.db.backends.sqlite3":
        return False
    return Path(str(settings_dict["NAME"])).resolve() == (Path(settings.BASE_DIR) / "db.sqlite3").resolve()


class Command(BaseCommand):
    help = "Create the demo user, organization and API key in make run's database (db.sqlite3) when it has no users."

    def handle(self, *args: Any, **options: Any) -> None:
        if not is_make_run_database(connections["default"].settings_dict):
            raise CommandError(
                "seed_demo only fills make run's own database (db.sqlite3 in this checkout); "
                "the configured database is another one, and nothing was written."
            )
        site = settings.SITE_URL
        if User.objects.exists():
            if User.objects.filter(email=DEMO_EMAIL).exists():
                self.stdout.write(
                    f"Demo login: {site}/accounts/login/ as {DEMO_EMAIL} (its password and API key were shown once, "
                    f"when they were created; `.venv/bin/python manage.py changepassword {DEMO_EMAIL}` sets a new "
                    f"password, `.venv/bin/python manage.py create_api_key {DEMO_EMAIL}` makes a new key)."
                )
            return
        password = secrets.token_urlsafe(12)
        user = User.objects.create_user(DEMO_EMAIL, password, name="Demo User", is_staff=True, is_superuser=True)
        mark_verified(user)
        org = services.organization_create(actor=Principal(user), name="Demo Organization")
        _key, plaintext = services.api_key_create(actor=None, user=user, name="Demo key")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Demo data created. The password and the key are shown this once:",
                    f"  Log in at {site}/accounts/login/ as {DEMO_EMAIL} / {password} (also staff: {site}/admin/)",
                    f"  Organization: {org.name} ({org.id})",
                    f"  API key: {plaintext}",
                    f'  Try: curl -H "authorization: {plaintext}" {site}/organization/',
                    "",
                ]
            )
        )
