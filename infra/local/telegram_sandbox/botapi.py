"""The Bot API subset: parameter parsing, Telegram's answers and Telegram's errors.

``call_api(sandbox, token, method, params)`` is the whole entry point; the Flask route
only turns HTTP into ``params``. Methods are looked up case-insensitively, as Telegram
does. Every call, including refused and failed ones, lands in the record.
"""

from __future__ import annotations

import json
import re
import time
from typing import Callable

from . import faults
from .state import ApiError, BotState, RecordEntry, Sandbox, UPDATE_TYPES

_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_CHAT_ACTIONS = {"typing", "upload_photo", "record_video", "upload_video", "record_voice",
                 "upload_voice", "upload_document", "choose_sticker", "find_location",
                 "record_video_note", "upload_video_note"}


from .api_params import (bad, p_bool, p_int, p_json, p_str, parse_markup, resolve_chat,
                         text_and_entities)


# ----- methods --------------------------------------------------------------------------------


def m_getme(sb: Sandbox, bot: BotState, p: dict):
    return bot.config.telegram_user(full=True)


def m_sendmessage(sb: Sandbox, bot: BotState, p: dict):
    chat = resolve_chat(sb, bot, p)
    text, entities = text_and_entities(p)
    markup = parse_markup(p)
    retry_after = sb.limiter.try_acquire(bot.id, chat["id"], sb.now())
    if retry_after:
        raise ApiError(429, f"Too Many Requests: retry after {retry_after}",
                       {"retry_after": retry_after})
    msg: dict = {
        "message_id": sb._new_message_id(bot, chat["id"]),
        "from": bot.config.telegram_user(),
        "chat": chat,
        "date": int(sb.now()),
        "text": text,
    }
    if entities:
        msg["entities"] = entities
    lpo = p_json(p, "link_preview_options")
    if p_bool(p, "disable_web_page_preview"):
        lpo = {"is_disabled": True}
    if lpo:
        msg["link_preview_options"] = lpo
    if markup and "inline_keyboard" in markup:
        msg["reply_markup"] = markup  # only inline keyboards are part of the Message
    return sb._store_message(bot, chat["id"], msg)


def _message_to_edit(sb: Sandbox, bot: BotState, p: dict) -> dict:
    if p.get("inline_message_id"):
        raise bad("MESSAGE_ID_INVALID")
    chat = resolve_chat(sb, bot, p, for_sending=False)
    message_id = p_int(p, "message_id", True, "message identifier is not specified")
    msg = bot.chats.get(chat["id"], {}).get(message_id)
    if msg is None:
        raise bad("message to edit not found")
    if msg["from"].get("id") != bot.id:
        raise bad("message can't be edited")
    return msg


_NOT_MODIFIED = ("message is not modified: specified new message content and reply markup "
                 "are exactly the same as a current content and reply markup of the message")


def _apply_edit(sb: Sandbox, bot: BotState, msg: dict, **changes) -> dict:
    markup = changes.pop("reply_markup")
    new = {k: v for k, v in msg.items() if k not in ("reply_markup", "edit_date")}
    for k, v in changes.items():
        if v:
            new[k] = v
        else:
            new.pop(k, None)
    if markup:
        new["reply_markup"] = markup
    old_cmp = {k: v for k, v in msg.items() if k != "edit_date"}
    if new == old_cmp:
        raise bad(_NOT_MODIFIED)
    new["edit_date"] = int(sb.now())
    msg.clear()
    msg.update(new)
    sb._touch(bot, msg["chat"]["id"])
    return msg


def m_editmessagetext(sb: Sandbox, bot: BotState, p: dict):
    msg = _message_to_edit(sb, bot, p)
    text, entities = text_and_entities(p)
    # As in Telegram, an edit without reply_markup removes the inline keyboard.
    return _apply_edit(sb, bot, msg, text=text, entities=entities, reply_markup=parse_markup(p))


def m_editmessagereplymarkup(sb: Sandbox, bot: BotState, p: dict):
    msg = _message_to_edit(sb, bot, p)
    return _apply_edit(sb, bot, msg, reply_markup=parse_markup(p))


