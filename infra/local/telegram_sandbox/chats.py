"""Chats as each fake user sees them, what fake users do in them, and the queue of updates
for the bot's webhook.

Part of ``Sandbox`` (state.py)."""

from __future__ import annotations

import json
import secrets
import time

from .formatting import command_entities
from .objects import BotState, ChatLink, FakeUser


class ChatsMixin:
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

    def shown_in_chat(self, bot: BotState, chat_id: int, message: dict) -> dict:
        """`message` (a copy) as Telegram's apps show it in the chat. A Start pressed on a deep
        link sends the bot "/start <payload>", but the person sees only "/start": the payload
        (a one-use connect token here) is never on a page."""
        if (chat_id, message.get("message_id")) in bot.deep_link_starts and isinstance(message.get("text"), str):
            command = message["text"].split(" ", 1)[0]
            message["text"] = command
            message["entities"] = [e for e in message.get("entities") or [] if e.get("offset", 0) < len(command)]
        return message

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
            update = self.user_sends(user_id, "/start" + (f" {payload}" if payload else ""), bot_id)
            if payload:
                bot.deep_link_starts.add((user_id, update["message"]["message_id"]))
            return update

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
