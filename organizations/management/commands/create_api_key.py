"""python manage.py create_api_key EMAIL [--mode M] [--name N] [--org ORG ...] [--expires-in-days N]"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.verification import is_verified, mark_verified
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
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User.objects.create_user(email)
            # The operator vouches for the address of a user this command creates.
            mark_verified(user)
        elif not is_verified(user):
            # Someone signed up with this address and never proved it: a key would make it theirs.
            raise CommandError(
                f"{email} has an account whose address is not verified. They verify it at their next login "
                "(or staff mark it verified in the admin); then run this again."
            )
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
