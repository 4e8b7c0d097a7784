"""Telegram's side for the review tests: a site button sent by the bot over the Bot API
(HTTP), pressed by a fake user in the sandbox, signed as Telegram signs it; and updates
delivered to the webhook handler as Telegram delivers them."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from project.bot.buttons import site_button
from project.notifications.models import Delivery


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


SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


def webhook(update: dict) -> dict:
    from handlers.webhook import handler

    headers = {"Content-Type": "application/json", SECRET_HEADER: settings.LOCAL_SECRETS["telegram_webhook_secret"]}
    return handler({
        "resource": "/telegram/webhook", "path": "/telegram/webhook", "httpMethod": "POST",
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "requestContext": {"httpMethod": "POST", "stage": "dev"},
        "body": json.dumps(update), "isBase64Encoded": False,
    }, None)


def question_for(update_id: int, telegram_id: int, token: str) -> str:
    """Send `/start <token>` from `telegram_id`; the text of the question the bot asks."""
    webhook({"update_id": update_id, "message": {
        "message_id": 5, "date": 1_700_000_000, "text": f"/start {token}",
        "from": {"id": telegram_id, "is_bot": False, "first_name": "Alice"},
        "chat": {"id": telegram_id, "type": "private", "first_name": "Alice"},
        "entities": [{"type": "bot_command", "offset": 0, "length": 6}],
    }})
    asked = Delivery.objects.filter(chat_id=telegram_id, method="sendMessage").order_by("-id").first()
    assert asked is not None and "Link" in json.dumps(asked.payload["reply_markup"])
    return asked.payload["text"]
