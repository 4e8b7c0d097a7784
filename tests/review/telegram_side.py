"""The sandbox playing Telegram for the review tests: a site button sent by the bot over the
Bot API (HTTP), pressed by a fake user, signed as Telegram signs it."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
from django.conf import settings

from project.bot.buttons import site_button


def pressed_url(sandbox, fake, path: str) -> str:
    """The bot sends `fake` a site button to `path`; `fake` presses it in the sandbox
    (Telegram): the signed site URL Telegram opens (path and query)."""
    token = settings.LOCAL_SECRETS["telegram_bot_token"]
    markup = {"inline_keyboard": [[site_button("Open on the site", path)]]}
    sent = httpx.post(f"{sandbox.url}/bot{token}/sendMessage",
                      json={"chat_id": fake.id, "text": "Something new", "reply_markup": markup})
    assert sent.status_code == 200, sent.text
    message_id = sent.json()["result"]["message_id"]
    pressed = httpx.get(f"{sandbox.url}/chat/{fake.id}/login-url",
                        params={"message_id": message_id, "row": 0, "col": 0}, follow_redirects=False)
    assert pressed.status_code == 302, pressed.text
    parts = urlsplit(pressed.headers["location"])
    return f"{parts.path}?{parts.query}"
