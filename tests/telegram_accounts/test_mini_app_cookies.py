"""Cookies of the Mini App inside Telegram Web's cross-site frame: `SameSite=None; Secure;
Partitioned` for responses Telegram may frame that the browser loads into a frame; the site's
own Lax cookies everywhere else (a web view's top-level page, every normal visit). The real
browser's side (what Chromium stores and sends in the sandbox's cross-site frame) is
tests/browser/test_one_tap.py::test_the_mini_app_keeps_its_session_in_telegram_webs_cross_site_frame."""

from __future__ import annotations

import html
import json
import re
import time
from http.cookies import SimpleCookie

import pytest
from django.conf import settings as django_settings
from django.test import Client

from infra.local.telegram_sandbox import mini_app_keys
from project.accounts.models import User
from project.telegram_accounts.flows import known_browser
from project.telegram_accounts.middleware import PartitionedMorsel, partitioned

from .conftest import signed_in_user
from .one_tap import known_to, link

pytestmark = pytest.mark.django_db

APP = "/accounts/telegram/app/"
SETTINGS_PAGE = "/settings/notifications/"  # a form whose POST leaves a message (cookie)
IN_A_FRAME = {"Sec-Fetch-Dest": "iframe", "Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}
TOP_LEVEL = {"Sec-Fetch-Dest": "document", "Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate"}


@pytest.fixture
def ada(sandbox, db):
    fake = sandbox.add_user(610700, "Ada", "Lovelace", "ada_tg", started=True)
    user = User.objects.create_user(username="ada", email="ada@example.com", first_name="Ada")
    link(user, fake)
    return fake


def launch_data(fake, settings) -> str:
    person = {"id": fake.id, "first_name": fake.first_name, "username": fake.username, "allows_write_to_pm": True}
    return mini_app_keys.encode(mini_app_keys.launch_fields(settings.LOCAL_SECRETS["telegram_bot_token"], person,
                                                            int(time.time())))


def set_cookie_lines(response) -> dict[str, str]:
    """Each Set-Cookie header exactly as the WSGI handler writes it, by cookie name."""
    return {name: morsel.output(header="").strip() for name, morsel in response.cookies.items()}


def attributes(line: str) -> set[str]:
    return {part.strip().split("=")[0].lower() for part in line.split(";")[1:]}


def samesite(line: str) -> str:
    return next(p.strip().split("=", 1)[1] for p in line.split(";")[1:] if p.strip().lower().startswith("samesite="))


def assert_partitioned(line: str) -> None:
    assert samesite(line) == "None" and {"secure", "partitioned"} <= attributes(line), line


def assert_first_party(line: str) -> None:
    assert samesite(line) == "Lax" and "partitioned" not in attributes(line), line


def launch_in(client: Client, fake, settings, headers: dict):
    known_to(client, User.objects.get(username="ada"))  # signs in at once (not asked first)
    page = client.get(APP, headers=headers)
    opened = re.search(r'name="opened" value="([^"]*)"', page.content.decode()).group(1)  # how Telegram opened it
    response = client.post(APP, {"init_data": launch_data(fake, settings), "theme": json.dumps({"bg_color": "#212121"}),
                                 "opened": html.unescape(opened)}, headers=headers)
    assert response.status_code == 302
    return page, response


def test_the_mini_app_in_telegram_webs_frame_gets_partitioned_cookies(client, ada, settings):
    page, launched = launch_in(client, ada, settings, IN_A_FRAME)

    # The launch page's CSRF cookie, then the signed-in session (and the rotated CSRF token).
    page_cookies = set_cookie_lines(page)
    assert set(page_cookies) == {django_settings.CSRF_COOKIE_NAME}
    assert_partitioned(page_cookies[django_settings.CSRF_COOKIE_NAME])
    cookies = set_cookie_lines(launched)
    # The known-browser cookie too: its middleware sits below the one that partitions.
    assert {django_settings.SESSION_COOKIE_NAME, django_settings.CSRF_COOKIE_NAME, known_browser.COOKIE} <= set(cookies)
    for line in cookies.values():
        assert_partitioned(line)
    assert "httponly" in attributes(cookies[known_browser.COOKIE])
    # The rest of the session cookie is the site's own: HttpOnly, path, lifetime.
    session = cookies[django_settings.SESSION_COOKIE_NAME]
    assert {"httponly", "path", "max-age", "expires"} <= attributes(session)
    assert signed_in_user(client).username == "ada"

    # The next pages inside the frame: whatever they set (a message, a sign-out) is partitioned.
    saved = client.post(SETTINGS_PAGE, {"all_off": "on"}, headers=IN_A_FRAME)
    assert saved.status_code == 302
    assert_partitioned(set_cookie_lines(saved)["messages"])
    signed_out = client.post("/accounts/logout/", headers=IN_A_FRAME)
    assert signed_out.status_code == 302 and signed_in_user(client) is None
    for line in set_cookie_lines(signed_out).values():
        assert_partitioned(line)
    assert set_cookie_lines(signed_out), "signing out inside the frame sets the session's cookies there"


def test_a_web_views_top_level_mini_app_keeps_the_sites_lax_cookies(client, ada, settings):
    """Mobile and desktop clients load the Mini App as a top-level page: first-party, Lax."""
    page, launched = launch_in(client, ada, settings, TOP_LEVEL)
    for response in (page, launched, client.get("/account/", headers=TOP_LEVEL)):
        for line in set_cookie_lines(response).values():
            assert_first_party(line)
    assert {django_settings.SESSION_COOKIE_NAME, known_browser.COOKIE} <= set(set_cookie_lines(launched))
    # The same framable session, without Sec-Fetch headers at all (older browsers): Lax too.
    saved = client.post(SETTINGS_PAGE, {"all_off": "on"})
    assert_first_party(set_cookie_lines(saved)["messages"])


def test_a_normal_visit_never_gets_a_samesite_none_cookie(client, ada, settings):
    # Every way a page of the site that Telegram may not frame can be loaded, a frame included
    # (frame-ancestors 'none' refuses to show it there anyway).
    for headers in (TOP_LEVEL, IN_A_FRAME, {}):
        fresh = Client()
        page = fresh.get("/accounts/login/", headers=headers)
        lines = set_cookie_lines(page)
        assert django_settings.CSRF_COOKIE_NAME in lines
        for line in lines.values():
            assert_first_party(line)
        fresh.force_login(User.objects.get(username="ada"))
        for line in set_cookie_lines(fresh.post(SETTINGS_PAGE, {"all_off": "on"}, headers=headers)).values():
            assert_first_party(line)


def test_partitioned_keeps_the_rest_of_the_cookie_deletions_included():
    jar = SimpleCookie()
    jar["sessionid"] = "abc"
    jar["sessionid"].update({"path": "/", "httponly": True, "max-age": 0, "expires": "Thu, 01 Jan 1970 00:00:00 GMT",
                             "samesite": "Lax"})
    cookie = partitioned(jar["sessionid"])
    assert isinstance(cookie, PartitionedMorsel)
    assert cookie.output(header="").strip() == (
        "sessionid=abc; expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Max-Age=0; Partitioned; Path=/; "
        "SameSite=None; Secure"
    )
    # The original morsel (and every other cookie of the process) is unchanged.
    assert jar["sessionid"]["samesite"] == "Lax" and "Partitioned" not in jar["sessionid"].output()


def test_deployed_stages_send_the_sites_cookies_over_https_only():
    from tests.core.test_settings import DEPLOYED_ENV, load_settings

    show = ("print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SESSION_COOKIE_HTTPONLY,"
            " s.SESSION_COOKIE_SAMESITE, s.CSRF_COOKIE_SAMESITE)")
    result = load_settings(DEPLOYED_ENV, show)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "True", "True", "Lax", "Lax"]
    assert "project.telegram_accounts.middleware.TelegramWebCookiesMiddleware" in django_settings.MIDDLEWARE
    middleware = list(django_settings.MIDDLEWARE)
    assert middleware.index("project.telegram_accounts.middleware.TelegramWebCookiesMiddleware") < min(
        middleware.index(m) for m in ("django.contrib.sessions.middleware.SessionMiddleware",
                                      "django.middleware.csrf.CsrfViewMiddleware",
                                      "django.contrib.messages.middleware.MessageMiddleware",
                                      "project.telegram_accounts.middleware.KnownBrowserMiddleware"))
