"""`manage.py make_staff EMAIL [--superuser]`: a staff account that signs in by email, never by password."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from project.accounts.flows.staff import make_staff


class Command(BaseCommand):
    help = (
        "Make a staff account for EMAIL (or promote the account that uses it). There is no "
        "password: the person signs in at /accounts/login/ (or /admin/) with a code or link sent to EMAIL."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--superuser", action="store_true", help="Also give every permission.")

    def handle(self, *args, email, superuser=False, **options):
        try:
            user, created = make_staff(email, superuser=superuser)
        except ValidationError as exc:
            raise CommandError(f"{email!r} is not an email address: {' '.join(exc.messages)}") from None
        kind = "superuser" if user.is_superuser else "staff"
        self.stdout.write(
            f"{'Created' if created else 'Promoted'} {kind} account for {user.email}. "
            "Sign in with that address at /admin/ (a code and a link are emailed)."
        )
