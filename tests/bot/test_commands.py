"""/start (plain, with a connect token, from an unknown person), /stop, /help, /settings; blocking and unblocking."""

from __future__ import annotations

import json

import pytest

from project.bot.models import StoredUpdate, SupportMessage
from project.telegram_accounts.models import TelegramAccount

from .conftest import answer_of, call, chat_member_update, deliveries, message_update

pytestmark = pytest.mark.django_db


def only_reply(chat_id: int):
    sent = deliveries(chat_id, "sendMessage")
    assert len(sent) == 1, [d.payload for d in sent]
    delivery = sent[0]
    assert delivery.payload["parse_mode"] == "HTML"
    assert "chat_id" not in delivery.payload
    return delivery


def answered(update: dict) -> dict:
    """The reply a command got in the webhook's own response (contract C2): a sendMessage to
    the chat, and nothing in the outbox, so no queue and no SQS client."""
    answer = answer_of(call(update))
    assert answer is not None and answer["method"] == "sendMessage"
    chat_id = update["message"]["chat"]["id"]
    assert answer["chat_id"] == chat_id
    assert answer["parse_mode"] == "HTML"
    assert not deliveries(chat_id)
    return answer


def test_start_from_an_unknown_person_explains_how_to_connect():
    call(message_update(777, "/start", first_name="Zoe"))
    delivery = only_reply(777)
    assert delivery.user is None
    assert "Hello Zoe" in delivery.payload["text"]
    assert "http://127.0.0.1:8000/accounts/" in delivery.payload["text"]
    assert "Connect Telegram" in delivery.payload["text"]
    assert not SupportMessage.objects.exists()  # commands are not support messages


def test_start_from_a_known_person_greets_and_marks_reachable(person):
    person.telegram_account.mark_unreachable("blocked the bot")
    call(message_update(4242, "/start"))
    delivery = only_reply(4242)
    assert delivery.user == person
    assert "connected to your account" in delivery.payload["text"]
    assert TelegramAccount.objects.get(telegram_id=4242).reachable


def test_start_with_an_unknown_token(db):
    call(message_update(9003, "/start not-a-real-token"))
    assert "not valid" in only_reply(9003).payload["text"]
    assert not TelegramAccount.objects.filter(telegram_id=9003).exists()


def test_stop_turns_telegram_off_and_says_how_to_turn_it_back_on(person):
    from project.notifications import kinds
    from project.notifications.models import NotificationPreference

    call(message_update(4242, "/stop"))
    off = set(
        NotificationPreference.objects.filter(user=person, channel=kinds.TELEGRAM, enabled=False).values_list(
            "kind", flat=True
        )
    )
    assert off == {k.code for k in kinds.KINDS.values() if k.can_turn_off}
    assert kinds.SECURITY not in off
    text = only_reply(4242).payload["text"]
    assert "now off" in text
    assert "turn them back on" in text
    assert "http://127.0.0.1:8000/" in text


def test_stop_from_an_unknown_person():
    call(message_update(778, "/stop"))
    assert "not connected" in only_reply(778).payload["text"]


def test_help_lists_the_commands(person):
    text = answered(message_update(4242, "/help"))["text"]
    for command in ("/start", "/stop", "/settings", "/help"):
        assert command in text
    assert "support team" in text


def test_settings_links_to_the_settings_page(person):
    from project.bot.flows.commands import settings_url

    text = answered(message_update(4242, "/settings"))["text"]
    assert settings_url() in text
    assert settings_url().startswith("http://127.0.0.1:8000/")
    assert settings_url() == "http://127.0.0.1:8000/settings/notifications/"


def test_command_addressed_with_the_bot_name_and_in_capitals(person):
    assert "/settings" in answered(message_update(4242, "/HELP@site_local_bot"))["text"]


def test_an_unknown_command_is_answered_not_sent_to_support(person):
    text = answered(message_update(4242, "/frobnicate now"))["text"]
    assert "/frobnicate" in text and "/help" in text
    assert not SupportMessage.objects.exists()


def test_help_and_settings_for_someone_without_an_account_point_at_the_site(db):
    assert "your account" in answered(message_update(779, "/help"))["text"]
    settings_answer = answered(message_update(779, "/settings"))
    assert "not connected" in settings_answer["text"]
    assert settings_answer["reply_markup"]["inline_keyboard"]


def test_a_reply_that_rolls_back_is_not_answered(person, monkeypatch):
    from project.bot import replies, routing

    def broken_help(message):
        replies.answer_with(message.chat_id, "help", {"commands": [], "connected": True})
        raise RuntimeError("after answering")

    monkeypatch.setitem(routing.COMMANDS, "/help", broken_help)
    response = call(message_update(4242, "/help"))
    assert json.loads(response["body"])["outcome"] == "failed"
    assert answer_of(response) is None  # it speaks of nothing that happened


