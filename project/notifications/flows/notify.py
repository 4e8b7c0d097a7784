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

from django.db import transaction
from django.utils import timezone

from project.bot.buttons import path_of, site_button

from .. import kinds, outbox
from ..models import Delivery, Notification
from . import addresses, preferences


def telegram_payload(notification: Notification) -> dict:
    """Bot API sendMessage parameters (without chat_id) for a notification."""
    payload: dict = {"text": notification.text, "link_preview_options": {"is_disabled": True}}
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
