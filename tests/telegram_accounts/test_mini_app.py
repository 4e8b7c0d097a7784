"""The Mini App: the bot's menu button (set by setup_webhook), the sandbox's launcher framing
the site with signed launch data, the site checking both signatures, and pages inside
Telegram (framable by Telegram Web only, in its colours)."""

from __future__ import annotations

import html
import json
import logging
import re
import time
from urllib.parse import parse_qs, unquote

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from django.test import Client
from django.urls import reverse

from infra.local.telegram_sandbox import mini_app_keys
from infra.local.telegram_sandbox.mini_app import THEMES, launcher_host
from project.telegram_accounts.flows import mini_app, one_tap
from project.telegram_accounts.models import TelegramAccount

from .conftest import signed_in_user
from .one_tap import assert_nothing_carries, known_to, refusals

pytestmark = pytest.mark.django_db

APP = "/accounts/telegram/app/"
MINI_APP = one_tap.MINI_APP
FOREIGN_TOKEN = "7000000002:AAH-foreign-sandbox-token-not-a-secret-02"


ADA_TELEGRAM_ID = 610100  # the ada_tg fixture (conftest.py)


def person(fake) -> dict:
    return {"id": fake.id, "first_name": fake.first_name, "username": fake.username, "allows_write_to_pm": True}


def fields_for(fake, settings, *, token=None, age=0, key=None, **extra) -> dict:
    return mini_app_keys.launch_fields(token or settings.LOCAL_SECRETS["telegram_bot_token"], person(fake),
                                       int(time.time()) - age, key=key, **extra)


# How Telegram opens the launch page: Telegram Web in its frame, which it loads itself (the
# Referer is its origin; the apps' web views send Sec-Fetch-Site: none). The page's form
# carries that to the launch (flows/mini_app.py); it only matters for making a new account.
IN_TELEGRAM_WEBS_FRAME = {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "iframe",
                          "Referer": "https://web.telegram.org/"}


def opened_field(page) -> str:
    """The launch page form's `opened` value (how Telegram opened the page, signed)."""
    return html.unescape(re.search(r'name="opened" value="([^"]*)"', page.content.decode()).group(1))


def launch(client, fields_or_raw, theme: dict | None = None, next_path: str | None = None):
    """Telegram opens the launch page; its script posts the launch data with the page's form."""
    raw = fields_or_raw if isinstance(fields_or_raw, str) else mini_app_keys.encode(fields_or_raw)
    url = APP + (f"?next={next_path}" if next_path else "")
    page = client.get(url, headers=IN_TELEGRAM_WEBS_FRAME)
    return client.post(url, {"init_data": raw, "theme": json.dumps(theme or {}), "opened": opened_field(page)})


def telegram_web(sandbox) -> str:
    """The origin where the sandbox plays Telegram Web: its other loopback name."""
    assert sandbox.url.startswith("http://127.0.0.1:")
    return sandbox.url.replace("127.0.0.1", "localhost")


def frame_ancestors(response) -> str:
    return re.search(r"frame-ancestors ([^;]*)", response["Content-Security-Policy"]).group(1)


# --- the menu button, and the sandbox's launcher ----------------------------------------------


def test_setup_webhook_sets_the_menu_button_to_the_mini_app_once(sandbox, settings):
    from project.bot.flows.webhook_setup import register_webhook

    token = settings.LOCAL_SECRETS["telegram_bot_token"]
    assert httpx.get(f"{sandbox.url}/bot{token}/getChatMenuButton").json()["result"] == {"type": "default"}

    assert register_webhook().menu_button_set is True

    button = httpx.get(f"{sandbox.url}/bot{token}/getChatMenuButton").json()["result"]
    assert button == {"type": "web_app", "text": "Open", "web_app": {"url": settings.SITE_URL + APP}}
    assert register_webhook().menu_button_set is False  # unchanged: not set again


