"""login_url buttons in the sandbox: a fake user's press opens the URL signed in, as in Telegram.

Telegram's "seamless authorization": a press on an inline button with a ``login_url`` opens
that URL with the user's fields added to its query (``id, first_name, last_name, username,
photo_url, auth_date, hash``), signed exactly like the legacy login widget (HMAC-SHA256 of the
sorted data-check-string keyed with SHA-256 of the bot's token). ``login_url.bot_username``
names another bot to sign for; ``request_write_access`` lets that bot message the person.

Stricter than nothing, as Telegram is: the URL must be HTTPS (the sandbox also takes plain
HTTP on a loopback host, which is all ``make dev`` has), the button must be in a message of
that user's chat, a deactivated user cannot press. Telegram also requires the URL's domain
to be the bot's (BotFather's /setdomain); the sandbox has no domain per bot, so that check
is left to the real thing.

Registered in app.py (contract C5): ``login_url.register(app, sb)``.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

from flask import Flask, redirect, render_template, request

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def web_url_allowed(url) -> bool:
    """Telegram takes only HTTPS here; locally plain HTTP to a loopback host stands in."""
    if not isinstance(url, str):
        return False
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS


def signed_url(url: str, fields: dict) -> str:
    """``url`` with the signed fields added to its query (after any query it has)."""
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(fields)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


class PressRefused(Exception):
    pass


def press(sb, chat_id: int, message_id: int, row: int, col: int, bot_id: int | None = None) -> str:
    """The URL the user of private chat ``chat_id`` is sent to by pressing the login_url
    button at (row, col) under message ``message_id``; PressRefused with Telegram's words."""
    bot = sb.bot(bot_id)
    if chat_id <= 0:
        raise PressRefused("login_url buttons are pressed in a private chat here")
    user = sb.user(chat_id)
    if user.deactivated:
        raise PressRefused("This account is deactivated.")
    message = sb.message(chat_id, message_id, bot.id)
    if message is None:
        raise PressRefused("Message not found.")
    rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
    try:
        button = rows[row][col]
    except (IndexError, TypeError):
        raise PressRefused("No such button under that message.") from None
    login_url = button.get("login_url")
    if not isinstance(login_url, dict) or "url" not in login_url:
        raise PressRefused("That button is not a login_url button.")
    url = login_url["url"]
    if not web_url_allowed(url):
        raise PressRefused(f"Bad Request: login_url must be an HTTPS URL, not {str(url)[:80]!r}")
    signer = bot
    if login_url.get("bot_username"):
        matches = [b for b in sb.bots.values() if b.config.username == login_url["bot_username"]]
        if not matches:
            raise PressRefused("Bad Request: BOT_INVALID (no bot with that bot_username)")
        signer = matches[0]
    if login_url.get("request_write_access"):
        sb.allow_write(user.id, signer.id)
    return signed_url(url, sb.sign_legacy_login(signer.id, user))


def register(app: Flask, sb) -> None:
    @app.get("/chat/<int(signed=True):chat_id>/login-url")
    def chat_login_url(chat_id):
        try:
            bot_arg = request.args.get("bot") or None
            target = press(sb, chat_id, int(request.args["message_id"]), int(request.args["row"]),
                           int(request.args["col"]), int(bot_arg) if bot_arg else None)
        except (PressRefused, KeyError, ValueError) as e:
            return render_template("error.html", message=str(e)), 400
        return redirect(target)
