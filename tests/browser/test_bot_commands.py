"""What a person does in the Telegram chat with the bot: /help, /stop, and the settings page
showing the result."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import connect_telegram, log_in

pytestmark = pytest.mark.browser


def say_in_chat(chat, text: str) -> None:
    chat.get_by_role("textbox", name="Message").fill(text)
    chat.get_by_role("button", name="Send").click()


def test_help_then_stop_in_the_chat_turns_telegram_notifications_off(stack, new_page, make_user):
    ada_user = make_user("ada@example.com")
    connect_telegram(ada_user, stack.sandbox, 590001, "Ada")
    chat = new_page()
    chat.goto(stack.chat_url(590001))

    say_in_chat(chat, "/help")
    expect(chat.locator(".msg.bot").last).to_contain_text("/stop", timeout=15_000)

    say_in_chat(chat, "/stop")
    expect(chat.locator(".msg.bot").last).to_contain_text("Telegram notifications are now off", timeout=15_000)

    site = log_in(new_page(), ada_user)
    site.goto("/settings/notifications/")
    for row in ("Match request received", "Meetup scheduled", "Support replies"):
        expect(site.get_by_role("row", name=re.compile(row)).get_by_label("Telegram")).not_to_be_checked()
    # Security notices cannot be turned off, by /stop or otherwise.
    expect(site.get_by_role("row", name=re.compile("Account security")).get_by_role("checkbox").first).to_be_checked()
