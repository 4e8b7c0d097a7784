from django.core.management.base import BaseCommand

from project.notifications.flows.sweep import sweep


class Command(BaseCommand):
    help = "Enqueue again the deliveries left queued (or claimed by a dead sender) for too long."

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than", type=float, default=None,
            help="Seconds past due before a queued delivery counts as stuck (default NOTIFICATIONS_SWEEP_AFTER, 300).",
        )

    def handle(self, *args, older_than=None, **options):
        result = sweep(older_than)
        self.stdout.write(f"{result.found} stuck deliveries found, {result.enqueued} enqueued again.")
