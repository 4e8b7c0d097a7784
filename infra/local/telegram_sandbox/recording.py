"""The record of every Bot API call and webhook POST, and the faults tests inject.

Part of ``Sandbox`` (state.py)."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict

from .objects import DeliveryAttempt, RecordEntry


class RecordingMixin:
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
