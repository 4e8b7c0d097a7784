"""
Telegram sign-in through both flows, and connecting/disconnecting Telegram, in a browser.

The legacy flow only works with a page script: Telegram returns the signed result in the
address's fragment (#tgAuthResult=...), which never reaches a server; the site's callback page
turns it into a POST. Only a real browser proves that script works under the site's CSP.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from .conftest import connect_telegram, db_lock, log_in, start_the_bot_from_its_deep_link

pytestmark = pytest.mark.browser

LEGACY = re.compile(r"classic sign-in")
OIDC = re.compile(r"^Continue with Telegram$")


def go_to_telegram(page, sandbox, link) -> None:
    """Press a Telegram button on the site; the site's confirmation page (allauth never signs
    in on a GET) sends the browser on to Telegram (the sandbox) with a POST."""
    link.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Telegram")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="Log in with Telegram")).to_be_visible()
    assert page.url.startswith(sandbox.url + "/auth?")


def choose_new_telegram_user(page, first_name: str, username: str, telegram_id: int) -> None:
    """On the sandbox's "Log in with Telegram" page: be a new Telegram user."""
    expect(page.get_by_role("heading", name="Log in with Telegram")).to_be_visible()
    page.get_by_label("A new user").check()
    page.get_by_label("First name").fill(first_name)
    page.get_by_label("Username (optional)").fill(username)
    page.get_by_label("Telegram id (blank: random)").fill(str(telegram_id))
    page.get_by_role("button", name="Accept").click()


def choose_existing_telegram_user(page, telegram_id: int) -> None:
    expect(page.get_by_role("heading", name="Log in with Telegram")).to_be_visible()
    page.get_by_label(re.compile(rf"id {telegram_id}$")).check()
    page.get_by_role("button", name="Accept").click()


def expect_signed_in_with_telegram(page, site, first_name: str) -> None:
    expect(page.get_by_role("navigation").get_by_role("link", name="Sign out")).to_be_visible()
    page.goto("/accounts/")
    expect(page.locator("#telegram")).to_contain_text(f"Connected as {first_name}")


def telegram_account(telegram_id: int):
    from project.telegram_accounts.models import TelegramAccount

    with db_lock:
        return TelegramAccount.objects.select_related("user").filter(telegram_id=telegram_id).first()


def test_legacy_flow_signs_in_a_new_person_through_the_fragment_script(page, site, sandbox):
    page.goto("/accounts/login/")
    go_to_telegram(page, sandbox, page.get_by_role("link", name=LEGACY))

    choose_new_telegram_user(page, "Tom", "tom_t", 620001)

    # Back on the site, the callback page's script posts the fragment; the person is in.
    expect_signed_in_with_telegram(page, site, "Tom")
    expect(page.locator("#telegram")).to_contain_text("@tom_t")
    account = telegram_account(620001)
    assert account is not None and account.user.email == ""
    # request_access=write was asked for and granted: the bot may message Tom.
    assert sandbox.link(620001).allowed_write


def test_oidc_flow_signs_in_a_new_person(page, site, sandbox):
    sandbox.add_user(620002, "Uma", username="uma", started=False)
    page.goto("/accounts/login/")
    go_to_telegram(page, sandbox, page.get_by_role("link", name=OIDC))
    expect(page.locator("main")).to_contain_text("OpenID Connect")

    choose_existing_telegram_user(page, 620002)

    expect_signed_in_with_telegram(page, site, "Uma")
    assert telegram_account(620002) is not None
    assert sandbox.link(620002).allowed_write  # scope telegram:bot_access


@pytest.mark.parametrize("flow", [LEGACY, OIDC], ids=["legacy", "oidc"])
def test_telegram_signs_a_returning_person_into_their_own_account(page, site, sandbox, make_user, flow):
    user = make_user("vera@example.com")
    connect_telegram(user, sandbox, 620003, "Vera")

    page.goto("/accounts/login/")
    go_to_telegram(page, sandbox, page.get_by_role("link", name=flow))
    choose_existing_telegram_user(page, 620003)

    expect_signed_in_with_telegram(page, site, "Vera")
    expect(page.locator("#email")).to_contain_text("vera@example.com")
    assert telegram_account(620003).user == user


def test_cancelling_on_telegram_signs_no_one_in(page, site, sandbox):
    page.goto("/accounts/login/")
    go_to_telegram(page, sandbox, page.get_by_role("link", name=LEGACY))
    page.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile("Sign-in cancelled|Sign-in not completed"))
    assert page.url.startswith(site.url)
    expect(page.get_by_role("navigation").get_by_role("link", name="Sign in")).to_be_visible()


CONNECT_BUTTONS = {"legacy": "Connect with classic sign-in", "oidc": "Connect Telegram"}


def expect_flow_on_telegram(page, flow: str) -> None:
    """The sandbox's Telegram page was opened by `flow`: the legacy widget's redirect (bot_id,
    return_to) or an OpenID Connect authorization request (response_type=code with PKCE)."""
    query = parse_qs(urlsplit(page.url).query)
    if flow == "legacy":
        assert "bot_id" in query and "return_to" in query, page.url
        assert "response_type" not in query and "client_id" not in query, page.url
        expect(page.get_by_role("main")).to_contain_text("legacy login")
    else:
        assert query.get("response_type") == ["code"] and "code_challenge" in query, page.url
        assert "bot_id" not in query, page.url
        expect(page.get_by_role("main")).to_contain_text("OpenID Connect")


