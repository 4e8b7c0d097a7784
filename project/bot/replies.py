"""
What the bot says, rendered from templates/bot/telegram/ and put into the outbox.

Texts use Telegram's HTML parse mode: Django's autoescaping produces exactly the entities
Telegram accepts (&lt; &gt; &amp; &quot; and numeric ones), so a name with "<" or "&" in it
cannot break a message. Nothing here talks to Telegram: `send_telegram` writes an outbox
row in the caller's transaction, enqueued after commit and sent by handlers/sender.py.

Webhook answers (contract C2). A call whose outcome does not matter (answering a callback
query, the reply to /help) can instead ride in the webhook's own HTTP response, which
Telegram executes: no outbox row, no queue, no SQS client, and the person's spinner stops
as soon as the webhook answers. `answer()` puts a call there when an update is being handled
for the webhook (receive_update opens the slot) and the slot is still free (one call per
response); otherwise, as when `retry_updates` handles an update later, it goes through the
outbox like everything else.
"""

from __future__ import annotations

import contextvars
from contextlib import contextmanager

from django.conf import settings

from project.bot import conf

# The webhook answer of the update being handled: None outside receive_update, else a list
# holding at most one Bot API call.
_slot: contextvars.ContextVar[list | None] = contextvars.ContextVar("webhook_answer", default=None)


def render(name: str, context: dict | None = None) -> str:
    # Not render_to_string: the site's template engine would import every app's tag library
    # on a cold webhook's first reply (project/core/text_templates.py).
    from project.core.text_templates import render_text

    context = {"site_name": settings.SITE_NAME, "site_url": settings.SITE_URL, **(context or {})}
    return render_text(f"bot/telegram/{name}.html", context).strip()


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


@contextmanager
def webhook_answer_slot():
    """Collect the webhook answer of one update: yields a list that ends up holding at most one
    call. The caller empties it when the handling rolls back (the answer would speak of
    something that did not happen)."""
    slot: list = []
    token = _slot.set(slot)
    try:
        yield slot
    finally:
        _slot.reset(token)


def answer(chat_id: int, method: str, payload: dict, *, user=None):
    """A call whose outcome does not matter: in the webhook's response if it can go there
    (returns None), else through the outbox (returns the Delivery)."""
    slot = _slot.get()
    if slot is not None and not slot and conf.webhook_answers():
        call = {"method": method, **payload}
        if method != "answerCallbackQuery":
            call = {"method": method, "chat_id": chat_id, **payload}
        slot.append(call)
        return None
    return send(chat_id, method, payload, user=user)


def answer_with(chat_id: int, template: str, context: dict | None = None, *, user=None, buttons=None):
    """Reply with a message that needs no result (/help, /settings...): see answer()."""
    return answer(chat_id, "sendMessage", message(template, context, buttons=buttons), user=user)


def answer_callback(query_id: str, chat_id: int, text: str, *, user=None, show_alert: bool = False):
    """Stop the button's spinner (with a short text, or an alert): a webhook answer when it can."""
    payload = {"callback_query_id": query_id, "text": text[:200]}
    if show_alert:
        payload["show_alert"] = True
    return answer(chat_id, "answerCallbackQuery", payload, user=user)


def absolute_url(path: str) -> str:
    return f"{settings.SITE_URL}{path}"