def test_retry_updates_sends_the_answer_through_the_outbox(person):
    from project.bot.flows.receive_update import handle_stored_update

    update = message_update(4242, "/help")
    stored = StoredUpdate.objects.create(update_id=update["update_id"], kind="message", payload=update,
                                         status=StoredUpdate.Status.FAILED)
    assert handle_stored_update(stored).answer is None
    [delivery] = deliveries(4242, "sendMessage")
    assert "/settings" in delivery.payload["text"]


def test_a_slash_without_a_command_entity_is_a_support_message(person):
    update = message_update(4242, "/help")
    del update["message"]["entities"]
    call(update)
    assert not deliveries(4242)
    assert SupportMessage.objects.get().text == "/help"


def test_blocking_marks_unreachable_and_unblocking_reachable_again(person):
    call(chat_member_update(4242, "kicked", "member"))
    account = TelegramAccount.objects.get(telegram_id=4242)
    assert not account.reachable
    assert account.blocked_at is not None
    assert "blocked" in account.unreachable_reason
    assert not deliveries()  # nothing is said to someone who blocked the bot

    call(chat_member_update(4242, "member", "kicked"))
    account.refresh_from_db()
    assert account.reachable
    assert account.blocked_at is None


def test_block_from_an_unknown_person_is_ignored_with_a_reason(db):
    update = chat_member_update(5555, "kicked", "member")
    call(update)
    stored = StoredUpdate.objects.get(update_id=update["update_id"])
    assert stored.status == "ignored"
    assert "no account" in stored.error


def test_bot_added_to_a_group_is_not_a_block(person):
    update = chat_member_update(4242, "kicked", "member")
    update["my_chat_member"]["chat"] = {"id": -100123, "type": "supergroup", "title": "x"}
    call(update)
    assert TelegramAccount.objects.get(telegram_id=4242).reachable


def _telegram_on(user) -> set[str]:
    from project.notifications import kinds
    from project.notifications.flows import preferences

    return {kind.code for kind in kinds.KINDS.values() if kinds.TELEGRAM in preferences.channels_for(user, kind.code)}


def test_start_after_stop_turns_back_on_exactly_what_stop_turned_off(person):
    from project.notifications import kinds
    from project.notifications.flows import preferences

    # On the site, before any /stop: meetup replies off on Telegram, meetup cancellations on.
    enabled = {(k.code, c) for k in kinds.KINDS.values() for c in kinds.CHANNELS if c in k.default_channels}
    enabled -= {(kinds.MEETUP_RSVP, kinds.TELEGRAM)}
    preferences.save(person, enabled=enabled, everything_off=False)
    before = _telegram_on(person)
    assert kinds.MEETUP_RSVP not in before and kinds.MATCH_REQUEST_RECEIVED in before

    call(message_update(4242, "/stop"))
    assert _telegram_on(person) == {kinds.SECURITY}
    stop_text = deliveries(4242, "sendMessage")[-1].payload["text"]
    assert "Match request received" in stop_text and "Meetup replies" not in stop_text

    call(message_update(4242, "/start"))
    assert _telegram_on(person) == before  # meetup replies stay off: that was the person's choice
    text = deliveries(4242, "sendMessage")[-1].payload["text"]
    assert "Turned back on here: Match request received" in text
    assert "Meetup replies" not in text.split("These notifications come here")[0]

    # A second /start has nothing to undo and says what comes here.
    call(message_update(4242, "/start"))
    again = deliveries(4242, "sendMessage")[-1].payload["text"]
    assert "Turned back on" not in again and "These notifications come here: Match request received" in again


def test_settings_saved_after_stop_supersede_it(person):
    from project.notifications import kinds
    from project.notifications.flows import preferences

    call(message_update(4242, "/stop"))
    preferences.save(person, enabled={(kinds.MEETUP_CHANGED, kinds.TELEGRAM)}, everything_off=False)
    call(message_update(4242, "/start"))
    assert _telegram_on(person) == {kinds.MEETUP_CHANGED, kinds.SECURITY}
    assert "Turned back on" not in deliveries(4242, "sendMessage")[-1].payload["text"]


def test_stop_twice_then_start_still_restores_everything(person):
    from project.notifications import kinds

    before = _telegram_on(person)
    call(message_update(4242, "/stop"))
    call(message_update(4242, "/stop"))
    call(message_update(4242, "/start"))
    assert _telegram_on(person) == before != {kinds.SECURITY}


def test_with_webhook_answers_off_the_reply_goes_through_the_outbox(person, settings):
    settings.TELEGRAM_WEBHOOK_ANSWERS = False
    assert answer_of(call(message_update(4242, "/help"))) is None
    [delivery] = deliveries(4242, "sendMessage")
    assert "/settings" in delivery.payload["text"]


def test_two_chat_member_changes_in_the_same_second_apply_by_update_id(person):
    # Telegram resends late: the later update_id (unblock) arrives first, the block after it.
    block = chat_member_update(4242, "kicked", "member")
    unblock = chat_member_update(4242, "member", "kicked")
    call(unblock)
    call(block)
    assert TelegramAccount.objects.get(telegram_id=4242).reachable  # the older block did not win
