"""The sandbox's state (bots, fake users, chats, webhooks) and the record tests read.

Everything lives in one ``Sandbox`` object guarded by one re-entrant lock. Each operation
is tiny (a dict lookup, an append), so a single lock costs nothing measurable and makes
every rule — rate limits above all — exact under concurrent requests. The lock is never
held across network I/O or sleeps (webhook POSTs, injected delays).

The behaviour is split by topic into mixins (people.py, chats.py, recording.py, signins.py,
persistence.py) over the plain objects of objects.py; this module ties them together and
re-exports the names other modules import from it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from typing import Callable, Iterable

from . import signing
from .chats import ChatsMixin
from .limits import Limits, RateLimiter
from .objects import (DEFAULT_EXCLUDED_UPDATES, UPDATE_TYPES, ApiError, BotConfig, BotState,
                      ChatLink, DeliveryAttempt, FakeUser, Group, ManualClock, RecordEntry,
                      Webhook)
from .people import PeopleMixin
from .persistence import PersistenceMixin
from .recording import RecordingMixin
from .signins import SignInsMixin

__all__ = ["DEFAULT_EXCLUDED_UPDATES", "UPDATE_TYPES", "ApiError", "BotConfig", "BotState",
           "ChatLink", "DeliveryAttempt", "FakeUser", "Group", "ManualClock", "RecordEntry",
           "Sandbox", "Webhook"]


class Sandbox(PeopleMixin, ChatsMixin, RecordingMixin, SignInsMixin, PersistenceMixin):
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
