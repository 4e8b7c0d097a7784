"""One tap from Telegram, in a real browser: a notification's "Open on the site" button in the
sandbox chat lands signed in on the request page, and the bot's menu button opens the site
as a Mini App inside the sandbox's Telegram Web stand-in, signed in and in Telegram's colours."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from .conftest import PHONE, connect_telegram, db_lock, list_person

pytestmark = pytest.mark.browser


def test_open_under_a_match_request_lands_signed_in_on_the_request_page(stack, new_page, make_user):
    from project.meetups.flows.match_requests import send_match_request

    ada_user, ben_user = make_user("ada@example.com", first_name="Ada"), make_user("ben@example.com")
    connect_telegram(ada_user, stack.sandbox, 520001, "Ada")
    list_person(ada_user, "Ada")
    list_person(ben_user, "Ben")
    with db_lock:
        send_match_request(ben_user, ada_user, "Chess on Sunday?")

    # Ada's phone: the notification with its buttons; nobody is signed in to the site here.
    message = stack.wait_for_bot_message(520001, "Chess on Sunday?")
    site_button = message["reply_markup"]["inline_keyboard"][-1][0]
    target = parse_qs(urlsplit(site_button["login_url"]["url"]).query)["next"][0]
    phone = new_page(PHONE)
    phone.goto(stack.chat_url(520001))
    bubble = phone.locator(".msg.bot", has_text="Chess on Sunday?")
    bubble.get_by_role("link", name=re.compile("Open on the site")).click()

    # On the request page, signed in as Ada: no sign-in page on the way.
    expect(phone).to_have_url(stack.site.url + target)
    expect(phone.get_by_role("link", name="Sign out")).to_be_visible()
    expect(phone.get_by_role("link", name="Sign in")).to_have_count(0)
    expect(phone.locator("main")).to_contain_text("Ben")
    # The one-use signed fields are gone from the address bar.
    assert "hash=" not in phone.url


def test_the_menu_button_opens_the_site_signed_in_inside_telegram(stack, new_page, make_user):
    ada_user = make_user("ada@example.com", first_name="Ada")
    connect_telegram(ada_user, stack.sandbox, 520002, "Ada")  # the stack registered the menu button

    chat = new_page()
    console_errors: list[str] = []
    chat.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    chat.goto(stack.chat_url(520002))
    chat.get_by_role("link", name=re.compile("Open")).click()

    # The sandbox's Telegram Web frames the site; its own script signs Ada in.
    frame = chat.frame_locator("#mini-app")
    expect(frame.get_by_role("link", name="Sign out")).to_be_visible()
    expect(frame.get_by_role("link", name="Account", exact=True)).to_be_visible()
    # Telegram's colours (the sandbox's dark theme) on the site's own variables: --wash is
    # secondary_bg_color #181818, --paper is bg_color #212121.
    expect(frame.locator("html")).to_have_css("background-color", "rgb(24, 24, 24)")
    expect(frame.locator(".site-header")).to_have_css("background-color", "rgb(33, 33, 33)")
    app = next(f for f in chat.frames if f.url.startswith(stack.site.url))
    # The launch data left the address: a reload inside Telegram does not replay it.
    assert "tgWebAppData" not in app.url
    # Framed because the site allows it (frame-ancestors), with nothing refused by its CSP.
    assert not [e for e in console_errors if "Content Security Policy" in e or "frame" in e.lower()], console_errors


def test_the_mini_app_page_outside_telegram_says_where_it_opens(site, page):
    page.goto("/accounts/telegram/app/")
    expect(page.get_by_text("This page opens from the bot's menu in Telegram.")).to_be_visible()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
