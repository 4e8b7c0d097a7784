"""A live /start token is not kept in the stored update (tests/review/test_tokens_on_pages.py):
the stored copy has the text as the chat shows it ("/start") and only the token's SHA-256,
which is all the Link question needs, on arrival and in retry_updates alike."""

from __future__ import annotations

import hashlib
import json

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from project.bot import updates
from project.bot.flows.retry import retry_updates
from project.bot.models import StoredUpdate
from project.telegram_accounts.flows.connect_via_bot import issue_start_token
from project.telegram_accounts.models import StartToken, TelegramAccount

from .conftest import answer_of, call, callback_update, deliveries, make_user, message_update

pytestmark = pytest.mark.django_db


def link_buttons_of(chat_id: int) -> dict[str, str]:
    [asked] = deliveries(chat_id, "sendMessage")
    return {b["text"]: b["callback_data"] for row in asked.payload["reply_markup"]["inline_keyboard"] for b in row}


def test_the_stored_start_keeps_the_tokens_hash_and_the_question_still_links():
    owner = make_user("alice@example.com")
    token = issue_start_token(owner)
    update = message_update(9301, f"/start {token}", first_name="Alice")

    call(update)

    stored = StoredUpdate.objects.get(update_id=update["update_id"])
    assert token not in json.dumps(stored.payload)
    message = stored.payload["message"]
    assert message["text"] == "/start"
    assert message[updates.START_TOKEN_HASH] == hashlib.sha256(token.encode()).hexdigest()
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    # The question was asked, and Link links (it carries the StartToken's id, not the token).
    answer = answer_of(call(callback_update(9301, link_buttons_of(9301)["Link"], message_id=41)))
    assert answer["text"] == "Linked."
    assert TelegramAccount.objects.get(telegram_id=9301).user == owner


def test_retry_updates_asks_the_question_from_the_stored_hash():
    """An update whose handling failed is handled again from its stored copy: the hash alone."""
    owner = make_user("alice@example.com")
    token = issue_start_token(owner)
    update = message_update(9302, f"/start {token}", first_name="Alice")
    StoredUpdate.objects.create(update_id=update["update_id"], kind="message", payload=updates.for_storage(update),
                                status=StoredUpdate.Status.FAILED, error="RuntimeError: boom")

    [received] = retry_updates()

    assert received.outcome == "handled"
    assert StoredUpdate.objects.get(update_id=update["update_id"]).status == StoredUpdate.Status.HANDLED
    call(callback_update(9302, link_buttons_of(9302)["Link"], message_id=41))
    assert TelegramAccount.objects.get(telegram_id=9302).user == owner
    assert StartToken.objects.get().used_by_telegram_id == 9302


def test_a_hash_sent_as_a_token_or_smuggled_into_an_update_links_nothing():
    owner = make_user("alice@example.com")
    token = issue_start_token(owner)
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    # Typed: it is a token like any other, hashed again, so unknown.
    call(message_update(9303, f"/start {token_hash}"))
    # A key of our own in what arrives is dropped before anything reads it.
    forged = message_update(9304, "/start")
    forged["message"][updates.START_TOKEN_HASH] = token_hash
    call(forged)

    assert StoredUpdate.objects.get(update_id=forged["update_id"]).payload == forged | {"message": {
        k: v for k, v in forged["message"].items() if k != updates.START_TOKEN_HASH}}
    for chat_id in (9303, 9304):
        [said] = deliveries(chat_id, "sendMessage")
        assert "Link this Telegram" not in said.payload["text"]
    assert not TelegramAccount.objects.exists() and StartToken.objects.get().used_at is None


def test_for_storage_copies_only_what_it_changes():
    token = "b7Kq2Xv9LmN4pR8sT1wY6zA3cE5gH0jU"
    update = message_update(9305, f"/start@site_local_bot {token}")
    update["message"]["reply_to_message"] = message_update(9305, f"/start {token}")["message"]
    before = json.dumps(update)

    stored = updates.for_storage(update)

    assert json.dumps(update) == before  # the caller's update is untouched
    assert token not in json.dumps(stored)
    assert stored["message"]["text"] == "/start@site_local_bot"
    assert stored["message"]["reply_to_message"]["text"] == "/start"
    assert updates.parse_message(stored["message"]).start_token_hash == hashlib.sha256(token.encode()).hexdigest()
    plain = message_update(9306, "hello /start b7Kq2Xv9LmN4pR8sT1wY6zA3cE5gH0jU")  # not a command: kept as sent
    assert updates.for_storage(plain) is plain
    help_update = message_update(9306, "/help")
    assert updates.for_storage(help_update) is help_update


def test_the_admin_shows_older_rows_redacted_too():
    """Rows stored before the change still carry the token: the page redacts what it shows."""
    token = "b7Kq2Xv9LmN4pR8sT1wY6zA3cE5gH0jU"
    update = message_update(9307, f"/start {token}")
    stored = StoredUpdate.objects.create(update_id=update["update_id"], kind="message", payload=update,
                                         status=StoredUpdate.Status.HANDLED)
    viewer = make_user("ops@example.com", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_storedupdate"))
    client = Client()
    client.force_login(viewer)

    page = client.get(f"/admin/bot/storedupdate/{stored.pk}/change/").content.decode()

    assert token not in page and "/start [redacted]" in page
