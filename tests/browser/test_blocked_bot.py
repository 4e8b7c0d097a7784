"""A person who blocked the bot: the site says so, sends by email instead, and reconnecting
(pressing Start in Telegram) puts things right."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import connect_telegram, db_lock, list_person, log_in, reload_until, start_the_bot_from_its_deep_link
from .test_match_requests import send_request

pytestmark = pytest.mark.browser

NOTICE = "Our Telegram bot cannot reach you"


def notice(page):
    return page.get_by_role("alert").filter(has_text=NOTICE)


def reachable(telegram_id: int) -> bool:
    from project.telegram_accounts.models import TelegramAccount

    with db_lock:
        return TelegramAccount.objects.get(telegram_id=telegram_id).reachable


@pytest.fixture
def ada_and_ben(stack, new_page, make_user):
    ada_user, ben_user = make_user("ada@example.com"), make_user("ben@example.com")
    connect_telegram(ada_user, stack.sandbox, 550001, "Ada")
    list_person(ada_user, "Ada")
    list_person(ben_user, "Ben")
    return log_in(new_page(), ada_user), log_in(new_page(), ben_user)


def test_a_notification_refused_with_403_brings_the_notice_and_email_instead(stack, ada_and_ben, mailoutbox):
    ada, ben = ada_and_ben
    ada.goto("/")
    expect(notice(ada)).to_have_count(0)
    # Ada blocked the bot and Telegram's my_chat_member update never reached us: the site
    # only learns of it when a message is refused.
    with stack.sandbox.lock:
        stack.sandbox.link(550001).blocked = True

    send_request(ben, "Ada", "Dinner?")

    ada.goto("/notifications/")
    reload_until(ada, lambda p: notice(p).count())
    card = ada.locator("article.notification", has_text="Ben")
    expect(card).to_contain_text("Telegram: unreachable")
    reload_until(ada, lambda p: "Email: sent" in p.locator("article.notification", has_text="Ben").inner_text())
    assert [m for m in mailoutbox if "ada@example.com" in m.to]
    refused = [e for e in stack.sandbox.record() if e.chat_id == 550001 and e.method == "sendMessage"]
    assert refused and refused[-1].error_code == 403
    ada.goto("/accounts/")
    expect(ada.locator("#telegram .badge")).to_have_text("unreachable")


def test_blocking_the_bot_in_telegram_shows_the_notice_and_reconnecting_clears_it(stack, ada_and_ben):
    ada, _ben = ada_and_ben
    chat = ada.context.new_page()
    chat.goto(stack.chat_url(550001))
    chat.get_by_role("button", name="Block bot").click()
    expect(chat.locator("main, body").first).to_contain_text("blocked the bot")
    stack.wait_for_webhook()

    ada.goto("/")
    reload_until(ada, lambda p: notice(p).count())
    assert not reachable(550001)

    # The notice's link explains what to do; its button opens the bot, where Ada presses Start.
    notice(ada).get_by_role("link", name="Reconnect Telegram").click()
    expect(ada.get_by_role("heading", level=1)).to_have_text("Reconnect Telegram")
    ada.get_by_role("link", name="Open the bot in Telegram").click()
    start_the_bot_from_its_deep_link(ada, stack, 550001)
    stack.wait_for_webhook()

    ada.goto(f"{stack.site.url}/")
    reload_until(ada, lambda p: notice(p).count() == 0)
    assert reachable(550001)
    ada.goto(f"{stack.site.url}/accounts/")
    expect(ada.locator("#telegram .badge")).to_have_text("reachable")
