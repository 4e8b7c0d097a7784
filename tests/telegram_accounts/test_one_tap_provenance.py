"""Who handed the browser Telegram's signed fields (flows/login_url.py, flows/mini_app.py,
flows/one_tap.py): only what the Telegram app opens signs in on the spot; anything else is
asked "Continue as ...?" with a CSRF-protected POST, and a new account or a connection is
never made from fields that came from elsewhere. tests/review/test_one_tap_cross_site.py has
the attacks; these pin down each header value and each way on."""

from __future__ import annotations

import html
import json
import logging
import re
import time

import pytest
from django.conf import settings as django_settings
from django.contrib.auth.signals import user_logged_in
from django.core import signing
from django.test import Client
from django.urls import reverse

from infra.local.telegram_sandbox import mini_app_keys
from project.accounts.models import User
from project.telegram_accounts.flows import login_url, mini_app
from project.telegram_accounts.models import TelegramAccount

from .conftest import signed_in_user
from .one_tap import OPENED_BY_TELEGRAM, SignIns, button_url, link, open_in_telegram_app, refusals

pytestmark = pytest.mark.django_db

CHOICE = "/accounts/telegram/continue/"
APP = "/accounts/telegram/app/"


@pytest.fixture
def ada_tg(sandbox):
    return sandbox.add_user(630100, "Ada", "Lovelace", "ada_tg", started=True)


@pytest.fixture
def ada(ada_tg, db):
    user = User.objects.create_user(username="ada", email="ada@example.com", first_name="Ada")
    link(user, ada_tg)
    return user


@pytest.fixture
def sign_ins():
    seen = SignIns()
    user_logged_in.connect(seen)
    yield seen
    user_logged_in.disconnect(seen)


def csrf_post(client: Client, page, path: str, data: dict):
    """A POST from our own page: its CSRF token, our Origin."""
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode()).group(1)
    return client.post(path, {**data, "csrfmiddlewaretoken": token}, HTTP_ORIGIN=django_settings.SITE_URL)


# --- login_url buttons ------------------------------------------------------------------------

NOT_FROM_TELEGRAM = {
    "another site": {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"},
    # Our own redirects go to paths a caller chose (?next= of the logout and login forms).
    "our own page": {"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"},
    "a sibling subdomain": {"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"},
    "a browser without Fetch Metadata": {},
}


@pytest.mark.parametrize("how", list(NOT_FROM_TELEGRAM))
def test_fields_not_opened_by_telegram_ask_before_signing_in(ada, ada_tg, sandbox, sign_ins, caplog, how):
    path = button_url(sandbox, ada_tg.id, "/requests/12/")
    browser = Client(enforce_csrf_checks=True)

    with caplog.at_level(logging.INFO):
        arrived = browser.get(path, headers=NOT_FROM_TELEGRAM[how])

    assert arrived.status_code == 302 and arrived["Location"] == reverse("telegram_one_tap_choice")
    assert signed_in_user(browser) is None and sign_ins.seen == []
    assert any("did not come straight from Telegram; asking the person" in r.getMessage() for r in caplog.records)
    page = browser.get(CHOICE)
    body = page.content.decode()
    assert "Continue as Ada?" in body and "(@ada_tg)" in body and 'value="continue"' in body
    assert 'value="create"' not in body and 'value="connect"' not in body
    # The fields were spent on arrival: the same URL opened by Telegram now is a replay.
    thief = Client()
    assert open_in_telegram_app(thief, path).status_code == 400 and signed_in_user(thief) is None
    assert refusals(caplog, "telegram-button")[-1].endswith("signed login data already used (replayed)")

    done = csrf_post(browser, page, CHOICE, {"action": "continue"})

    assert done.status_code == 302 and done["Location"] == "/requests/12/"
    assert signed_in_user(browser) == ada
    assert sign_ins.seen == [(ada.pk, "telegram-button")]


def test_continue_is_refused_without_the_pages_csrf_token(ada, ada_tg, sandbox):
    browser = Client(enforce_csrf_checks=True)
    browser.get(button_url(sandbox, ada_tg.id, "/"), headers=NOT_FROM_TELEGRAM["another site"])
    assert browser.post(CHOICE, {"action": "continue"}, HTTP_ORIGIN="https://evil.example").status_code == 403
    assert signed_in_user(browser) is None


def test_fields_from_elsewhere_never_make_an_account(sandbox, sign_ins):
    """An unlinked Telegram user's fields from another site: "Continue with Telegram" is the
    sign-in flows (Telegram's own page says who), not an account for the stashed identity."""
    newcomer = sandbox.add_user(630200, "Nell", None, "nell_tg", started=True)
    browser = Client()
    browser.get(button_url(sandbox, newcomer.id, "/requests/12/"), headers=NOT_FROM_TELEGRAM["another site"])
    page = browser.get(CHOICE).content.decode()
    assert "Welcome from Telegram" in page and 'value="create"' not in page
    assert "/accounts/telegram/login/?process=login&amp;next=%2Frequests%2F12%2F" in page

    answer = browser.post(CHOICE, {"action": "create"})

    assert answer.status_code == 302 and signed_in_user(browser) is None
    assert not TelegramAccount.objects.filter(telegram_id=newcomer.id).exists() and sign_ins.seen == []


def test_signed_in_as_someone_else_is_asked_whichever_way_the_fields_came(ada, ada_tg, sandbox, email_user):
    for headers in (OPENED_BY_TELEGRAM, NOT_FROM_TELEGRAM["another site"]):
        browser = Client()
        browser.force_login(email_user)
        assert browser.get(button_url(sandbox, ada_tg.id, "/"), headers=headers)["Location"] == CHOICE
        assert "Switch accounts?" in browser.get(CHOICE).content.decode()
        assert signed_in_user(browser) == email_user
        time.sleep(1.01 - time.time() % 1)  # the sandbox signs whole seconds, as Telegram does


@pytest.mark.parametrize("value, expected", [("none", True), ("None", True), (" none ", True), ("cross-site", False),
                                             ("same-origin", False), ("same-site", False), ("", False), (None, False)])
def test_only_a_navigation_no_page_started_counts_as_telegram(rf, value, expected):
    request = rf.get("/", **({"HTTP_SEC_FETCH_SITE": value} if value is not None else {}))
    assert login_url.opened_by_telegram(request) is expected


# --- the Mini App -----------------------------------------------------------------------------

OPENED = {
    "an app's web view": ({"Sec-Fetch-Site": "none", "Sec-Fetch-Dest": "document"}, True),
    "Telegram Web's frame": ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "iframe"}, True),
    "a link on another site": ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Dest": "document"}, False),
    "a browser without Fetch Metadata": ({}, False),
}


