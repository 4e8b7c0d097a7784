"""Fake users and groups, and each user's relation to each bot (started, allowed, blocked).

Part of ``Sandbox`` (state.py); every method takes the sandbox's lock."""

from __future__ import annotations

from .objects import BotState, ChatLink, FakeUser, Group


class PeopleMixin:
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
