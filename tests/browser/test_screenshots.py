"""
Screenshots of the main pages, for the README (docs/screenshots/).

Every run takes them (so a page that fails to render fails here) and writes them to
var/screenshots/. With UPDATE_SCREENSHOTS=1 they also replace the committed ones in
docs/screenshots/:

    UPDATE_SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser/test_screenshots.py

(Run on every `make test` they would rewrite the committed images each time: the pages show
relative times, so no two runs are byte-identical.)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from . import scenes
from .conftest import PHONE, connect_telegram, list_person, log_in

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
TAKEN = ROOT / "var" / "screenshots"
COMMITTED = ROOT / "docs" / "screenshots"
DESKTOP_SHOT = {"width": 1200, "height": 800}


def save(page, name: str, *, full_page: bool = True, clip: dict | None = None) -> Path:
    TAKEN.mkdir(parents=True, exist_ok=True)
    path = TAKEN / f"{name}.png"
    # Hide the caret and stop transitions so the images do not flicker between runs.
    page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="hide", clip=clip)
    assert path.stat().st_size > 5_000, f"{name}: a suspiciously small screenshot"
    if os.environ.get("UPDATE_SCREENSHOTS"):
        COMMITTED.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, COMMITTED / path.name)
    return path


def test_screenshots_of_the_main_pages(new_page, site, make_user, mailoutbox):
    scene = scenes.build(make_user)

    visitor = new_page(DESKTOP_SHOT)
    visitor.goto("/")
    save(visitor, "home")
    visitor.goto("/accounts/login/")
    save(visitor, "sign-in")
    visitor.get_by_role("textbox", name="Email address").fill("ada@example.com")
    visitor.get_by_role("button", name="Email me a code and a link").click()
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Check your email")
    save(visitor, "code-entry")

    ada = log_in(new_page(DESKTOP_SHOT), scene.ada)
    for path, name in [
        ("/people/", "people"),
        ("/requests/", "requests"),
        (f"/meetups/{scene.meetup.pk}/", "meetup"),
        ("/notifications/", "notifications"),
        ("/settings/notifications/", "notification-settings"),
        ("/accounts/", "account"),
    ]:
        ada.goto(path)
        save(ada, name)

    staff = log_in(new_page(DESKTOP_SHOT), scene.staff)
    staff.goto("/staff/inbox/")
    save(staff, "inbox")
    staff.goto(f"/staff/inbox/{scene.conversation.pk}/")
    save(staff, "inbox-conversation")

    phone = log_in(new_page(PHONE), scene.ada)
    phone.goto("/requests/")
    save(phone, "phone-requests")
    phone_visitor = new_page(PHONE)
    phone_visitor.goto("/accounts/login/")
    save(phone_visitor, "phone-sign-in")


def test_screenshot_of_a_notification_in_the_telegram_sandbox(stack, new_page, make_user):
    from .test_match_requests import send_request

    ada_user, ben_user = make_user("ada@example.com"), make_user("ben@example.com")
    connect_telegram(ada_user, stack.sandbox, 580001, "Ada")
    list_person(ada_user, "Ada", "Mathematician.")
    list_person(ben_user, "Ben", "Board games on Sundays.")
    send_request(log_in(new_page(), ben_user), "Ada", "Hi Ada! Fancy a game of chess this weekend?")
    stack.wait_for_bot_message(580001, "chess")

    chat = new_page({"width": 900, "height": 640})
    chat.goto(stack.chat_url(580001))
    expect(chat.get_by_role("button", name="Accept")).to_be_visible()
    save(chat, "telegram-sandbox-chat", full_page=False)


def test_screenshots_of_connecting_telegram_through_the_bot(stack, new_page, make_user):
    """The sandbox's stand-in for t.me/<bot>?start=..., and the chat after Start (and Link)."""
    from .conftest import start_the_bot_from_its_deep_link
    from .test_telegram_sign_in import bot_message_containing

    ada_user = make_user("ada@example.com", first_name="Ada", last_name="Lovelace")
    stack.sandbox.add_user(580002, "Ada", "Lovelace", "ada_l", started=False)
    stack.sandbox.add_user(580003, "Ben", None, "ben_b", started=False)
    page = log_in(new_page({"width": 900, "height": 640}), ada_user)
    page.goto("/accounts/")
    page.locator("#telegram").get_by_role("link", name="connect through the bot").click()
    expect(page.get_by_role("button", name="Start")).to_be_visible()
    save(page, "telegram-deep-link", full_page=False)

    start_the_bot_from_its_deep_link(page, stack, 580002)
    stack.wait_for_webhook()
    question = bot_message_containing(stack, 580002, "Link this Telegram", "Connected!")
    if "Link this Telegram" in question["text"]:
        page.locator(f"#m{question['message_id']}").get_by_role("button", name="Link", exact=True).click()
        stack.wait_for_webhook()
    connected = bot_message_containing(stack, 580002, "Connected!")
    page.goto(stack.chat_url(580002))
    expect(page.locator(f"#m{connected['message_id']}")).to_be_visible()
    # Only the bot's messages: the person's "/start <token>" line would put a start token
    # (used up, but a token) into the repository.
    bot_messages = [page.locator(f"#m{m['message_id']}").bounding_box()
                    for m in stack.messages(580002) if (m.get("from") or {}).get("is_bot")]
    top = min(b["y"] for b in bot_messages) - 3
    bottom = max(b["y"] + b["height"] for b in bot_messages) + 3
    save(page, "telegram-sandbox-connected", full_page=True, clip={"x": 0, "y": top, "width": 900, "height": bottom - top})
