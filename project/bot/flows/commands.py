"""
The bot's commands: what a Telegram user expects from /start, /stop, /help and /settings.

- `/start` greets. With a connect token (`t.me/<bot>?start=<token>`, from the account page)
  it asks whether to link this chat to that account (link_buttons). From a person we already
  know it marks them reachable (pressing Start again is how people undo a block), turns back
  on exactly what a /stop turned off, and says what it turned on and what comes here. From
  someone we do not know it explains how to connect.
- `/stop` turns Telegram notifications off for this person (those that were on; remembered
  for /start) and says how to turn them on again.
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
    "already linked": "This chat is already connected to that account.",
}


def token_problem(reason: str) -> str:
    return _TOKEN_PROBLEMS.get(reason, "That connect link cannot be used.")


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
    if message.start_token_hash or message.command_args:
        # Stored updates keep only the token's hash (updates.for_storage).
        return _start_with_token(message, message.command_args)
    account = TelegramAccount.objects.for_chat(person.id)
    if account is None:
        replies.say(message.chat_id, "start_unknown", {"name": person.first_name, "account_url": account_url()},
                    buttons=account_button())
        return True, "greeted an unknown person"
    from project.notifications.flows import preferences

    account.mark_reachable()
    turned_on = _undo_stop(account.user)
    replies.say(
        message.chat_id,
        "start_known",
        {
            "name": account.first_name or person.first_name,
            "settings_url": settings_url(),
            "turned_on": [kind.label for kind in turned_on],
            "coming": [kind.label for kind in preferences.telegram_kinds(account.user)],
            "all_off": preferences.all_off(account.user),
        },
        user=account.user,
        buttons=settings_button(),
    )
    return True, f"greeted a known person; turned back on: {', '.join(k.code for k in turned_on) or 'nothing'}"


def _start_with_token(message: Message, token: str) -> tuple[bool, str]:
    """Ask before linking (link_buttons): nothing links, and nothing is used up, on Start."""
    from project.bot.flows import link_buttons
    from project.telegram_accounts.flows.connect_via_bot import (InvalidStartToken, check_start_token,
                                                                 check_start_token_hash)

    try:
        if message.start_token_hash:
            start_token = check_start_token_hash(message.start_token_hash, message.sender.as_dict())
        else:
            start_token = check_start_token(token, message.sender.as_dict())
    except InvalidStartToken as exc:
        logger.info("/start token from telegram user %s refused: %s", message.sender.id, exc.reason)
        known = TelegramAccount.objects.for_chat(message.sender.id)
        if known is not None:
            known.mark_reachable()  # pressing Start again is how people undo a block
        replies.say(
            message.chat_id,
            "start_token_refused",
            {
                "problem": token_problem(exc.reason),
                "account_url": account_url(),
                "already_connected": known is not None,
            },
            user=known.user if known else None,
            buttons=None if known else account_button("Your account"),
        )
        return True, f"connect token refused: {exc.reason}"
    link_buttons.ask(message, start_token)
    return True, f"asked whether to link to user {start_token.user_id}"


def stop(message: Message) -> tuple[bool, str]:
    account = TelegramAccount.objects.for_chat(message.sender.id)
    if account is None:
        replies.say(message.chat_id, "stop_unknown", {"account_url": account_url()}, buttons=account_button())
        return True, "stop from an unknown person"
    turned_off = _record_stop(account.user)
    replies.say(message.chat_id, "stop", {"settings_url": settings_url(), "turned_off": [k.label for k in turned_off]},
                user=account.user, buttons=settings_button())
    return True, f"telegram notifications off for user {account.user_id}: {', '.join(k.code for k in turned_off) or 'none was on'}"


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


def _record_stop(user) -> list:
    """Turn Telegram off and remember what was on, for /start (project.bot.models.TelegramStop)."""
    from django.utils import timezone

    from project.bot.models import TelegramStop
    from project.notifications.flows import preferences
    from project.notifications.models import NotificationSettings

    turned_off = preferences.turn_off_telegram(user)
    codes = [kind.code for kind in turned_off]
    record = TelegramStop.objects.select_for_update().filter(user=user).first()
    if record is None:
        TelegramStop.objects.create(user=user, kinds=codes)
        return turned_off
    chose_since = NotificationSettings.objects.filter(user=user, updated_at__gt=record.stopped_at).exists()
    # A second /stop adds to the first, unless the person chose anew on the site in between.
    record.kinds = codes if chose_since else record.kinds + [c for c in codes if c not in record.kinds]
    record.stopped_at = timezone.now()
    record.save(update_fields=["kinds", "stopped_at"])
    return turned_off


def _undo_stop(user) -> list:
    """What /start turns back on: exactly what a pending /stop turned off and is still off."""
    from project.bot.models import TelegramStop
    from project.notifications.flows import preferences

    record = TelegramStop.objects.select_for_update().filter(user=user).first()
    if record is None:
        return []
    turned_on = preferences.turn_on_telegram(user, record.kinds, unless_saved_since=record.stopped_at)
    record.delete()
    return turned_on
