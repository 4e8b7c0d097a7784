"""The sandbox's state (bots, fake users, chats, webhooks) and the record tests read.

Everything lives in one ``Sandbox`` object guarded by one re-entrant lock. Each operation
is tiny (a dict lookup, an append), so a single lock costs nothing measurable and makes
every rule — rate limits above all — exact under concurrent requests. The lock is never
held across network I/O or sleeps (webhook POSTs, injected delays).
"""

from __future__ import annotations

import hashlib
import itertools
import os
import json
import secrets
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable

from . import signing
from .formatting import command_entities
from .limits import Limits, RateLimiter

# Update types Telegram leaves out when ``allowed_updates`` was never set (or set to []).
# Telegram's setWebhook docs: "Specify an empty list to receive all update types except
# chat_member, message_reaction, and message_reaction_count (default)".
DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

UPDATE_TYPES = (
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages",
    "message_reaction", "message_reaction_count", "inline_query", "chosen_inline_result",
    "callback_query", "shipping_query", "pre_checkout_query", "purchased_paid_media", "poll",
    "poll_answer", "my_chat_member", "chat_member", "chat_join_request", "chat_boost",
    "removed_chat_boost",
)


class ManualClock:
    """A clock tests move by hand: ``clock.advance(1.5)``. Callable like ``time.time``."""

    def __init__(self, start: float | None = None):
        self.now = float(start if start is not None else time.time())
        self._lock = threading.Lock()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        with self._lock:
            self.now += seconds
            return self.now


@dataclass
class BotConfig:
    token: str
    username: str
    first_name: str = ""
    oidc_client_secret: str | None = None
    # OIDC redirect URIs registered with BotFather; None accepts any (local convenience).
    redirect_uris: list[str] | None = None

    @property
    def id(self) -> int:
        return int(self.token.split(":", 1)[0])

    def telegram_user(self, full: bool = False) -> dict:
        user = {"id": self.id, "is_bot": True, "first_name": self.first_name or self.username,
                "username": self.username}
        if full:
            user.update({"can_join_groups": True, "can_read_all_group_messages": False,
                         "supports_inline_queries": False, "can_connect_to_business": False,
                         "has_main_web_app": False})
        return user


@dataclass
class FakeUser:
    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    photo_url: str | None = None
    phone_number: str | None = None
    language_code: str | None = "en"
    deactivated: bool = False

    def telegram_user(self) -> dict:
        d = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            d["last_name"] = self.last_name
        if self.username:
            d["username"] = self.username
        if self.language_code:
            d["language_code"] = self.language_code
        return d

    def private_chat(self) -> dict:
        d = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            d["last_name"] = self.last_name
        if self.username:
            d["username"] = self.username
        return d

    @property
    def display_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)


@dataclass
class Group:
    id: int
    title: str

    def chat(self) -> dict:
        return {"id": self.id, "type": "group", "title": self.title}


@dataclass
class ChatLink:
    """A user's relation to one bot."""

    started: bool = False        # pressed Start (or a test said so)
    allowed_write: bool = False  # request_access=write / telegram:bot_access at sign-in
    blocked: bool = False

    @property
    def can_receive(self) -> bool:
        return self.started or self.allowed_write


@dataclass
class RecordEntry:
    """One Bot API call as the sandbox answered it."""

    time: float
    bot_id: int | None
    method: str
    chat_id: int | str | None
    params: dict
    ok: bool
    error_code: int | None = None
    description: str | None = None
    message_id: int | None = None
    result: Any = None
    retry_after: int | None = None

    @property
    def outcome(self) -> str:
        return "ok" if self.ok else f"{self.error_code} {self.description}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["outcome"] = self.outcome
        return d


