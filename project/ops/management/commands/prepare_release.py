"""`zappa manage <stage>_manage prepare_release`: the database ready for the code in the manage function.

Run in the manage function right after it got the new package, before the functions that
serve traffic get it (docs/DEPLOY.md, "A release"): the migrations that code needs (the
cache table among them, contract C7), then the Site record allauth puts in links. Zappa's
`manage` runs one management command per invocation, hence one command for both.
"""

from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Apply the migrations the deployed code needs, then make the Site record carry SITE_DOMAIN."

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=options.get("verbosity", 1), stdout=self.stdout)
        call_command("ensure_site", stdout=self.stdout)
