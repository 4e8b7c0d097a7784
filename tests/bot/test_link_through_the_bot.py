"""Linking through the bot asks first (issue 12 item 4): Start on a connect link asks "Link this
Telegram to the account alice@example.com?" with Link and Cancel; only Link links; Cancel (or a
stranger's Start) uses up nothing the owner needs."""

from __future__ import annotations

import pytest

from project.telegram_accounts.flows.connect_via_bot import issue_start_token
from project.telegram_accounts.models import StartToken, TelegramAccount

from .conftest import answer_of, call, callback_update, deliveries, make_user, message_update

pytestmark = pytest.mark.django_db


def question(chat_id: int) -> dict:
    [delivery] = deliveries(chat_id, "sendMessage")
    return delivery.payload


def buttons(payload: dict) -> dict[str, str]:
    return {b["text"]: b["callback_data"] for row in payload["reply_markup"]["inline_keyboard"] for b in row}


def press(chat_id: int, data: str, *, message_id: int = 41, text: str = "Link this Telegram…") -> dict:
    update = callback_update(chat_id, data, message_id=message_id, text=text)
    answer = answer_of(call(update))
    assert answer["method"] == "answerCallbackQuery"
    return answer


def test_start_asks_before_linking_and_link_links(db):
    owner = make_user("alice@example.com")
    token = issue_start_token(owner)
    call(message_update(9101, f"/start {token}", first_name="Alice"))
    # Nothing is linked and nothing used on Start alone.
    assert not TelegramAccount.objects.exists()
    assert StartToken.objects.get().used_at is None
    asked = question(9101)
    # The full address: a masked one reads the same for an attacker's look-alike account
    # (tests/review/test_link_question.py).
    assert "Link this Telegram to the account <b>alice@example.com</b>" in asked["text"]
    assert token not in str(asked)  # the token never travels in the buttons
    choices = buttons(asked)
    assert set(choices) == {"Link", "Cancel"}
    assert all(len(data.encode()) <= 64 for data in choices.values())

    answer = press(9101, choices["Link"])
    assert answer["text"] == "Linked."
    account = TelegramAccount.objects.get(telegram_id=9101)
    assert account.user == owner and account.reachable
    assert StartToken.objects.get().used_by_telegram_id == 9101
    [edit] = deliveries(9101, "editMessageText")
    assert edit.payload["message_id"] == 41
    assert "Connected!" in edit.payload["text"] and "alice@example.com" in edit.payload["text"]


def test_cancel_links_nothing_and_the_owner_can_still_use_the_link(db):
    owner = make_user("alice@example.com")
    token = issue_start_token(owner)
    # Someone else presses Start on Alice's link, reads the question and cancels.
    call(message_update(9102, f"/start {token}", first_name="Mallory"))
    answer = press(9102, buttons(question(9102))["Cancel"])
    assert answer["text"] == "Cancelled: nothing was linked."
    assert not TelegramAccount.objects.exists()
    assert StartToken.objects.get().used_at is None
    [edit] = deliveries(9102, "editMessageText")
    assert "nothing was linked" in edit.payload["text"] and "reply_markup" not in edit.payload

    # Alice herself uses the same link afterwards.
    call(message_update(9103, f"/start {token}", first_name="Alice"))
    press(9103, buttons(question(9103))["Link"])
    assert TelegramAccount.objects.get(telegram_id=9103).user == owner


def test_a_link_button_pressed_by_someone_else_links_nothing(db):
    owner = make_user("alice@example.com")
    call(message_update(9104, f"/start {issue_start_token(owner)}", first_name="Alice"))
    link = buttons(question(9104))["Link"]
    # Mallory forges (or is forwarded) Alice's button: its tag is bound to Alice's Telegram id.
    answer = press(9105, link)
    assert answer["show_alert"] is True and "not for you" in answer["text"]
    pk = int(link.split(":")[1])
    answer = press(9105, f"ln:{pk}:{'0' * 16}:y")
    assert "not for you" in answer["text"]
    assert not TelegramAccount.objects.exists()
    assert StartToken.objects.get().used_at is None


def test_link_after_the_token_was_used_says_so(db):
    owner = make_user("alice@example.com")
    token = issue_start_token(owner)
    call(message_update(9106, f"/start {token}", first_name="Alice"))
    call(message_update(9107, f"/start {token}", first_name="Alice on her phone"))
    press(9106, buttons(question(9106))["Link"])
    answer = press(9107, buttons(question(9107))["Link"])
    assert "already used" in answer["text"]
    assert TelegramAccount.objects.get().telegram_id == 9106


def test_start_with_a_link_to_the_account_this_telegram_is_already_linked_to(db):
    owner = make_user("alice@example.com", telegram_id=9108)
    call(message_update(9108, f"/start {issue_start_token(owner)}"))
    assert "already connected to that account" in question(9108)["text"]
    assert StartToken.objects.get().used_at is None


def test_an_account_without_email_is_named_by_its_display_name(db):
    from django.contrib.auth import get_user_model

    owner = get_user_model().objects.create_user(username="tg123", email="", first_name="Zoë")
    call(message_update(9109, f"/start {issue_start_token(owner)}"))
    assert "<b>“Zoë” (an account without an email address)</b>" in question(9109)["text"]