def test_the_menu_button_launches_the_site_signed_in(client, sandbox, settings, ada, ada_tg, sign_ins, caplog):
    from project.bot.flows.webhook_setup import register_webhook

    register_webhook()
    chat = httpx.get(f"{sandbox.url}/chat/{ada_tg.id}").text
    # The launcher is on another site than the app's (localhost vs 127.0.0.1), as Telegram Web is.
    launcher_url = f"{telegram_web(sandbox)}/chat/{ada_tg.id}/app"
    assert f'href="{launcher_url}" data-menu-button' in chat
    moved = httpx.get(f"{sandbox.url}/chat/{ada_tg.id}/app")  # asked for on the app's own site
    assert moved.status_code == 303 and moved.headers["location"] == launcher_url
    launcher = httpx.get(launcher_url).text
    src = html.unescape(re.search(r'<iframe[^>]* src="([^"]+)"', launcher).group(1))
    url, _, fragment = src.partition("#")
    assert url == settings.SITE_URL + APP
    params = parse_qs(fragment)
    init_data, theme = params["tgWebAppData"][0], params["tgWebAppThemeParams"][0]
    signed = parse_qs(init_data)
    assert {"hash", "signature", "auth_date", "user", "query_id"} <= set(signed)

    # Ada has been signed in in this browser before (test_one_tap_provenance.py: how it gets so).
    known_to(client, ada)
    page = client.get(APP, headers={**IN_TELEGRAM_WEBS_FRAME, "Referer": telegram_web(sandbox) + "/"})
    assert page.status_code == 200 and b"js/telegram_mini_app.js" in page.content
    assert frame_ancestors(page) == f"https://web.telegram.org {sandbox.url} {telegram_web(sandbox)}"
    assert "X-Frame-Options" not in page

    response = client.post(APP, {"init_data": init_data, "theme": theme, "opened": opened_field(page)})

    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in_user(client) == ada
    assert sign_ins.seen == [(ada.pk, "telegram-mini-app")]  # contract C3
    home = client.get("/")
    assert frame_ancestors(home) == f"https://web.telegram.org {sandbox.url} {telegram_web(sandbox)}"
    assert "X-Frame-Options" not in home
    stylesheet = re.search(r'<link rel="stylesheet" href="(/accounts/telegram/app/theme.css\?v=[0-9a-f]+)">\s*</head>',
                           home.content.decode())
    assert stylesheet
    css = client.get(stylesheet.group(1)).content.decode()
    assert f"--paper: {THEMES['dark']['bg_color']};" in css and f"--accent: {THEMES['dark']['button_color']};" in css
    assert_nothing_carries([signed["hash"][0], signed["signature"][0]], caplog, response, page, home)


def test_pages_outside_telegram_cannot_be_framed(client, ada, sandbox):
    for response in (client.get("/"), client.get(reverse("account_login"))):
        assert frame_ancestors(response) == "'none'" and response["X-Frame-Options"] == "DENY"
    client.force_login(ada)
    response = client.get("/")
    assert frame_ancestors(response) == "'none'" and response["X-Frame-Options"] == "DENY"
    assert b"theme.css" not in response.content


# --- the checks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("checks", ["hmac", "ed25519", "hmac,ed25519"])
def test_each_check_accepts_telegrams_launch_data(client, settings, ada, ada_tg, checks):
    settings.TELEGRAM_MINI_APP_CHECKS = checks
    response = launch(known_to(client, ada), fields_for(ada_tg, settings), next_path="/notifications/")
    assert response["Location"] == "/notifications/" and signed_in_user(client) == ada


def _forged_hash(fields):
    fields["hash"] = mini_app_keys.webapp_hash(FOREIGN_TOKEN, fields)


def _tampered_user(fields):
    fields["user"] = fields["user"].replace('"first_name":"Ada"', '"first_name":"Eve"')


def _signature_dropped(fields):
    fields.pop("signature")


