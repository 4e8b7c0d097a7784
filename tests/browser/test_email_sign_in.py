"""Email sign-in, the way a person does it: one email, a code for this browser, a link for any."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from .conftest import db_lock

pytestmark = pytest.mark.browser


def accounts_with(email: str) -> list:
    from django.contrib.auth import get_user_model

    with db_lock:
        return list(get_user_model().objects.filter(email=email))


def ask_for_email(page, email: str) -> None:
    page.goto("/")
    page.get_by_role("navigation").get_by_role("link", name="Sign in").click()
    page.get_by_role("textbox", name="Email address").fill(email)
    page.get_by_role("button", name="Email me a code and a link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")
    expect(page.locator("main")).to_contain_text(email)


def the_email(mailoutbox, to: str):
    mails = [m for m in mailoutbox if to in m.to]
    assert len(mails) == 1, [(m.to, m.subject) for m in mailoutbox]
    return mails[0]


def code_in(mail) -> str:
    # The code sits alone on an indented line under "Your code".
    match = re.search(r"code[^\n]*\n\s*\n\s+(\S+)\s*\n", mail.body)
    assert match, mail.body
    return match.group(1)


def link_in(mail, site) -> str:
    match = re.search(re.escape(site.url) + r"/accounts/login/link/\S+/", mail.body)
    assert match, mail.body
    return match.group(0)


def expect_signed_in_as(page, email: str) -> None:
    expect(page.get_by_role("navigation").get_by_role("link", name="Sign out")).to_be_visible()
    page.goto("/accounts/")
    expect(page.locator("main")).to_contain_text(email)


def test_sign_in_by_code_creates_the_account_on_first_use(page, site, mailoutbox):
    ask_for_email(page, "ada@example.com")
    assert accounts_with("ada@example.com") == []
    code = code_in(the_email(mailoutbox, "ada@example.com"))

    # A typo first: the page says so and the person may try again.
    page.get_by_label("Code").fill("WRONG1")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("That code is not right")).to_be_visible()

    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Sign in").click()
    expect_signed_in_as(page, "ada@example.com")
    assert len(accounts_with("ada@example.com")) == 1


def test_a_returning_person_signs_in_by_code_into_their_account(page, site, mailoutbox, make_user):
    user = make_user("ben@example.com")
    ask_for_email(page, "ben@example.com")
    page.get_by_label("Code").fill(code_in(the_email(mailoutbox, "ben@example.com")))
    page.get_by_role("button", name="Sign in").click()
    expect_signed_in_as(page, "ben@example.com")
    assert accounts_with("ben@example.com") == [user]


def test_sign_in_by_link_in_another_browser_uses_up_the_code(new_page, site, mailoutbox):
    asking = new_page()
    ask_for_email(asking, "cleo@example.com")
    mail = the_email(mailoutbox, "cleo@example.com")

    # The link opens a page; only its button signs in (a mail scanner's GET does nothing).
    other = new_page()
    other.goto(link_in(mail, site))
    expect(other.get_by_role("navigation").get_by_role("link", name="Sign in")).to_be_visible()
    other.get_by_role("button", name="Sign in as cleo@example.com").click()
    expect_signed_in_as(other, "cleo@example.com")

    # Code and link are one sign-in: the code no longer works in the browser that asked.
    asking.get_by_label("Code").fill(code_in(mail))
    asking.get_by_role("button", name="Sign in").click()
    expect(asking.get_by_role("status")).to_contain_text("already used")
    expect(asking.get_by_role("navigation").get_by_role("link", name="Sign in")).to_be_visible()

    # And the link does not work twice.
    third = new_page()
    third.goto(link_in(mail, site))
    expect(third.get_by_role("heading", level=1)).to_have_text("This sign-in link cannot be used")
    expect(third.locator("main")).to_contain_text("already used")
