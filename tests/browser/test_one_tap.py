"""One tap from Telegram, in a real browser: a notification's "Open on the site" button in the
sandbox chat lands signed in on the request page, and the bot's menu button opens the site
as a Mini App inside the sandbox's Telegram Web stand-in, signed in and in Telegram's colours."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.sync_api import expect

from .conftest import PHONE, connect_telegram, db_lock, list_person

pytestmark = pytest.mark.browser


def sign_in_by_email_then_out(page, user, mailoutbox) -> None:
    """The person signs in on the site by email code in this browser, and signs out again."""
    from .test_email_sign_in import ask_for_email, code_in, the_email

    ask_for_email(page, user.email)
    page.get_by_label("Code").fill(code_in(the_email(mailoutbox, user.email)))
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation").get_by_role("link", name="Sign out")).to_be_visible()
    sign_out(page)


def sign_out(page_or_frame) -> None:
    page_or_frame.get_by_role("navigation").get_by_role("link", name="Sign out").click()
    page_or_frame.get_by_role("button", name="Sign out").click()
    expect(page_or_frame.get_by_role("navigation").get_by_role("link", name="Sign in")).to_be_visible()


def next_second() -> None:
    """The sandbox signs whole seconds, as Telegram does: the same person's second press within
    one second would carry the very fields already spent."""
    time.sleep(1.01 - time.time() % 1)


def test_open_under_a_match_request_in_a_browser_she_has_used_lands_signed_in(stack, new_page, make_user,
                                                                            mailoutbox):
    from project.meetups.flows.match_requests import send_match_request

    ada_user, ben_user = make_user("ada@example.com", first_name="Ada"), make_user("ben@example.com")
    connect_telegram(ada_user, stack.sandbox, 520001, "Ada")
    list_person(ada_user, "Ada")
    list_person(ben_user, "Ben")
    # Ada's phone browser: she signed in on the site here once (by email), and signed out.
    phone = new_page(PHONE)
    sign_in_by_email_then_out(phone, ada_user, mailoutbox)
    with db_lock:
        send_match_request(ben_user, ada_user, "Chess on Sunday?")

    # The notification with its buttons, in the sandbox's web chat (opened from another
    # site, so nothing in the request says "Telegram"): the browser is what is known.
    message = stack.wait_for_bot_message(520001, "Chess on Sunday?")
    rows = message["reply_markup"]["inline_keyboard"]
    target = parse_qs(urlsplit(rows[-1][0]["login_url"]["url"]).query)["next"][0]
    phone.goto(stack.chat_url(520001))
    button = re.compile(re.escape(rows[-1][0]["text"]))
    phone.locator(f"#m{message['message_id']}").get_by_role("link", name=button).click()

    # On the request page, signed in as Ada: no question, no sign-in page on the way.
    expect(phone).to_have_url(stack.site.url + target)
    expect(phone.get_by_role("link", name="Sign out")).to_be_visible()
    expect(phone.get_by_role("link", name="Sign in")).to_have_count(0)
    expect(phone.locator("main")).to_contain_text("Ben")
    # The one-use signed fields are gone from the address bar.
    assert "hash=" not in phone.url


def test_open_in_a_new_browser_asks_once_then_is_one_tap(stack, new_page, make_user):
    """A browser that has never been Ada's is asked "Continue as ada@example.com?" (login CSRF:
    tests/review/test_one_tap_cross_site.py, test_review2_one_tap_none_laundering.py); the
    answer makes it known, so her next press there is one tap."""
    ada_user = make_user("ada@example.com", first_name="Ada")
    connect_telegram(ada_user, stack.sandbox, 520004, "Ada")
    message_id = _send_site_button(stack, 520004, "/requests/")
    page = new_page(PHONE)
    page.goto(stack.chat_url(520004))
    page.locator(f"#m{message_id}").get_by_role("link", name=re.compile("Open on the site")).click()

    expect(page.get_by_role("heading", name="Continue as ada@example.com?")).to_be_visible()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()  # nobody signed in yet
    page.get_by_role("button", name="Continue as ada@example.com").click()

    expect(page).to_have_url(stack.site.url + "/requests/")
    expect(page.get_by_role("link", name="Sign out")).to_be_visible()

    sign_out(page)
    message_id = _send_site_button(stack, 520004, "/notifications/")
    next_second()
    page.goto(stack.chat_url(520004))
    page.locator(f"#m{message_id}").get_by_role("link", name=re.compile("Open on the site")).click()

    expect(page).to_have_url(stack.site.url + "/notifications/")
    expect(page.get_by_role("link", name="Sign out")).to_be_visible()


def _send_site_button(stack, chat_id: int, path: str) -> int:
    """The bot sends `chat_id` a message with one site button (contract C1) over the Bot API."""
    from django.conf import settings

    from project.bot.buttons import site_button

    token = settings.LOCAL_SECRETS["telegram_bot_token"]
    sent = httpx.post(f"{stack.sandbox.url}/bot{token}/sendMessage",
                      json={"chat_id": chat_id, "text": "Something new",
                            "reply_markup": {"inline_keyboard": [[site_button("Open on the site", path)]]}})
    assert sent.status_code == 200, sent.text
    return sent.json()["result"]["message_id"]


def test_the_menu_button_opens_the_site_signed_in_inside_telegram(stack, new_page, make_user):
    """Telegram Web's frame keeps its own cookie jar (partitioned under Telegram Web's site):
    it is a browser of its own, asked "Continue as ada@example.com?" the first time, one tap after that."""
    ada_user = make_user("ada@example.com", first_name="Ada")
    connect_telegram(ada_user, stack.sandbox, 520002, "Ada")  # the stack registered the menu button

    chat = new_page()
    console_errors: list[str] = []
    chat.on("console", lambda message: message.type == "error" and console_errors.append(message.text))
    chat.goto(stack.chat_url(520002))
    chat.get_by_role("link", name=re.compile("Open")).click()

    # The sandbox's Telegram Web frames the site; its own script posts the launch data. A
    # browser that has never been Ada's is asked once, inside Telegram.
    frame = chat.frame_locator("#mini-app")
    expect(frame.get_by_role("heading", name="Continue as ada@example.com?")).to_be_visible()
    frame.get_by_role("button", name="Continue as ada@example.com").click()
    expect(frame.get_by_role("link", name="Sign out")).to_be_visible()

    # Signed out, and opened again from the menu button: this time no question.
    sign_out(frame)
    chat.goto(stack.chat_url(520002))
    chat.get_by_role("link", name=re.compile("Open")).click()
    frame = chat.frame_locator("#mini-app")
    expect(frame.get_by_role("link", name="Sign out")).to_be_visible()
    expect(frame.get_by_role("heading", name="Continue as ada@example.com?")).to_have_count(0)
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


def test_the_mini_app_keeps_its_session_in_telegram_webs_cross_site_frame(stack, new_page, make_user):
    """Telegram Web frames the app from another site, where browsers neither send nor store
    the site's Lax cookies: the Mini App must still follow a link and post a form (CSRF)
    signed in, with cookies partitioned to Telegram Web, and leave first-party visits alone."""
    from project.notifications.flows.preferences import all_off

    ada_user = make_user("ada@example.com", first_name="Ada")
    connect_telegram(ada_user, stack.sandbox, 520003, "Ada")

    chat = new_page()
    chat.goto(stack.chat_url(520003))
    chat.get_by_role("link", name=re.compile("Open")).click()
    # The sandbox's Telegram Web is another site than the app (localhost vs 127.0.0.1).
    launcher = urlsplit(chat.url)
    assert (launcher.hostname, launcher.path) == ("localhost", "/chat/520003/app"), chat.url
    assert urlsplit(stack.site.url).hostname == "127.0.0.1"
    frame = chat.frame_locator("#mini-app")
    # The frame's first visit (its own cookie jar): asked once.
    frame.get_by_role("button", name="Continue as ada@example.com").click()
    expect(frame.get_by_role("link", name="Sign out")).to_be_visible()

    # A link inside the frame, then another: still signed in.
    frame.get_by_role("link", name="Notifications", exact=True).click()
    frame.get_by_role("link", name="Settings", exact=True).click()
    expect(frame.get_by_role("heading", name="Notification settings")).to_be_visible()
    expect(frame.get_by_role("link", name="Sign out")).to_be_visible()

    # A form inside the frame: a POST with its CSRF token, still signed in afterwards.
    frame.get_by_label(re.compile("Turn all notifications off")).check()
    frame.get_by_role("button", name="Save settings").click()
    expect(frame.get_by_text("Your notification settings are saved.")).to_be_visible()
    expect(frame.get_by_label(re.compile("Turn all notifications off"))).to_be_checked()
    expect(frame.get_by_role("link", name="Sign out")).to_be_visible()
    with db_lock:
        assert all_off(ada_user)

    # What the browser keeps for the site: partitioned to Telegram Web's site, SameSite=None
    # and Secure (Chromium stores Secure cookies from http://127.0.0.1: loopback counts as
    # secure), and no unpartitioned cookie of the site that other sites' frames would get.
    site_cookies = [c for c in chat.context.cookies() if c["domain"] == "127.0.0.1"]
    by_name = {c["name"]: c for c in site_cookies}
    assert {"sessionid", "csrftoken", "tg_known"} <= set(by_name), site_cookies
    for cookie in site_cookies:
        assert cookie.get("partitionKey") == "http://localhost", cookie
        assert cookie["sameSite"] == "None" and cookie["secure"], cookie

    # The same browser visiting the site itself: a first-party jar of its own, not signed in
    # by the frame's session, and what it gets is Lax as ever.
    own = chat.context.new_page()
    own.goto(stack.site.url + "/accounts/login/")
    expect(own.get_by_role("link", name="Sign out")).to_have_count(0)
    first_party = [c for c in chat.context.cookies() if c["domain"] == "127.0.0.1" and not c.get("partitionKey")]
    assert first_party and all(c["sameSite"] == "Lax" for c in first_party), first_party


def test_the_mini_app_page_outside_telegram_says_where_it_opens(site, page):
    page.goto("/accounts/telegram/app/")
    expect(page.get_by_text("This page opens from the bot's menu in Telegram.")).to_be_visible()
    expect(page.get_by_role("link", name="Sign in")).to_be_visible()
