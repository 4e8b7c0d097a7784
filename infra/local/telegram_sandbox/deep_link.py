"""
Telegram's bot deep links, locally: ``GET /<bot_username>?start=<payload>`` stands in for
``https://t.me/<bot_username>?start=<payload>``.

On a phone or desktop, a t.me deep link opens the chat with the bot in the Telegram app,
which shows a Start button; pressing it sends ``/start <payload>`` to the bot as the person
using the app. The sandbox has many fake people and no app, so the page asks who is opening
the link (an existing fake user, or a new one), then, like Telegram, shows the bot's chat
with a Start button. Pressing Start makes that user send ``/start <payload>`` (through the
sandbox's own ``user_starts``, which delivers it to the webhook like any other update) and
lands on the user's chat page, where the bot's answer appears.

The site builds these links from ``TELEGRAM_DEEP_LINK_BASE`` (``https://t.me`` when
deployed; this sandbox's base URL locally), so the same code path runs in both places.

As strict as Telegram: a bot username must be a bot's (5-32 of ``A-Za-z0-9_``, ending in
"bot"), the bot must exist here, and a start parameter must be 1-64 characters of
``A-Za-z0-9_-`` (Telegram's rule); anything else is refused with a page that says why.
"""

from __future__ import annotations

import random
import re

from flask import Blueprint, abort, redirect, render_template, request, url_for

# Telegram: usernames are 5-32 characters of a-z, 0-9 and underscores; a bot's ends in "bot".
BOT_USERNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
# Telegram: "up to 64 characters ... A-Z, a-z, 0-9, _ and -" for the start parameter.
START_PARAMETER = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _bot_named(sb, username: str):
    """The sandbox's bot with this username (case-insensitive, as Telegram's are), or 404."""
    if not BOT_USERNAME.match(username) or not username.lower().endswith("bot"):
        abort(404)
    for config in sb.bot_configs:
        if config.username.lower() == username.lower():
            return sb.bot(config.id)
    abort(404)


def _payload() -> str | None:
    """The start parameter, None when the link has none; a 400 page when Telegram would refuse it."""
    payload = request.values.get("start")
    if payload is None or payload == "":
        return None
    if not START_PARAMETER.match(payload):
        abort(
            400,
            "Telegram only accepts a start parameter of 1 to 64 characters of A-Z, a-z, 0-9, _ and -; "
            "this link's is not one.",
        )
    return payload


def _free_user_id(sb) -> int:
    with sb.lock:
        while True:
            uid = random.randint(100_000_000, 999_999_999)
            if uid not in sb.users:
                return uid


def register(app, sb) -> None:
    """Add the deep-link pages to the sandbox's Flask app (contract C5)."""
    blueprint = Blueprint("deep_link", __name__)

    @blueprint.get("/<username>")
    def open_link(username):
        bot = _bot_named(sb, username)
        payload = _payload()
        with sb.lock:
            users = sorted(sb.users.values(), key=lambda u: u.id)
            started = {uid for uid, link in bot.links.items() if link.started}
        return render_template(
            "deep_link.html", bot=bot.config, payload=payload, users=users, started=started,
        )

    @blueprint.post("/<username>")
    def press_start(username):
        bot = _bot_named(sb, username)
        payload = _payload()
        form = request.form
        if form.get("user_id") and form["user_id"] != "new":
            try:
                user = sb.user(int(form["user_id"]))
            except (KeyError, ValueError):
                abort(400, "No such fake user in this sandbox.")
        else:
            if not form.get("first_name", "").strip():
                abort(400, "A new user needs a first name.")
            user = sb.add_user(
                _free_user_id(sb), form["first_name"].strip(), form.get("last_name") or None,
                form.get("username") or None, started=False, bot_id=bot.id,
            )
        if user.deactivated:
            abort(400, "This fake user's Telegram account is deactivated.")
        # Pressing Start (or Restart) in Telegram also unblocks a bot the person had blocked.
        sb.user_starts(user.id, payload, bot.id)
        extra = {} if bot.id == sb.default_bot_id else {"bot": bot.id}
        return redirect(url_for("chat", chat_id=user.id, **extra))

    @blueprint.errorhandler(400)
    def refused(error):
        return render_template("error.html", message=error.description), 400

    @blueprint.errorhandler(404)
    def no_such_bot(error):
        return render_template("error.html", message="No bot with that username in this sandbox."), 404

    app.register_blueprint(blueprint)
