"""
A person blocks or unblocks the bot.

Telegram sends `my_chat_member` for the private chat: new status "kicked" when the person
blocked the bot, "member" when they unblocked it (or pressed Start again). Blocking marks
their TelegramAccount unreachable, so notifications go by email instead and the site shows a
notice; unblocking marks it reachable again. Nothing is said back: a blocked bot cannot
speak, and an unblock is followed by the person's own /start, which greets them.
"""

from __future__ import annotations

import logging

from project.bot.updates import ChatMemberChange
from project.telegram_accounts.models import TelegramAccount

logger = logging.getLogger(__name__)

BLOCKED = {"kicked"}
UNBLOCKED = {"member"}


def changed(change: ChatMemberChange) -> tuple[bool, str]:
    if change.chat_type != "private":
        # The bot added to or removed from a group (e.g. the staff group): nothing to track.
        return False, f"bot's membership changed in a {change.chat_type or 'unknown'} chat"
    account = TelegramAccount.objects.for_chat(change.chat_id)
    if account is None:
        return False, f"{change.new_status} from a Telegram user with no account"
    if change.new_status in BLOCKED:
        news = account.mark_unreachable("blocked the bot")
        logger.info("telegram user %s blocked the bot%s", change.chat_id, "" if news else " (already known)")
        return True, "marked unreachable"
    if change.new_status in UNBLOCKED:
        news = account.mark_reachable()
        logger.info("telegram user %s unblocked the bot%s", change.chat_id, "" if news else " (already known)")
        return True, "marked reachable"
    return False, f"chat member status {change.new_status!r} is not used"
