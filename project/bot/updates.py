"""
Telegram updates, read from the JSON Telegram posts, without python-telegram-bot.

The webhook function must start fast and never hold the bot token, so it does not import
PTB (about 140 ms) to parse three kinds of update. What we read is small and explicit:
each field is checked for its type, and anything we cannot use becomes a reason, never an
exception. Nothing here touches Django, so the webhook can judge a body before it sets up
the database.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

# The update types the bot handles; setWebhook's allowed_updates lists exactly these.
HANDLED_UPDATE_TYPES = ("message", "callback_query", "my_chat_member")

# Telegram's update types (Bot API 9.x). A key outside this list is still an update of a
# kind we do not know yet: acknowledged and ignored, like a known kind we do not use.
KNOWN_UPDATE_TYPES = frozenset({
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages",
    "message_reaction", "message_reaction_count", "inline_query", "chosen_inline_result",
    "callback_query", "shipping_query", "pre_checkout_query", "purchased_paid_media", "poll",
    "poll_answer", "my_chat_member", "chat_member", "chat_join_request", "chat_boost",
    "removed_chat_boost",
})

# Deeper than anything Telegram sends (a reply to a message with a keyboard is about 8).
MAX_DEPTH = 64
MAX_UPDATE_ID = 2**63 - 1
# Telegram's ids (users, chats, messages) are signed 64-bit integers, and so are the
# database columns that keep them: a larger one is malformed input, not a failure to retry.
MIN_ID, MAX_ID = -(2**63), 2**63 - 1

# Message content kinds shown in the support inbox, in the order they are looked for.
MESSAGE_KINDS = (
    "text", "photo", "document", "voice", "video", "video_note", "audio", "animation",
    "sticker", "location", "venue", "contact", "poll", "dice",
)


class NotAnUpdate(ValueError):
    """The body is not a Telegram update (not JSON, not an object, no usable update_id)."""


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _id(value, what: str) -> int | None:
    """An id field: the integer, None when it is not an integer at all; Unusable when it is
    an integer beyond 64 bits."""
    if not _is_int(value):
        return None
    if not MIN_ID <= value <= MAX_ID:
        raise BeyondSixtyFourBits(f"{what} is beyond 64 bits")
    return value


def _clean(value, depth: int = 0):
    """The JSON value as the database can store it.

    PostgreSQL's jsonb refuses NUL characters, lone surrogates cannot be encoded as UTF-8,
    and Python's json reads 1e999 as infinity, which is not JSON. Telegram sends none of
    these, but the webhook must store whatever it acknowledges.
    """
    if depth > MAX_DEPTH:
        raise NotAnUpdate("nested too deeply")
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
        return value
    if isinstance(value, dict):
        return {_clean(k, depth + 1): _clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, depth + 1) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _reject_constant(name: str):
    raise NotAnUpdate(f"JSON constant {name} is not allowed")


def load_update(body: bytes | str) -> dict:
    """The update object in a webhook body; raises NotAnUpdate with the reason."""
    try:
        data = json.loads(body, parse_constant=_reject_constant)
    except NotAnUpdate:
        raise
    except (ValueError, UnicodeDecodeError) as exc:
        raise NotAnUpdate(f"malformed JSON: {str(exc)[:100]}") from None
    except RecursionError:
        raise NotAnUpdate("malformed JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise NotAnUpdate(f"the body is a JSON {type(data).__name__}, not an object")
    update_id = data.get("update_id")
    if not _is_int(update_id) or not 0 <= update_id <= MAX_UPDATE_ID:
        raise NotAnUpdate("no integer update_id")
    try:
        return _clean(data)
    except RecursionError:
        raise NotAnUpdate("nested too deeply") from None


def update_type(data: dict) -> str:
    """The update's kind: the first key besides update_id ('' when there is none)."""
    for key in data:
        if key != "update_id":
            return key if isinstance(key, str) else ""
    return ""


# --- the parts of an update we read --------------------------------------------------------


@dataclass(frozen=True)
class User:
    id: int
    first_name: str = ""
    last_name: str = ""
    username: str = ""
    is_bot: bool = False
    language_code: str = ""

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p) or (
            f"@{self.username}" if self.username else f"Telegram {self.id}"
        )

    def as_dict(self) -> dict:
        """The shape Telegram uses (what redeem_start_token and TelegramAccount expect)."""
        data = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for key in ("last_name", "username", "language_code"):
            if getattr(self, key):
                data[key] = getattr(self, key)
        return data