def launch_fields(fake):
    person = {"id": fake.id, "first_name": fake.first_name, "username": fake.username}
    return mini_app_keys.launch_fields(django_settings.LOCAL_SECRETS["telegram_bot_token"], person, int(time.time()))


@pytest.mark.parametrize("how", list(OPENED))
def test_a_launch_signs_in_at_once_only_from_a_page_telegram_opened(ada, ada_tg, sign_ins, how):
    headers, from_telegram = OPENED[how]
    browser = Client(enforce_csrf_checks=True)
    page = browser.get(APP, headers=headers)
    opened = html.unescape(re.search(r'name="opened" value="([^"]*)"', page.content.decode()).group(1))

    launched = csrf_post(browser, page, APP, {"init_data": mini_app_keys.encode(launch_fields(ada_tg)),
                                               "theme": json.dumps({}), "opened": opened})

    if from_telegram:
        assert launched["Location"] == "/" and signed_in_user(browser) == ada
        assert sign_ins.seen == [(ada.pk, "telegram-mini-app")]
    else:
        assert launched["Location"] == CHOICE and signed_in_user(browser) is None
        choice = browser.get(CHOICE)
        assert "Continue as Ada?" in choice.content.decode()
        csrf_post(browser, choice, CHOICE, {"action": "continue"})
        assert signed_in_user(browser) == ada and sign_ins.seen == [(ada.pk, "telegram-mini-app")]


FORGED_VERDICTS = {
    "none": lambda: "",
    "unsigned": lambda: json.dumps({"telegram": True}),
    "another salt": lambda: signing.dumps({"telegram": True}, salt="another-salt"),
    "not a yes": lambda: signing.dumps({"telegram": "yes"}, salt=mini_app.OPENED_SALT),
}


@pytest.mark.parametrize("forged", list(FORGED_VERDICTS))
def test_a_launch_without_a_genuine_opened_verdict_asks_first(ada, ada_tg, forged):
    opened = FORGED_VERDICTS[forged]()
    browser = Client()
    launched = browser.post(APP, {"init_data": mini_app_keys.encode(launch_fields(ada_tg)), "theme": "{}",
                                  "opened": opened})
    assert launched["Location"] == CHOICE and signed_in_user(browser) is None


def test_an_old_opened_verdict_asks_first(ada, ada_tg, monkeypatch):
    with monkeypatch.context() as m:  # signed long before OPENED_MAX_AGE ago
        m.setattr(time, "time", lambda: 1_000_000_000.0)
        old = signing.dumps({"telegram": True}, salt=mini_app.OPENED_SALT)
    browser = Client()
    launched = browser.post(APP, {"init_data": mini_app_keys.encode(launch_fields(ada_tg)), "theme": "{}",
                                  "opened": old})
    assert launched["Location"] == CHOICE and signed_in_user(browser) is None


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
