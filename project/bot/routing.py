"""
Which flow handles a stored update. `route(stored) -> (handled, note)`: handled False means
the update was understood but deliberately not acted on (the note says why; it is stored as
the update's reason and logged). Exceptions propagate: the caller marks the update failed.

Flows are named, not imported, here: a cold webhook imports only the flow its first update
needs (a /help does not load the buttons, the support inbox or the linking code).
"""

from __future__ import annotations

from importlib import import_module

from django.conf import settings

from project.bot import updates
from project.bot.models import StoredUpdate

COMMANDS = {
    "/start": "commands:start",
    "/stop": "commands:stop",
    "/help": "commands:help",
    "/settings": "commands:settings_link",
}
UNKNOWN_COMMAND = "commands:unknown"


def _flow(ref):
    """A flow function from "module:function" under project.bot.flows (or a callable as is)."""
    if callable(ref):
        return ref
    module, _, name = ref.partition(":")
    return getattr(import_module(f"project.bot.flows.{module}"), name)


def route(stored: StoredUpdate) -> tuple[bool, str]:
    data = stored.payload
    try:
        if stored.kind == "message":
            return _message(updates.parse_message(data.get("message")), stored)
        if stored.kind == "callback_query":
            return _button(updates.parse_callback_query(data.get("callback_query")))
        if stored.kind == "my_chat_member":
            return _flow("chat_member:changed")(updates.parse_chat_member_change(
                data.get("my_chat_member"), update_id=stored.update_id))
    except updates.Unusable as exc:
        return False, f"unusable {stored.kind}: {exc}"
    return False, f"{stored.kind} updates are not used"


# Which flow a button belongs to, by the prefix of its callback_data.
BUTTONS = {
    "mr": "match_request_buttons:press",
    "rsvp": "rsvp_buttons:press",
    "ln": "link_buttons:press",
}


def _button(query: updates.CallbackQuery) -> tuple[bool, str]:
    prefix = query.data.split(":", 1)[0]
    # An unknown prefix still gets its spinner stopped: match_request_buttons says so.
    return _flow(BUTTONS.get(prefix, "match_request_buttons:press"))(query)


def _message(message: updates.Message, stored: StoredUpdate) -> tuple[bool, str]:
    if message.sender is None or message.sender.is_bot:
        return False, "message not from a person"
    staff_group_id = getattr(settings, "TELEGRAM_STAFF_GROUP_ID", None)
    if staff_group_id and message.chat_id == staff_group_id:
        return _flow("staff_group:message_in_staff_group")(message)
    if message.chat_type != "private" or message.chat_id != message.sender.id:
        return False, f"message in a {message.chat_type or 'unknown'} chat we do not serve"
    if message.command:
        return _flow(COMMANDS.get(message.command, UNKNOWN_COMMAND))(message)
    return _flow("support:message_from_person")(message, stored)
