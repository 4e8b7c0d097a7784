"""
Putting a bot token into the stage's bot-token secret (`manage.py put_bot_token`), and one
other value into the stage secret (`manage.py put_stage_secret KEY`).

The token must be this stage's bot: its id (the digits before ':') must be the stage's
TELEGRAM_BOT_ID, and Telegram's getMe must accept it and name the stage's bot username. A
dev stage handed the prod bot's token stops here, before anything is written; a revoked
or mistyped token too. The token goes into BOT_TOKEN_SECRET_NAME only, the secret the
webhook function's role cannot read. If the stage secret has no webhook secret or Django
key yet, this is the stage's first setup and those are generated there, so one command
makes a working pair of secrets; a token left in the stage secret from before the split is
removed from it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings

from project.core.logging import register_secret_values
from project.core.secrets import ForeignBotToken, check_bot_token
from project.ops.errors import OpsError, StageMismatch, TokenRejected
from project.ops.flows import stage_secret, telegram_api

logger = logging.getLogger(__name__)


@dataclass
class PutBotTokenResult:
    bot_id: int
    username: str
    token_changed: bool
    generated: list[str] = field(default_factory=list)
    removed_from_stage_secret: list[str] = field(default_factory=list)


def verify_token(token: str) -> tuple[int, str]:
    """(bot id, username) if `token` is this stage's bot's and Telegram accepts it; raises otherwise."""
    register_secret_values([token])
    try:
        check_bot_token(token, settings.TELEGRAM_BOT_ID)
    except ForeignBotToken as exc:
        raise StageMismatch(str(exc)) from None

    async def get_me(bot):
        return bot.bot  # `async with bot` already called getMe (PTB's initialize)

    try:
        me = telegram_api.call(token, get_me)
    except Exception as exc:
        raise TokenRejected(f"getMe failed: {telegram_api.describe_error(exc)}.") from None
    if int(me.id) != int(settings.TELEGRAM_BOT_ID):
        raise StageMismatch(f"getMe names bot {me.id}, but this stage is configured for bot {settings.TELEGRAM_BOT_ID}.")
    wanted = (settings.TELEGRAM_BOT_USERNAME or "").lstrip("@").lower()
    if wanted and (me.username or "").lower() != wanted:
        raise StageMismatch(
            f"getMe says this bot is @{me.username}, but the stage's TELEGRAM_BOT_USERNAME is @{wanted}. "
            "Fix TELEGRAM_BOT_USERNAME in zappa_settings.json (sign-in uses it), or use the right token."
        )
    return int(me.id), me.username or ""


def put_bot_token(token: str) -> PutBotTokenResult:
    token = token.strip()
    if not token:
        raise TokenRejected("No token given.")
    bot_id, username = verify_token(token)
    state = stage_secret.read(stage_secret.STAGE_SECRET)
    values = {"telegram_bot_token": token}
    generated = []
    if not state.values.get("telegram_webhook_secret"):
        values["telegram_webhook_secret"] = stage_secret.new_webhook_secret()
        generated.append("telegram_webhook_secret")
    if not state.values.get("django_secret_key"):
        values["django_secret_key"] = stage_secret.new_django_secret_key()
        generated.append("django_secret_key")
    token_is_new = stage_secret.read(stage_secret.BOT_TOKEN_SECRET).values.get("telegram_bot_token") != token
    stage_secret.update(values, remove_misplaced_from=(stage_secret.STAGE_SECRET,))
    logger.info(
        "bot-token secret %s: token for @%s (%s) %s; generated %s in %s%s",
        stage_secret.secret_name(stage_secret.BOT_TOKEN_SECRET), username, bot_id,
        "written" if token_is_new else "unchanged", ", ".join(generated) or "nothing", state.name,
        f"; removed {', '.join(state.misplaced)} from it" if state.misplaced else "",
    )
    return PutBotTokenResult(bot_id, username, token_is_new, generated, state.misplaced)


def put_value(key: str, value: str) -> bool:
    """Put one other value (OIDC client secret, database URL, ...) into the stage secret."""
    check_stage_secret_key(key)
    value = value.strip()
    if not value:
        raise TokenRejected(f"No value given for {key}.")
    if key == "database_url":
        check_database_url(value)
    return bool(stage_secret.update({key: value}))


def check_stage_secret_key(key: str) -> None:
    """`key` is one put_stage_secret may write: a key of the stage secret, not the bot token."""
    if key == "telegram_bot_token":
        raise TokenRejected(
            "The bot token has a secret of its own, which the webhook function cannot read: use put_bot_token, "
            "which checks it against the stage's bot and writes it there."
        )
    keys = stage_secret.stage_secrets.SECRET_KEYS[stage_secret.STAGE_SECRET]
    if key not in keys:
        raise OpsError(f"{key!r} is not a key of the stage secret ({', '.join(keys)}).")


def check_database_url(url: str) -> None:
    """A URL dj-database-url reads, for a database server; never echoes it (it has the password)."""
    import dj_database_url

    register_secret_values([url])
    try:
        config = dj_database_url.parse(url)
    except Exception:
        scheme = url.split("://", 1)[0] if "://" in url else "(none)"
        raise OpsError(
            f"That is not a database URL dj-database-url can read (scheme {scheme!r}); expected "
            "postgres://USER:PASSWORD@HOST:5432/NAME?sslmode=require."
        ) from None
    if "sqlite" in config.get("ENGINE", ""):
        raise OpsError(
            "A deployed stage cannot use SQLite (Lambda's file system is read-only and not shared between "
            "containers): give the PostgreSQL URL, postgres://USER:PASSWORD@HOST:5432/NAME?sslmode=require."
        )
