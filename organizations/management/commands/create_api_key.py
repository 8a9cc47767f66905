"""python manage.py create_api_key EMAIL [--mode M] [--name N] [--org ORG ...] [--expires-in-days N]"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from organizations import services
from organizations.exceptions import ServiceError
from organizations.models import User
from organizations.roles import KeyMode


class Command(BaseCommand):
    help = "Create an API key for EMAIL (creating the user if needed) and print only the key."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--mode", choices=KeyMode.values, default=KeyMode.ALL)
        parser.add_argument("--name", default="Command line")
        parser.add_argument("--org", action="append", default=[], dest="orgs", metavar="ORG_ID")
        parser.add_argument("--expires-in-days", type=int, default=None)

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["expires_in_days"]
        if days is not None and days <= 0:
            raise CommandError("--expires-in-days must be at least 1 (an expiry must be in the future).")
        email = options["email"].strip().lower()
        user = User.objects.filter(email=email).first() or User.objects.create_user(email)
        try:
            _key, plaintext = services.api_key_create(
                actor=None,
                user=user,
                name=options["name"],
                mode=options["mode"],
                limited_to_orgs=options["orgs"],
                expires_at=timezone.now() + timedelta(days=days) if days else None,
            )
        except ServiceError as exc:
            raise CommandError(f"{exc.message} ({exc.code})") from exc
        self.stdout.write(plaintext)