@pytest.mark.parametrize("offered", [["legacy", "oidc"], ["oidc", "legacy"]])
def test_each_connect_button_starts_the_flow_its_label_names(page, site, sandbox, make_user, settings, offered):
    """Whichever flow the stage lists first (and so shows as the main button), "Connect with
    classic sign-in" runs the legacy flow and "Connect Telegram" the OpenID Connect one."""
    settings.TELEGRAM_LOGIN_FLOWS = offered
    log_in(page, make_user("vic@example.com"))
    for flow, label in CONNECT_BUTTONS.items():
        page.goto("/accounts/")
        section = page.locator("#telegram")
        expect(section.get_by_role("link", name=re.compile("^Connect"))).to_have_count(2)
        go_to_telegram(page, sandbox, section.get_by_role("link", name=label, exact=True))
        expect_flow_on_telegram(page, flow)


@pytest.mark.parametrize("flow", ["legacy", "oidc"])
def test_connect_telegram_from_the_account_page_then_disconnect_it(page, site, sandbox, make_user, settings, flow):
    user = make_user("wes@example.com")
    log_in(page, user)
    page.goto("/accounts/")
    section = page.locator("#telegram")
    go_to_telegram(page, sandbox, section.get_by_role("link", name=CONNECT_BUTTONS[flow], exact=True))
    expect_flow_on_telegram(page, flow)
    choose_new_telegram_user(page, "Wes", "wes_w", 620004)

    expect(page.locator("#telegram")).to_contain_text("Connected as Wes")
    assert telegram_account(620004).user == user

    page.locator("#telegram").get_by_role("button", name="Disconnect Telegram").click()
    expect(page.get_by_role("status")).to_contain_text("Telegram is disconnected")
    expect(page.locator("#telegram")).to_contain_text("Connect Telegram to sign in with it")
    assert telegram_account(620004) is None


def test_telegram_is_disconnected_only_once_an_email_is_added(page, site, sandbox, mailoutbox):
    page.goto("/accounts/login/")
    go_to_telegram(page, sandbox, page.get_by_role("link", name=LEGACY))
    choose_new_telegram_user(page, "Xia", "", 620005)
    expect_signed_in_with_telegram(page, site, "Xia")
    # Telegram is Xia's only way in: it cannot be disconnected...
    expect(page.locator("#telegram").get_by_role("button", name="Disconnect Telegram")).to_have_count(0)
    expect(page.locator("#telegram")).to_contain_text("cannot be disconnected")

    # ...until an email is added (confirmed with the code mailed to it).
    page.locator("#email").get_by_role("textbox", name="Email address").fill("xia@example.com")
    page.locator("#email").get_by_role("button", name="Add email").click()
    expect(page.locator("main")).to_contain_text("We sent a code to xia@example.com")
    (mail,) = [m for m in mailoutbox if "xia@example.com" in m.to]
    code = re.search(r"code[^\n]*\n\s*\n\s+(\S+)\s*\n", mail.body).group(1)
    page.get_by_label("Code from the email").fill(code)
    page.get_by_role("button", name="Confirm").click()
    page.goto("/accounts/")
    expect(page.locator("#email")).to_contain_text("xia@example.com")

    page.locator("#telegram").get_by_role("button", name="Disconnect Telegram").click()
    expect(page.get_by_role("status")).to_contain_text("Telegram is disconnected")
    assert telegram_account(620005) is None


def bot_message_containing(stack, telegram_id: int, *texts: str, timeout: float = 10.0) -> dict:
    """The first bot message in the chat that contains any of `texts` (waiting for it)."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        for message in stack.messages(telegram_id):
            if (message.get("from") or {}).get("is_bot") and any(t in (message.get("text") or "") for t in texts):
                return message
        if time.monotonic() > deadline:
            raise AssertionError(f"no bot message with any of {texts} in {[m.get('text') for m in stack.messages(telegram_id)]}")
        time.sleep(0.05)


def test_connect_through_the_bot_from_the_account_page_to_the_bots_answer(stack, page, make_user):
    """Account page -> "connect through the bot" -> the sandbox's stand-in for t.me (no dead
    end at https://t.me without a network) -> Start as a fake user -> the bot links the chat
    and says so."""
    user = make_user("yan@example.com")
    stack.sandbox.add_user(620006, "Yan", username="yan_y", started=False)
    stack.sandbox.add_user(620007, "Someone Else", started=False)
    log_in(page, user)
    page.goto("/accounts/")
    link = page.locator("#telegram").get_by_role("link", name="connect through the bot")
    assert link.get_attribute("href").startswith(f"{stack.sandbox.url}/site_local_bot?start=")
    link.click()
    payload = start_the_bot_from_its_deep_link(page, stack, 620006)

    # The bot received what Telegram sends when Start is pressed under a deep link.
    sent = [m for m in stack.messages(620006) if not (m.get("from") or {}).get("is_bot")]
    assert [m["text"] for m in sent] == [f"/start {payload}"]
    assert stack.messages(620007) == []
    stack.wait_for_webhook()

    # The bot may first ask "Link this Telegram to ...?" (issue 12): then Link is pressed.
    answer = bot_message_containing(stack, 620006, "Link this Telegram", "Connected!")
    if "Link this Telegram" in answer["text"]:
        page.locator(f"#m{answer['message_id']}").get_by_role("button", name="Link", exact=True).click()
        expect(page).to_have_url(stack.chat_url(620006))
        stack.wait_for_webhook()
    connected = bot_message_containing(stack, 620006, "Connected!")
    expect(page.locator(f"#m{connected['message_id']}")).to_contain_text("Connected!")

    page.goto(stack.site("/accounts/"))
    expect(page.locator("#telegram")).to_contain_text("Connected as Yan")
    assert telegram_account(620006).user == user
