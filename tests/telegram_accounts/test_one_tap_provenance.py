"""Which browser Telegram's signed fields sign in on the spot (flows/one_tap.py,
flows/known_browser.py): only one that has been signed in as that account before, whatever
its request headers say; any other is asked "Continue as ...?" once (a CSRF-protected POST),
and is known from then on. How the page was opened (Sec-Fetch-Site: none, Telegram Web's
frame) decides only whether a new account may be offered. tests/review/test_one_tap_cross_site.py
and tests/review/test_review2_* have the attacks; these pin down each way in and each way on."""

from __future__ import annotations

import html
import json
import logging
import re
import time

import pytest
from django.conf import settings as django_settings
from django.core import signing
from django.test import Client
from django.urls import reverse

from infra.local.telegram_sandbox import mini_app_keys
from project.accounts.models import User
from project.telegram_accounts.flows import known_browser, login_url, mini_app
from project.telegram_accounts.models import TelegramAccount

from .conftest import next_second, signed_in_user
from .one_tap import (OPENED_BY_TELEGRAM, button_url, known_accounts, known_to,
                      open_in_telegram_app, refusals, sign_in_by_email)

pytestmark = pytest.mark.django_db

CHOICE = "/accounts/telegram/continue/"
APP = "/accounts/telegram/app/"
ASKED = "is linked to an account this browser has not been signed in as; asking the person"


ADA_TELEGRAM_ID = 630100  # the ada_tg fixture (conftest.py)


def csrf_post(client: Client, page, path: str, data: dict):
    """A POST from our own page: its CSRF token, our Origin."""
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    return client.post(path, {**data, "csrfmiddlewaretoken": token}, HTTP_ORIGIN=django_settings.SITE_URL)


def sign_out(browser: Client) -> None:
    """"Sign out" on the site's own sign-out page (its form, its CSRF token)."""
    csrf_post(browser, browser.get("/accounts/logout/"), "/accounts/logout/", {})
    assert signed_in_user(browser) is None


# --- login_url buttons ------------------------------------------------------------------------