@dataclass(frozen=True)
class Message:
    message_id: int
    chat_id: int
    chat_type: str
    sender: User | None
    kind: str  # one of MESSAGE_KINDS, or "other"
    text: str = ""
    caption: str = ""
    file_name: str = ""
    command: str = ""  # "/start" etc., lower-cased, without @botname
    command_args: str = ""
    command_bot: str = ""  # the @botname a command was addressed to, if any
    # A stored `/start <token>` keeps only the token's SHA-256 (see for_storage).
    start_token_hash: str = ""
    reply_to: "Message | None" = None
    raw: dict = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class CallbackQuery:
    id: str
    sender: User
    data: str
    message_id: int | None
    chat_id: int | None
    message_text: str = ""
    message_entities: list = field(default_factory=list, compare=False)


@dataclass(frozen=True)
class ChatMemberChange:
    chat_id: int
    chat_type: str
    sender: User | None
    old_status: str
    new_status: str
    # When the change happened (Telegram's `date`, Unix seconds) and the update carrying it:
    # changes are applied in this order, so a late retry of an older one undoes nothing.
    date: int = 0
    update_id: int | None = None


class Unusable(ValueError):
    """An update of a kind we handle whose contents we cannot use (reason in the message)."""


class BeyondSixtyFourBits(Unusable):
    """An id no Telegram object has (and no BIGINT column holds)."""


def _str(value, limit: int = 10_000) -> str:
    return value[:limit] if isinstance(value, str) else ""


def parse_user(data, what: str = "user id") -> User | None:
    if not isinstance(data, dict):
        return None
    user_id = _id(data.get("id"), what)
    if user_id is None:
        return None
    return User(
        id=user_id,
        first_name=_str(data.get("first_name"), 128),
        last_name=_str(data.get("last_name"), 128),
        username=_str(data.get("username"), 64),
        is_bot=data.get("is_bot") is True,
        language_code=_str(data.get("language_code"), 16),
    )


def _chat(data) -> tuple[int, str]:
    chat = data.get("chat") if isinstance(data, dict) else None
    chat_id = _id(chat.get("id"), "chat id") if isinstance(chat, dict) else None
    if chat_id is None:
        raise Unusable("no chat id")
    return chat_id, _str(chat.get("type"), 32)


def _command(text: str, entities) -> tuple[str, str, str]:
    """("/start", "args", "botname") for a message that starts with a bot command."""
    if not text.startswith("/"):
        return "", "", ""
    # Telegram marks commands with a bot_command entity at offset 0; a text typed as
    # "/start" always has one, so its absence means the slash is just text.
    if not isinstance(entities, list) or not any(
        isinstance(e, dict) and e.get("type") == "bot_command" and e.get("offset") == 0 for e in entities
    ):
        return "", "", ""
    head, _, args = text.partition(" ")
    name, _, bot = head.partition("@")
    if len(name) < 2 or len(name) > 33:
        return "", "", ""
    return name.lower(), args.strip(), bot


# --- what is stored --------------------------------------------------------------------------

# `/start <token>` carries a live one-use connect token (t.me/<bot>?start=<token>): it stays
# live until the person presses Link under the bot's question, or for the token's whole
# lifetime if they cancel or ignore it. The stored update is shown to staff (the admin's
# update page) and kept for weeks, so it keeps only the token's SHA-256 (what StartToken
# keeps, and all the Link question needs) under this key of our own, and the text as the
# chat shows it: "/start". The handling, on arrival and in retry_updates alike, reads the
# stored copy, so the token itself goes no further than receive_update. A hash cannot be
# sent back as a token (it would be hashed again), and the key is honoured only because
# for_storage wrote it: one arriving from outside is dropped.
START_TOKEN_HASH = "x_start_token_sha256"
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def for_storage(data):
    """`data` (an update, or any part of one) as it is stored: every `/start <token>`
    command's token replaced by its hash (see START_TOKEN_HASH). Parts without one are the
    very same objects; changed parts are copies (the caller's `data` is not modified)."""
    if isinstance(data, list):
        items = [for_storage(item) for item in data]
        return items if any(new is not old for new, old in zip(items, data)) else data
    if not isinstance(data, dict):
        return data
    copy = None
    for key, value in data.items():
        new = for_storage(value)
        if new is not value:
            copy = copy if copy is not None else dict(data)
            copy[key] = new
    if START_TOKEN_HASH in data:
        copy = copy if copy is not None else dict(data)
        del copy[START_TOKEN_HASH]
    text = data.get("text")
    if isinstance(text, str):
        command, args, _ = _command(text, data.get("entities"))
        if command == "/start" and args:
            # The hash StartToken keeps (imported here: only a `/start <token>` needs it).
            from project.telegram_accounts.flows.connect_via_bot import hash_start_token

            copy = copy if copy is not None else dict(data)
            head = text.partition(" ")[0]
            copy["text"] = head
            entities = copy.get("entities") if isinstance(copy.get("entities"), list) else []
            copy["entities"] = [e for e in entities if isinstance(e, dict) and isinstance(e.get("offset"), int)
                                and e["offset"] < len(head)]
            copy[START_TOKEN_HASH] = hash_start_token(args)
    return copy if copy is not None else data