REFUSALS = [
    # (checks, how the data is made or changed, reason)
    ("hmac", {"mutate": _forged_hash}, "hash mismatch (HMAC not made with this stage's bot token)"),
    ("hmac,ed25519", {"mutate": _forged_hash}, "hash mismatch"),
    ("ed25519", {"key": "other"}, "Ed25519 signature does not verify"),
    ("hmac,ed25519", {"key": "other"}, "Ed25519 signature does not verify"),
    ("hmac", {"token": FOREIGN_TOKEN}, "hash mismatch"),  # another bot's
    ("ed25519", {"token": FOREIGN_TOKEN}, "Ed25519 signature does not verify"),  # signed for another bot id
    ("hmac,ed25519", {"token": FOREIGN_TOKEN}, "hash mismatch"),
    ("hmac", {"mutate": _tampered_user}, "hash mismatch"),
    ("ed25519", {"mutate": _tampered_user}, "Ed25519 signature does not verify"),
    ("hmac,ed25519", {"age": 45}, "auth_date too old ("),
    ("ed25519", {"age": -120}, "auth_date in the future"),
    ("ed25519", {"mutate": _signature_dropped}, "malformed launch data: no signature"),
]


@pytest.mark.parametrize("checks, how, reason", REFUSALS)
def test_forged_stale_foreign_or_tampered_launch_data_signs_nobody_in(client, settings, ada, ada_tg, caplog,
                                                                       checks, how, reason):
    settings.TELEGRAM_MINI_APP_CHECKS = checks
    key = Ed25519PrivateKey.generate() if how.get("key") == "other" else None
    fields = fields_for(ada_tg, settings, token=how.get("token"), age=how.get("age", 0), key=key)
    tokens = [fields["hash"], fields.get("signature")]
    if "mutate" in how:
        how["mutate"](fields)
    with caplog.at_level(logging.INFO):
        response = launch(client, fields)
    _assert_refused(response, caplog, reason, client, *[t for t in tokens if t])


def _assert_refused(response, caplog, reason, client, *tokens):
    assert response.status_code == 400
    assert "Sign-in not completed" in response.content.decode()
    assert signed_in_user(client) is None
    found = refusals(caplog, MINI_APP)
    assert any(reason in m for m in found), found
    assert_nothing_carries(tokens, caplog, response)
    # The refusal is shown inside Telegram too.
    assert "https://web.telegram.org" in frame_ancestors(response)


def test_launch_data_for_another_public_key_is_refused(client, settings, ada, ada_tg, caplog):
    settings.TELEGRAM_MINI_APP_CHECKS = "ed25519"
    settings.TELEGRAM_MINI_APP_PUBLIC_KEY = "e7bf03a2fa4602af4580703d88dda5bb59f32ed8b02a56c187fe7d34caed242d"
    with caplog.at_level(logging.INFO):
        response = launch(client, fields_for(ada_tg, settings))
    _assert_refused(response, caplog, "Ed25519 signature does not verify", client)


@pytest.mark.parametrize(
    "raw, reason",
    [
        ("", "malformed launch data: empty"),
        ("auth_date=1&auth_date=2&user=x&hash=y", "'auth_date' given twice"),
        ("user=%7B%7D&hash=y", "malformed launch data: no auth_date"),
        ("auth_date=soon&user=x&hash=y", "auth_date is not a number"),
        ("no-equals-sign", "malformed launch data: ValueError"),
        ("x" * 5000, "too long"),
    ],
)
def test_malformed_launch_data_is_refused(client, ada, caplog, raw, reason):
    with caplog.at_level(logging.INFO):
        response = launch(client, raw)
    _assert_refused(response, caplog, reason, client)


def test_no_configured_check_signs_nobody_in(client, settings, ada, ada_tg, caplog):
    settings.TELEGRAM_MINI_APP_CHECKS = ""
    with caplog.at_level(logging.INFO):
        response = launch(client, fields_for(ada_tg, settings))
    _assert_refused(response, caplog, "no launch data check configured", client)


