"""
Editing the message under which a button was pressed, so it shows what the press did.

The message's own text comes back in the callback query (plain text plus entities, the way
Telegram stores it), so the edit keeps its formatting by sending the same entities: the
result is a line appended after them. A message edited before (a second answer) had a result
line already; it is replaced, not stacked. The edit goes through the outbox: unlike the
callback answer it must not be lost.
"""

from __future__ import annotations

from project.bot import replies
from project.bot.updates import CallbackQuery

RESULT_SEPARATOR = "\n\n"
MAX_TEXT = 4096  # Telegram's limit, in UTF-16 code units


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _without_result(text: str, entities: list[dict], marker: str) -> tuple[str, list[dict]]:
    """The text before an earlier result line that starts with `marker`, and its entities."""
    if not marker:
        return text, entities
    cut = text.rfind(RESULT_SEPARATOR + marker)
    if cut < 0:
        return text, entities
    text = text[:cut]
    end = _utf16(text)
    kept = []
    for entity in entities:
        offset, length = entity.get("offset"), entity.get("length")
        if not isinstance(offset, int) or not isinstance(length, int) or offset >= end:
            continue
        kept.append({**entity, "length": min(length, end - offset)})
    return text, kept


def show_result(query: CallbackQuery, user, result: str, *, replaces: str = "", buttons=None) -> bool:
    """Edit the pressed message: its text (formatting kept) then `result`; `buttons` stay
    under it (None removes them). `replaces` marks an earlier result line to drop first.
    Returns False when there is no message to edit (an inline or too old message)."""
    if query.message_id is None or query.chat_id is None:
        return False
    text, entities = _without_result(query.message_text, list(query.message_entities), replaces)
    payload: dict = {"message_id": query.message_id}
    if text:
        room = MAX_TEXT - _utf16(RESULT_SEPARATOR + result)
        if _utf16(text) > room:  # only a message already at Telegram's limit
            text = text.encode("utf-16-le")[: room * 2].decode("utf-16-le", "ignore")
            entities = [e for e in entities if e.get("offset", 0) + e.get("length", 0) <= _utf16(text)]
        payload["text"] = f"{text}{RESULT_SEPARATOR}{result}"
        if entities:
            payload["entities"] = entities
    else:
        payload["text"] = result
    if buttons:
        payload["reply_markup"] = {"inline_keyboard": buttons}
    replies.send(query.chat_id, "editMessageText", payload, user=user)
    return True
