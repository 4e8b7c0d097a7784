"""
The whole path over real HTTP: the Telegram sandbox delivers webhooks (with the secret header,
retrying like Telegram) to the local gateway, which calls handlers.webhook.handler; what the
bot says goes through the outbox to moto's SQS and handlers.sender.handler to the sandbox.
"""

from __future__ import annotations

import pytest
from django.urls import reverse

from infra.local.webhook_gateway import start_gateway
from project.bot.models import Conversation, StoredUpdate, SupportMessage
from project.telegram_accounts.models import TelegramAccount

from .conftest import make_user

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.fixture(scope="module")
def gateway():
    running = start_gateway()
    yield running
    running.stop()


@pytest.fixture
def bot_stage(sandbox, aws, gateway, settings):
    """The sandbox bot's webhook registered at the gateway, as `make dev` does."""
    from project.bot.flows.webhook_setup import register_webhook
    from project.notifications.sending import reset_sender

    settings.TELEGRAM_WEBHOOK_URL = gateway.webhook_url
    reset_sender()
    status = register_webhook()
    assert status.action == "set" and status.up_to_date
    yield sandbox
    reset_sender()


def drain(aws, rounds: int = 10) -> int:
    """Feed the outbox queue to the sender handler as the SQS event source would."""
    from handlers.sender import handler

    sqs = aws.client("sqs")
    arn = sqs.get_queue_attributes(QueueUrl=aws.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    handled = 0
    for _ in range(rounds):
        messages = aws.receive()
        if not messages:
            break
        records = [
            {"messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
             "attributes": m.get("Attributes", {}), "eventSourceARN": arn}
            for m in messages
        ]
        failures = {f["itemIdentifier"] for f in handler({"Records": records})["batchItemFailures"]}
        for m in messages:
            if m["MessageId"] not in failures:
                sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=m["ReceiptHandle"])
                handled += 1
    return handled


def bot_texts(sandbox, chat_id):
    return [m["text"] for m in sandbox.messages(chat_id) if m["from"].get("is_bot") and "text" in m]


def test_setup_webhook_registers_once_sets_commands_and_prints_health(bot_stage, gateway, settings):
    from io import StringIO

    from django.core.management import call_command

    info = bot_stage.bot().webhook
    assert info.url == gateway.webhook_url
    assert sorted(info.allowed_updates) == ["callback_query", "message", "my_chat_member"]
    assert info.secret_token == "local-webhook-secret-not-a-secret"
    assert [c["command"] for c in next(iter(bot_stage.bot().commands.values()))] == ["start", "stop", "settings", "help"]

    out = StringIO()
    call_command("setup_webhook", stdout=out)
    text = out.getvalue()
    assert "already as wanted, not changed" in text
    assert "commands: unchanged" in text and "menu button (the Mini App): unchanged" in text
    assert "pending updates: 0" in text and "last error: none" in text and "up to date" in text
    assert not [r for r in bot_stage.record() if r.method == "setWebhook"][1:]  # set once only

    # Someone changed it by hand: setup_webhook puts it back.
    bot_stage.bot().webhook.max_connections = 7
    out = StringIO()
    call_command("setup_webhook", stdout=out)
    assert "setWebhook called" in out.getvalue()
    assert bot_stage.bot().webhook.max_connections == 40


def test_a_wrong_secret_is_refused_and_telegram_keeps_the_update(bot_stage, gateway, aws):
    from io import StringIO

    from django.core.management import call_command

    bot_stage.bot().webhook.secret_token = "some-stale-secret"
    bot_stage.add_user(4242, "Ada")
    bot_stage.user_sends(4242, "hello")
    with pytest.raises(TimeoutError):
        bot_stage.wait_for_delivery(timeout=0.5)
    assert not StoredUpdate.objects.exists()
    assert bot_stage.webhook_deliveries()[0].status_code == 401
    out = StringIO()
    # setup_webhook sees the refusals in getWebhookInfo and registers the stage's secret again.
    call_command("setup_webhook", stdout=out)
    assert "setWebhook called" in out.getvalue()
    bot_stage.wait_for_delivery(timeout=10)
    assert SupportMessage.objects.get().text == "hello"


def test_start_help_block_and_unblock_through_the_sandbox(bot_stage, aws):
    ada = make_user("ada@example.com", telegram_id=4242, first_name="Ada")
    bot_stage.add_user(4242, "Ada")
    bot_stage.user_sends(4242, "/help")
    bot_stage.wait_for_delivery(timeout=10)
    drain(aws)
    assert any("/settings" in text for text in bot_texts(bot_stage, 4242))

    bot_stage.block(4242)
    bot_stage.wait_for_delivery(timeout=10)
    assert not TelegramAccount.objects.get(user=ada).reachable

    bot_stage.user_starts(4242)  # unblocks (my_chat_member) and sends /start
    bot_stage.wait_for_delivery(timeout=10)
    assert TelegramAccount.objects.get(user=ada).reachable
    drain(aws)
    assert "connected to your account" in bot_texts(bot_stage, 4242)[-1]


