"""Bot API parameters as Telegram reads them (JSON bodies, form bodies and query strings
alike), the chats they name, inline keyboards, and message texts with their parse mode; and
``bad()``, Telegram's "Bad Request" error. Used by botapi.py's methods."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from .formatting import ParseError, apply_parse_mode, utf16_len
from .objects import ApiError, BotState, ChatLink

if TYPE_CHECKING:
    from .state import Sandbox


def bad(desc: str) -> ApiError:
    return ApiError(400, f"Bad Request: {desc}")


# ----- parameter coercion -------------------------------------------------------------------
# Telegram accepts JSON bodies, form bodies and query strings alike; in the latter two every
# value is a string and objects (reply_markup, allowed_updates…) are JSON-serialized strings.
# python-telegram-bot sends form bodies that way.


def p_int(p: dict, name: str, required: bool = False, empty_desc: str | None = None) -> int | None:
    v = p.get(name)
    if v is None or v == "":
        if required:
            raise bad(empty_desc or f"{name} is empty")
        return None
    if isinstance(v, bool):
        raise bad(f"invalid {name} specified")
    try:
        return int(v)
    except (TypeError, ValueError):
        raise bad(f"invalid {name} specified") from None


def p_bool(p: dict, name: str, default: bool = False) -> bool:
    v = p.get(name)
    if v is None or v == "":
        return default
    if isinstance(v, bool):
        return v
    return str(v).lower() in ("true", "1", "yes")


def p_json(p: dict, name: str) -> Any:
    v = p.get(name)
    if isinstance(v, str):
        if v == "":
            return None
        try:
            return json.loads(v)
        except ValueError:
            raise bad(f"can't parse {name} JSON object") from None
    return v


def p_str(p: dict, name: str) -> str | None:
    v = p.get(name)
    return None if v is None else str(v)


# ----- chats ------------------------------------------------------------------------------


def resolve_chat(sb: Sandbox, bot: BotState, p: dict, *, for_sending: bool = True) -> dict:
    raw = p.get("chat_id")
    if raw is None or raw == "":
        raise bad("chat_id is empty")
    try:
        chat_id = int(raw)
    except (TypeError, ValueError):
        raise bad("chat not found") from None  # "@channelusername" is not supported
    if chat_id < 0:
        group = sb.groups.get(chat_id)
        if group is None:
            raise bad("chat not found")
        return group.chat()
    user = sb.users.get(chat_id)
    if user is None:
        raise bad("chat not found")
    if for_sending:
        if user.deactivated:
            raise ApiError(403, "Forbidden: user is deactivated")
        link = bot.links.get(chat_id, ChatLink())
        if link.blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
        if not link.can_receive:
            raise ApiError(403, "Forbidden: bot can't initiate conversation with a user")
    return user.private_chat()


def parse_markup(p: dict) -> dict | None:
    markup = p_json(p, "reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
            raise bad("can't parse inline keyboard button: InlineKeyboardMarkup must be an Array of Arrays")
        for row in rows:
            for b in row:
                if not isinstance(b, dict) or not b.get("text"):
                    raise bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
                if "callback_data" in b:
                    data = b["callback_data"]
                    if not isinstance(data, str) or not 1 <= len(data.encode()) <= 64:
                        raise bad("BUTTON_DATA_INVALID")
                elif "url" in b:
                    if not re.match(r"^(https?|tg)://", str(b["url"])):
                        raise bad(f"inline keyboard button URL '{b['url']}' is invalid: Wrong HTTP URL")
                elif not any(k in b for k in ("login_url", "switch_inline_query", "web_app",
                                             "switch_inline_query_current_chat", "copy_text",
                                             "callback_game", "pay",
                                             "switch_inline_query_chosen_chat")):
                    raise bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
        # Telegram drops an empty inline keyboard.
        if not any(rows):
            return None
    return markup


def text_and_entities(p: dict, name: str = "text") -> tuple[str, list[dict]]:
    text = p_str(p, name) or ""
    try:
        text, entities = apply_parse_mode(text, p_str(p, "parse_mode"), p_json(p, "entities"))
    except ParseError as e:
        raise bad(str(e)) from None
    if not text.strip():
        raise bad("message text is empty")
    if utf16_len(text) > 4096:
        raise bad("message is too long")
    return text, entities
