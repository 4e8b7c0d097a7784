"""
What the bot says, rendered from templates/bot/telegram/ and put into the outbox.

Texts use Telegram's HTML parse mode: Django's autoescaping produces exactly the entities
Telegram accepts (&lt; &gt; &amp; &quot; and numeric ones), so a name with "<" or "&" in it
cannot break a message. Nothing here talks to Telegram: `send_telegram` writes an outbox
row in the caller's transaction, enqueued after commit and sent by handlers/sender.py.
"""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string


def render(name: str, context: dict | None = None) -> str:
    context = {"site_name": settings.SITE_NAME, "site_url": settings.SITE_URL, **(context or {})}
    return render_to_string(f"bot/telegram/{name}.html", context).strip()


def send(chat_id: int, method: str, payload: dict, *, user=None):
    from project.notifications.outbox import send_telegram

    return send_telegram(chat_id, method, payload, user=user)


def message(template: str, context: dict | None = None, *, buttons=None) -> dict:
    """sendMessage parameters (without chat_id) for `bot/telegram/<template>.html`.

    `buttons` are rows of InlineKeyboardButtons; a link to the site is a
    `project.bot.buttons.site_button` (contract C1), with the same link in the text behind
    words for clients that show no buttons."""
    payload = {
        "text": render(template, context),
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    rows = [list(row) for row in (buttons or []) if row]
    if rows:
        payload["reply_markup"] = {"inline_keyboard": rows}
    return payload


def say(chat_id: int, template: str, context: dict | None = None, *, user=None, buttons=None):
    """Send a message rendered from `bot/telegram/<template>.html` through the outbox;
    returns the Delivery."""
    return send(chat_id, "sendMessage", message(template, context, buttons=buttons), user=user)


def answer_callback(query_id: str, chat_id: int, text: str, *, user=None, show_alert: bool = False):
    payload = {"callback_query_id": query_id, "text": text[:200]}
    if show_alert:
        payload["show_alert"] = True
    return send(chat_id, "answerCallbackQuery", payload, user=user)


def absolute_url(path: str) -> str:
    return f"{settings.SITE_URL}{path}"