def m_deletemessage(sb: Sandbox, bot: BotState, p: dict):
    chat = resolve_chat(sb, bot, p, for_sending=False)
    message_id = p_int(p, "message_id", True, "message identifier is not specified")
    if bot.chats.get(chat["id"], {}).pop(message_id, None) is None:
        raise bad("message to delete not found")
    sb._touch(bot, chat["id"])
    return True


def m_answercallbackquery(sb: Sandbox, bot: BotState, p: dict):
    qid = p_str(p, "callback_query_id")
    q = bot.callback_queries.get(qid or "")
    if q is None or q["answered"]:
        raise bad("query is too old and response timeout expired or query ID is invalid")
    q["answered"] = True
    q["answer"] = {"text": p_str(p, "text"), "show_alert": p_bool(p, "show_alert"),
                   "url": p_str(p, "url")}
    sb._touch(bot, q["user_id"])
    return True


def m_sendchataction(sb: Sandbox, bot: BotState, p: dict):
    resolve_chat(sb, bot, p)
    if p_str(p, "action") not in _CHAT_ACTIONS:
        raise bad("wrong type of action")
    return True


def m_setwebhook(sb: Sandbox, bot: BotState, p: dict):
    url = p_str(p, "url") or ""
    secret = p_str(p, "secret_token")
    if secret is not None and secret != "" and not _SECRET_RE.match(secret):
        raise bad("secret token contains unallowed characters")
    maxc = p_int(p, "max_connections")
    if maxc is not None and not 1 <= maxc <= 100:
        raise bad("bad webhook: max_connections must be between 1 and 100")
    allowed = p_json(p, "allowed_updates")
    if allowed is not None:
        if not isinstance(allowed, list) or not all(isinstance(a, str) for a in allowed):
            raise bad("can't parse allowed_updates JSON array")
        allowed = [a for a in allowed if a in UPDATE_TYPES]
    if url and not re.match(r"^https?://[^/\s]+", url):
        raise bad("bad webhook: Failed to resolve host: Name or service not known")
    if p_bool(p, "drop_pending_updates"):
        bot.pending.clear()
    wh = bot.webhook
    if not url:
        # setWebhook with an empty url removes the webhook, like deleteWebhook.
        was = bool(wh.url)
        wh.url, wh.secret_token = "", None
        sb.changed.notify_all()
        return True, "Webhook was deleted" if was else "Webhook is already deleted"
    already = wh.url == url
    wh.url = url
    wh.secret_token = secret or None
    wh.max_connections = maxc or 40
    if allowed is not None:  # "If not specified, the previous setting will be used"
        wh.allowed_updates = allowed
    wh.has_custom_certificate = bool(p.get("certificate"))
    wh.ip_address = p_str(p, "ip_address") or "127.0.0.1"
    bot.failures = 0
    bot.next_attempt_at = 0.0
    sb.changed.notify_all()
    return True, "Webhook is already set" if already else "Webhook was set"


def m_deletewebhook(sb: Sandbox, bot: BotState, p: dict):
    if p_bool(p, "drop_pending_updates"):
        bot.pending.clear()
    was = bool(bot.webhook.url)
    bot.webhook.url, bot.webhook.secret_token = "", None
    sb.changed.notify_all()
    return True, "Webhook was deleted" if was else "Webhook is already deleted"


def m_getwebhookinfo(sb: Sandbox, bot: BotState, p: dict):
    wh = bot.webhook
    info: dict = {"url": wh.url, "has_custom_certificate": wh.has_custom_certificate,
                  "pending_update_count": len(bot.pending)}
    if wh.url:
        info["max_connections"] = wh.max_connections
        info["ip_address"] = wh.ip_address
    if bot.last_error_date:
        info["last_error_date"] = bot.last_error_date
        info["last_error_message"] = bot.last_error_message
    if wh.allowed_updates:
        info["allowed_updates"] = list(wh.allowed_updates)
    return info


def _commands_key(p: dict) -> str:
    scope = p_json(p, "scope") or {"type": "default"}
    return json.dumps([scope, p_str(p, "language_code") or ""], sort_keys=True)


