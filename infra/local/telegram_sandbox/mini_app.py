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

Registered in app.py (contract C5): ``mini_app.register(app, sb)``.
"""

from __future__ import annotations

import json
import weakref
from urllib.parse import quote

from flask import Flask, abort, render_template, request

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
        return {"menu_button_for": lambda bot_id, chat_id: menu_button(sb, bot_id, chat_id)}

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
        theme = THEMES.get(request.args.get("theme", "dark"), THEMES["dark"])
        src = button["web_app"]["url"] + "#" + launch_fragment(sb, bot.id, user, theme)
        return render_template("mini_app.html", bot=bot.config, user=user, title=button["text"],
                               src=src, theme=theme, chat_id=chat_id)
