"""`manage.py put_bot_token`: put this stage's bot token into its bot-token secret (read from stdin or a prompt)."""

from django.conf import settings

from project.ops.flows import stage_secret
from project.ops.flows.bot_token import put_bot_token

from ._base import OpsCommand


class Command(OpsCommand):
    help = (
        "Check a bot token against this stage's bot (its id, then Telegram's getMe) and put it into the "
        "stage's bot-token secret (BOT_TOKEN_SECRET_NAME, which the webhook function cannot read); generate "
        "the webhook secret and the Django key in the stage secret if it has none. The token is read from "
        "stdin (piped) or a hidden prompt, never from the command line."
    )

    def handle(self, *args, **options):
        token = self.read_secret_input("Bot token (from BotFather): ", options.get("stdin"))
        result = put_bot_token(token)
        token_secret = stage_secret.secret_name(stage_secret.BOT_TOKEN_SECRET)
        self.stdout.write(
            f"Bot token for @{result.username} ({result.bot_id}) "
            f"{'written to' if result.token_changed else 'already in'} the bot-token secret {token_secret!r}."
        )
        for key in result.generated:
            self.stdout.write(f"Generated {key} in the stage secret {stage_secret.secret_name()!r}.")
        for key in result.removed_from_stage_secret:
            self.stdout.write(f"Removed {key} from the stage secret (it belongs in the bot-token secret).")
        stage = settings.STAGE
        self.stdout.write(
            "Next (docs/DEPLOY.md): put_stage_secret telegram_oidc_client_secret if the stage signs in with "
            "OpenID Connect; setup_webhook once the functions are deployed. A deployed site refuses another "
            f'bot\'s token: zappa manage {stage}_site "check --deploy --tag telegram" '
            f"-s var/stages/{stage}/zappa_settings.json shows it."
        )
