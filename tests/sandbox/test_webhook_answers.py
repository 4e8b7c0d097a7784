"""A webhook's answer carrying a Bot API call, executed by the sandbox as Telegram does."""

from __future__ import annotations

from urllib.parse import urlencode

import httpx

from infra.local.telegram_sandbox.testing import DEFAULT_BOT_TOKEN

USER = 616161


def api(sb, method, **params):
    return httpx.post(f"{sb.api_base}{DEFAULT_BOT_TOKEN}/{method}", json=params).json()


def setup(sb, receiver):
    sb.add_user(USER, "Ann")
    assert api(sb, "setWebhook", url=receiver.url)["ok"]


def test_a_send_message_answer_lands_in_the_chat(telegram_sandbox, webhook_receiver):
    sb = telegram_sandbox
    setup(sb, webhook_receiver)
    webhook_receiver.bodies = [{"method": "sendMessage", "chat_id": USER, "text": "<b>Hi</b> &amp; welcome",
                                "parse_mode": "HTML", "outcome": "handled"}]
    sb.user_sends(USER, "/help")
    sb.wait_for_delivery(5)
    bot_messages = [m for m in sb.messages(USER) if m["from"]["is_bot"]]
    assert [m["text"] for m in bot_messages] == ["Hi & welcome"]
    assert bot_messages[0]["entities"] == [{"type": "bold", "offset": 0, "length": 2}]
    [entry] = [r for r in sb.record() if r.method == "sendMessage"]
    assert entry.via == "webhook" and entry.ok


def test_an_answer_callback_query_answer_stops_the_spinner_and_shows_in_the_chat(telegram_sandbox, webhook_receiver):
    sb = telegram_sandbox
    setup(sb, webhook_receiver)
    sent = api(sb, "sendMessage", chat_id=USER, text="Coffee?",
               reply_markup={"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]})["result"]
    pressed = sb.user_presses(USER, sent["message_id"], "yes")
    query_id = pressed["callback_query"]["id"]
    webhook_receiver.bodies = [{"method": "answerCallbackQuery", "callback_query_id": query_id,
                                "text": "Noted!", "show_alert": True}]
    sb.wait_for_delivery(5)
    assert sb.callback_answer(query_id) == {"text": "Noted!", "show_alert": True, "url": None}
    page = httpx.get(f"{sb.url}/chat/{USER}").text
    assert "Noted!" in page


def test_a_form_encoded_answer_works_too(telegram_sandbox, webhook_receiver):
    sb = telegram_sandbox
    setup(sb, webhook_receiver)
    webhook_receiver.bodies = [("application/x-www-form-urlencoded",
                                urlencode({"method": "sendMessage", "chat_id": USER, "text": "form"}).encode())]
    sb.user_sends(USER, "hi")
    sb.wait_for_delivery(5)
    assert [m["text"] for m in sb.messages(USER) if m["from"]["is_bot"]] == ["form"]


def test_a_failing_answer_is_recorded_and_the_update_still_delivered(telegram_sandbox, webhook_receiver):
    sb = telegram_sandbox
    setup(sb, webhook_receiver)
    webhook_receiver.bodies = [{"method": "sendMessage", "chat_id": USER, "text": "a <x> b", "parse_mode": "HTML"}]
    sb.user_sends(USER, "hi")
    sb.wait_for_delivery(5)
    [entry] = [r for r in sb.record() if r.method == "sendMessage"]
    assert entry.via == "webhook" and not entry.ok
    assert entry.description.startswith("Bad Request: can't parse entities")
    assert sb.pending_updates() == [] and sb.webhook_deliveries()[-1].ok


def test_a_body_without_a_method_or_with_an_error_status_runs_nothing(telegram_sandbox, webhook_receiver):
    sb = telegram_sandbox
    setup(sb, webhook_receiver)
    webhook_receiver.responses = [500]
    webhook_receiver.bodies = [{"method": "sendMessage", "chat_id": USER, "text": "not on a 500"},
                               {"ok": True, "outcome": "handled"}]
    sb.user_sends(USER, "hi")
    sb.wait_for_delivery(5)
    assert not [r for r in sb.record() if r.method == "sendMessage"]
