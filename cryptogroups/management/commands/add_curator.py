"""``manage.py add_curator``: make a user a curator, creating the user if needed."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from cryptogroups.roles import CURATORS_GROUP


class Command(BaseCommand):
    help = (
        "Add a user to the curators group, creating the user (without a usable password) if "
        "there is none by that name. --staff also lets the user into the admin; set a password "
        "with 'manage.py changepassword'. Curators of the API need a token: 'manage.py "
        "issue_token'."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("username")
        parser.add_argument("--email", default="", help="The user's e-mail address.")
        parser.add_argument(
            "--staff", action="store_true", help="Let the curator use the admin too."
        )

    def handle(self, *args, username: str, email: str, staff: bool, **options) -> None:
        try:
            curators = Group.objects.get(name=CURATORS_GROUP)
        except Group.DoesNotExist:
            raise CommandError(
                f"There is no {CURATORS_GROUP!r} group: run 'manage.py migrate' first."
            ) from None
        user_model = get_user_model()
        user, created = user_model.objects.get_or_create(
            username=username, defaults={"email": email}
        )
        if created:
            user.set_unusable_password()
        if staff:
            user.is_staff = True
        user.save()
        user.groups.add(curators)
        what = "Created" if created else "Updated"
        self.stdout.write(
            self.style.SUCCESS(
                f"{what} curator {username!r}" + (" (admin access)." if user.is_staff else ".")
            )
        )
