"""Mini Apps in the sandbox: the bot's menu button, and a launcher that frames the app.

- Bot API: ``setChatMenuButton`` / ``getChatMenuButton`` (a default for every chat, or one
  per chat). A ``web_app`` button needs a text and an HTTPS URL (plain HTTP to a loopback
  host stands in locally, as for login_url buttons).
- ``/chat/<user id>/app``: what tapping the menu button does in Telegram Web. The page frames
  the web app's URL with the launch data in the fragment, as Telegram does:
  ``#tgWebAppData=<signed fields>&tgWebAppVersion=...&tgWebAppPlatform=weba&
  tgWebAppThemeParams=<colours>``. The fields carry both signatures: the first-party ``hash``
  (HMAC keyed with the bot's token) and the Ed25519 ``signature`` made with the sandbox's own
  key pair (mini_app_keys.py; its public key is the site's local TELEGRAM_MINI_APP_PUBLIC_KEY).
  ``?theme=light`` picks Telegram's light colours instead of the dark ones.
- Cross-site, as Telegram Web is: web.telegram.org frames the app from another site, where
  browsers send and store only ``SameSite=None; Secure`` (partitioned) cookies. Locally the
  site and the sandbox share a host (127.0.0.1), and a frame there would be same-site and
  let through cookies that Telegram Web never gets. So the launcher is served on the other
  loopback name (``localhost`` for a site on ``127.0.0.1``, and the reverse), which browsers
  treat as another site: the chat's menu button links there, and a launcher asked for on a
  host of the app's own site redirects there (or refuses, when no other site is at hand).

Registered in app.py (contract C5): ``mini_app.register(app, sb)``.
"""

from __future__ import annotations

import ipaddress
import json
import weakref
from urllib.parse import quote, urlsplit

from flask import Flask, abort, redirect, render_template, request

from . import mini_app_keys
from .botapi import METHODS, bad, p_int, p_json
from .login_url import web_url_allowed

WEB_APP_VERSION = "8.0"
# Telegram Web's own palettes, so a page that takes the theme shows what it would there.
THEMES = {
    "dark": {
        "bg_color": "#212121", "text_color": "#ffffff", "hint_color": "#aaaaaa",
        "link_color": "#8774e1", "button_color": "#8774e1", "button_text_color": "#ffffff",
        "secondary_bg_color": "#181818", "header_bg_color": "#212121",
        "accent_text_color": "#8774e1", "section_bg_color": "#212121",
        "section_header_text_color": "#aaaaaa", "subtitle_text_color": "#aaaaaa",
        "destructive_text_color": "#ff595a",
    },
    "light": {
        "bg_color": "#ffffff", "text_color": "#000000", "hint_color": "#707579",
        "link_color": "#3390ec", "button_color": "#3390ec", "button_text_color": "#ffffff",
        "secondary_bg_color": "#f4f4f5", "header_bg_color": "#ffffff",
        "accent_text_color": "#3390ec", "section_bg_color": "#ffffff",
        "section_header_text_color": "#3390ec", "subtitle_text_color": "#707579",
        "destructive_text_color": "#df3f40",
    },
}

# Menu buttons per sandbox: bot id -> {chat id or None (the default): MenuButton}. Kept here
# (not in the core's state) because only this module knows them; cleared on every reset.
_menu_buttons: "weakref.WeakKeyDictionary[object, dict[int, dict]]" = weakref.WeakKeyDictionary()
DEFAULT_BUTTON = {"type": "default"}


def _buttons(sb, bot_id: int) -> dict:
    return _menu_buttons.setdefault(sb, {}).setdefault(bot_id, {})


def menu_button(sb, bot_id: int, chat_id: int | None = None) -> dict:
    """What the menu button of ``chat_id`` (or the bot's default) is."""
    with sb.lock:
        buttons = _buttons(sb, bot_id)
        if chat_id is not None and chat_id in buttons:
            return dict(buttons[chat_id])
        return dict(buttons.get(None, DEFAULT_BUTTON))


def _check_button(button) -> dict:
    if button is None:
        return dict(DEFAULT_BUTTON)
    if not isinstance(button, dict) or button.get("type") not in ("default", "commands", "web_app"):
        raise bad("can't parse menu button: unsupported type")
    if button["type"] != "web_app":
        return {"type": button["type"]}
    text, web_app = button.get("text"), button.get("web_app")
    if not isinstance(text, str) or not text.strip():
        raise bad("can't parse menu button: text is empty")
    if not isinstance(web_app, dict) or not web_url_allowed(web_app.get("url")):
        raise bad("WEB_APP_URL_INVALID: only HTTPS links are allowed")
    return {"type": "web_app", "text": text, "web_app": {"url": web_app["url"]}}


def m_setchatmenubutton(sb, bot, p: dict):
    chat_id = p_int(p, "chat_id")
    button = _check_button(p_json(p, "menu_button"))
    with sb.lock:
        _buttons(sb, bot.id)[chat_id] = button
    return True


def m_getchatmenubutton(sb, bot, p: dict):
    return menu_button(sb, bot.id, p_int(p, "chat_id"))


# --- Telegram Web is another site ------------------------------------------------------------