@dataclass
class DeliveryAttempt:
    """One webhook POST (or the decision not to make one)."""

    time: float
    bot_id: int
    update_id: int
    url: str
    status_code: int | None
    ok: bool
    error: str | None = None
    duration: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Webhook:
    url: str = ""
    secret_token: str | None = None
    max_connections: int = 40
    allowed_updates: list[str] | None = None  # None / [] = Telegram's default set
    has_custom_certificate: bool = False
    ip_address: str | None = None


class BotState:
    def __init__(self, config: BotConfig):
        self.config = config
        self.id = config.id
        # Per-bot salt for the OIDC pairwise ``sub``; fixed per token so it survives restarts.
        self.sub_salt = hashlib.sha256(b"sub-salt:" + config.token.encode()).digest()
        self.reset()

    def reset(self) -> None:
        self.links: dict[int, ChatLink] = {}
        self.webhook = Webhook()
        self.pending: deque[dict] = deque()
        self.failures = 0
        self.next_attempt_at = 0.0
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self.last_sync_error_date: int | None = None
        self.chats: dict[int, dict[int, dict]] = {}  # chat id -> message id -> Message
        self.next_message_id: dict[int, int] = {}
        self.chat_version: dict[int, int] = {}
        self.commands: dict[str, list[dict]] = {}
        self.callback_queries: dict[str, dict] = {}


