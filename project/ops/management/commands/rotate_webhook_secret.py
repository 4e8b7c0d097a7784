"""`manage.py rotate_webhook_secret`: a new webhook secret, with no update refused or lost on the way."""

from project.ops.flows.webhook_rotation import rotate_webhook_secret

from ._base import OpsCommand


class Command(OpsCommand):
    help = (
        "Rotate the webhook secret: write the new one next to the old, refresh the webhook's containers, "
        "setWebhook with the new one, wait for Telegram's pending updates to drain, remove the old one."
    )

    def add_arguments(self, parser):
        parser.add_argument("--finish", action="store_true", help="Complete a rotation that stopped half way.")
        parser.add_argument("--drain-timeout", type=float, default=None, help="Seconds to wait for pending updates (default 120).")
        parser.add_argument("--grace", type=float, default=None, help="Seconds both secrets stay valid at least (default 10).")

    def handle(self, *args, finish=False, drain_timeout=None, grace=None, **options):
        result = rotate_webhook_secret(finish_only=finish, drain_timeout=drain_timeout, grace=grace)
        for step in result.steps:
            self.stdout.write(f"- {step}")
        if result.drained:
            self.stdout.write(self.style.SUCCESS("Done."))
        else:
            self.stdout.write(self.style.WARNING(f"Done; {result.pending_update_count} updates were still pending (delivered with the new secret)."))
