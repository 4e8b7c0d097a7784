"""`manage.py setup_webhook`: register the stage's webhook (only if it differs), set the command list, print its health."""

from django.core.management.base import BaseCommand, CommandError

from project.bot.flows.webhook_setup import register_webhook, webhook_status


class Command(BaseCommand):
    help = "Register the stage's Telegram webhook when it differs from what the stage wants, and print its health."

    def add_arguments(self, parser):
        parser.add_argument("--url", help="Webhook URL (default: settings.TELEGRAM_WEBHOOK_URL).")
        parser.add_argument("--drop-pending-updates", action="store_true", help="Discard updates Telegram holds.")
        parser.add_argument("--check", action="store_true", help="Only print the health; change nothing.")
        parser.add_argument("--no-commands", action="store_true", help="Leave the bot's command list alone.")

    def handle(self, *args, url=None, drop_pending_updates=False, check=False, no_commands=False, **options):
        try:
            if check:
                status = webhook_status(url=url)
            else:
                status = register_webhook(
                    url=url, drop_pending_updates=drop_pending_updates, set_commands=not no_commands
                )
        except Exception as exc:  # PTB's errors name the method, never the token
            raise CommandError(f"Telegram did not answer as expected: {type(exc).__name__}: {exc}") from None
        write = self.stdout.write
        if not check:
            write(f"webhook: {'setWebhook called' if status.action == 'set' else 'already as wanted, not changed'}")
            write(f"commands: {'set' if status.commands_set else 'unchanged'}")
            write(f"menu button (the Mini App): {'set' if status.menu_button_set else 'unchanged'}")
        write(f"url: {status.url or '(none)'}")
        write(f"allowed_updates: {', '.join(status.allowed_updates) or '(Telegram default)'}")
        write(f"max_connections: {status.max_connections}")
        write(f"pending updates: {status.pending_update_count}")
        if status.last_error_message:
            when = status.last_error_date.isoformat() if status.last_error_date else "?"
            write(self.style.WARNING(f"last error: {status.last_error_message} (at {when})"))
        else:
            write("last error: none")
        for difference in status.differences:
            write(self.style.WARNING(f"differs: {difference}"))
        write(self.style.SUCCESS("up to date") if status.up_to_date else self.style.ERROR("not up to date"))
        if check and not status.up_to_date:
            raise CommandError("The webhook is not what this stage wants; run setup_webhook without --check.")