class ApiError(Exception):
    def __init__(self, code: int, description: str, parameters: dict | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def body(self) -> dict:
        body = {"ok": False, "error_code": self.code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _as_user(sandbox: "Sandbox", user) -> FakeUser:
    if isinstance(user, FakeUser):
        return user
    if isinstance(user, dict):
        return FakeUser(**{k: v for k, v in user.items() if k in FakeUser.__dataclass_fields__})
    return sandbox.user(int(user))


class Sandbox:
    """All state of one sandbox. Thread-safe; see the module docstring."""

    def __init__(
        self,
        bots: Iterable[BotConfig],
        base_url: str | None = None,
        *,
        issuer: str | None = None,
        limits: Limits | None = Limits(),
        clock: Callable[[], float] | None = None,
        webhook_retry_base: float = 1.0,
        webhook_retry_max: float = 10.0,
        webhook_timeout: float = 30.0,
        first_update_id: int = 100_000_001,
        code_lifetime: float = 300.0,
        state_file: str | None = None,
        excluded_by_default: Iterable[str] = DEFAULT_EXCLUDED_UPDATES,
    ):
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)  # notified on every state change
        self.bot_configs = list(bots)
        if not self.bot_configs:
            raise ValueError("a sandbox needs at least one bot")
        self.bots: dict[int, BotState] = {b.id: BotState(b) for b in self.bot_configs}
        self._by_token = {b.token: b.id for b in self.bot_configs}
        self.default_bot_id = self.bot_configs[0].id
        self.base_url = base_url.rstrip("/") if base_url else None
        self.issuer = issuer
        self.default_limits = limits
        self.limiter = RateLimiter(limits)
        self.clock: Callable[[], float] = clock or time.time
        self.webhook_retry_base = webhook_retry_base
        self.webhook_retry_max = webhook_retry_max
        self.webhook_timeout = webhook_timeout
        self.code_lifetime = code_lifetime
        self.excluded_by_default = frozenset(excluded_by_default)
        self.signing_key = signing.SigningKey.generate()
        self.state_file = state_file
        self._next_update_id = {b.id: first_update_id for b in self.bot_configs}
        self._callback_ids = itertools.count(int(time.time()) * 1000)
        self._reset_data()
        self._delivery = None
        if state_file:
            self._load_state()

    # ----- lifecycle ---------------------------------------------------------------------

    def _reset_data(self) -> None:
        self.users: dict[int, FakeUser] = {}
        self.groups: dict[int, Group] = {}
        self._record: list[RecordEntry] = []
        self._deliveries: list[DeliveryAttempt] = []
        self._filtered: list[dict] = []
        self._faults: dict[str, deque] = {}
        self._delays: dict[str, deque] = {}
        self.oidc_codes: dict[str, dict] = {}
        for bot in self.bots.values():
            bot.reset()

    def reset(self) -> None:
        """Forget users, groups, chats, webhooks, records and faults; restore limits and
        the real clock. ``update_id``s keep increasing (a site that dedups by update_id must
        not see a new update as a repeat of one from an earlier test)."""
        with self.lock:
            self._reset_data()
            self.limiter.reset(self.default_limits)
            self.clock = time.time
            self.changed.notify_all()

    def start_delivery(self) -> None:
        from .delivery import WebhookDelivery

        with self.lock:
            if self._delivery is None:
                self._delivery = WebhookDelivery(self)
                self._delivery.start()

    def stop_delivery(self) -> None:
        with self.lock:
            d, self._delivery = self._delivery, None
        if d:
            d.stop()

    def set_limits(self, limits: Limits | None) -> None:
        """Replace the limits until the next reset (``None`` disables them)."""
        with self.lock:
            self.limiter.reset(limits)

    def use_manual_clock(self, start: float | None = None) -> ManualClock:
        clock = ManualClock(start)
        with self.lock:
            self.clock = clock
        return clock

    def now(self) -> float:
        return self.clock()

    # ----- lookups -----------------------------------------------------------------------

    def bot(self, bot_id: int | str | None = None) -> BotState:
        if bot_id is None:
            return self.bots[self.default_bot_id]
        if isinstance(bot_id, str) and ":" in bot_id:
            return self.bots[self._by_token[bot_id]]
        return self.bots[int(bot_id)]

    def bot_by_token(self, token: str) -> BotState | None:
        bot_id = self._by_token.get(token)
        return self.bots[bot_id] if bot_id is not None else None

    def user(self, user_id: int) -> FakeUser:
        with self.lock:
            try:
                return self.users[int(user_id)]
            except KeyError:
                raise KeyError(f"no fake user {user_id}") from None

    def issuer_for(self, request_base: str | None = None) -> str:
        return (self.issuer or self.base_url or (request_base or "").rstrip("/")
                or "http://127.0.0.1")

    # ----- fake users and groups ------------------------------------------------------------

    def add_user(
        self,
        id: int,
        first_name: str = "Test",
        last_name: str | None = None,
        username: str | None = None,
        *,
        photo_url: str | None = None,
        phone_number: str | None = None,
        language_code: str | None = "en",
        started: bool = True,
        bot_id: int | None = None,
    ) -> FakeUser:
        """Create (or replace) a fake user. ``started=True`` makes the user's chat with
        ``bot_id`` (default: the first bot) exist quietly, as if they had pressed Start
        earlier; no update is produced."""
        user = FakeUser(int(id), first_name, last_name, username, photo_url, phone_number,
                        language_code)
        with self.lock:
            self.users[user.id] = user
            if started:
                self._link(self.bot(bot_id), user.id).started = True
            self._touch(self.bot(bot_id), user.id)
            self._save_state()
        return user

    def add_group(self, chat_id: int, title: str = "Test group") -> Group:
        if int(chat_id) >= 0:
            raise ValueError("group chat ids are negative")
        group = Group(int(chat_id), title)
        with self.lock:
            self.groups[group.id] = group
            self._save_state()
        return group

    def _link(self, bot: BotState, user_id: int) -> ChatLink:
        return bot.links.setdefault(int(user_id), ChatLink())

    def link(self, user_id: int, bot_id: int | None = None) -> ChatLink:
        with self.lock:
            return self._link(self.bot(bot_id), user_id)

    def allow_write(self, user_id: int, bot_id: int | None = None) -> None:
        """Record that the user allowed the bot to message them (sign-in with write access)."""
        with self.lock:
            bot = self.bot(bot_id)
            self._link(bot, user_id).allowed_write = True
            self._touch(bot, int(user_id))
            self._save_state()

    def deactivate(self, user_id: int) -> None:
        with self.lock:
            self.user(user_id).deactivated = True
            self._save_state()

    def block(self, user_id: int, bot_id: int | None = None) -> dict | None:
        """The user blocks the bot: sends fail with 403 and a ``my_chat_member`` update
        (member -> kicked) is queued. Returns that update (None if already blocked)."""
        return self._set_blocked(user_id, bot_id, True)

    def unblock(self, user_id: int, bot_id: int | None = None) -> dict | None:
        return self._set_blocked(user_id, bot_id, False)

    def _set_blocked(self, user_id, bot_id, blocked: bool) -> dict | None:
        with self.lock:
            bot = self.bot(bot_id)
            user = self.user(user_id)
            link = self._link(bot, user.id)
            if link.blocked == blocked:
                return None
            link.blocked = blocked
            if not blocked:
                link.started = True
            bot_member = bot.config.telegram_user()
            old = {"user": bot_member, "status": "kicked" if not blocked else "member"}
            new = {"user": bot_member, "status": "kicked" if blocked else "member"}
            if blocked:
                new["until_date"] = 0
            else:
                old["until_date"] = 0
            self._touch(bot, user.id)
            self._save_state()
            return self._enqueue(bot, "my_chat_member", {
                "chat": user.private_chat(),
                "from": user.telegram_user(),
                "date": int(self.now()),
                "old_chat_member": old,
                "new_chat_member": new,
            })

    # ----- fault injection ---------------------------------------------------------------

    def fail_next(self, method: str, status: int = 500, count: int = 1, *,
                  description: str | None = None, retry_after: int | None = None,
                  migrate_to_chat_id: int | None = None) -> None:
        """The next ``count`` calls of ``method`` (any bot) answer ``status`` instead of
        running. 502 answers with nginx's HTML page, as Telegram's front does.
        ``migrate_to_chat_id``: a 400 saying the group became a supergroup with that id."""
        default = {500: "Internal Server Error", 502: "Bad Gateway", 429: "Too Many Requests",
                   400: "Bad Request", 403: "Forbidden", 409: "Conflict"}.get(status, "Error")
        with self.lock:
            q = self._faults.setdefault(method.lower(), deque())
            parameters = {}
            if retry_after:
                parameters["retry_after"] = retry_after
            if migrate_to_chat_id:
                parameters["migrate_to_chat_id"] = migrate_to_chat_id
            for _ in range(count):
                q.append((status, description or default, parameters or None))

    def delay_next(self, method: str, seconds: float, count: int = 1) -> None:
        """The next ``count`` calls of ``method`` wait ``seconds`` before being handled
        (to provoke client timeouts); the call still happens afterwards."""
        with self.lock:
            q = self._delays.setdefault(method.lower(), deque())
            for _ in range(count):
                q.append(float(seconds))

    def _take_fault(self, method: str):
        q = self._faults.get(method.lower())
        return q.popleft() if q else None

    def _take_delay(self, method: str) -> float:
        q = self._delays.get(method.lower())
        return q.popleft() if q else 0.0

    # ----- chats and messages ------------------------------------------------------------

    def _touch(self, bot: BotState, chat_id: int) -> None:
        bot.chat_version[chat_id] = bot.chat_version.get(chat_id, 0) + 1
        self.changed.notify_all()

    def _new_message_id(self, bot: BotState, chat_id: int) -> int:
        n = bot.next_message_id.get(chat_id, 1)
        bot.next_message_id[chat_id] = n + 1
        return n

    def _store_message(self, bot: BotState, chat_id: int, message: dict) -> dict:
        bot.chats.setdefault(chat_id, {})[message["message_id"]] = message
        self._touch(bot, chat_id)
        return message

    def messages(self, chat_id: int, bot_id: int | None = None) -> list[dict]:
        """The chat as it stands (edits applied, deleted messages gone), oldest first."""
        with self.lock:
            bot = self.bot(bot_id)
            return [json.loads(json.dumps(m)) for m in bot.chats.get(int(chat_id), {}).values()]

    def message(self, chat_id: int, message_id: int, bot_id: int | None = None) -> dict | None:
        with self.lock:
            m = self.bot(bot_id).chats.get(int(chat_id), {}).get(int(message_id))
            return json.loads(json.dumps(m)) if m else None

    def chat_version(self, chat_id: int, bot_id: int | None = None) -> int:
        with self.lock:
            return self.bot(bot_id).chat_version.get(int(chat_id), 0)

    # ----- updates ---------------------------------------------------------------------------

    def _allowed(self, bot: BotState, update_type: str) -> bool:
        allowed = bot.webhook.allowed_updates
        if not allowed:
            return update_type not in self.excluded_by_default
        return update_type in allowed

    def _take_update_id(self, bot: BotState) -> int:
        n = self._next_update_id[bot.id]
        self._next_update_id[bot.id] = n + 1
        if self.state_file:
            self._save_state()
        return n

    def _enqueue(self, bot: BotState, update_type: str, payload: dict, *, force=False) -> dict:
        update = {"update_id": self._take_update_id(bot), update_type: payload}
        if force or self._allowed(bot, update_type):
            bot.pending.append(update)
        else:
            self._filtered.append({"bot_id": bot.id, "update": update})
        self.changed.notify_all()
        return update

    def _user_message(self, bot: BotState, user: FakeUser, **content) -> dict:
        msg = {
            "message_id": self._new_message_id(bot, user.id),
            "from": user.telegram_user(),
            "chat": user.private_chat(),
            "date": int(self.now()),
        }
        msg.update(content)
        self._store_message(bot, user.id, msg)
        return msg

    def _check_can_write_to_bot(self, bot: BotState, user: FakeUser) -> None:
        if bot.links.get(user.id, ChatLink()).blocked:
            raise ValueError(f"user {user.id} blocked bot {bot.id}; unblock first")

    def user_sends(self, user_id: int, text: str, bot_id: int | None = None) -> dict:
        """The user types ``text`` to the bot. Returns the queued Update. A text starting
        with ``/`` carries a ``bot_command`` entity; ``/start`` also starts the chat."""
        with self.lock:
            bot, user = self.bot(bot_id), self.user(user_id)
            self._check_can_write_to_bot(bot, user)
            link = self._link(bot, user.id)
            content: dict = {"text": text}
            ents = command_entities(text)
            if ents and ents[0]["offset"] == 0:
                content["entities"] = ents[:1]
            if text.split(" ", 1)[0].split("@", 1)[0] == "/start":
                link.started = True
                self._save_state()
            msg = self._user_message(bot, user, **content)
            return self._enqueue(bot, "message", msg)

    def user_starts(self, user_id: int, payload: str | None = None,
                    bot_id: int | None = None) -> dict:
        """The user presses Start (optionally from a ``t.me/bot?start=payload`` link)."""
        with self.lock:
            bot = self.bot(bot_id)
            if self._link(bot, user_id).blocked:
                self._set_blocked(user_id, bot_id, False)
            return self.user_sends(user_id, "/start" + (f" {payload}" if payload else ""), bot_id)

    def _file(self, prefix: str) -> dict:
        uid = secrets.token_hex(8)
        return {"file_id": f"{prefix}{secrets.token_urlsafe(24)}", "file_unique_id": uid}

    def user_sends_photo(self, user_id: int, caption: str | None = None,
                         bot_id: int | None = None) -> dict:
        with self.lock:
            bot, user = self.bot(bot_id), self.user(user_id)
            self._check_can_write_to_bot(bot, user)
            sizes = []
            for w, h, size in ((90, 60, 1200), (320, 213, 14000), (800, 533, 61000)):
                f = self._file("AgAC")
                f.update({"width": w, "height": h, "file_size": size})
                sizes.append(f)
            content: dict = {"photo": sizes}
            if caption:
                content["caption"] = caption
            return self._enqueue(bot, "message", self._user_message(bot, user, **content))

    def user_sends_document(self, user_id: int, file_name: str = "document.pdf",
                            mime_type: str = "application/pdf", caption: str | None = None,
                            file_size: int = 12345, bot_id: int | None = None) -> dict:
        with self.lock:
            bot, user = self.bot(bot_id), self.user(user_id)
            self._check_can_write_to_bot(bot, user)
            doc = self._file("BQAC")
            doc.update({"file_name": file_name, "mime_type": mime_type, "file_size": file_size})
            content: dict = {"document": doc}
            if caption:
                content["caption"] = caption
            return self._enqueue(bot, "message", self._user_message(bot, user, **content))

    def user_sends_voice(self, user_id: int, duration: int = 3, caption: str | None = None,
                         bot_id: int | None = None) -> dict:
        with self.lock:
            bot, user = self.bot(bot_id), self.user(user_id)
            self._check_can_write_to_bot(bot, user)
            voice = self._file("AwAC")
            voice.update({"duration": duration, "mime_type": "audio/ogg", "file_size": 4000 * duration})
            content: dict = {"voice": voice}
            if caption:
                content["caption"] = caption
            return self._enqueue(bot, "message", self._user_message(bot, user, **content))

    def user_presses(self, user_id: int, message_id: int, callback_data: str,
                     bot_id: int | None = None, *, strict: bool = True) -> dict:
        """The user presses an inline button. With ``strict`` (default) the message must be
        in the user's chat and carry a button with that ``callback_data``, as only real
        buttons can be pressed; ``strict=False`` forges any data (for tampering tests)."""
        with self.lock:
            bot, user = self.bot(bot_id), self.user(user_id)
            msg = bot.chats.get(user.id, {}).get(int(message_id))
            if strict:
                if msg is None:
                    raise ValueError(f"no message {message_id} in chat {user.id}")
                datas = [b.get("callback_data")
                         for row in (msg.get("reply_markup") or {}).get("inline_keyboard", [])
                         for b in row]
                if callback_data not in datas:
                    raise ValueError(f"message {message_id} has no button {callback_data!r}")
            qid = str(next(self._callback_ids))
            bot.callback_queries[qid] = {"user_id": user.id, "answered": False,
                                         "time": self.now(), "answer": None}
            cq: dict = {
                "id": qid,
                "from": user.telegram_user(),
                "chat_instance": str(abs(hash((bot.id, user.id))) % 10**19),
                "data": callback_data,
            }
            if msg is not None:
                cq["message"] = json.loads(json.dumps(msg))
            else:
                cq["message"] = {"message_id": int(message_id), "chat": user.private_chat(),
                                 "date": 0}  # InaccessibleMessage
            self._touch(bot, user.id)
            return self._enqueue(bot, "callback_query", cq)

    def callback_answer(self, callback_query_id: str, bot_id: int | None = None) -> dict | None:
        """What the bot answered (answerCallbackQuery) to a press: ``{"text", "show_alert",
        "url"}``, or None while unanswered."""
        with self.lock:
            q = self.bot(bot_id).callback_queries.get(str(callback_query_id))
            return dict(q["answer"]) if q and q["answer"] else None

    def inject_update(self, update: dict, bot_id: int | None = None) -> dict:
        """Queue a raw update for webhook delivery as is — its ``update_id`` is kept when
        present (so the same update can be delivered twice, or out of order) and
        ``allowed_updates`` is not applied."""
        with self.lock:
            bot = self.bot(bot_id)
            update = dict(update)
            if "update_id" not in update:
                update["update_id"] = self._take_update_id(bot)
            bot.pending.append(update)
            self.changed.notify_all()
            return update

    deliver_update_now = inject_update

    def pending_updates(self, bot_id: int | None = None) -> list[dict]:
        with self.lock:
            return list(self.bot(bot_id).pending)

    def filtered_updates(self) -> list[dict]:
        """Updates not queued because ``allowed_updates`` excluded their type."""
        with self.lock:
            return list(self._filtered)

    def wait_for_delivery(self, timeout: float = 5.0, bot_id: int | None = None) -> None:
        """Block until every bot that has a webhook (or just ``bot_id``) has no pending
        update, i.e. the webhook answered 2xx to all. Raises ``TimeoutError`` otherwise.
        Updates of a bot without a webhook wait for one and are not waited for."""
        deadline = time.monotonic() + timeout
        with self.lock:
            while True:
                bots = [self.bot(bot_id)] if bot_id is not None else list(self.bots.values())
                busy = [b for b in bots if b.pending and (b.webhook.url or bot_id is not None)]
                if not busy:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    detail = ", ".join(
                        f"bot {b.id}: {len(b.pending)} pending, webhook {b.webhook.url!r}, "
                        f"last error {b.last_error_message!r}" for b in busy)
                    raise TimeoutError(f"updates still pending after {timeout}s ({detail})")
                self.changed.wait(min(left, 0.5))

    # ----- the record ---------------------------------------------------------------------

    def _add_record(self, entry: RecordEntry) -> None:
        self._record.append(entry)

    def record(self, bot_id: int | None = None) -> list[RecordEntry]:
        """Every Bot API call (all bots when ``bot_id`` is None), oldest first."""
        with self.lock:
            if bot_id is None:
                return list(self._record)
            return [r for r in self._record if r.bot_id == int(bot_id)]

    @property
    def sent(self) -> list[RecordEntry]:
        """Same as ``record()``: every Bot API call of every bot."""
        return self.record()

    def delivered(self, chat_id: int | None = None, bot_id: int | None = None) -> list[RecordEntry]:
        """Successful ``sendMessage`` calls (optionally to one chat)."""
        return [r for r in self.record(bot_id) if r.ok and r.method == "sendMessage"
                and (chat_id is None or r.chat_id == int(chat_id))]

    def refused(self, bot_id: int | None = None) -> list[RecordEntry]:
        """Calls refused by the rate limits (429)."""
        return [r for r in self.record(bot_id) if r.error_code == 429]

    def errors(self, bot_id: int | None = None) -> list[RecordEntry]:
        return [r for r in self.record(bot_id) if not r.ok]

    def webhook_deliveries(self, bot_id: int | None = None) -> list[DeliveryAttempt]:
        with self.lock:
            return [d for d in self._deliveries if bot_id is None or d.bot_id == int(bot_id)]

    def snapshot(self) -> dict:
        """Everything, JSON-ready (``GET /_sandbox/record``)."""
        with self.lock:
            return {
                "record": [r.to_dict() for r in self._record],
                "webhook_deliveries": [d.to_dict() for d in self._deliveries],
                "filtered_updates": list(self._filtered),
                "users": [asdict(u) for u in self.users.values()],
                "groups": [asdict(g) for g in self.groups.values()],
                "bots": {
                    str(b.id): {
                        "username": b.config.username,
                        "webhook": asdict(b.webhook) | {"secret_token": bool(b.webhook.secret_token)},
                        "pending_update_count": len(b.pending),
                        "last_error_message": b.last_error_message,
                        "links": {str(k): asdict(v) for k, v in b.links.items()},
                        "chats": {str(k): list(v.values()) for k, v in b.chats.items()},
                    } for b in self.bots.values()
                },
            }

    # ----- legacy sign-in ---------------------------------------------------------------

    def sign_legacy_login(self, bot_id: int | None, user, auth_date: int | None = None,
                          **fields) -> dict:
        """The signed JSON Telegram's legacy flow returns for ``user`` (a FakeUser, user id
        or dict). ``fields`` add or override fields before signing (None removes one)."""
        bot = self.bot(bot_id)
        u = _as_user(self, user)
        data: dict = {"id": u.id, "first_name": u.first_name}
        if u.last_name:
            data["last_name"] = u.last_name
        if u.username:
            data["username"] = u.username
        if u.photo_url:
            data["photo_url"] = u.photo_url
        data["auth_date"] = int(auth_date if auth_date is not None else self.now())
        for k, v in fields.items():
            if v is None:
                data.pop(k, None)
            else:
                data[k] = v
        data["hash"] = signing.legacy_hash(bot.config.token, data)
        return data

    def legacy_auth_result(self, bot_id: int | None, user, auth_date: int | None = None,
                           **fields) -> str:
        """The ``tgAuthResult`` fragment value for ``sign_legacy_login(...)``."""
        return signing.encode_auth_result(self.sign_legacy_login(bot_id, user, auth_date, **fields))

    # ----- OIDC ------------------------------------------------------------------------------

    def make_id_token(self, bot_id: int | None, user, *, scope: str = "openid profile",
                      nonce: str | None = None, issuer: str | None = None,
                      key: signing.SigningKey | None = None, foreign: bool = False,
                      headers: dict | None = None, **claims) -> str:
        """An ID token as ``/token`` issues it. ``claims`` override or add claims (None
        removes one). ``foreign=True`` signs with a fresh key under the real ``kid`` (a
        forgery); ``key=`` signs with a given ``signing.SigningKey``."""
        bot = self.bot(bot_id)
        u = _as_user(self, user)
        body = signing.id_token_claims(
            issuer=issuer or self.issuer_for(), bot_id=bot.id, salt=bot.sub_salt,
            user=asdict(u), scopes=set(scope.split()), nonce=nonce, now=self.now())
        for k, v in claims.items():
            if v is None:
                body.pop(k, None)
            else:
                body[k] = v
        if foreign:
            key = signing.SigningKey(signing.SigningKey.generate().private_key, self.signing_key.kid)
        return (key or self.signing_key).sign(body, headers)

    def jwks(self) -> dict:
        return {"keys": [self.signing_key.public_jwk()]}

    def oidc_sub(self, bot_id: int | None, user_id: int) -> str:
        return signing.pairwise_sub(self.bot(bot_id).sub_salt, int(user_id))

    # ----- persistence (``--state FILE``) --------------------------------------------------

    def _save_state(self) -> None:
        if not self.state_file:
            return
        data = {
            "users": [asdict(u) for u in self.users.values()],
            "groups": [asdict(g) for g in self.groups.values()],
            "links": {str(b.id): {str(k): asdict(v) for k, v in b.links.items()}
                      for b in self.bots.values()},
            "next_update_id": {str(k): v for k, v in self._next_update_id.items()},
        }
        tmp = self.state_file + ".tmp"
        with open(tmp, "w") as fh:
            json.dump(data, fh, indent=1)
        os.replace(tmp, self.state_file)

    def _load_state(self) -> None:
        if not self.state_file or not os.path.exists(self.state_file):
            return
        with open(self.state_file) as fh:
            data = json.load(fh)
        for u in data.get("users", []):
            self.users[int(u["id"])] = FakeUser(**u)
        for g in data.get("groups", []):
            self.groups[int(g["id"])] = Group(**g)
        for bot_id, links in data.get("links", {}).items():
            if int(bot_id) in self.bots:
                for uid, link in links.items():
                    self.bots[int(bot_id)].links[int(uid)] = ChatLink(**link)
        # Update ids must keep growing across restarts, or the site would take new updates
        # for repeats it already handled: continue from the saved counters.
        for bot_id, n in data.get("next_update_id", {}).items():
            if int(bot_id) in self.bots:
                self._next_update_id[int(bot_id)] = max(self._next_update_id[int(bot_id)], int(n))