def test_the_same_update_delivered_three_times_is_handled_once(bot_stage, aws):
    make_user("ada@example.com", telegram_id=4242, first_name="Ada")
    bot_stage.add_user(4242, "Ada")
    update = bot_stage.user_sends(4242, "just once")
    bot_stage.inject_update(update)
    bot_stage.inject_update(update)
    bot_stage.wait_for_delivery(timeout=10)
    assert len([d for d in bot_stage.webhook_deliveries() if d.update_id == update["update_id"]]) == 3
    assert all(d.status_code == 200 for d in bot_stage.webhook_deliveries())
    assert SupportMessage.objects.filter(text="just once").count() == 1


def test_support_message_staff_reply_and_the_reply_in_the_sandbox_chat(bot_stage, aws, client):
    make_user("ada@example.com", telegram_id=4242, first_name="Ada")
    staff = make_user("sam@example.com", is_staff=True, first_name="Sam")
    bot_stage.add_user(4242, "Ada")
    bot_stage.user_sends(4242, "My meetup vanished")
    bot_stage.user_sends_photo(4242, caption="screenshot")
    bot_stage.wait_for_delivery(timeout=10)
    conversation = Conversation.objects.get()
    assert [m.summary for m in conversation.messages.all()] == ["My meetup vanished", "[Photo] screenshot"]

    client.force_login(staff)
    client.post(reverse("bot:reply", args=[conversation.pk]), {"text": "We are on it, Ada."})
    assert drain(aws) == 1
    # The first message was acknowledged in the webhook's answer (executed by the sandbox, as
    # Telegram does, with no outbox row); the staff reply went through the outbox.
    assert bot_texts(bot_stage, 4242) == [
        "Thanks, we got your message. Someone from our team will answer here, in this chat.",
        "We are on it, Ada.",
    ]
    assert [r.via for r in bot_stage.record() if r.method == "sendMessage"] == ["webhook", "api"]
    thread = client.get(reverse("bot:conversation", args=[conversation.pk])).content.decode()
    assert "We are on it, Ada." in thread and "delivered" in thread


def test_accept_button_pressed_in_the_sandbox(bot_stage, aws):
    from project.meetups.models import MatchRequest
    from project.notifications.outbox import send_telegram

    ada = make_user("ada@example.com", telegram_id=4242, first_name="Ada")
    bea = make_user("bea@example.com", telegram_id=5151, first_name="Bea")
    bot_stage.add_user(4242, "Ada")
    bot_stage.add_user(5151, "Bea")
    match_request = MatchRequest.objects.create(from_user=bea, to_user=ada)
    keyboard = {"inline_keyboard": [[{"text": "Accept", "callback_data": f"mr:{match_request.pk}:accept"},
                                     {"text": "Decline", "callback_data": f"mr:{match_request.pk}:decline"}]]}
    send_telegram(4242, "sendMessage", {"text": "<b>Bea</b> would like to meet you.", "parse_mode": "HTML",
                                        "reply_markup": keyboard}, user=ada)
    drain(aws)
    [notification] = bot_stage.messages(4242)

    bot_stage.user_presses(4242, notification["message_id"], f"mr:{match_request.pk}:accept")
    bot_stage.wait_for_delivery(timeout=10)
    drain(aws)
    match_request.refresh_from_db()
    assert match_request.status == MatchRequest.Status.ACCEPTED
    edited = bot_stage.message(4242, notification["message_id"])
    assert edited["text"] == "Bea would like to meet you.\n\nYou accepted this request."
    assert edited["entities"][0]["type"] == "bold"
    assert "reply_markup" not in edited
    answered = [r for r in bot_stage.record() if r.method == "answerCallbackQuery"]
    assert len(answered) == 1 and answered[0].ok
    assert answered[0].via == "webhook"  # the spinner stopped with the webhook's own answer


def test_help_is_answered_in_the_webhooks_response_and_shown_in_the_chat(bot_stage, aws):
    from project.notifications.models import Delivery

    make_user("ada@example.com", telegram_id=4242, first_name="Ada")
    bot_stage.add_user(4242, "Ada")
    bot_stage.user_sends(4242, "/help")
    bot_stage.user_sends(4242, "/nonsense")
    bot_stage.wait_for_delivery(timeout=10)
    texts = bot_texts(bot_stage, 4242)
    assert len(texts) == 2 and "/settings" in texts[0] and "/nonsense" in texts[1]
    assert {r.via for r in bot_stage.record() if r.method == "sendMessage"} == {"webhook"}
    assert not Delivery.objects.exists() and drain(aws) == 0  # no outbox row, nothing queued