def m_setmycommands(sb: Sandbox, bot: BotState, p: dict):
    commands = p_json(p, "commands")
    if not isinstance(commands, list):
        raise bad("can't parse commands JSON array")
    if len(commands) > 100:
        raise bad("too many commands")
    clean = []
    for c in commands:
        if not isinstance(c, dict) or not _COMMAND_RE.match(str(c.get("command", ""))):
            raise bad("BOT_COMMAND_INVALID")
        desc = str(c.get("description", ""))
        if not 1 <= len(desc) <= 256:
            raise bad("command description must be non-empty")
        clean.append({"command": c["command"], "description": desc})
    bot.commands[_commands_key(p)] = clean
    return True


def m_getmycommands(sb: Sandbox, bot: BotState, p: dict):
    return bot.commands.get(_commands_key(p), [])


def m_deletemycommands(sb: Sandbox, bot: BotState, p: dict):
    bot.commands.pop(_commands_key(p), None)
    return True


METHODS: dict[str, tuple[str, Callable]] = {
    name.lower(): (name, fn) for name, fn in [
        ("getMe", m_getme),
        ("sendMessage", m_sendmessage),
        ("editMessageText", m_editmessagetext),
        ("editMessageReplyMarkup", m_editmessagereplymarkup),
        ("deleteMessage", m_deletemessage),
        ("answerCallbackQuery", m_answercallbackquery),
        ("sendChatAction", m_sendchataction),
        ("setWebhook", m_setwebhook),
        ("deleteWebhook", m_deletewebhook),
        ("getWebhookInfo", m_getwebhookinfo),
        ("setMyCommands", m_setmycommands),
        ("getMyCommands", m_getmycommands),
        ("deleteMyCommands", m_deletemycommands),
    ]
}

NGINX_502 = (b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>"
             b"502 Bad Gateway</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n</body>\r\n</html>\r\n")


def call_api(sb: Sandbox, token: str, method: str, params: dict, *, via: str = "api") -> tuple[int, dict | bytes]:
    """Run one Bot API call. Returns (HTTP status, JSON body or raw bytes for a 502).
    `via="webhook"` marks a call a webhook answered with (delivery.py runs those)."""
    bot = sb.bot_by_token(token)
    entry_method = METHODS.get(method.lower(), (method, None))[0]
    chat_id = params.get("chat_id")
    try:
        chat_id = int(chat_id) if chat_id not in (None, "") else None
    except (TypeError, ValueError):
        pass
    if bot is None:
        err = ApiError(401, "Unauthorized")
        with sb.lock:
            sb._add_record(RecordEntry(sb.now(), None, entry_method, chat_id, dict(params), False,
                                       401, err.description, via=via))
        return 401, err.body()
    injected = faults.draw(sb, method)  # random 5xx and hangs for chaos runs (faults.py)
    with sb.lock:
        delay = sb._take_delay(method) + injected.delay
    if delay:
        time.sleep(delay)  # never under the lock
    with sb.lock:
        entry = RecordEntry(sb.now(), bot.id, entry_method, chat_id, dict(params), True, via=via)
        fault = sb._take_fault(method) or injected.error
        spec = METHODS.get(method.lower())
        try:
            if fault:
                status, desc, parameters = fault
                raise ApiError(status, desc, parameters)
            if spec is None:
                raise ApiError(404, "Not Found")
            result = spec[1](sb, bot, params)
            description = None
            if isinstance(result, tuple):
                result, description = result
            entry.result = json.loads(json.dumps(result))
            if isinstance(result, dict) and "message_id" in result:
                entry.message_id = result["message_id"]
            sb._add_record(entry)
            body = {"ok": True, "result": result}
            if description:
                body["description"] = description
            return 200, json.loads(json.dumps(body))  # a copy: later edits must not leak in
        except ApiError as e:
            entry.ok = False
            entry.error_code = e.code
            entry.description = e.description
            if e.parameters:
                entry.retry_after = e.parameters.get("retry_after")
            sb._add_record(entry)
            if e.code == 502:
                return 502, NGINX_502
            return e.code, e.body()
