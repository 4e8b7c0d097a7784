"""
The bot's commands: what a Telegram user expects from /start, /stop, /help and /settings.

- `/start` greets. With a connect token (`t.me/<bot>?start=<token>`, from the account page)
  it links this chat to that account and says so. From a person we already know it also
  marks them reachable (pressing Start again is how people undo a block). From someone we
  do not know it explains how to connect.
- `/stop` turns Telegram notifications off for this person and says how to turn them on.
- `/help` lists the commands and says that anything else goes to the support team.
- `/settings` links to the notification settings page.
- Any other command gets a short answer pointing at /help (it is not a support message).

Each returns (handled, note) to the router. The replies to /help, /settings and unknown
commands need no result and change nothing, so they ride in the webhook's answer
(replies.answer_with, contract C2); /start and /stop change what the person gets, and
their replies go through the outbox like everything whose outcome matters.
"""

from __future__ import annotations

import logging

from project.bot import conf, replies
from project.bot.buttons import site_button
from project.bot.updates import Message
from project.telegram_accounts.models import TelegramAccount

logger = logging.getLogger(__name__)

# What setMyCommands registers (manage.py setup_webhook); the router knows the same four.
BOT_COMMANDS = [
    ("start", "Connect this chat to your account"),
    ("stop", "Turn Telegram notifications off"),
    ("settings", "Notification settings"),
    ("help", "What this bot does"),
]

# Reasons from redeem_start_token, in words for the person.
_TOKEN_PROBLEMS = {
    "unknown": "That connect link is not valid.",
    "expired": "That connect link has expired.",
    "used": "That connect link was already used.",
    "telegram account belongs to another user": "This Telegram account is already connected to another account on the site.",
    "site account already linked to another telegram account": "That account on the site is already connected to another Telegram account.",
}


def settings_url() -> str:
    return replies.absolute_url(conf.notification_settings_path())


def account_url() -> str:
    return replies.absolute_url(conf.account_path())


def settings_button() -> list[list[dict]]:
    return [[site_button("Notification settings", conf.notification_settings_path(), write_access=True)]]


def account_button(text: str = "Connect Telegram") -> list[list[dict]]:
    return [[site_button(text, conf.account_path(), write_access=True)]]


def start(message: Message) -> tuple[bool, str]:
    person = message.sender
    if message.command_args:
        return _start_with_token(message, message.command_args)
    account = TelegramAccount.objects.for_chat(person.id)
    if account is None:
        replies.say(message.chat_id, "start_unknown", {"name": person.first_name, "account_url": account_url()},
                    buttons=account_button())
        return True, "greeted an unknown person"
    account.mark_reachable()
    replies.say(
        message.chat_id,
        "start_known",
        {"name": account.first_name or person.first_name, "settings_url": settings_url()},
        user=account.user,
        buttons=settings_button(),
    )
    return True, "greeted a known person"


def _start_with_token(message: Message, token: str) -> tuple[bool, str]:
    from project.telegram_accounts.flows.connect_via_bot import InvalidStartToken, redeem_start_token

    try:
        account = redeem_start_token(token, message.sender.as_dict())
    except InvalidStartToken as exc:
        logger.info("/start token from telegram user %s refused: %s", message.sender.id, exc.reason)
        known = TelegramAccount.objects.for_chat(message.sender.id)
        replies.say(
            message.chat_id,
            "start_token_refused",
            {
                "problem": _TOKEN_PROBLEMS.get(exc.reason, "That connect link cannot be used."),
                "account_url": account_url(),
                "already_connected": known is not None,
            },
            user=known.user if known else None,
            buttons=None if known else account_button("Your account"),
        )
        return True, f"connect token refused: {exc.reason}"
    account.mark_reachable()
    replies.say(
        message.chat_id,
        "start_connected",
        {"account_label": account.user.email, "name": account.first_name, "settings_url": settings_url()},
        user=account.user,
        buttons=settings_button(),
    )
    return True, f"connected to user {account.user_id}"


def stop(message: Message) -> tuple[bool, str]:
    from project.notifications import kinds
    from project.notifications.flows import preferences

    account = TelegramAccount.objects.for_chat(message.sender.id)
    if account is None:
        replies.say(message.chat_id, "stop_unknown", {"account_url": account_url()}, buttons=account_button())
        return True, "stop from an unknown person"
    preferences.turn_off_channel(account.user, kinds.TELEGRAM)
    replies.say(message.chat_id, "stop", {"settings_url": settings_url()}, user=account.user,
                buttons=settings_button())
    return True, f"telegram notifications off for user {account.user_id}"


def help(message: Message) -> tuple[bool, str]:  # noqa: A001 - the command's name
    account = TelegramAccount.objects.for_chat(message.sender.id)
    replies.answer_with(
        message.chat_id,
        "help",
        {"commands": BOT_COMMANDS, "connected": account is not None, "account_url": account_url()},
        user=account.user if account else None,
        buttons=None if account else account_button(),
    )
    return True, "help"


def settings_link(message: Message) -> tuple[bool, str]:
    account = TelegramAccount.objects.for_chat(message.sender.id)
    replies.answer_with(
        message.chat_id,
        "settings",
        {"settings_url": settings_url(), "account_url": account_url(), "connected": account is not None},
        user=account.user if account else None,
        buttons=settings_button() if account else account_button(),
    )
    return True, "settings link"


def unknown(message: Message) -> tuple[bool, str]:
    account = TelegramAccount.objects.for_chat(message.sender.id)
    replies.answer_with(
        message.chat_id,
        "unknown_command",
        {"command": message.command[:33]},
        user=account.user if account else None,
    )
    return True, f"unknown command {message.command[:33]!r}"
