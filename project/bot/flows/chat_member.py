"""
A person blocks or unblocks the bot.

Telegram sends `my_chat_member` for the private chat: new status "kicked" when the person
blocked the bot, "member" when they unblocked it (or pressed Start again). Blocking marks
their TelegramAccount unreachable, so notifications go by email instead and the site shows a
notice; unblocking marks it reachable again. Nothing is said back: a blocked bot cannot
speak, and an unblock is followed by the person's own /start, which greets them.

Changes are applied in the order they happened, not the order they arrive: Telegram
resends an update until it is answered, so an older "kicked" can come after a newer
"member". Each account keeps the (`date`, update_id) of the newest change applied; a change
that is not newer is stored as ignored with that reason. Two changes in the same second are
ordered by update_id when the caller passes it (ChatMemberChange.update_id); without it
they apply in arrival order.
"""

from __future__ import annotations

import logging

from django.db import transaction

from project.bot.updates import ChatMemberChange
from project.telegram_accounts.models import TelegramAccount

logger = logging.getLogger(__name__)

BLOCKED = {"kicked"}
UNBLOCKED = {"member"}


def changed(change: ChatMemberChange) -> tuple[bool, str]:
    if change.chat_type != "private":
        # The bot added to or removed from a group (e.g. the staff group): nothing to track.
        return False, f"bot's membership changed in a {change.chat_type or 'unknown'} chat"
    with transaction.atomic():
        # Locked: two changes for one person delivered at once are compared one after the other.
        account = TelegramAccount.objects.select_for_update().filter(telegram_id=change.chat_id).first()
        if account is None:
            return False, f"{change.new_status} from a Telegram user with no account"
        if not _is_newer(change, account):
            return False, (
                f"{change.new_status} of {change.date} is older than the change already applied "
                f"({account.chat_member_date}, update {account.chat_member_update_id})"
            )
        if change.new_status not in BLOCKED | UNBLOCKED:
            return False, f"chat member status {change.new_status!r} is not used"
        account.chat_member_date = change.date
        account.chat_member_update_id = change.update_id
        account.save(update_fields=["chat_member_date", "chat_member_update_id", "updated_at"])
        return _apply(change, account)


def _is_newer(change: ChatMemberChange, account: TelegramAccount) -> bool:
    if account.chat_member_date is None:
        return True
    if change.date != account.chat_member_date:
        return change.date > account.chat_member_date
    if change.update_id is None or account.chat_member_update_id is None:
        return True  # same second, no update_id to tell them apart: arrival order
    return change.update_id > account.chat_member_update_id


def _apply(change: ChatMemberChange, account: TelegramAccount) -> tuple[bool, str]:
    if change.new_status in BLOCKED:
        news = account.mark_unreachable("blocked the bot")
        logger.info("telegram user %s blocked the bot%s", change.chat_id, "" if news else " (already known)")
        return True, "marked unreachable"
    news = account.mark_reachable()  # UNBLOCKED
    logger.info("telegram user %s unblocked the bot%s", change.chat_id, "" if news else " (already known)")
    return True, "marked reachable"