# Two names of this machine that browsers count as two sites (a site is the scheme and the
# registrable domain; an IP address is a site of its own, and so is "localhost").
LOOPBACK_TWINS = {"127.0.0.1": "localhost", "localhost": "127.0.0.1"}


def site_of(scheme: str, host: str) -> tuple[str, str]:
    """The (schemeful) site of a host, as browsers compare them for SameSite: an IP address
    or a single label is its own site; a domain name is approximated by its last two labels
    (no public suffix list here: the sandbox only meets loopback names and test domains)."""
    host = (host or "").lower().rstrip(".").strip("[]")
    try:
        ipaddress.ip_address(host)
        return scheme, host
    except ValueError:
        return scheme, ".".join(host.split(".")[-2:])


def launcher_host(app_url: str, scheme: str, host: str) -> str | None:
    """Where (host[:port]) the launcher must be served so that it frames ``app_url``
    cross-site: ``host`` itself if it already is another site, else its loopback twin, else
    None (no cross-site name for this machine is known)."""
    app = urlsplit(app_url)
    app_site = site_of(app.scheme, app.hostname or "")
    here = urlsplit(f"//{host}")
    if site_of(scheme, here.hostname or "") != app_site:
        return host
    twin = LOOPBACK_TWINS.get((here.hostname or "").lower())
    if twin is None or site_of(scheme, twin) == app_site:
        return None
    return twin + (f":{here.port}" if here.port else "")


def launcher_url(sb, bot_id: int, chat_id: int) -> str | None:
    """The absolute URL of ``chat_id``'s Mini App launcher, on a site other than the app's
    (None when the menu button opens no Mini App or no such site is at hand)."""
    button = menu_button(sb, bot_id, chat_id)
    if button["type"] != "web_app":
        return None
    host = launcher_host(button["web_app"]["url"], request.scheme, request.host)
    if host is None:
        return None
    query = "" if bot_id == sb.default_bot_id else f"?bot={bot_id}"
    return f"{request.scheme}://{host}/chat/{chat_id}/app{query}"


def launch_fragment(sb, bot_id: int | None, user, theme: dict, **extra) -> str:
    """The fragment Telegram opens a web app with, for ``user`` (a FakeUser)."""
    bot = sb.bot(bot_id)
    person = {"id": user.id, "first_name": user.first_name}
    if user.last_name:
        person["last_name"] = user.last_name
    if user.username:
        person["username"] = user.username
    person["language_code"] = user.language_code or "en"
    person["allows_write_to_pm"] = True
    if user.photo_url:
        person["photo_url"] = user.photo_url
    fields = mini_app_keys.launch_fields(bot.config.token, person, int(sb.now()), **extra)
    return "&".join([
        "tgWebAppData=" + quote(mini_app_keys.encode(fields), safe=""),
        "tgWebAppVersion=" + WEB_APP_VERSION,
        "tgWebAppPlatform=weba",
        "tgWebAppThemeParams=" + quote(json.dumps(theme, separators=(",", ":")), safe=""),
    ])


def register(app: Flask, sb) -> None:
    METHODS["setchatmenubutton"] = ("setChatMenuButton", m_setchatmenubutton)
    METHODS["getchatmenubutton"] = ("getChatMenuButton", m_getchatmenubutton)

    # A reset forgets the bots' menu buttons like the rest of their set-up.
    core_reset = sb.reset

    def reset() -> None:
        core_reset()
        with sb.lock:
            _menu_buttons.pop(sb, None)

    sb.reset = reset

    @app.context_processor
    def _menu_button_for():
        return {
            "menu_button_for": lambda bot_id, chat_id: menu_button(sb, bot_id, chat_id),
            "mini_app_launcher_url": lambda bot_id, chat_id: launcher_url(sb, bot_id, chat_id),
        }

    @app.get("/chat/<int:chat_id>/app")
    def chat_mini_app(chat_id):
        try:
            bot = sb.bot(request.args.get("bot") or None)
            user = sb.user(chat_id)
        except (KeyError, ValueError):
            abort(404)
        button = menu_button(sb, bot.id, chat_id)
        if button["type"] != "web_app":
            return render_template("error.html", message="This bot's menu button opens no Mini App."), 404
        host = launcher_host(button["web_app"]["url"], request.scheme, request.host)
        if host is None:
            return render_template(
                "error.html", message="Telegram Web frames a Mini App from another site, and this sandbox "
                "has no host name that is another site than the app's. Serve the site or the sandbox "
                "on another host name (e.g. 127.0.0.1 and localhost)."), 409
        if host != request.host:
            # Asked for on the app's own site: the frame would be same-site and let through
            # cookies that Telegram Web never gets. Open it where Telegram Web would be.
            query = request.query_string.decode()
            return redirect(f"{request.scheme}://{host}{request.path}" + (f"?{query}" if query else ""), 303)
        theme = THEMES.get(request.args.get("theme", "dark"), THEMES["dark"])
        src = button["web_app"]["url"] + "#" + launch_fragment(sb, bot.id, user, theme)
        return render_template("mini_app.html", bot=bot.config, user=user, title=button["text"],
                               src=src, theme=theme, chat_id=chat_id)
