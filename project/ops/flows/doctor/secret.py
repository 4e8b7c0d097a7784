"""doctor: the stage, its two secrets, the bot token and getMe."""

from __future__ import annotations

import logging

from django.conf import settings

from project.ops import conf

from .base import OK, PROBLEM, SKIPPED, WARN, Context, Report, error_text, zappa

logger = logging.getLogger(__name__)


def check_stage(report: Report, ctx: Context) -> None:
    if settings.STAGE not in ("dev", "prod"):
        report.add("stage", WARN, f"STAGE is {settings.STAGE!r}: checking a local stage, not a deployed one.")
    else:
        report.add("stage", OK, f"stage {settings.STAGE}, bot {settings.TELEGRAM_BOT_ID} (@{settings.TELEGRAM_BOT_USERNAME}), site {settings.SITE_DOMAIN}.")


def check_secret(report: Report, ctx: Context) -> None:
    """Both secrets: each exists, is readable and has the keys the stage needs, and the bot
    token is only in its own secret. Each message names the secret it is about."""
    from project.core import secrets
    from project.ops.flows import stage_secret

    if settings.SECRETS_BACKEND != "aws":
        report.add("secret", SKIPPED, f"SECRETS_BACKEND is {settings.SECRETS_BACKEND!r}: secrets come from the environment.")
        ctx.secret = {key: secrets.get_secret(key, required=False) for key in secrets.KEYS}
        return
    secrets.reset_cache()
    wanted = {
        "telegram_bot_token": "run put_bot_token",
        "telegram_webhook_secret": "run put_bot_token (it generates one)",
        "django_secret_key": "run put_bot_token (it generates one)",
    }
    if "oidc" in settings.TELEGRAM_LOGIN_FLOWS:
        wanted["telegram_oidc_client_secret"] = "run put_stage_secret telegram_oidc_client_secret (BotFather > Web Login)"
    if not conf.functions_have_database_url():
        # The functions' environment has no DATABASE_URL: settings.py reads it from here.
        wanted["database_url"] = f"run {zappa(f'invoke {settings.STAGE}_manage project.ops.database_setup.handler')} (it creates the database and writes it)"
    empty_fix = {
        stage_secret.STAGE_SECRET: "run put_bot_token (it generates the webhook secret and the Django key)",
        stage_secret.BOT_TOKEN_SECRET: "run put_bot_token",
    }
    values: dict[str, str] = {}
    healthy = True
    for setting, keys in secrets.SECRET_KEYS.items():
        label = f"{stage_secret.LABELS[setting]} {stage_secret.secret_name(setting)!r}"
        try:
            state = stage_secret.read(setting)
        except Exception as exc:
            report.add("secret", PROBLEM, f"Cannot read the {label}: {error_text(exc)}.")
            healthy = False
            continue
        if not state.exists:
            report.add(
                "secret", PROBLEM,
                f"The {label} does not exist in {settings.AWS_REGION}: deploy the stack (it creates both secrets), "
                f"or fix {setting}.",
            )
            healthy = False
            continue
        if not state.has_value:
            report.add("secret", PROBLEM, f"The {label} is empty: {empty_fix[setting]}.")
            healthy = False
            continue
        # Only what belongs here counts: a token left in the stage secret is not the stage's token.
        values.update({key: value for key, value in state.values.items() if key in keys})
        missing = [f"{key} ({fix})" for key, fix in wanted.items() if key in keys and not state.values.get(key)]
        if missing:
            report.add("secret", PROBLEM, f"The {label} lacks " + "; ".join(missing) + ".")
            healthy = False
        if state.misplaced:
            report.add(
                "secret", PROBLEM,
                f"The {label} holds {', '.join(state.misplaced)}, which every function (the webhook too) can read "
                "there: run put_bot_token, which writes the token into the bot-token secret and removes it here.",
            )
            healthy = False
    ctx.secret = values
    if healthy:
        names = " and ".join(repr(stage_secret.secret_name(s)) for s in secrets.SECRET_KEYS)
        report.add("secret", OK, f"{names} are readable and have every key this stage needs.")
    if values.get("telegram_webhook_secret_previous"):
        report.add("secret", WARN, "A webhook secret rotation is unfinished (a previous secret is still accepted): run rotate_webhook_secret --finish.")


def check_token(report: Report, ctx: Context) -> None:
    from project.core.secrets import ForeignBotToken, check_bot_token

    token = (ctx.secret or {}).get("telegram_bot_token")
    if not token:
        report.add("bot token", SKIPPED, "No bot token to check.")
        return
    try:
        check_bot_token(token, settings.TELEGRAM_BOT_ID)
    except ForeignBotToken:
        found = token.split(":", 1)[0]
        report.add(
            "bot token", PROBLEM,
            f"The token in the stage secret is for bot {found if found.isdigit() else '(malformed)'}, but stage "
            f"{settings.STAGE} is configured for bot {settings.TELEGRAM_BOT_ID}. Put this stage's own token "
            "there with put_bot_token (every function refuses to run with it as it is).",
        )
        return
    report.add("bot token", OK, f"The token belongs to bot {settings.TELEGRAM_BOT_ID}.")
    ctx.token_ok = True


def check_get_me(report: Report, ctx: Context) -> None:
    from project.ops.flows import telegram_api

    if not ctx.token_ok:
        report.add("getMe", SKIPPED, "Skipped: the bot token is missing or foreign.")
        return

    async def get_me(bot):
        return bot.bot  # `async with bot` already called getMe (PTB's initialize)

    try:
        me = telegram_api.call(ctx.secret["telegram_bot_token"], get_me)
    except Exception as exc:
        report.add("getMe", PROBLEM, f"getMe failed: {telegram_api.describe_error(exc)}.")
        ctx.token_ok = False
        return
    wanted = (settings.TELEGRAM_BOT_USERNAME or "").lstrip("@").lower()
    if (me.username or "").lower() != wanted:
        report.add("getMe", PROBLEM, f"Telegram says the bot is @{me.username}, but TELEGRAM_BOT_USERNAME is @{wanted}: sign-in links will name the wrong bot.")
    else:
        report.add("getMe", OK, f"Telegram knows the token as @{me.username} ({me.id}).")
