"""
When Telegram cannot deliver a notification, email stands in.

* 403 (the person blocked the bot, or their account is deactivated): mark them unreachable
  on Telegram (the site then shows them a notice with a way to reconnect, see notices.py)
  and send the notification by email instead.
* The sender gave up (retries or 429s ran out the queue's receives): email instead too.

Only for a notification (the bot's own chatter has no email counterpart), only when they
have a verified address, and only once per notification: the notification's row is locked
while its deliveries are checked, so two senders settling at the same moment cannot both
add one. The new delivery is returned, not enqueued: the sender enqueues it after its
transaction commits, exactly once (issue 15 item 8).
"""

from __future__ import annotations

import logging

from ..models import Delivery, Notification
from .notify import email_delivery

logger = logging.getLogger(__name__)


def email_instead(delivery: Delivery, reason: str) -> Delivery | None:
    """An email delivery for `delivery`'s notification, unless one is going (or went) already.
    Call inside the transaction that settles `delivery`; enqueue the result after commit."""
    if delivery.notification_id is None:
        return None
    notification = Notification.objects.select_for_update().filter(pk=delivery.notification_id).first()
    if notification is None:
        return None
    if notification.deliveries.filter(channel=Delivery.Channel.EMAIL).exclude(
        status__in=[Delivery.Status.FAILED, Delivery.Status.SKIPPED]
    ).exists():
        return None  # it is going (or went) by email already
    fallback = email_delivery(notification, reason_if_none=f"{reason} There is no verified email address.")
    fallback.save()
    return fallback


def telegram_unreachable(delivery: Delivery, reason: str) -> Delivery | None:
    """403: mark the person unreachable on Telegram, and email instead."""
    from project.telegram_accounts.models import TelegramAccount

    account = TelegramAccount.objects.for_chat(delivery.chat_id) if delivery.chat_id else None
    if account is not None and account.mark_unreachable(reason or "blocked"):
        logger.info("Telegram account %s is unreachable now: %s", account.pk, reason)
    return email_instead(delivery, "Telegram is unreachable.")
