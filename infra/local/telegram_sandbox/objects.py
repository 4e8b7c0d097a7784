"""The sandbox's plain objects: bots, fake users, groups, chat links, webhooks, the record's
entries, and Telegram's error. No behaviour beyond small conversions; ``Sandbox`` (state.py)
holds them all."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .state import Sandbox


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
    # "api": a request to /bot<token>/<method>; "webhook": the call a webhook answered with,
    # executed by the sandbox as Telegram does.
    via: str = "api"

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
        # (chat id, message id) of each /start sent by pressing Start on a deep link: the bot
        # gets "/start <payload>", the chat shows "/start" (chats.shown_in_chat).
        self.deep_link_starts: set[tuple[int, int]] = set()
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
