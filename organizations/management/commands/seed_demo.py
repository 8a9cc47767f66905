"""Create a demo user, organization and API key if none exist, and say how to use them."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from accounts.verification import mark_verified
from organizations import services
from organizations.models import User
from organizations.roles import Principal

DEMO_EMAIL = "demo@example.com"
DEMO_PASSWORD = "demo-password-123"


class Command(BaseCommand):
    help = "Create the demo user, organization and API key when the database has no users."

    def handle(self, *args: Any, **options: Any) -> None:
        site = settings.SITE_URL
        if User.objects.exists():
            if User.objects.filter(email=DEMO_EMAIL).exists():
                self.stdout.write(f"Demo login: {site}/accounts/login/ as {DEMO_EMAIL} / {DEMO_PASSWORD}")
            self.stdout.write(
                "Demo data exists already (its API key was shown once, when it was created). A new key: "
                ".venv/bin/python manage.py create_api_key demo@example.com"
            )
            return
        user = User.objects.create_user(DEMO_EMAIL, DEMO_PASSWORD, name="Demo User", is_staff=True, is_superuser=True)
        mark_verified(user)
        org = services.organization_create(actor=Principal(user), name="Demo Organization")
        _key, plaintext = services.api_key_create(actor=None, user=user, name="Demo key")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "Demo data created.",
                    f"  Log in at {site}/accounts/login/ as {DEMO_EMAIL} / {DEMO_PASSWORD} (also staff: {site}/admin/)",
                    f"  Organization: {org.name} ({org.id})",
                    f"  API key (shown once): {plaintext}",
                    f'  Try: curl -H "authorization: {plaintext}" {site}/organization/',
                    "",
                ]
            )
        )
