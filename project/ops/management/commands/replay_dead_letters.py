"""`manage.py replay_dead_letters`: move the outbox's dead letters back onto the outbox queue."""

from django.core.management.base import CommandError

from project.ops.flows.dead_letters import replay_dead_letters

from ._base import OpsCommand


class Command(OpsCommand):
    help = "Put the deliveries of the outbox's dead letters back in the queue, once the cause is fixed (needs the database)."

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=None, help="At most this many messages.")
        parser.add_argument("--dry-run", action="store_true", help="List what would be replayed; move nothing.")

    def handle(self, *args, limit=None, dry_run=False, **options):
        result = replay_dead_letters(limit=limit, dry_run=dry_run)
        verb = "Would replay" if dry_run else "Replayed"
        ids = ", ".join(str(i) for i in result.replayed[:50]) + (" ..." if len(result.replayed) > 50 else "")
        self.stdout.write(f"{verb} {len(result.replayed)} messages" + (f" (deliveries {ids})." if ids else "."))
        if result.already_done:
            done = ", ".join(str(i) for i in result.already_done[:50])
            self.stdout.write(f"{'Would remove' if dry_run else 'Removed'} {len(result.already_done)} dead letters whose delivery was already sent or is gone ({done}).")
        for reason in result.left:
            self.stdout.write(self.style.WARNING(f"Left in the dead-letter queue: {reason}"))
        for reason in result.failed:
            self.stdout.write(self.style.ERROR(f"Not replayed: {reason}"))
        if result.failed:
            raise CommandError(f"{len(result.failed)} dead letters could not be replayed and stay in the dead-letter queue; run again once the cause is fixed.")
