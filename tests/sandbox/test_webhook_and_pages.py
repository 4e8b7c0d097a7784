"""Webhook delivery as Telegram does it, and the fake users' chat pages."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from telegram import Bot, Update

from infra.local.telegram_sandbox.testing import DEFAULT_BOT_TOKEN

# PTB 22 announces that retry_after/duration become timedeltas; not this suite's concern.
pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

USER = 515151


def api(sb, method, **params):
    return httpx.post(f"{sb.api_base}{DEFAULT_BOT_TOKEN}/{method}", json=params).json()


def test_delivery_with_secret_and_consecutive_ids(telegram_sandbox, webhook_receiver):
    sb = telegram_sandbox
    sb.add_user(USER, "Ann", username="ann")
    assert api(sb, "setWebhook", url=webhook_receiver.url, secret_token="s3cret")["ok"]
    u1 = sb.user_sends(USER, "/start connect-token")
    u2 = sb.user_sends(USER, "hello")
    u3 = sb.user_sends_photo(USER, caption="pic")
    u4 = sb.user_sends_document(USER, file_name="a.pdf")
    u5 = sb.user_sends_voice(USER)
    sb.wait_for_delivery(5)
    ids = [u["update_id"] for u in (u1, u2, u3, u4, u5)]
    assert ids == list(range(ids[0], ids[0] + 5))
    assert [u["update_id"] for u in webhook_receiver.updates] == ids
    headers = webhook_receiver.requests[0]["headers"]
    assert headers["X-Telegram-Bot-Api-Secret-Token"] == "s3cret"
    first = webhook_receiver.updates[0]["message"]
    assert first["text"] == "/start connect-token"
    assert first["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    # PTB parses every update the sandbox produces.
    bot = Bot(DEFAULT_BOT_TOKEN)
    parsed = [Update.de_json(u, bot) for u in webhook_receiver.updates]
    assert parsed[2].message.photo[-1].width == 800 and parsed[2].message.caption == "pic"
    assert parsed[3].message.document.file_name == "a.pdf" and parsed[4].message.voice.duration == 3
    info = api(sb, "getWebhookInfo")["result"]
    assert info["pending_update_count"] == 0 and "last_error_date" not in info


def test_retry_after_500_and_error_in_webhook_info(telegram_sandbox, webhook_receiver):
    sb = telegram_sandbox
    sb.add_user(USER, "Ann")
    webhook_receiver.responses = [500, 502]
    api(sb, "setWebhook", url=webhook_receiver.url)
    update = sb.user_sends(USER, "hi")
    sb.wait_for_delivery(5)
    attempts = sb.webhook_deliveries()
    assert [a.status_code for a in attempts] == [500, 502, 200]
    assert all(a.update_id == update["update_id"] for a in attempts)
    info = api(sb, "getWebhookInfo")["result"]
    assert info["last_error_message"] == "Wrong response from the webhook: 502 Bad Gateway"
    assert info["last_error_date"] > 0 and info["pending_update_count"] == 0


def test_updates_wait_without_webhook_and_drop_pending(telegram_sandbox, webhook_receiver):
    sb = telegram_sandbox
    sb.add_user(USER, "Ann")
    sb.user_sends(USER, "kept")
    assert api(sb, "getWebhookInfo")["result"]["pending_update_count"] == 1
    api(sb, "setWebhook", url=webhook_receiver.url)
    sb.wait_for_delivery(5)
    assert [u["message"]["text"] for u in webhook_receiver.updates] == ["kept"]
    api(sb, "deleteWebhook")
    sb.user_sends(USER, "dropped")
    api(sb, "setWebhook", url=webhook_receiver.url, drop_pending_updates=True)
    sb.user_sends(USER, "after")
    sb.wait_for_delivery(5)
    assert [u["message"]["text"] for u in webhook_receiver.updates] == ["kept", "after"]


def test_connection_refused_is_retried(telegram_sandbox):
    sb = telegram_sandbox
    sb.add_user(USER, "Ann")
    api(sb, "setWebhook", url="http://127.0.0.1:9/nothing-listens")
    sb.user_sends(USER, "hi")
    deadline = time.time() + 3
    while len(sb.webhook_deliveries()) < 2 and time.time() < deadline:
        time.sleep(0.02)
    assert [a.error for a in sb.webhook_deliveries()[:2]] == ["Connection refused"] * 2
    assert api(sb, "getWebhookInfo")["result"]["pending_update_count"] == 1


def test_allowed_updates_and_my_chat_member(telegram_sandbox, webhook_receiver):
    sb = telegram_sandbox
    sb.add_user(USER, "Ann")
    api(sb, "setWebhook", url=webhook_receiver.url, allowed_updates=["message"])
    msg = api(sb, "sendMessage", chat_id=USER, text="pick",
              reply_markup={"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]})["result"]
    sb.user_presses(USER, msg["message_id"], "yes")  # callback_query: not allowed
    sb.block(USER)  # my_chat_member: not allowed
    sb.unblock(USER)
    sb.user_sends(USER, "text")
    sb.wait_for_delivery(5)
    assert [list(u)[1] for u in webhook_receiver.updates] == ["message"]
    assert len(sb.filtered_updates()) == 3
    # Listing them (or the default set) delivers them.
    api(sb, "setWebhook", url=webhook_receiver.url, allowed_updates=["message", "callback_query", "my_chat_member"])
    blocked = sb.block(USER)
    assert api(sb, "sendMessage", chat_id=USER, text="x")["description"] == "Forbidden: bot was blocked by the user"
    unblocked = sb.unblock(USER)
    pressed = sb.user_presses(USER, msg["message_id"], "yes")
    sb.wait_for_delivery(5)
    got = webhook_receiver.updates[1:]
    assert got == [blocked, unblocked, pressed]
    bot = Bot(DEFAULT_BOT_TOKEN)
    b = Update.de_json(blocked, bot).my_chat_member
    assert (b.old_chat_member.status, b.new_chat_member.status) == ("member", "kicked")
    u = Update.de_json(unblocked, bot).my_chat_member
    assert (u.old_chat_member.status, u.new_chat_member.status) == ("kicked", "member")
    cq = Update.de_json(pressed, bot).callback_query
    assert cq.data == "yes" and cq.message.message_id == msg["message_id"]


def test_redelivering_the_same_update(telegram_sandbox, webhook_receiver):
    sb = telegram_sandbox
    sb.add_user(USER, "Ann")
    api(sb, "setWebhook", url=webhook_receiver.url)
    update = sb.user_sends(USER, "once")
    sb.deliver_update_now(update)
    sb.inject_update({"update_id": update["update_id"] - 5, "message": update["message"]})
    sb.wait_for_delivery(5)
    ids = [u["update_id"] for u in webhook_receiver.updates]
    assert ids == [update["update_id"], update["update_id"], update["update_id"] - 5]


def test_chat_page_renders_messages_and_buttons(telegram_sandbox, webhook_receiver):
    sb = telegram_sandbox
    sb.add_user(USER, "Ann", username="ann")
    api(sb, "setWebhook", url=webhook_receiver.url)
    msg = api(sb, "sendMessage", chat_id=USER, text="Match request <from> Bob",
              reply_markup={"inline_keyboard": [[{"text": "Accept", "callback_data": "mr:9:accept"},
                                                 {"text": "Site", "url": "https://example.org/"}]]})["result"]
    index = httpx.get(f"{sb.url}/")
    assert index.status_code == 200 and f'href="/chat/{USER}"' in index.text
    page = httpx.get(f"{sb.url}/chat/{USER}")
    assert page.status_code == 200
    assert "Match request &lt;from&gt; Bob" in page.text
    assert 'value="mr:9:accept"' in page.text and ">Accept</button>" in page.text
    assert '<label for="text">' in page.text
    version = httpx.get(f"{sb.url}/chat/{USER}/messages.json").json()["version"]
    # Pressing the button and typing on the page post updates to the webhook.
    r = httpx.post(f"{sb.url}/chat/{USER}/press", data={"message_id": msg["message_id"], "data": "mr:9:accept"})
    assert r.status_code == 302
    httpx.post(f"{sb.url}/chat/{USER}/send", data={"text": "/help"})
    sb.wait_for_delivery(5)
    cq, typed = webhook_receiver.updates
    assert cq["callback_query"]["data"] == "mr:9:accept"
    assert typed["message"]["entities"][0]["type"] == "bot_command"
    again = httpx.get(f"{sb.url}/chat/{USER}/messages.json").json()
    assert again["version"] > version and "/help" in again["html"]
    # Block from the page, then the bot can no longer write.
    httpx.post(f"{sb.url}/chat/{USER}/block")
    assert api(sb, "sendMessage", chat_id=USER, text="x")["error_code"] == 403
    httpx.post(f"{sb.url}/chat/{USER}/start")
    assert api(sb, "sendMessage", chat_id=USER, text="x")["ok"]


def test_record_endpoint_and_reset(telegram_sandbox):
    sb = telegram_sandbox
    sb.add_user(USER, "Ann")
    api(sb, "sendMessage", chat_id=USER, text="x")
    record = httpx.get(f"{sb.url}/_sandbox/record").json()
    assert record["record"][0]["method"] == "sendMessage" and record["record"][0]["outcome"] == "ok"
    assert DEFAULT_BOT_TOKEN not in httpx.get(f"{sb.url}/_sandbox/record").text
    assert httpx.post(f"{sb.url}/_sandbox/reset").json() == {"ok": True}
    assert sb.record() == [] and sb.messages(USER) == []


def test_many_sends_through_ptb_are_all_delivered_in_order(telegram_sandbox):
    sb = telegram_sandbox
    sb.set_limits(None)
    sb.add_user(USER, "Ann")

    async def main():
        async with Bot(DEFAULT_BOT_TOKEN, base_url=sb.api_base) as bot:
            return [(await bot.send_message(USER, f"m{i}")).message_id for i in range(200)]

    message_ids = asyncio.run(main())
    assert len(set(message_ids)) == 200
    assert [entry.params["text"] for entry in sb.delivered(USER)] == [f"m{i}" for i in range(200)]
