"""A Start pressed on a deep link, as Telegram shows it: the bot gets `/start <payload>`, the
person's chat shows only `/start`, so a one-use connect token is never on a sandbox page."""

from __future__ import annotations

import secrets

import httpx

from infra.local.telegram_sandbox.testing import DEFAULT_BOT_TOKEN, DEFAULT_BOT_USERNAME

USER = 515252


def test_the_chat_shows_start_without_the_deep_links_payload(telegram_sandbox, webhook_receiver):
    sb = telegram_sandbox
    sb.add_user(USER, "Ann", username="ann_tg", started=False)
    httpx.post(f"{sb.api_base}{DEFAULT_BOT_TOKEN}/setWebhook", json={"url": webhook_receiver.url})
    token = secrets.token_urlsafe(24)

    # The t.me stand-in's Start button, pressed by Ann.
    pressed = httpx.post(f"{sb.url}/{DEFAULT_BOT_USERNAME}", params={"start": token}, data={"user_id": str(USER)})
    assert pressed.status_code == 302
    sb.wait_for_delivery(5)

    # The bot gets the payload...
    (update,) = webhook_receiver.updates
    assert update["message"]["text"] == f"/start {token}"
    # ...the person sees "/start" only, on the chat page and in what its script polls.
    page = httpx.get(f"{sb.url}/chat/{USER}").text
    polled = httpx.get(f"{sb.url}/chat/{USER}/messages.json").json()
    assert token not in page and token not in polled["html"] and token not in str(polled["messages"])
    (shown,) = [m for m in polled["messages"] if m["from"]["id"] == USER]
    assert shown["text"] == "/start" and shown["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert "/start" in polled["html"]


def test_a_start_typed_by_hand_is_shown_as_typed(telegram_sandbox, webhook_receiver):
    """Only a deep link's payload is hidden: text a person types stays in their chat."""
    sb = telegram_sandbox
    sb.add_user(USER, "Ann", username="ann_tg", started=True)
    httpx.post(f"{sb.api_base}{DEFAULT_BOT_TOKEN}/setWebhook", json={"url": webhook_receiver.url})
    httpx.post(f"{sb.url}/chat/{USER}/send", data={"text": "/start hello"})
    sb.wait_for_delivery(5)
    polled = httpx.get(f"{sb.url}/chat/{USER}/messages.json").json()
    assert [m["text"] for m in polled["messages"] if m["from"]["id"] == USER] == ["/start hello"]
