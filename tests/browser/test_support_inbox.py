"""A person writes to the bot in Telegram; staff read it in the inbox and answer; the answer
arrives in the person's Telegram chat."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import log_in, reload_until

pytestmark = pytest.mark.browser


def test_a_message_to_the_bot_reaches_staff_and_their_reply_reaches_the_person(stack, new_page, make_user):
    staff = make_user("help@example.com", is_staff=True, first_name="Hana", last_name="Help")
    stack.sandbox.add_user(540001, "Lena", username="lena_l", started=True)

    # Lena, in Telegram (the sandbox's chat page), writes to the bot.
    chat = new_page()
    chat.goto(stack.chat_url(540001))
    chat.get_by_role("textbox", name="Message").fill("Hi! How do I change my email?")
    chat.get_by_role("button", name="Send").click()
    expect(chat.locator(".msg.user")).to_contain_text("How do I change my email?")
    stack.wait_for_webhook()

    # Staff see it in the inbox.
    inbox = log_in(new_page(), staff)
    inbox.goto("/")
    inbox.get_by_role("navigation").get_by_role("link", name="Inbox").click()
    reload_until(inbox, lambda p: p.get_by_role("row").filter(has_text="Lena").count())
    row = inbox.get_by_role("row").filter(has_text="Lena")
    expect(row).to_contain_text("@lena_l")
    expect(row).to_contain_text("1 new")
    row.get_by_role("link", name="Lena").click()
    expect(inbox.get_by_role("heading", level=1)).to_have_text("Lena")
    expect(inbox.get_by_role("list", name="Messages")).to_contain_text("How do I change my email?")

    # ...and answer.
    inbox.get_by_role("textbox", name="Reply").fill("Open your account page and choose Change email.")
    inbox.get_by_role("button", name="Send", exact=True).click()
    expect(inbox.get_by_role("list", name="Messages")).to_contain_text("Open your account page")

    # The answer arrives in Lena's chat (the page refreshes itself, as Telegram would).
    # (The bot's own acknowledgement of her first message is there too.)
    expect(chat.locator(".msg.bot", has_text="Open your account page and choose Change email.")).to_have_count(1, timeout=15_000)
    # And the inbox shows it delivered.
    reload_until(inbox, lambda p: "delivered" in p.get_by_role("list", name="Messages").inner_text())


def test_people_who_are_not_staff_cannot_open_the_inbox(page, site, make_user):
    log_in(page, make_user("ada@example.com"))
    response = page.goto("/staff/inbox/")
    assert response.status == 403
    expect(page.get_by_role("navigation").get_by_role("link", name="Inbox")).to_have_count(0)
