"""
Which flow handles a stored update. `route(stored) -> (handled, note)`: handled False means
the update was understood but deliberately not acted on (the note says why; it is stored as
the update's reason and logged). Exceptions propagate: the caller marks the update failed.
"""

from __future__ import annotations

from django.conf import settings

from project.bot import updates
from project.bot.flows import (chat_member, commands, link_buttons, match_request_buttons, rsvp_buttons,
                               staff_group, support)
from project.bot.models import StoredUpdate

COMMANDS = {
    "/start": commands.start,
    "/stop": commands.stop,
    "/help": commands.help,
    "/settings": commands.settings_link,
}


def route(stored: StoredUpdate) -> tuple[bool, str]:
    data = stored.payload
    try:
        if stored.kind == "message":
            return _message(updates.parse_message(data.get("message")), stored)
        if stored.kind == "callback_query":
            return _button(updates.parse_callback_query(data.get("callback_query")))
        if stored.kind == "my_chat_member":
            return chat_member.changed(updates.parse_chat_member_change(data.get("my_chat_member")))
    except updates.Unusable as exc:
        return False, f"unusable {stored.kind}: {exc}"
    return False, f"{stored.kind} updates are not used"


# Which flow a button belongs to, by the prefix of its callback_data.
BUTTONS = {
    "mr": match_request_buttons.press,
    "rsvp": rsvp_buttons.press,
    "ln": link_buttons.press,
}


def _button(query: updates.CallbackQuery) -> tuple[bool, str]:
    prefix = query.data.split(":", 1)[0]
    # An unknown prefix still gets its spinner stopped: match_request_buttons says so.
    return BUTTONS.get(prefix, match_request_buttons.press)(query)


def _message(message: updates.Message, stored: StoredUpdate) -> tuple[bool, str]:
    if message.sender is None or message.sender.is_bot:
        return False, "message not from a person"
    staff_group_id = getattr(settings, "TELEGRAM_STAFF_GROUP_ID", None)
    if staff_group_id and message.chat_id == staff_group_id:
        return staff_group.message_in_staff_group(message)
    if message.chat_type != "private" or message.chat_id != message.sender.id:
        return False, f"message in a {message.chat_type or 'unknown'} chat we do not serve"
    if message.command:
        return COMMANDS.get(message.command, commands.unknown)(message)
    return support.message_from_person(message, stored)