def parse_message(data, *, nested: bool = False) -> Message:
    if not isinstance(data, dict):
        raise Unusable("message is not an object")
    message_id = _id(data.get("message_id"), "message_id")
    if message_id is None:
        raise Unusable("message has no message_id")
    chat_id, chat_type = _chat(data)
    kind = next((k for k in MESSAGE_KINDS if k in data and data[k] is not None), "other")
    text = _str(data.get("text"))
    caption = _str(data.get("caption"))
    file_name = ""
    if kind == "document" and isinstance(data["document"], dict):
        file_name = _str(data["document"].get("file_name"), 255)
    if kind == "text" and not isinstance(data.get("text"), str):
        raise Unusable("message text is not a string")
    command = args = bot = token_hash = ""
    if kind == "text":
        command, args, bot = _command(text, data.get("entities"))
        stored_hash = data.get(START_TOKEN_HASH)
        if command == "/start" and not args and isinstance(stored_hash, str) and _SHA256_HEX.fullmatch(stored_hash):
            token_hash = stored_hash
    reply_to = None
    if not nested and isinstance(data.get("reply_to_message"), dict):
        try:
            reply_to = parse_message(data["reply_to_message"], nested=True)
        except Unusable:
            reply_to = None
    return Message(
        message_id=message_id,
        chat_id=chat_id,
        chat_type=chat_type,
        sender=parse_user(data.get("from"), "from.id"),
        kind=kind,
        text=text,
        caption=caption,
        file_name=file_name,
        command=command,
        command_args=args,
        command_bot=bot,
        start_token_hash=token_hash,
        reply_to=reply_to,
        raw=data,
    )


def parse_callback_query(data) -> CallbackQuery:
    if not isinstance(data, dict):
        raise Unusable("callback_query is not an object")
    query_id = data.get("id")
    if not isinstance(query_id, str) or not query_id:
        raise Unusable("callback_query has no id")
    sender = parse_user(data.get("from"), "from.id")
    if sender is None:
        raise Unusable("callback_query has no sender")
    message = data.get("message")
    message_id = chat_id = None
    message_text = ""
    entities: list = []
    if isinstance(message, dict) and _id(message.get("message_id"), "message_id") is not None:
        message_id = message["message_id"]
        try:
            chat_id, _ = _chat(message)
        except BeyondSixtyFourBits:
            raise
        except Unusable:
            chat_id = None
        message_text = _str(message.get("text"))
        raw_entities = message.get("entities")
        if message_text and isinstance(raw_entities, list):
            entities = [e for e in raw_entities if isinstance(e, dict)]
    return CallbackQuery(
        id=query_id[:64],
        sender=sender,
        data=_str(data.get("data"), 64),
        message_id=message_id,
        chat_id=chat_id,
        message_text=message_text,
        message_entities=entities,
    )


def parse_chat_member_change(data, update_id: int | None = None) -> ChatMemberChange:
    if not isinstance(data, dict):
        raise Unusable("my_chat_member is not an object")
    chat_id, chat_type = _chat(data)
    date = data.get("date")
    if not _is_int(date) or not 0 <= date <= MAX_ID:
        raise Unusable("my_chat_member has no date")

    def status(key):
        member = data.get(key)
        return _str(member.get("status"), 32) if isinstance(member, dict) else ""

    new_status = status("new_chat_member")
    if not new_status:
        raise Unusable("my_chat_member has no new status")
    return ChatMemberChange(
        chat_id=chat_id,
        chat_type=chat_type,
        sender=parse_user(data.get("from"), "from.id"),
        old_status=status("old_chat_member"),
        new_status=new_status,
        date=date,
        update_id=update_id,
    )
