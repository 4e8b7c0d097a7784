"""Telegram's sending limits as sliding windows.

Telegram documents its limits loosely ("about 30 messages per second", "avoid more than
one message per second to the same chat, short bursts pass", "20 messages per minute to a
group"). The sandbox turns them into exact, testable rules:

* global:        at most ``global_per_second`` accepted sends per bot in any ``global_window`` s
* private chat:  at most ``private_per_window`` in any ``private_window`` s (default 3 in 3 s:
                 a sustained rate of one a second, with bursts of up to three)
* group chat:    at most ``group_per_minute`` in any ``group_window`` s (chat id < 0)

A window is a log of the times of accepted sends. A refused send is not logged (it was not
delivered), so a client that waits exactly ``retry_after`` is admitted. ``retry_after`` is
the whole number of seconds (rounded up, at least 1) until the oldest logged send leaves the
window, i.e. until the window admits one more — what a well-behaved client must wait.

The caller holds the sandbox lock; this class is not thread-safe on its own, on purpose,
so the check and the delivery happen under one lock and concurrent senders cannot both
squeeze into the last free slot.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """Configurable limits. ``Limits()`` is Telegram's documented free-tier behaviour."""

    global_per_second: int = 30
    global_window: float = 1.0
    private_per_window: int = 3
    private_window: float = 3.0
    group_per_minute: int = 20
    group_window: float = 60.0


class RateLimiter:
    def __init__(self, limits: Limits | None):
        self.limits = limits
        # (bot_id, "global") or (bot_id, chat_id) -> deque of accepted send times
        self._windows: dict[tuple[int, object], deque[float]] = {}

    def reset(self, limits: Limits | None = ...) -> None:  # type: ignore[assignment]
        if limits is not ...:
            self.limits = limits
        self._windows.clear()

    def _check(self, key, now: float, limit: int, window: float) -> float:
        """Seconds until ``key``'s window admits one more send (0 when it admits one now)."""
        log = self._windows.get(key)
        if not log:
            return 0.0
        horizon = now - window
        while log and log[0] <= horizon:
            log.popleft()
        if len(log) < limit:
            return 0.0
        # The window admits one more when the (len - limit + 1)-th oldest entry leaves it.
        return log[len(log) - limit] + window - now

    def try_acquire(self, bot_id: int, chat_id: int, now: float) -> int:
        """Admit one send now (returns 0) or refuse it (returns ``retry_after`` >= 1)."""
        lim = self.limits
        if lim is None:
            return 0
        if chat_id < 0:
            chat_limit, chat_window = lim.group_per_minute, lim.group_window
        else:
            chat_limit, chat_window = lim.private_per_window, lim.private_window
        wait = max(
            self._check((bot_id, "global"), now, lim.global_per_second, lim.global_window),
            self._check((bot_id, chat_id), now, chat_limit, chat_window),
        )
        if wait > 0:
            return max(1, math.ceil(wait - 1e-9))
        self._windows.setdefault((bot_id, "global"), deque()).append(now)
        self._windows.setdefault((bot_id, chat_id), deque()).append(now)
        return 0
