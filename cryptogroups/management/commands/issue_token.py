"""``manage.py issue_token``: an API token for a curator, shown once."""

from __future__ import annotations

import datetime

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from knox.models import AuthToken


class Command(BaseCommand):
    help = (
        "Issue an API token for a user and print it. Only a digest of it is stored: it cannot "
        "be shown again. Send it as 'Authorization: Token <token>'."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument(
            "--days",
            type=int,
            default=None,
            help="Days until the token expires (default: TOKEN_TTL_DAYS, 90).",
        )

    def handle(self, *args, username: str, days: int | None, **options) -> None:
        try:
            user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise CommandError(f"No user {username!r}: create it with 'add_curator'.") from None
        if not user.is_active:
            raise CommandError(f"User {username!r} is not active.")
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1.")
        expiry = datetime.timedelta(days=days) if days is not None else None
        instance, token = AuthToken.objects.create(
            user=user, **({"expiry": expiry} if expiry else {})
        )
        self.stdout.write(token)
        expires = instance.expiry.isoformat() if instance.expiry else "never"
        self.stderr.write(f"Token for {username!r}, expires {expires}. It is not stored: keep it.")
