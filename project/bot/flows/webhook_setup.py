"""
Registering the stage's webhook with Telegram, and reading its health.

An operator action (`manage.py setup_webhook`, the secret rotation, `make dev`), never the
webhook function: it needs the bot token. setWebhook is called only when getWebhookInfo
shows something different from what the stage wants (URL, allowed_updates, max_connections),
when a new secret is being installed, when pending updates are to be dropped, or when
Telegram's last delivery error says it was refused with 401/403 (which is what a webhook
secret out of step with the stage secret looks like; setWebhook cannot be read back for the
secret, so that error is the only sign). The bot's command list is set the same way.

python-telegram-bot's Bot is async and bound to the event loop it first ran on, so each
public function runs one asyncio.run with a Bot created and shut down inside it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings

from project.bot import conf
from project.bot.updates import HANDLED_UPDATE_TYPES

logger = logging.getLogger(__name__)

def max_connections() -> int:
    return conf.webhook_max_connections()


@dataclass
class WebhookStatus:
    url: str
    pending_update_count: int
    last_error_date: datetime | None
    last_error_message: str
    allowed_updates: list[str]
    max_connections: int | None
    up_to_date: bool
    # What register_webhook did: "set" (called setWebhook) or "unchanged".
    action: str = "checked"
    commands_set: bool = False
    menu_button_set: bool = False
    differences: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return self.up_to_date and not self.last_error_message


def _bot():
    from project.core.telegram import make_bot

    return make_bot()


def _wanted(url: str | None) -> dict:
    return {
        "url": url or settings.TELEGRAM_WEBHOOK_URL,
        "allowed_updates": sorted(HANDLED_UPDATE_TYPES),
        "max_connections": max_connections(),
    }


def _differences(info, wanted: dict) -> list[str]:
    found = []
    if info.url != wanted["url"]:
        found.append(f"url is {info.url or '(none)'!r}")
    if sorted(info.allowed_updates or []) != wanted["allowed_updates"]:
        found.append(f"allowed_updates are {sorted(info.allowed_updates or [])}")
    if info.max_connections != wanted["max_connections"]:
        found.append(f"max_connections is {info.max_connections}")
    message = info.last_error_message or ""
    if "401" in message or "403" in message:
        found.append(f"last delivery was refused ({message}): the secret may be stale")
    return found


def _status(info, wanted: dict, **extra) -> WebhookStatus:
    differences = _differences(info, wanted)
    return WebhookStatus(
        url=info.url,
        pending_update_count=info.pending_update_count,
        last_error_date=info.last_error_date,
        last_error_message=info.last_error_message or "",
        allowed_updates=list(info.allowed_updates or []),
        max_connections=info.max_connections,
        up_to_date=not differences,
        differences=differences,
        **extra,
    )


async def _register(url, secret, drop_pending_updates, set_commands) -> WebhookStatus:
    from telegram import BotCommand

    from project.bot.flows.commands import BOT_COMMANDS
    from project.core.secrets import get_secret

    wanted = _wanted(url)
    async with _bot() as bot:
        info = await bot.get_webhook_info()
        differences = _differences(info, wanted)
        action = "unchanged"
        if differences or secret or drop_pending_updates:
            await bot.set_webhook(
                url=wanted["url"],
                secret_token=secret or get_secret("telegram_webhook_secret"),
                allowed_updates=wanted["allowed_updates"],
                max_connections=wanted["max_connections"],
                drop_pending_updates=drop_pending_updates,
            )
            action = "set"
            logger.info("webhook registered at %s (%s)", wanted["url"], "; ".join(differences) or "requested")
            info = await bot.get_webhook_info()
        commands_set = False
        if set_commands:
            wanted_commands = [(c, d) for c, d in BOT_COMMANDS]
            current = [(c.command, c.description) for c in await bot.get_my_commands()]
            if current != wanted_commands:
                await bot.set_my_commands([BotCommand(c, d) for c, d in wanted_commands])
                commands_set = True
        menu_button_set = False
        if set_commands:
            # The bot's menu button opens the site as a Mini App, signed in (one-tap).
            from project.telegram_accounts.flows.mini_app import ensure_menu_button

            menu_button_set = await ensure_menu_button(bot)
        status = _status(info, wanted, action=action, commands_set=commands_set, menu_button_set=menu_button_set)
        # Telegram keeps the last error after a successful set; it is history, not a mismatch.
        if action == "set":
            status.differences = [d for d in status.differences if "refused" not in d]
            status.up_to_date = not status.differences
        return status


def register_webhook(*, url: str | None = None, secret: str | None = None, drop_pending_updates: bool = False,
                     set_commands: bool = True) -> WebhookStatus:
    """Make Telegram's webhook for this stage's bot what the stage wants; return its status.

    `secret` installs a new secret token (rotation); by default the stage's current one is
    sent, and only when something else needs setting.
    """
    return asyncio.run(_register(url, secret, drop_pending_updates, set_commands))


async def _info(url) -> WebhookStatus:
    async with _bot() as bot:
        return _status(await bot.get_webhook_info(), _wanted(url))


def webhook_status(*, url: str | None = None) -> WebhookStatus:
    """Telegram's view of the webhook (getWebhookInfo), compared with what the stage wants."""
    return asyncio.run(_info(url))
