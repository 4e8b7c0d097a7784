from datetime import timedelta

from django.core.management.base import BaseCommand

from project.accounts.flows.email_sign_in import prune


class Command(BaseCommand):
    help = "Delete email sign-ins (code and link hashes) that expired more than --days days ago."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=7)

    def handle(self, *args, days, **options):
        self.stdout.write(f"Deleted {prune(timedelta(days=days))} expired email sign-ins.")
