"""
Helpers for the one-tap tests (login_url buttons, the Mini App): the bot sends a real message
with a site button through the sandbox's Bot API over HTTP, a fake user presses it on the
sandbox (which signs the URL as Telegram does), and the site's test client follows it.
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import httpx
from django.conf import settings

from project.bot.buttons import site_button
from project.telegram_accounts.flows import known_browser, linking

LOGGER = "project.telegram_accounts.login"

# What a browser sends when the Telegram app opens a pressed button's URL (its in-app browser
# or the default one): a navigation no web page started. It signs no one in by itself (any
# other app's link sends it too): only a browser known to the account is signed in on the GET
# (flows/known_browser.py); tests/telegram_accounts/test_one_tap_provenance.py has the rule.
OPENED_BY_TELEGRAM = {"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}


def open_in_telegram_app(client, path: str):
    """The Telegram app opening `path` (a pressed button's signed URL) in `client`."""
    return client.get(path, headers=OPENED_BY_TELEGRAM)


def known_to(client, *users):
    """Make `client` a browser that has been signed in as `users` before, with the module's
    own cookie (for tests about something else; test_one_tap_provenance.py makes browsers
    known by real sign-ins)."""
    client.cookies[known_browser.COOKIE] = known_browser.cookie_value([user.pk for user in users])
    return client


def known_accounts(client) -> list[str]:
    """The pks the browser's known-browser cookie names (checked as the site checks it)."""
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.COOKIES = {name: morsel.value for name, morsel in client.cookies.items()}
    return known_browser.accounts(request)


def sign_in_by_email(client, user, *, sign_out: bool = True):
    """A real sign-in through the site: `user` asks for a code by email and types it in (then
    signs out, unless told not to). The browser is known to `user` from then on."""
    from allauth.account.models import EmailAddress

    from tests.accounts.helpers import last_sign_in_email, request_sign_in

    EmailAddress.objects.get_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
    assert request_sign_in(client, user.email).status_code == 302
    confirmed = client.post("/accounts/login/code/confirm/", {"code": last_sign_in_email(user.email).code})
    assert confirmed.status_code == 302 and client.session.get("_auth_user_id") == str(user.pk), confirmed
    if sign_out:
        client.post("/accounts/logout/")
        assert client.session.get("_auth_user_id") is None
    return client


def tg_user(fake) -> dict:
    return {"id": fake.id, "first_name": fake.first_name, "last_name": fake.last_name or "",
            "username": fake.username or ""}


def link(user, fake):
    return linking.link(user, tg_user(fake))


def send_site_button(sandbox, chat_id: int, path: str, *, write_access: bool = False,
                     text: str = "Open on the site", token: str | None = None) -> int:
    """The bot sends a message with one site button (contract C1); its message id."""
    markup = {"inline_keyboard": [[site_button(text, path, write_access=write_access)]]}
    token = token or settings.LOCAL_SECRETS["telegram_bot_token"]
    answer = httpx.post(f"{sandbox.url}/bot{token}/sendMessage",
                        json={"chat_id": chat_id, "text": f"Something new: {path}", "reply_markup": markup})
    assert answer.status_code == 200, answer.text
    return answer.json()["result"]["message_id"]


def press(sandbox, chat_id: int, message_id: int, row: int = 0, col: int = 0) -> str:
    """The fake user presses the button: the site path (with query) Telegram opens."""
    answer = httpx.get(f"{sandbox.url}/chat/{chat_id}/login-url",
                       params={"message_id": message_id, "row": row, "col": col}, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(settings.SITE_URL + "/"), location
    parts = urlsplit(location)
    return parts.path + "?" + parts.query


def button_url(sandbox, chat_id: int, path: str, **kwargs) -> str:
    """Send a site button to `chat_id` and press it: the signed URL's site path."""
    return press(sandbox, chat_id, send_site_button(sandbox, chat_id, path, **kwargs))


def query_of(path: str) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(path).query, keep_blank_values=True).items()}


def refusals(caplog, method: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == LOGGER and r.getMessage().startswith(f"{method} refused: ")]


# The tests' own HTTP client talking to the sandbox (Telegram's side: the press's redirect
# carries the signed URL) logs at DEBUG; what the site logs is what is checked.
TEST_CLIENT_LOGGERS = ("httpx", "httpcore")


def assert_nothing_carries(values, caplog, *responses) -> None:
    """No one-use token (hash, signature) in any log record of the site, or in its pages."""
    for value in values:
        assert value
        for record in caplog.records:
            if record.name.split(".")[0] in TEST_CLIENT_LOGGERS:
                continue
            text = record.getMessage() + (logging.Formatter().formatException(record.exc_info) if record.exc_info else "")
            assert value not in text, f"{record.name} logged a one-use token"
        for response in responses:
            assert value not in response.content.decode("utf-8", "replace")
            assert value not in response.get("Location", "")


class SignIns:
    """Who user_logged_in saw signing in, and by which method (request.sign_in_method, C3)."""

    def __init__(self):
        self.seen: list[tuple[int, str | None]] = []

    def __call__(self, sender, request, user, **kwargs):
        self.seen.append((user.pk, getattr(request, "sign_in_method", None)))