EVERY_WAY_IN = {
    # The Telegram app's in-app browser, and as well any other app's link or a typed URL
    # (and the redirects after them: tests/review/test_review2_one_tap_none_laundering.py).
    "a navigation no page started": OPENED_BY_TELEGRAM,
    # Another site, and the sandbox's web chat (Telegram Web's new tab).
    "another site": {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"},
    # Our own redirects go to paths a caller chose (?next= of the logout and login forms).
    "our own page": {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"},
    "a sibling subdomain": {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"},
    "a browser without Fetch Metadata": {},
}


@pytest.mark.parametrize("how", list(EVERY_WAY_IN))
def test_a_new_browser_is_asked_once_then_known(ada, ada_tg, sandbox, sign_ins, caplog, how):
    path = button_url(sandbox, ada_tg.id, "/requests/12/")
    browser = Client(enforce_csrf_checks=True)

    with caplog.at_level(logging.INFO):
        arrived = browser.get(path, headers=EVERY_WAY_IN[how])

    assert arrived.status_code == 302 and arrived["Location"] == reverse("telegram_one_tap_choice")
    assert signed_in_user(browser) is None and sign_ins.seen == []
    assert any(ASKED in r.getMessage() for r in caplog.records)
    page = browser.get(CHOICE)
    body = page.content.decode()
    assert "Continue as ada@example.com?" in body and "(@ada_tg)" in body and 'value="continue"' in body
    assert "This browser has not been signed in to this account before" in body
    assert 'value="create"' not in body and 'value="connect"' not in body
    # The fields were spent on arrival: the same URL opened in a browser Ada has used is a replay.
    thief = known_to(Client(), ada)
    assert open_in_telegram_app(thief, path).status_code == 400 and signed_in_user(thief) is None
    assert refusals(caplog, "telegram-button")[-1].endswith("signed login data already used (replayed)")

    done = csrf_post(browser, page, CHOICE, {"action": "continue"})

    assert done.status_code == 302 and done["Location"] == "/requests/12/"
    assert signed_in_user(browser) == ada
    assert sign_ins.seen == [(ada.pk, "telegram-button")]
    # That sign-in made the browser known: signed out, the next press is one tap.
    assert known_accounts(browser) == [str(ada.pk)]
    sign_out(browser)
    next_second()  # the sandbox signs whole seconds, as Telegram does

    again = browser.get(button_url(sandbox, ada_tg.id, "/notifications/"), headers=EVERY_WAY_IN[how])

    assert again.status_code == 302 and again["Location"] == "/notifications/"
    assert signed_in_user(browser) == ada and sign_ins.seen[-1] == (ada.pk, "telegram-button")


@pytest.mark.parametrize("how", list(EVERY_WAY_IN))
def test_an_email_sign_in_in_the_browser_makes_later_taps_instant(ada, ada_tg, sandbox, sign_ins, how):
    """Ada signed in by email code on her phone's browser once (and signed out since); a press
    in Telegram opens there signed in, with no question, however the URL was opened."""
    browser = Client()
    sign_in_by_email(browser, ada)
    assert known_accounts(browser) == [str(ada.pk)]

    arrived = browser.get(button_url(sandbox, ada_tg.id, "/requests/12/"), headers=EVERY_WAY_IN[how])

    assert arrived.status_code == 302 and arrived["Location"] == "/requests/12/"
    assert signed_in_user(browser) == ada and sign_ins.seen[-1] == (ada.pk, "telegram-button")


def test_a_telegram_sign_in_on_the_site_makes_the_browser_known(ada, ada_tg, browser, sandbox):
    """The legacy Telegram sign-in (or any other) counts as well: user_logged_in, any method."""
    assert browser.sign_in("legacy", ada_tg.id)["Location"] == "/"
    assert known_accounts(browser.client) == [str(ada.pk)]
    browser.client.post("/accounts/logout/")
    next_second()

    arrived = browser.client.get(button_url(sandbox, ada_tg.id, "/requests/"),
                                 headers=EVERY_WAY_IN["another site"])

    assert arrived["Location"] == "/requests/" and signed_in_user(browser.client) == ada


def test_another_accounts_known_browser_does_not_count(ada, ada_tg, sandbox, email_user):
    """Carol signed in here (by email): the browser is Carol's, not Ada's."""
    browser = sign_in_by_email(Client(), email_user)
    assert known_accounts(browser) == [str(email_user.pk)]

    arrived = open_in_telegram_app(browser, button_url(sandbox, ada_tg.id, "/"))

    assert arrived["Location"] == CHOICE and signed_in_user(browser) is None
    assert "Continue as ada@example.com?" in browser.get(CHOICE).content.decode()


def _signed(value: str, *, key=None, salt=known_browser.COOKIE + known_browser.SALT) -> str:
    return signing.TimestampSigner(key=key or django_settings.SECRET_KEY, salt=salt).sign(value)


FORGED_COOKIES = {
    "unsigned": lambda ada: str(ada.pk),
    "another salt": lambda ada: _signed(str(ada.pk), salt="tg_known" + "another-salt"),
    "another secret": lambda ada: _signed(str(ada.pk), key="not-this-sites-secret-key-" + "x" * 40),
    "edited after signing": lambda ada: known_browser.cookie_value([ada.pk + 1000]).replace(
        str(ada.pk + 1000), str(ada.pk), 1),
    "another cookie's signature": lambda ada: signing.get_cookie_signer(salt="sessionid").sign(str(ada.pk)),
}


@pytest.mark.parametrize("forged", list(FORGED_COOKIES))
def test_a_forged_known_browser_cookie_does_not_count(ada, ada_tg, sandbox, forged):
    browser = Client()
    browser.cookies[known_browser.COOKIE] = FORGED_COOKIES[forged](ada)
    assert known_accounts(browser) == []

    arrived = open_in_telegram_app(browser, button_url(sandbox, ada_tg.id, "/"))

    assert arrived["Location"] == CHOICE and signed_in_user(browser) is None


def test_a_known_browser_cookie_over_a_year_old_does_not_count(ada, ada_tg, sandbox, monkeypatch):
    with monkeypatch.context() as m:
        m.setattr(time, "time", lambda: 1_000_000_000.0)
        old = known_browser.cookie_value([ada.pk])
    browser = Client()
    browser.cookies[known_browser.COOKIE] = old
    assert open_in_telegram_app(browser, button_url(sandbox, ada_tg.id, "/"))["Location"] == CHOICE


def test_the_cookie_names_the_last_few_accounts_and_is_the_sites_kind_of_cookie(rf, settings):
    """Newest first, at most MAX_ACCOUNTS; HttpOnly, a year, Secure and SameSite as the session."""
    settings.SESSION_COOKIE_SECURE = True
    from django.http import HttpResponse

    request = rf.get("/")
    request.COOKIES[known_browser.COOKIE] = known_browser.cookie_value([5, 4, 3, 2, 1])
    known_browser.note_sign_in(None, request=request, user=User(pk=3))
    known_browser.note_sign_in(None, request=request, user=User(pk=9))
    response = HttpResponse()

    known_browser.remember(request, response)

    cookie = response.cookies[known_browser.COOKIE]
    follow = rf.get("/")
    follow.COOKIES[known_browser.COOKIE] = cookie.value
    assert known_browser.accounts(follow) == ["9", "3", "5", "4", "2"]
    assert cookie["httponly"] and cookie["secure"] and cookie["samesite"] == settings.SESSION_COOKIE_SAMESITE
    assert cookie["max-age"] == 365 * 24 * 60 * 60 and cookie["path"] == "/"
    # No sign-in in a request: no cookie written.
    untouched = HttpResponse()
    known_browser.remember(rf.get("/"), untouched)
    assert known_browser.COOKIE not in untouched.cookies


def test_continue_is_refused_without_the_pages_csrf_token(ada, ada_tg, sandbox):
    browser = Client(enforce_csrf_checks=True)
    browser.get(button_url(sandbox, ada_tg.id, "/"), headers=EVERY_WAY_IN["another site"])
    assert browser.post(CHOICE, {"action": "continue"}, HTTP_ORIGIN="https://evil.example").status_code == 403
    assert signed_in_user(browser) is None and known_accounts(browser) == []


def test_fields_from_elsewhere_never_make_an_account(sandbox, sign_ins):
    """An unlinked Telegram user's fields from another site: "Continue with Telegram" is the
    sign-in flows (Telegram's own page says who), not an account for the stashed identity."""
    newcomer = sandbox.add_user(630200, "Nell", None, "nell_tg", started=True)
    browser = Client()
    browser.get(button_url(sandbox, newcomer.id, "/requests/12/"), headers=EVERY_WAY_IN["another site"])
    page = browser.get(CHOICE).content.decode()
    assert "Welcome from Telegram" in page and 'value="create"' not in page
    assert "/accounts/telegram/login/?process=login&amp;next=%2Frequests%2F12%2F" in page

    answer = browser.post(CHOICE, {"action": "create"})

    assert answer.status_code == 302 and signed_in_user(browser) is None
    assert not TelegramAccount.objects.filter(telegram_id=newcomer.id).exists() and sign_ins.seen == []


def test_signed_in_as_someone_else_is_asked_whichever_way_the_fields_came(ada, ada_tg, sandbox, email_user):
    """Even in a browser Ada has used: switching accounts is always a question."""
    for headers in (OPENED_BY_TELEGRAM, EVERY_WAY_IN["another site"]):
        browser = known_to(Client(), ada, email_user)
        browser.force_login(email_user)
        assert browser.get(button_url(sandbox, ada_tg.id, "/"), headers=headers)["Location"] == CHOICE
        assert "Switch accounts?" in browser.get(CHOICE).content.decode()
        assert signed_in_user(browser) == email_user
        next_second()


@pytest.mark.parametrize("value, expected", [("none", True), ("None", True), (" none ", True), ("cross-site", False),
                                             ("same-origin", False), ("same-site", False), ("", False), (None, False)])
def test_only_a_navigation_no_page_started_may_offer_a_new_account(rf, value, expected):
    request = rf.get("/", **({"HTTP_SEC_FETCH_SITE": value} if value is not None else {}))
    assert login_url.opened_by_telegram(request) is expected


# --- the Mini App -----------------------------------------------------------------------------

TELEGRAM_WEB = "https://web.telegram.org/"
FRAME = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe"}
OPENED = {
    "an app's web view": ({"Sec-Fetch-Site": "none", "Sec-Fetch-Dest": "document"}, True),
    "Telegram Web's frame": ({**FRAME, "Referer": TELEGRAM_WEB}, True),
    # Another bot's Mini App navigating its own frame (tests/review/test_review2_mini_app_frame.py).
    "a frame another page navigated": ({**FRAME, "Referer": "https://mallory-mini-app.example/"}, False),
    "a frame without a Referer": (FRAME, False),
    "a frame whose Referer only looks like Telegram's": ({**FRAME, "Referer": "https://web.telegram.org.evil.example/"},
                                                          False),
    "a link on another site": ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "document"}, False),
    "a browser without Fetch Metadata": ({}, False),
}


def launch_fields(fake):
    person = {"id": fake.id, "first_name": fake.first_name, "username": fake.username}
    return mini_app_keys.launch_fields(django_settings.LOCAL_SECRETS["telegram_bot_token"], person, int(time.time()))


def open_and_launch(browser: Client, fake, headers: dict):
    """The launch page opened with `headers`; its script posts the launch data with its form."""
    page = browser.get(APP, headers=headers)
    opened = html.unescape(re.search(r'name="opened" value="([^"]*)"', page.content.decode()).group(1))
    return csrf_post(browser, page, APP, {"init_data": mini_app_keys.encode(launch_fields(fake)),
                                          "theme": json.dumps({}), "opened": opened})


@pytest.mark.parametrize("how", list(OPENED))
def test_how_the_launch_page_was_opened(rf, how):
    headers, from_telegram = OPENED[how]
    request = rf.get(APP, headers=headers)
    assert mini_app.opened_by_telegram(request) is from_telegram
    assert signing.loads(mini_app.opened_token(request), salt=mini_app.OPENED_SALT) == {"telegram": from_telegram}


@pytest.mark.parametrize("how", list(OPENED))
def test_a_launch_in_a_new_browser_is_asked_once_then_known(ada, ada_tg, sign_ins, how):
    headers, _ = OPENED[how]
    browser = Client(enforce_csrf_checks=True)

    launched = open_and_launch(browser, ada_tg, headers)

    assert launched["Location"] == CHOICE and signed_in_user(browser) is None
    choice = browser.get(CHOICE)
    assert "Continue as ada@example.com?" in choice.content.decode()
    csrf_post(browser, choice, CHOICE, {"action": "continue"})
    assert signed_in_user(browser) == ada and sign_ins.seen == [(ada.pk, "telegram-mini-app")]
    assert known_accounts(browser) == [str(ada.pk)]
    sign_out(browser)

    again = open_and_launch(browser, ada_tg, headers)

    assert again["Location"] == "/" and signed_in_user(browser) == ada
    assert sign_ins.seen[-1] == (ada.pk, "telegram-mini-app")


@pytest.mark.parametrize("how", list(OPENED))
def test_a_launch_in_a_known_browser_signs_in_at_once_however_the_page_was_opened(ada, ada_tg, sign_ins, how):
    headers, _ = OPENED[how]
    browser = sign_in_by_email(Client(), ada)

    launched = open_and_launch(browser, ada_tg, headers)

    assert launched["Location"] == "/" and signed_in_user(browser) == ada
    assert sign_ins.seen[-1] == (ada.pk, "telegram-mini-app")


@pytest.mark.parametrize("how", list(OPENED))
def test_a_new_account_from_launch_data_only_from_a_page_telegram_seems_to_have_opened(sandbox, sign_ins, how):
    headers, from_telegram = OPENED[how]
    newcomer = sandbox.add_user(630300, "Nell", None, "nell_tg", started=True)
    browser = Client(enforce_csrf_checks=True)

    assert open_and_launch(browser, newcomer, headers)["Location"] == CHOICE
    choice = browser.get(CHOICE)
    assert "Welcome from Telegram" in choice.content.decode()
    assert ('value="create"' in choice.content.decode()) is from_telegram
    csrf_post(browser, choice, CHOICE, {"action": "create"})

    made = TelegramAccount.objects.filter(telegram_id=newcomer.id).first()
    if from_telegram:
        assert made is not None and signed_in_user(browser) == made.user
        assert sign_ins.seen == [(made.user_id, "telegram-mini-app")]
    else:
        assert made is None and signed_in_user(browser) is None and sign_ins.seen == []


FORGED_VERDICTS = {
    "none": lambda: "",
    "unsigned": lambda: json.dumps({"telegram": True}),
    "another salt": lambda: signing.dumps({"telegram": True}, salt="another-salt"),
    "not a yes": lambda: signing.dumps({"telegram": "yes"}, salt=mini_app.OPENED_SALT),
}


def _newcomers_choice_after_posting(sandbox, opened: str) -> str:
    newcomer = sandbox.add_user(630400, "Nell", None, "nell_tg", started=True)
    browser = Client()
    launched = browser.post(APP, {"init_data": mini_app_keys.encode(launch_fields(newcomer)), "theme": "{}",
                                  "opened": opened})
    assert launched["Location"] == CHOICE and signed_in_user(browser) is None
    return browser.get(CHOICE).content.decode()


@pytest.mark.parametrize("forged", list(FORGED_VERDICTS))
def test_a_launch_without_a_genuine_opened_verdict_offers_no_new_account(sandbox, forged):
    assert 'value="create"' not in _newcomers_choice_after_posting(sandbox, FORGED_VERDICTS[forged]())


def test_an_old_opened_verdict_offers_no_new_account(sandbox, monkeypatch):
    with monkeypatch.context() as m:  # signed long before OPENED_MAX_AGE ago
        m.setattr(time, "time", lambda: 1_000_000_000.0)
        old = signing.dumps({"telegram": True}, salt=mini_app.OPENED_SALT)
    assert 'value="create"' not in _newcomers_choice_after_posting(sandbox, old)


# --- the launch's signature: one spelling, spent as bytes (tests/review/test_mini_app_replay.py) ----


def test_only_the_canonical_spelling_of_the_signature_is_accepted(ada_tg):
    signature = launch_fields(ada_tg)["signature"]
    assert len(mini_app.canonical_signature(signature)) == 64
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(signature[-1])
    other_last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last ^ 1]
    for spelling, reason in [(signature + "=", "86 characters"), (signature + "==", "86 characters"),
                             (signature[:-1], "86 characters"), (signature[:-1] + other_last, "canonical"),
                             (signature.replace("-", "+").replace("_", "/"), "86 characters")]:
        if spelling == signature:
            continue
        with pytest.raises(mini_app.LoginRefused) as refused:
            mini_app.canonical_signature(spelling)
        assert reason in refused.value.reason


def test_with_only_ed25519_a_respelled_first_launch_is_refused(ada, ada_tg, settings, caplog):
    settings.TELEGRAM_MINI_APP_CHECKS = "ed25519"
    fields = launch_fields(ada_tg)
    browser = Client()
    with caplog.at_level(logging.INFO):
        refused = browser.post(APP, {"init_data": mini_app_keys.encode({**fields, "signature": fields["signature"] + "="}),
                                     "theme": "{}"})
    assert refused.status_code == 400 and signed_in_user(browser) is None
    assert "signature is not 86 characters of unpadded base64url" in refusals(caplog, "telegram-mini-app")[-1]
