"""
Optional: the staff's Telegram group as a second inbox (TELEGRAM_STAFF_GROUP_ID).

Each message from a person is forwarded to the group as a bot message that names the
conversation (`#c<id>`). A staff member who replies to that message in the group answers the
person: the bot reads the conversation from the replied-to text, checks that the replier's
Telegram account belongs to a staff account on the site, and sends the reply like one typed
in the site's inbox (same outbox, same thread). The group is one chat, so Telegram's 20 a
minute limit for groups applies; the sender enforces it.
"""

from __future__ import annotations

import re

from django.conf import settings

from project.bot import replies
from project.bot.models import Conversation, SupportMessage
from project.bot.updates import Message
from project.telegram_accounts.models import TelegramAccount

MARKER = re.compile(r"#c(\d{1,18})\b")


def group_id() -> int | None:
    return getattr(settings, "TELEGRAM_STAFF_GROUP_ID", None) or None


def forward(support_message: SupportMessage) -> None:
    chat_id = group_id()
    if not chat_id:
        return
    conversation = support_message.conversation
    replies.say(chat_id, "staff_group_forward", {"conversation": conversation, "message": support_message})


def message_in_staff_group(message: Message) -> tuple[bool, str]:
    from project.bot.flows import support

    original = message.reply_to
    if original is None or original.sender is None or original.sender.id != settings.TELEGRAM_BOT_ID:
        return False, "staff group message that is not a reply to the bot"
    found = MARKER.search(original.text)
    if not found:
        return False, "staff group reply to a bot message that names no conversation"
    conversation = Conversation.objects.filter(pk=int(found.group(1))).first()
    if conversation is None:
        return False, f"staff group reply to unknown conversation {found.group(1)}"
    account = TelegramAccount.objects.for_chat(message.sender.id)
    if account is None or not account.user.is_staff:
        return False, f"staff group reply from telegram user {message.sender.id}, who is not staff"
    if message.kind != "text" or not message.text.strip():
        return False, "only text replies are passed on"
    support_message = support.reply(conversation, account.user, message.text)
    return True, f"staff group reply {support_message.pk} in conversation {conversation.pk}"
