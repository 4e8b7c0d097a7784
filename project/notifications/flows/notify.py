"""
notify(user, kind, ...): the one way the site tells a person something.

It writes the Notification (shown on the site whatever the channels) and one Delivery per
channel the person's preferences pick, inside the caller's transaction, and asks the outbox
to enqueue them after commit. A channel that is chosen but cannot be used right now (no
Telegram connected, Telegram unreachable, no verified email) gets a Delivery that is
already settled as skipped or unreachable, with the reason, so the notifications page can
say why nothing arrived there. When Telegram is chosen but unreachable, email stands in.
"""

from __future__ import annotations

from html import escape

from django.db import transaction
from django.utils import timezone

from project.bot.buttons import path_of, site_button

from .. import kinds, outbox
from ..models import Delivery, Notification
from . import addresses, preferences


# What the link at the end of a notification says, by kind (the words carry the link, as a
# good bot's messages do, instead of a raw URL).
LINK_WORDS = {
    kinds.MATCH_REQUEST_RECEIVED: "See the request",
    kinds.MEETUP_SCHEDULED: "See the meetup",
    kinds.MEETUP_CHANGED: "See the meetup",
    kinds.MEETUP_CANCELLED: "See the meetup",
    kinds.MEETUP_RSVP: "See who is coming",
    kinds.SECURITY: "Review your account",
}
TELEGRAM_MAX_TEXT = 4096  # Telegram's limit, in UTF-16 code units after parsing


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _cut(text: str, units: int) -> str:
    """`text` cut to at most `units` UTF-16 code units, with an ellipsis when it was cut."""
    if _utf16(text) <= units:
        return text
    kept = text.encode("utf-16-le")[: max(0, units - 1) * 2].decode("utf-16-le", "ignore")
    return kept.rstrip() + "…"


def telegram_text(notification: Notification) -> str:
    """The notification in Telegram's HTML: a bold title, the text, then the link behind words.

    Title and text are the person-facing words, names and all, so every one of them is
    escaped (html.escape produces only &lt; &gt; &amp; &quot; &#x27;, all of which Telegram
    accepts). The text is cut so the whole message stays within Telegram's 4096 characters
    after parsing."""
    title = _cut(" ".join(notification.title.split()), 256)
    link = notification.absolute_link()
    words = LINK_WORDS.get(notification.kind, "Open on the site") if link else ""
    room = TELEGRAM_MAX_TEXT - _utf16(title) - _utf16(words) - 4  # the blank lines between
    body = _cut(notification.text.strip(), room)
    parts = [f"<b>{escape(title)}</b>", escape(body)]
    if link:
        parts.append(f'<a href="{escape(link)}">{escape(words)}</a>')
    return "\n\n".join(p for p in parts if p)


def telegram_payload(notification: Notification) -> dict:
    """Bot API sendMessage parameters (without chat_id) for a notification."""
    payload: dict = {
        "text": telegram_text(notification),
        "parse_mode": "HTML",
        "link_preview_options": {"is_disabled": True},
    }
    rows = [list(row) for row in (notification.buttons or []) if row]
    path = path_of(notification.link)
    if path:
        rows.append([site_button("Open on the site", path)])
    elif notification.link:  # a link off this site (none is made today): a plain url button
        rows.append([{"text": "Open", "url": notification.absolute_link()}])
    if rows:
        payload["reply_markup"] = {"inline_keyboard": rows}
    return payload


def email_delivery(notification: Notification, *, reason_if_none: str = "") -> Delivery:
    """An email Delivery for this notification: queued if they have a verified address,
    settled as skipped (with the reason) otherwise."""
    address = addresses.verified_email(notification.user)
    if address:
        return Delivery(
            notification=notification, user=notification.user, channel=Delivery.Channel.EMAIL,
            method=Delivery.Method.EMAIL, address=address,
        )
    return Delivery(
        notification=notification, user=notification.user, channel=Delivery.Channel.EMAIL,
        method=Delivery.Method.EMAIL, status=Delivery.Status.SKIPPED,
        last_error=reason_if_none or "No verified email address.",
    )


def telegram_delivery(notification: Notification, account) -> Delivery:
    base = dict(
        notification=notification, user=notification.user, channel=Delivery.Channel.TELEGRAM,
        method=Delivery.Method.SEND_MESSAGE,
    )
    if account is None:
        return Delivery(**base, status=Delivery.Status.SKIPPED, last_error="Telegram is not connected.")
    delivery = Delivery(**base, chat_id=account.telegram_id, payload=telegram_payload(notification))
    if not account.reachable:
        delivery.status = Delivery.Status.UNREACHABLE
        delivery.last_error = f"The bot cannot reach this person on Telegram: {account.unreachable_reason or 'blocked'}."
    return delivery


def notify(user, kind: str, *, text: str, link: str = "", buttons=None, subject: str = "") -> Notification:
    kind_info = kinds.get(kind)
    if not text or not text.strip():
        raise ValueError("notify() needs a text")
    with transaction.atomic():
        notification = Notification.objects.create(
            user=user, kind=kind_info.code, text=text, link=link or "", buttons=buttons or [],
            subject=subject or "", created_at=timezone.now(),
        )
        channels = preferences.channels_for(user, kind_info.code)
        deliveries: list[Delivery] = []
        if kinds.TELEGRAM in channels:
            telegram = telegram_delivery(notification, addresses.telegram_account(user))
            deliveries.append(telegram)
            if telegram.status == Delivery.Status.UNREACHABLE and kinds.EMAIL not in channels:
                # They wanted this on Telegram and the bot cannot reach them there: email stands in.
                channels = [*channels, kinds.EMAIL]
        if kinds.EMAIL in channels:
            deliveries.append(email_delivery(notification))
        Delivery.objects.bulk_create(deliveries)
        outbox.enqueue_on_commit([d.pk for d in deliveries if d.status == Delivery.Status.QUEUED])
    return notification