@pytest.mark.parametrize("checks", ["hmac", "ed25519", "hmac,ed25519"])
def test_each_launch_signs_in_once(client, settings, ada, ada_tg, caplog, checks):
    settings.TELEGRAM_MINI_APP_CHECKS = checks
    fields = fields_for(ada_tg, settings)
    assert launch(known_to(client, ada), fields)["Location"] == "/"
    thief = known_to(Client(), ada)  # even a browser Ada has used
    with caplog.at_level(logging.INFO):
        response = launch(thief, fields)
    _assert_refused(response, caplog, "launch data already used (replayed)", thief, fields["hash"], fields["signature"])


def test_with_only_the_signature_checked_a_changed_hash_does_not_make_a_new_launch(client, settings, ada, ada_tg, caplog):
    """`hash` is not covered by the Ed25519 signature: what is spent must be the signature."""
    settings.TELEGRAM_MINI_APP_CHECKS = "ed25519"
    fields = fields_for(ada_tg, settings)
    assert launch(known_to(client, ada), fields)["Location"] == "/"
    fields["hash"] = "0" * 64
    thief = known_to(Client(), ada)
    with caplog.at_level(logging.INFO):
        response = launch(thief, fields)
    _assert_refused(response, caplog, "already used", thief)


# --- who arrives ----------------------------------------------------------------------------------


def test_an_unlinked_telegram_user_gets_the_choice_inside_telegram(client, sandbox, settings, sign_ins):
    newcomer = sandbox.add_user(610300, "Nell", None, "nell_tg", started=True)
    response = launch(client, fields_for(newcomer, settings), theme=THEMES["light"])
    assert response["Location"] == reverse("telegram_one_tap_choice")
    page = client.get(response["Location"])
    assert "Welcome from Telegram" in page.content.decode()
    assert "https://web.telegram.org" in frame_ancestors(page) and b"theme.css" in page.content

    client.post(reverse("telegram_one_tap_choice"), {"action": "create"})

    user = signed_in_user(client)
    assert TelegramAccount.objects.get(user=user).telegram_id == newcomer.id
    assert sign_ins.seen == [(user.pk, "telegram-mini-app")]
    assert "https://web.telegram.org" in frame_ancestors(client.get("/"))  # still inside Telegram


def test_switching_accounts_inside_telegram_stays_inside_telegram(client, settings, ada, ada_tg, email_user):
    client.force_login(email_user)
    assert launch(client, fields_for(ada_tg, settings))["Location"] == reverse("telegram_one_tap_choice")
    client.post(reverse("telegram_one_tap_choice"), {"action": "switch"})
    assert signed_in_user(client) == ada
    assert "https://web.telegram.org" in frame_ancestors(client.get("/"))


def test_signing_out_inside_telegram_stays_inside_telegram(client, settings, ada, ada_tg):
    launch(known_to(client, ada), fields_for(ada_tg, settings), theme=THEMES["light"])
    assert signed_in_user(client) == ada
    response = client.post(reverse("account_logout"))
    assert signed_in_user(client) is None
    home = client.get(response["Location"])
    assert "https://web.telegram.org" in frame_ancestors(home) and b"theme.css" in home.content


# --- the theme ------------------------------------------------------------------------------------


def test_only_plain_colours_reach_the_stylesheet():
    theme = mini_app.theme_from(json.dumps({
        "bg_color": "#17212B", "text_color": "red;} body{display:none", "link_color": "#fff",
        "button_color": "url(javascript:x)", "hint_color": 7, "unknown_color": "#000000",
    }))
    assert theme == {"bg_color": "#17212b"}
    css = mini_app.theme_css(theme)
    assert "--paper: #17212b;" in css and "red" not in css and "url(" not in css
    assert mini_app.theme_from("not json") == {} and mini_app.theme_from("[1]") == {}


# --- the sandbox's key and menu button ------------------------------------------------------------


def test_the_sandbox_key_is_the_local_public_key_setting(settings):
    assert settings.TELEGRAM_MINI_APP_PUBLIC_KEY == mini_app_keys.public_key_hex()
    assert mini_app_keys.SEED == __import__("hashlib").sha256(mini_app_keys.SEED_TEXT).digest()


