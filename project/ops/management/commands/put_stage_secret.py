"""`manage.py put_stage_secret KEY`: put one value (read from stdin or a prompt) into the stage secret."""

from project.ops.flows.bot_token import check_stage_secret_key, put_value
from project.ops.flows.stage_secret import STAGE_SECRET, secret_name

from ._base import OpsCommand


class Command(OpsCommand):
    help = (
        "Put one value into the stage secret (SECRETS_NAME): telegram_oidc_client_secret (BotFather > Web "
        "Login), database_url (postgres://...?sslmode=require), or another of its keys. Not the bot token: "
        "put_bot_token writes that into its own secret. The value is read from stdin (piped) or a hidden "
        "prompt, never from the command line."
    )

    def add_arguments(self, parser):
        # No argparse `choices`: telegram_bot_token must get put_value's pointer to put_bot_token.
        parser.add_argument("key", help="telegram_oidc_client_secret, database_url, django_secret_key, ...")

    def handle(self, *args, key, **options):
        check_stage_secret_key(key)  # before asking for the value
        value = self.read_secret_input(f"{key}: ", options.get("stdin"))
        changed = put_value(key, value)
        self.stdout.write(f"{key} {'written to' if changed else 'already in'} the stage secret {secret_name(STAGE_SECRET)!r}.")