def test_the_sandbox_menu_button_is_as_strict_as_telegrams(sandbox, settings):
    token = settings.LOCAL_SECRETS["telegram_bot_token"]
    api = f"{sandbox.url}/bot{token}"

    def set_button(button, **params):
        return httpx.post(f"{api}/setChatMenuButton", json={"menu_button": button, **params})

    assert set_button({"type": "web_app", "text": "Open", "web_app": {"url": "http://evil.example/app"}}).status_code == 400
    assert set_button({"type": "web_app", "text": "", "web_app": {"url": "https://site.example/"}}).status_code == 400
    assert set_button({"type": "nonsense"}).status_code == 400
    assert set_button({"type": "web_app", "text": "Go", "web_app": {"url": "https://site.example/"}},
                      chat_id=610999).json()["ok"]
    assert httpx.get(f"{api}/getChatMenuButton", params={"chat_id": 610999}).json()["result"]["text"] == "Go"
    assert httpx.get(f"{api}/getChatMenuButton").json()["result"] == {"type": "default"}
    sandbox.reset()
    assert httpx.get(f"{api}/getChatMenuButton", params={"chat_id": 610999}).json()["result"] == {"type": "default"}


def test_the_launcher_needs_a_web_app_menu_button(sandbox, ada_tg):
    answer = httpx.get(f"{sandbox.url}/chat/{ada_tg.id}/app")
    assert answer.status_code == 404 and "opens no Mini App" in answer.text


@pytest.mark.parametrize("app_url, scheme, host, expected", [
    # Same site as the app: the other loopback name (the port stays: the same server).
    ("http://127.0.0.1:8000/accounts/telegram/app/", "http", "127.0.0.1:8081", "localhost:8081"),
    ("http://localhost:8000/accounts/telegram/app/", "http", "localhost:8081", "127.0.0.1:8081"),
    ("http://LocalHost:8000/x/", "http", "localhost", "127.0.0.1"),
    # Already another site: served where it is (a scheme alone makes another site).
    ("http://127.0.0.1:8000/x/", "http", "localhost:8081", "localhost:8081"),
    ("https://127.0.0.1:8000/x/", "http", "127.0.0.1:8081", "127.0.0.1:8081"),
    ("https://site.example/x/", "http", "127.0.0.1:8081", "127.0.0.1:8081"),
    # A subdomain of the app's site is the same site; no loopback twin for it: refused.
    ("https://site.example/x/", "https", "tg.site.example", None),
    ("http://sandbox.test:8000/x/", "http", "sandbox.test:8081", None),
])
def test_the_launcher_is_always_on_another_site_than_the_app(app_url, scheme, host, expected):
    assert launcher_host(app_url, scheme, host) == expected


def test_an_app_on_another_site_is_framed_where_the_launcher_was_asked_for(sandbox, ada_tg, settings):
    token = settings.LOCAL_SECRETS["telegram_bot_token"]
    httpx.post(f"{sandbox.url}/bot{token}/setChatMenuButton",
               json={"menu_button": {"type": "web_app", "text": "Open", "web_app": {"url": "https://site.example/"}}})
    assert f'href="{sandbox.url}/chat/{ada_tg.id}/app" data-menu-button' in httpx.get(f"{sandbox.url}/chat/{ada_tg.id}").text
    answer = httpx.get(f"{sandbox.url}/chat/{ada_tg.id}/app")
    assert answer.status_code == 200 and 'src="https://site.example/#tgWebAppData=' in answer.text


def test_launch_data_is_encoded_as_telegram_encodes_it(client, sandbox, settings):
    """Values percent-encoded, a space as %20 (never "+"), and the site reads it back."""
    spaced = sandbox.add_user(610400, "Ada Mary", None, None, started=True)
    raw = mini_app_keys.encode(fields_for(spaced, settings))
    assert "+" not in raw and "Ada%20Mary" in raw
    decoded = dict(pair.split("=", 1) for pair in raw.split("&"))
    assert json.loads(unquote(decoded["user"]))["first_name"] == "Ada Mary"
    assert mini_app.telegram_user(mini_app.parse(raw))["first_name"] == "Ada Mary"
